//! Permissions (`org.apache.rocketmq.acl.common.Permission`) and the per-account view of
//! them that checks use (`PlainAccessResource` as built from the file).

use std::collections::HashMap;

use rmqd_remoting::codes::request;

use super::address::AddressPattern;
use super::AclError;

pub const DENY: u8 = 1;
pub const ANY: u8 = 1 << 1;
pub const PUB: u8 = 1 << 2;
pub const SUB: u8 = 1 << 3;

pub const RETRY_PREFIX: &str = "%RETRY%";

/// Codes only admin accounts may send. Java's list is the first five; rmqd adds the ACL
/// codes that change or reveal accounts (50, 51, 53, 54), which Java lets any valid
/// account send, so that a plain account cannot make itself admin.
pub fn needs_admin(code: i32) -> bool {
    matches!(
        code,
        request::UPDATE_AND_CREATE_TOPIC
            | request::UPDATE_BROKER_CONFIG
            | request::DELETE_TOPIC_IN_BROKER
            | request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP
            | request::DELETE_SUBSCRIPTIONGROUP
            | request::UPDATE_AND_CREATE_ACL_CONFIG
            | request::DELETE_ACL_CONFIG
            | request::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG
            | request::GET_BROKER_CLUSTER_ACL_CONFIG
    )
}

/// `Permission.checkPermission`.
pub fn check(needed: u8, owned: u8) -> bool {
    if owned & DENY != 0 {
        return false;
    }
    if needed & ANY != 0 {
        return owned & (PUB | SUB) != 0;
    }
    needed & owned != 0
}

/// `Permission.parsePermFromString`: anything unknown (or missing) is DENY.
pub fn parse(s: Option<&str>) -> u8 {
    match s.map(str::trim) {
        Some("PUB") => PUB,
        Some("SUB") => SUB,
        Some("PUB|SUB") | Some("SUB|PUB") => PUB | SUB,
        _ => DENY,
    }
}

/// `StringUtils.split(s, "=")`: the parts between `=` signs, empty ones dropped.
fn split_eq(s: &str) -> Vec<&str> {
    s.split('=').filter(|p| !p.is_empty()).collect()
}

/// `Permission.checkResourcePerms`: what UPDATE_AND_CREATE_ACL_CONFIG accepts.
pub fn check_resource_perms(resources: &[String]) -> Result<(), AclError> {
    for r in resources {
        let items = split_eq(r);
        if items.len() != 2 {
            return Err(AclError(format!(
                "Parse Resource format error for {r}.\nThe expected resource format is 'Res=Perm'. For example: topicA=SUB"
            )));
        }
        let p = items[1].trim();
        if p != "DENY" && parse(Some(p)) == DENY {
            return Err(AclError(format!(
                "Parse resource permission error for {r}.\nThe expected permissions are 'SUB' or 'PUB' or 'SUB|PUB' or 'PUB|SUB'."
            )));
        }
    }
    Ok(())
}

/// One account as the file configures it (`PlainAccessConfig`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AccountConfig {
    pub access_key: Option<String>,
    pub secret_key: Option<String>,
    pub white_remote_address: Option<String>,
    pub admin: bool,
    pub default_topic_perm: Option<String>,
    pub default_group_perm: Option<String>,
    pub topic_perms: Option<Vec<String>>,
    pub group_perms: Option<Vec<String>>,
}

/// An account ready for checks.
#[derive(Debug, Clone)]
pub struct Account {
    pub access_key: String,
    pub secret_key: String,
    pub admin: bool,
    pub default_topic_perm: u8,
    pub default_group_perm: u8,
    /// Topic → perm; groups are keyed by their retry topic, as Java keys them.
    pub perms: HashMap<String, u8>,
    pub white: AddressPattern,
}

/// `PlainPermissionManager.checkPlainAccessConfig`.
pub fn check_keys(c: &AccountConfig) -> Result<(String, String), AclError> {
    match (&c.access_key, &c.secret_key) {
        (Some(a), Some(s)) if a.chars().count() > 6 && s.chars().count() > 6 => {
            Ok((a.clone(), s.clone()))
        }
        _ => Err(AclError(format!(
            "The accessKey={} and secretKey={} cannot be null and length should longer than 6",
            c.access_key.as_deref().unwrap_or("null"),
            c.secret_key.as_deref().unwrap_or("null")
        ))),
    }
}

impl Account {
    /// `PlainPermissionManager.buildPlainAccessResource`.
    pub fn build(c: &AccountConfig) -> Result<Account, AclError> {
        let (access_key, secret_key) = check_keys(c)?;
        let mut perms = HashMap::new();
        for (list, topic) in [(&c.group_perms, false), (&c.topic_perms, true)] {
            for r in list.iter().flatten() {
                let items = split_eq(r);
                if items.len() != 2 {
                    return Err(AclError(format!(
                        "Parse resource permission failed for {}:{r}",
                        if topic { "topic" } else { "group" }
                    )));
                }
                let name = items[0].trim();
                let key = if topic {
                    name.to_owned()
                } else {
                    format!("{RETRY_PREFIX}{name}")
                };
                perms.insert(key, parse(Some(items[1])));
            }
        }
        Ok(Account {
            access_key,
            secret_key,
            admin: c.admin,
            default_topic_perm: parse(c.default_topic_perm.as_deref()),
            default_group_perm: parse(c.default_group_perm.as_deref()),
            perms,
            white: AddressPattern::parse(c.white_remote_address.as_deref())?,
        })
    }

    /// `PlainPermissionManager.checkPerm`.
    pub fn check(&self, code: i32, needed: &[(String, u8)]) -> Result<(), AclError> {
        if needs_admin(code) && !self.admin {
            return Err(AclError(format!(
                "Need admin permission for request code={code}, but accessKey={} is not",
                self.access_key
            )));
        }
        if needed.is_empty() || (self.perms.is_empty() && self.admin) {
            return Ok(());
        }
        for (resource, perm) in needed {
            let group = resource.starts_with(RETRY_PREFIX);
            let owned = self.perms.get(resource).copied().unwrap_or(if group {
                self.default_group_perm
            } else {
                self.default_topic_perm
            });
            if !check(*perm, owned) {
                let shown = match resource.strip_prefix(RETRY_PREFIX) {
                    Some(g) if group => format!("group:{g}"),
                    _ => format!("topic:{resource}"),
                };
                return Err(AclError(format!("No default permission for {shown}")));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_permission_rules() {
        assert!(!check(PUB, DENY | PUB));
        assert!(check(ANY, SUB));
        assert!(!check(ANY, 0));
        assert!(check(PUB, PUB | SUB));
        assert!(!check(SUB, PUB));
        assert_eq!(parse(Some(" SUB|PUB ")), PUB | SUB);
        assert_eq!(parse(Some("pub")), DENY);
        assert_eq!(parse(None), DENY);
        assert!(check_resource_perms(&["a=SUB".into(), "b=DENY".into()]).is_ok());
        assert!(check_resource_perms(&["a=WRITE".into()]).is_err());
        assert!(check_resource_perms(&["a".into()]).is_err());
    }

    fn account(admin: bool) -> Account {
        Account::build(&AccountConfig {
            access_key: Some("RocketMQ".into()),
            secret_key: Some("12345678".into()),
            admin,
            default_topic_perm: Some("DENY".into()),
            default_group_perm: Some("SUB".into()),
            topic_perms: Some(vec!["topicA=DENY".into(), "topicB=PUB|SUB".into()]),
            group_perms: Some(vec!["groupA=DENY".into()]),
            ..Default::default()
        })
        .unwrap()
    }

    #[test]
    fn checks_like_plain_permission_manager() {
        let a = account(false);
        assert!(a.check(10, &[("topicB".into(), PUB)]).is_ok());
        assert_eq!(
            a.check(10, &[("topicA".into(), PUB)]).unwrap_err().0,
            "No default permission for topic:topicA"
        );
        assert_eq!(
            a.check(10, &[("other".into(), PUB)]).unwrap_err().0,
            "No default permission for topic:other"
        );
        assert!(a.check(11, &[("%RETRY%groupB".into(), SUB)]).is_ok());
        assert_eq!(
            a.check(11, &[("%RETRY%groupA".into(), SUB)]).unwrap_err().0,
            "No default permission for group:groupA"
        );
        assert_eq!(
            a.check(17, &[]).unwrap_err().0,
            "Need admin permission for request code=17, but accessKey=RocketMQ is not"
        );
        assert!(account(true).check(17, &[]).is_ok());
    }

    #[test]
    fn short_keys_are_refused() {
        let e = Account::build(&AccountConfig {
            access_key: Some("short".into()),
            secret_key: Some("12345678".into()),
            ..Default::default()
        })
        .unwrap_err();
        assert_eq!(
            e.0,
            "The accessKey=short and secretKey=12345678 cannot be null and length should longer than 6"
        );
    }
}
