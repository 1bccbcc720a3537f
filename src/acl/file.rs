//! `plain_acl.yml`: reading it the way the Java broker reads it through SnakeYAML and
//! fastjson (scalars of any type become strings, `admin` takes YAML 1.1 booleans), and
//! writing changes back (`AclUtils.writeDataObject`, block style).

use std::path::Path;

use yaml_rust2::yaml::Hash;
use yaml_rust2::{Yaml, YamlEmitter, YamlLoader};

use super::perm::AccountConfig;
use super::AclError;

pub const GLOBAL_WHITE: &str = "globalWhiteRemoteAddresses";
pub const ACCOUNTS: &str = "accounts";
pub const DATA_VERSION: &str = "dataVersion";

/// Files larger than this are refused rather than parsed (a real one is a few KiB).
const MAX_FILE_LEN: u64 = 16 * 1024 * 1024;

/// `DataVersion` as the file and GET_BROKER_CLUSTER_ACL_INFO carry it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct DataVersion {
    pub counter: i64,
    pub timestamp: i64,
}

/// Reads and parses a file: `Ok(None)` when it does not exist, `Yaml::Null` when empty.
pub fn read(path: &Path) -> Result<Option<Yaml>, AclError> {
    let meta = match std::fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(AclError(e.to_string())),
    };
    if meta.len() > MAX_FILE_LEN {
        return Err(AclError(format!(
            "{} is larger than {MAX_FILE_LEN} bytes",
            path.display()
        )));
    }
    let text = std::fs::read_to_string(path).map_err(|e| AclError(e.to_string()))?;
    parse(&text).map(Some)
}

pub fn parse(text: &str) -> Result<Yaml, AclError> {
    let docs = YamlLoader::load_from_str(text).map_err(|e| AclError(e.to_string()))?;
    Ok(docs.into_iter().next().unwrap_or(Yaml::Null))
}

/// The document as a map; anything else (an empty file, a list) holds no configuration.
pub fn as_map(doc: &Yaml) -> Option<&Hash> {
    match doc {
        Yaml::Hash(h) if !h.is_empty() => Some(h),
        _ => None,
    }
}

fn key(k: &str) -> Yaml {
    Yaml::String(k.to_owned())
}

pub fn get<'a>(map: &'a Hash, k: &str) -> Option<&'a Yaml> {
    map.get(&key(k))
}

/// A scalar as fastjson turns it into a `String` field; `null` stays absent.
pub fn scalar(v: &Yaml) -> Option<String> {
    match v {
        Yaml::String(s) | Yaml::Real(s) => Some(s.clone()),
        Yaml::Integer(i) => Some(i.to_string()),
        Yaml::Boolean(b) => Some(b.to_string()),
        _ => None,
    }
}

fn boolean(v: &Yaml) -> bool {
    match v {
        Yaml::Boolean(b) => *b,
        Yaml::Integer(i) => *i != 0,
        // SnakeYAML reads YAML 1.1, where these words are booleans too.
        Yaml::String(s) => matches!(
            s.to_ascii_lowercase().as_str(),
            "true" | "yes" | "y" | "on" | "t" | "1"
        ),
        _ => false,
    }
}

pub fn strings(v: &Yaml) -> Option<Vec<String>> {
    match v {
        Yaml::Array(a) => Some(a.iter().filter_map(scalar).collect()),
        Yaml::Null | Yaml::BadValue => None,
        other => scalar(other).map(|s| vec![s]),
    }
}

pub fn global_white(map: &Hash) -> Vec<String> {
    get(map, GLOBAL_WHITE).and_then(strings).unwrap_or_default()
}

pub fn account(v: &Yaml) -> AccountConfig {
    let Yaml::Hash(h) = v else {
        return AccountConfig::default();
    };
    let s = |k: &str| get(h, k).and_then(scalar);
    AccountConfig {
        access_key: s("accessKey"),
        secret_key: s("secretKey"),
        white_remote_address: s("whiteRemoteAddress"),
        admin: get(h, "admin").is_some_and(boolean),
        default_topic_perm: s("defaultTopicPerm"),
        default_group_perm: s("defaultGroupPerm"),
        topic_perms: get(h, "topicPerms").and_then(strings),
        group_perms: get(h, "groupPerms").and_then(strings),
    }
}

pub fn accounts(map: &Hash) -> Vec<AccountConfig> {
    match get(map, ACCOUNTS) {
        Some(Yaml::Array(a)) => a.iter().map(account).collect(),
        _ => Vec::new(),
    }
}

/// The first `dataVersion` entry, if the file has one.
pub fn data_version(map: &Hash) -> Option<DataVersion> {
    let Some(Yaml::Array(a)) = get(map, DATA_VERSION) else {
        return None;
    };
    let Some(Yaml::Hash(first)) = a.first() else {
        return None;
    };
    let n = |k: &str| get(first, k).and_then(scalar).and_then(|s| s.parse().ok());
    Some(DataVersion {
        counter: n("counter").unwrap_or(0),
        timestamp: n("timestamp").unwrap_or(0),
    })
}

/// The account entry for an update (`createAclAccessConfigMap`): the old entry's keys
/// kept, the request's values over them.
pub fn merge_account(old: Option<Hash>, c: &AccountConfig) -> Hash {
    let mut m = old.unwrap_or_default();
    let mut put = |k: &str, v: Yaml| {
        m.insert(key(k), v);
    };
    let s = |v: &str| Yaml::String(v.to_owned());
    let list = |v: &[String]| Yaml::Array(v.iter().map(|x| s(x)).collect());
    put("accessKey", s(c.access_key.as_deref().unwrap_or("")));
    if let Some(v) = c.secret_key.as_deref().filter(|v| !v.is_empty()) {
        put("secretKey", s(v));
    }
    if let Some(v) = &c.white_remote_address {
        put("whiteRemoteAddress", s(v));
    }
    put("admin", Yaml::Boolean(c.admin));
    if let Some(v) = c.default_topic_perm.as_deref().filter(|v| !v.is_empty()) {
        put("defaultTopicPerm", s(v));
    }
    if let Some(v) = c.default_group_perm.as_deref().filter(|v| !v.is_empty()) {
        put("defaultGroupPerm", s(v));
    }
    if let Some(v) = &c.topic_perms {
        put("topicPerms", list(v));
    }
    if let Some(v) = &c.group_perms {
        put("groupPerms", list(v));
    }
    m
}

/// `updateAclConfigFileVersion`: the next version (counter + 1, now) into the map.
pub fn bump_version(map: &mut Hash, now_ms: i64) -> DataVersion {
    let old = data_version(map).unwrap_or(DataVersion {
        counter: 0,
        timestamp: now_ms,
    });
    let next = DataVersion {
        counter: old.counter + 1,
        timestamp: now_ms,
    };
    let mut entry = Hash::new();
    entry.insert(key("counter"), Yaml::Integer(next.counter));
    entry.insert(key("timestamp"), Yaml::Integer(next.timestamp));
    map.insert(key(DATA_VERSION), Yaml::Array(vec![Yaml::Hash(entry)]));
    next
}

/// Block-style YAML without the document marker, as SnakeYAML's `dumpAsMap` writes.
pub fn render(map: &Hash) -> Result<String, AclError> {
    let mut out = String::new();
    YamlEmitter::new(&mut out)
        .dump(&Yaml::Hash(map.clone()))
        .map_err(|e| AclError(format!("{e:?}")))?;
    let body = out.strip_prefix("---\n").unwrap_or(&out).to_owned();
    Ok(body + "\n")
}

pub fn set_key(map: &mut Hash, k: &str, v: Yaml) {
    map.insert(key(k), v);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The distribution's conf/plain_acl.yml (Java 4.9.8).
    pub const DISTRIBUTION: &str = r#"globalWhiteRemoteAddresses:
  - 10.10.103.*
  - 192.168.0.*

accounts:
  - accessKey: RocketMQ
    secretKey: 12345678
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - topicA=DENY
      - topicB=PUB|SUB
      - topicC=SUB
    groupPerms:
      # the group should convert to retry topic
      - groupA=DENY
      - groupB=PUB|SUB
      - groupC=SUB

  - accessKey: rocketmq2
    secretKey: 12345678
    whiteRemoteAddress: 192.168.1.*
    # if it is admin, it could access all resources
    admin: true
"#;

    #[test]
    fn reads_the_distribution_file() {
        let doc = parse(DISTRIBUTION).unwrap();
        let map = as_map(&doc).unwrap();
        assert_eq!(global_white(map), vec!["10.10.103.*", "192.168.0.*"]);
        let a = accounts(map);
        assert_eq!(a.len(), 2);
        assert_eq!(a[0].secret_key.as_deref(), Some("12345678"));
        assert_eq!(a[0].white_remote_address, None);
        assert_eq!(a[0].topic_perms.as_ref().map(Vec::len), Some(3));
        assert!(!a[0].admin);
        assert!(a[1].admin);
        assert_eq!(a[1].white_remote_address.as_deref(), Some("192.168.1.*"));
        assert_eq!(data_version(map), None);
    }

    #[test]
    fn updates_round_trip() {
        let doc = parse(DISTRIBUTION).unwrap();
        let mut map = as_map(&doc).unwrap().clone();
        let v = bump_version(&mut map, 1_700_000_000_000);
        assert_eq!(v.counter, 1);
        let c = AccountConfig {
            access_key: Some("newAccount1".into()),
            secret_key: Some("00000001".into()),
            admin: true,
            topic_perms: Some(vec!["t=PUB".into()]),
            ..Default::default()
        };
        let entry = merge_account(None, &c);
        if let Some(Yaml::Array(list)) = map.get_mut(&key(ACCOUNTS)) {
            list.push(Yaml::Hash(entry));
        }
        let text = render(&map).unwrap();
        let back = parse(&text).unwrap();
        let back = as_map(&back).unwrap();
        let a = accounts(back);
        assert_eq!(a.len(), 3);
        assert_eq!(a[2].secret_key.as_deref(), Some("00000001"), "{text}");
        assert_eq!(a[0].secret_key.as_deref(), Some("12345678"));
        assert_eq!(data_version(back).map(|v| v.counter), Some(1));
        assert!(!text.starts_with("---"));
    }

    proptest::proptest! {
        /// Whatever the file holds, reading it gives accounts or an error, never a panic.
        #[test]
        fn any_text(text in "[a-zA-Z0-9:\\-\\[\\]{}#&*!|>'\", \n]{0,200}") {
            if let Ok(doc) = parse(&text) {
                if let Some(map) = as_map(&doc) {
                    let _ = accounts(map);
                    let _ = global_white(map);
                    let _ = data_version(map);
                }
            }
        }

        /// Any value written by an update reads back as written.
        #[test]
        fn values_survive_a_write(ak in "\\PC{7,20}", sk in "\\PC{7,20}", t in "[ -~]{0,20}") {
            let c = AccountConfig {
                access_key: Some(ak.clone()),
                secret_key: Some(sk.clone()),
                topic_perms: Some(vec![t.clone()]),
                ..Default::default()
            };
            let mut map = Hash::new();
            set_key(&mut map, ACCOUNTS, Yaml::Array(vec![Yaml::Hash(merge_account(None, &c))]));
            let text = render(&map).unwrap();
            let back = parse(&text).unwrap();
            let a = accounts(as_map(&back).unwrap());
            proptest::prop_assert_eq!(a[0].access_key.as_deref(), Some(ak.as_str()));
            proptest::prop_assert_eq!(a[0].secret_key.as_deref(), Some(sk.as_str()));
            proptest::prop_assert_eq!(a[0].topic_perms.clone(), Some(vec![t]));
        }
    }
}
