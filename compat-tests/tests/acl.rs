//! Plain ACL (`aclEnable=true`): requests signed by real clients and by hand, in both
//! header encodings, against the accounts in `plain_acl.yml`; the ACL admin codes 50–54
//! and the file they write; hot reload; white-listed addresses.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rmqd_compat_tests::{run_driver, wire, Client, Rmqd};
use rmqd_remoting::frame::{encode_frame, CommandCodec};
use rmqd_remoting::{RemotingCommand, SerializeType};
use tokio_util::codec::Decoder;

/// These tests are not about a full store disk; on a shared machine whose disk is over
/// the 90 % guard they would be refused sends, so the guard is raised.
const SHARED_DISK: &[&str] = &[
    "diskSpaceWarningLevelRatio=0.99",
    "diskSpaceCleanForciblyRatio=0.99",
];

const USER: (&str, &str) = ("aclUser01", "aclSecret01");
const ADMIN: (&str, &str) = ("aclAdmin01", "aclAdminSecret");
/// The account the Java tools sign with (distribution `tools.yml`).
const TOOLS: (&str, &str) = ("rocketmq2", "12345678");
const DENIED: i32 = 16;
const PREFIX: &str = "org.apache.rocketmq.acl.common.AclException: ";

fn acl_yml(extra_white: &str) -> String {
    format!(
        r#"globalWhiteRemoteAddresses:
{extra_white}
accounts:
  - accessKey: {}
    secretKey: {}
    whiteRemoteAddress:
    admin: false
    defaultTopicPerm: DENY
    defaultGroupPerm: SUB
    topicPerms:
      - AclTopic=PUB|SUB
      - SubOnly=SUB
    groupPerms:
      - DeniedGroup=DENY
  - accessKey: {}
    secretKey: {}
    admin: true
  - accessKey: {}
    secretKey: {}
    admin: true
"#,
        USER.0, USER.1, ADMIN.0, ADMIN.1, TOOLS.0, TOOLS.1
    )
}

/// rmqd with ACL on, its RocketMQ home holding `yml` as conf/plain_acl.yml.
fn start(yml: &str) -> (Rmqd, tempfile::TempDir) {
    let home = tempfile::tempdir().expect("tempdir");
    std::fs::create_dir_all(home.path().join("conf")).expect("conf dir");
    std::fs::write(home.path().join("conf/plain_acl.yml"), yml).expect("acl file");
    let r = Rmqd::start(&[
        SHARED_DISK[0],
        SHARED_DISK[1],
        "aclEnable=true",
        &format!("rocketmqHome={}", home.path().display()),
        "aclFileWatchIntervalMills=200",
    ]);
    (r, home)
}

/// One request on a fresh connection in the given header encoding; signed when `key` is
/// given (the way `AclClientRPCHook` signs).
fn call(
    addr: &str,
    ser: SerializeType,
    mut req: RemotingCommand,
    key: Option<(&str, &str)>,
) -> RemotingCommand {
    req.serialize_type = ser;
    req.opaque = 7;
    if let Some((ak, sk)) = key {
        rmqd_remoting::acl::sign_request(&mut req, ak, sk);
    }
    let mut s = TcpStream::connect(addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    s.write_all(&encode_frame(&req)).expect("send");
    let mut buf = BytesMut::new();
    let mut codec = CommandCodec::default();
    loop {
        if let Some(cmd) = codec.decode(&mut buf).expect("frame") {
            return cmd;
        }
        let mut chunk = [0u8; 4096];
        let n = s.read(&mut chunk).expect("read");
        assert!(n > 0, "connection closed without an answer");
        buf.extend_from_slice(&chunk[..n]);
    }
}

fn request(code: i32, ext: &[(&str, &str)], body: &[u8]) -> RemotingCommand {
    let mut r = RemotingCommand::request(code);
    for (k, v) in ext {
        r.ext_mut().insert(k.to_string(), v.to_string());
    }
    r.body = body.to_vec().into();
    r
}

fn send_req(topic: &str, group: &str) -> RemotingCommand {
    let now = wire::now_ms().to_string();
    request(
        310,
        &[
            ("a", group),
            ("b", topic),
            ("c", "TBW102"),
            ("d", "4"),
            ("e", "0"),
            ("f", "0"),
            ("g", &now),
            ("h", "0"),
            ("i", "KEYS\u{1}k1\u{2}"),
            ("j", "0"),
            ("k", "false"),
        ],
        b"acl body",
    )
}

fn create_topic_req(topic: &str) -> RemotingCommand {
    request(
        17,
        &[
            ("topic", topic),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "4"),
            ("writeQueueNums", "4"),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("topicSysFlag", "0"),
            ("order", "false"),
        ],
        b"",
    )
}

fn remark(c: &RemotingCommand) -> String {
    c.remark.clone().unwrap_or_default()
}

fn assert_denied(c: &RemotingCommand, why: &str) {
    assert_eq!(c.code, DENIED, "expected a refusal ({why}), got {c:?}");
    assert_eq!(remark(c), format!("{PREFIX}{why}"));
}

#[test]
fn requests_are_checked_as_the_java_validator_does() {
    let (r, _home) = start(&acl_yml(""));
    let b = r.broker();
    for ser in [SerializeType::Json, SerializeType::RocketMq] {
        let c = call(&b, ser, create_topic_req("AclTopic"), Some(USER));
        assert_denied(
            &c,
            "Need admin permission for request code=17, but accessKey=aclUser01 is not",
        );
        for t in ["AclTopic", "SubOnly", "Other"] {
            let c = call(&b, ser, create_topic_req(t), Some(ADMIN));
            assert_eq!(c.code, 0, "admin creates {t}: {c:?}");
        }
        let c = call(&b, ser, send_req("AclTopic", "G"), None);
        assert_denied(&c, "No accessKey is configured");
        let c = call(
            &b,
            ser,
            send_req("AclTopic", "G"),
            Some(("nobody1", "whatever1")),
        );
        assert_denied(&c, "No acl config for nobody1");
        let c = call(
            &b,
            ser,
            send_req("AclTopic", "G"),
            Some((USER.0, "wrongSecret")),
        );
        assert_denied(&c, "Check signature failed for accessKey=aclUser01");
        let c = call(&b, ser, send_req("AclTopic", "G"), Some(USER));
        assert_eq!(c.code, 0, "signed send: {c:?}");
        let c = call(&b, ser, send_req("Other", "G"), Some(USER));
        assert_denied(&c, "No default permission for topic:Other");
        let c = call(&b, ser, send_req("SubOnly", "G"), Some(USER));
        assert_denied(&c, "No default permission for topic:SubOnly");
        // A signed request whose fields were changed after signing.
        let mut tampered = send_req("AclTopic", "G");
        rmqd_remoting::acl::sign_request(&mut tampered, USER.0, USER.1);
        tampered.ext_mut().insert("b", "SubOnly");
        let c = call(&b, ser, tampered, None);
        assert_denied(&c, "Check signature failed for accessKey=aclUser01");
        // Pull: topic SUB and the group's retry topic SUB.
        let pull = |group: &str| {
            request(
                11,
                &[
                    ("consumerGroup", group),
                    ("topic", "AclTopic"),
                    ("queueId", "0"),
                    ("queueOffset", "0"),
                    ("maxMsgNums", "1"),
                    ("sysFlag", "0"),
                    ("commitOffset", "0"),
                    ("suspendTimeoutMillis", "0"),
                    ("subVersion", "0"),
                ],
                b"",
            )
        };
        let c = call(&b, ser, pull("AnyGroup"), Some(USER));
        assert_ne!(c.code, DENIED, "{c:?}");
        let c = call(&b, ser, pull("DeniedGroup"), Some(USER));
        assert_denied(&c, "No default permission for group:DeniedGroup");
        // The admin has no resource rules: everything.
        let c = call(&b, ser, send_req("Other", "G"), Some(ADMIN));
        assert_eq!(c.code, 0, "{c:?}");
    }
    // Oneway requests that fail get no answer, and the connection stays usable.
    let mut s = TcpStream::connect(&b).unwrap();
    let mut ow = send_req("AclTopic", "G");
    ow.mark_oneway();
    s.write_all(&encode_frame(&ow)).unwrap();
    let mut ok = send_req("AclTopic", "G");
    ok.opaque = 99;
    rmqd_remoting::acl::sign_request(&mut ok, USER.0, USER.1);
    s.write_all(&encode_frame(&ok)).unwrap();
    let (h, _) = wire::read_frame(&mut s);
    assert_eq!(h["opaque"], 99, "the refused oneway was not answered");
    assert_eq!(h["code"], 0);
}

/// Frames the Java 4.9.8 `mqadmin` sent (signed with tools.yml's rocketmq2 / 12345678)
/// pass unchanged, including QUERY_MESSAGE, whose `_UNIQUE_KEY_QUERY` the Java tool signs
/// but the Java broker leaves out of the check.
#[test]
fn java_signed_frames_pass() {
    let (r, _home) = start(&acl_yml(""));
    let dir = rmqd_compat_tests::fixtures_dir().join("wire/java-4.9.8-mqadmin");
    let mut checked = 0;
    for name in [
        "getBrokerConfig",
        "queryMsgByKey",
        "queryMsgByUniqueKey",
        "consumerConnection",
    ] {
        let text = std::fs::read_to_string(dir.join(format!("{name}.jsonl"))).expect("fixture");
        for line in text.lines() {
            let f: serde_json::Value = serde_json::from_str(line).unwrap();
            if f["peer"] != "broker" || f["dir"] != "c2s" || f["code"] == 35 {
                continue;
            }
            let header: serde_json::Value =
                serde_json::from_str(f["header_json_or_hex"].as_str().unwrap()).unwrap();
            assert!(header["extFields"]["Signature"].is_string());
            let body = hex(f["body_hex"].as_str().unwrap_or(""));
            let mut s = TcpStream::connect(r.broker()).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
            s.write_all(&wire::json_frame(&header, &body)).unwrap();
            let (h, _) = wire::read_frame(&mut s);
            assert_ne!(h["code"], DENIED, "{name} {}: {h}", f["code"]);
            // The same frame with one field changed is refused.
            let mut changed = header.clone();
            changed["extFields"]["AccessKey"] = "rocketmq2".into();
            let sig = changed["extFields"]["Signature"]
                .as_str()
                .unwrap()
                .to_owned();
            changed["extFields"]["Signature"] = format!("A{}", &sig[1..]).into();
            let mut s = TcpStream::connect(r.broker()).unwrap();
            s.write_all(&wire::json_frame(&changed, &body)).unwrap();
            let (h, _) = wire::read_frame(&mut s);
            assert_eq!(h["code"], DENIED, "{name}: {h}");
            checked += 1;
        }
    }
    assert!(checked >= 4, "only {checked} frames checked");
}

fn hex(s: &str) -> Vec<u8> {
    (0..s.len() / 2)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).unwrap())
        .collect()
}

fn wait_for(what: &str, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn signed_send_code(b: &str, key: (&str, &str)) -> i32 {
    call(b, SerializeType::Json, send_req("AclTopic", "G"), Some(key)).code
}

#[test]
fn admin_codes_change_the_file_and_take_effect() {
    let (r, home) = start(&acl_yml(""));
    let b = r.broker();
    let file = home.path().join("conf/plain_acl.yml");
    assert_eq!(
        call(
            &b,
            SerializeType::Json,
            create_topic_req("AclTopic"),
            Some(ADMIN)
        )
        .code,
        0
    );
    let new_account = request(
        50,
        &[
            ("accessKey", "newUser01"),
            ("secretKey", "newSecret01"),
            ("admin", "false"),
            ("defaultTopicPerm", "DENY"),
            ("topicPerms", "AclTopic=PUB"),
            ("groupPerms", "G=SUB"),
        ],
        b"",
    );
    // A plain account cannot manage accounts.
    let c = call(&b, SerializeType::Json, new_account.clone(), Some(USER));
    assert_denied(
        &c,
        "Need admin permission for request code=50, but accessKey=aclUser01 is not",
    );
    assert_eq!(signed_send_code(&b, ("newUser01", "newSecret01")), DENIED);
    let c = call(&b, SerializeType::RocketMq, new_account, Some(ADMIN));
    assert_eq!(c.code, 0, "{c:?}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert!(
        text.contains("newUser01") && text.contains("AclTopic=PUB"),
        "{text}"
    );
    assert!(text.contains("dataVersion"), "{text}");
    assert_eq!(signed_send_code(&b, ("newUser01", "newSecret01")), 0);

    // Bad input: short key, bad perm word.
    let c = call(
        &b,
        SerializeType::Json,
        request(50, &[("accessKey", "short"), ("secretKey", "x")], b""),
        Some(ADMIN),
    );
    assert_eq!(c.code, 209);
    assert_eq!(
        remark(&c),
        "The accessKey=short and secretKey=x cannot be null and length should longer than 6"
    );
    let c = call(
        &b,
        SerializeType::Json,
        request(
            50,
            &[
                ("accessKey", "newUser02"),
                ("secretKey", "newSecret02"),
                ("topicPerms", "T=WRITE"),
            ],
            b"",
        ),
        Some(ADMIN),
    );
    assert_eq!(c.code, 209, "{c:?}");

    // Versions (52): the default file's counter moved.
    let c = call(&b, SerializeType::Json, request(52, &[], b""), Some(ADMIN));
    assert_eq!(c.code, 0);
    let v: serde_json::Value = serde_json::from_str(c.ext("version").unwrap()).unwrap();
    assert_eq!(v["counter"], 1, "{c:?}");
    let all: serde_json::Value = serde_json::from_str(c.ext("allAclFileVersion").unwrap()).unwrap();
    assert_eq!(all[file.display().to_string()]["counter"], 1, "{all}");
    assert_eq!(c.ext("brokerName"), Some("broker-a"));
    assert_eq!(c.ext("clusterName"), Some("DefaultCluster"));

    // Every account (54): admin only, carries the new one.
    let c = call(&b, SerializeType::Json, request(54, &[], b""), Some(ADMIN));
    assert_eq!(c.code, 0);
    let body: serde_json::Value = serde_json::from_slice(&c.body).unwrap();
    let keys: Vec<&str> = body["plainAccessConfigs"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|a| a["accessKey"].as_str())
        .collect();
    assert!(
        keys.contains(&"newUser01") && keys.contains(&USER.0),
        "{body}"
    );
    assert_denied(
        &call(&b, SerializeType::Json, request(54, &[], b""), Some(USER)),
        "Need admin permission for request code=54, but accessKey=aclUser01 is not",
    );

    // Global white addresses (53): this host then passes unsigned.
    assert_eq!(
        call(&b, SerializeType::Json, send_req("AclTopic", "G"), None).code,
        DENIED
    );
    let c = call(
        &b,
        SerializeType::Json,
        request(53, &[("globalWhiteAddrs", "127.0.0.1,10.0.0.*")], b""),
        Some(ADMIN),
    );
    assert_eq!(c.code, 0, "{c:?}");
    assert_eq!(
        call(&b, SerializeType::Json, send_req("AclTopic", "G"), None).code,
        0
    );
    let c = call(
        &b,
        SerializeType::Json,
        request(53, &[("globalWhiteAddrs", "")], b""),
        Some(ADMIN),
    );
    assert_eq!(c.code, 0, "{c:?}");
    assert_eq!(
        call(&b, SerializeType::Json, send_req("AclTopic", "G"), None).code,
        DENIED
    );
    let c = call(
        &b,
        SerializeType::Json,
        request(
            53,
            &[
                ("globalWhiteAddrs", "1.2.3.4"),
                ("aclFileFullPath", "/etc/passwd"),
            ],
            b"",
        ),
        Some(ADMIN),
    );
    assert_eq!(c.code, 211, "a file outside the home is refused: {c:?}");
    assert_eq!(
        remark(&c),
        "The globalWhiteAddresses[1.2.3.4] has been updated failed."
    );

    // Delete (51).
    let c = call(
        &b,
        SerializeType::Json,
        request(51, &[("accessKey", "newUser01")], b""),
        Some(ADMIN),
    );
    assert_eq!(c.code, 0, "{c:?}");
    assert_denied(
        &call(
            &b,
            SerializeType::Json,
            send_req("AclTopic", "G"),
            Some(("newUser01", "newSecret01")),
        ),
        "No acl config for newUser01",
    );
    let c = call(
        &b,
        SerializeType::Json,
        request(51, &[("accessKey", "newUser01")], b""),
        Some(ADMIN),
    );
    assert_eq!(c.code, 210);
    assert_eq!(
        remark(&c),
        "The accesskey[newUser01] corresponding to accessConfig has been deleted failed."
    );
    assert!(!std::fs::read_to_string(&file)
        .unwrap()
        .contains("newUser01"));
}

#[test]
fn acl_codes_without_acl_say_so() {
    let r = Rmqd::start(SHARED_DISK);
    let c = call(
        &r.broker(),
        SerializeType::Json,
        request(50, &[("accessKey", "someone1")], b""),
        None,
    );
    assert_eq!(c.code, 209);
    assert_eq!(
        remark(&c),
        "ACL is not enabled on this broker (aclEnable=false)"
    );
    // And nothing is checked: an unsigned send is stored.
    rmqd_compat_tests::create_topic(&r.broker(), "AclTopic", 4);
    assert_eq!(
        call(
            &r.broker(),
            SerializeType::Json,
            send_req("AclTopic", "G"),
            None
        )
        .code,
        0
    );
}

#[test]
fn file_changes_are_picked_up() {
    let (r, home) = start(&acl_yml(""));
    let b = r.broker();
    let file = home.path().join("conf/plain_acl.yml");
    assert_eq!(
        call(
            &b,
            SerializeType::Json,
            create_topic_req("AclTopic"),
            Some(ADMIN)
        )
        .code,
        0
    );
    assert_eq!(signed_send_code(&b, USER), 0);
    std::fs::write(&file, acl_yml("").replace("aclSecret01", "aclSecret02")).unwrap();
    wait_for("the new secret", || {
        signed_send_code(&b, (USER.0, "aclSecret02")) == 0
    });
    assert_eq!(signed_send_code(&b, USER), DENIED);
    // A broken file leaves the rules in force.
    std::fs::write(&file, "accounts: [ {accessKey: x").unwrap();
    std::thread::sleep(Duration::from_millis(800));
    assert_eq!(signed_send_code(&b, (USER.0, "aclSecret02")), 0);
    assert!(
        r.log().contains("ACL file change not applied"),
        "{}",
        r.log()
    );
    // A file in conf/acl/ adds accounts.
    std::fs::write(&file, acl_yml("")).unwrap();
    let extra = home.path().join("conf/acl/team.yml");
    std::fs::create_dir_all(extra.parent().unwrap()).unwrap();
    std::fs::write(
        &extra,
        "accounts:\n  - accessKey: teamUser01\n    secretKey: teamSecret01\n    admin: true\n",
    )
    .unwrap();
    wait_for("the extra file", || {
        signed_send_code(&b, ("teamUser01", "teamSecret01")) == 0
    });
    assert_eq!(signed_send_code(&b, USER), 0);
}

// ---- real clients ----

const T: Duration = Duration::from_secs(90);

fn client_send(
    c: Client,
    r: &Rmqd,
    key: Option<(&str, &str)>,
    env: &[(&str, &str)],
) -> rmqd_compat_tests::DriverRun {
    let ns = r.namesrv();
    let mut args = vec![
        "send",
        "--namesrv",
        &ns,
        "--topic",
        "AclTopic",
        "--count",
        "3",
        "--group",
        "AclProducer",
    ];
    if let Some((ak, sk)) = key {
        args.extend_from_slice(&["--access-key", ak, "--secret-key", sk]);
    }
    rmqd_compat_tests::spawn_driver_env(c, &args, r.home.path(), env).finish(T)
}

fn sent_ok(run: &rmqd_compat_tests::DriverRun) -> usize {
    run.lines
        .iter()
        .filter(|l| l.get("error").is_none() && l.get("i").is_some())
        .count()
}

/// Messages in AclTopic's four queues (GET_MAX_OFFSET, signed by the admin).
fn stored(r: &Rmqd) -> i64 {
    (0..4)
        .map(|q| {
            let q = q.to_string();
            let c = call(
                &r.broker(),
                SerializeType::Json,
                request(30, &[("topic", "AclTopic"), ("queueId", &q)], b""),
                Some(ADMIN),
            );
            assert_eq!(c.code, 0, "{c:?}");
            c.ext("offset")
                .and_then(|o| o.parse::<i64>().ok())
                .unwrap_or(-1)
        })
        .sum()
}

/// The broker's log shows a send (10 or 310) refused for `reason`, in `encoding`.
fn refused_send(r: &Rmqd, reason: &str, encoding: &str) -> bool {
    r.log().lines().any(|l| {
        l.contains("request refused by ACL")
            && (l.contains("code=10 ") || l.contains("code=310 "))
            && l.contains(&format!("encoding={encoding} "))
            && l.contains(&format!("reason={reason}"))
    })
}

fn check_client(c: Client, env: &[(&str, &str)], label: &str) {
    let encoding = if env.iter().any(|(_, v)| *v == "ROCKETMQ") {
        "ROCKETMQ"
    } else {
        "JSON"
    };
    let (r, _home) = start(&acl_yml(""));
    assert_eq!(
        call(
            &r.broker(),
            SerializeType::Json,
            create_topic_req("AclTopic"),
            Some(ADMIN)
        )
        .code,
        0
    );
    let before = stored(&r);
    let good = client_send(c, &r, Some(USER), env);
    assert_eq!(
        sent_ok(&good),
        3,
        "{label}: right secret: {:?}\n{}",
        good.lines,
        good.stderr
    );
    // Consume queues are written just after the append: wait for them.
    wait_for("the consume queues", || stored(&r) >= before + 3);
    let after = stored(&r);
    assert_eq!(
        after - before,
        3,
        "{label}: the three messages are stored: {:?}",
        good.lines
    );
    for (key, reason) in [
        (
            (USER.0, "wrongSecret9"),
            "Check signature failed for accessKey=aclUser01",
        ),
        (
            ("unknownUser", "whatever99"),
            "No acl config for unknownUser",
        ),
    ] {
        let bad = client_send(c, &r, Some(key), env);
        assert!(
            refused_send(&r, reason, encoding),
            "{label}: no send refused with {reason:?} in {encoding}:\n{}",
            r.log()
        );
        assert_eq!(
            sent_ok(&bad),
            0,
            "{label}: {key:?} must be refused: {:?}",
            bad.lines
        );
        assert!(
            !bad.errors().is_empty(),
            "{label}: {key:?}: {:?}",
            bad.lines
        );
    }
    let unsigned = client_send(c, &r, None, env);
    assert_eq!(
        sent_ok(&unsigned),
        0,
        "{label}: unsigned must be refused: {:?}",
        unsigned.lines
    );
    assert_eq!(stored(&r), after, "{label}: nothing refused was stored");
    // Unsigned: ali-ons and Rust send no AccessKey; the C++ clients always send an empty one.
    assert!(
        refused_send(&r, "No accessKey is configured", encoding)
            || r.log().lines().any(|l| {
                l.contains("request refused by ACL")
                    && l.trim_end().ends_with("reason=No acl config for")
            }),
        "{label}: unsigned sends not refused:\n{}",
        r.log()
    );
}

#[test]
fn cpp1_client_signs() {
    check_client(Client::PyCpp1, &[], "C++ 1.x");
}

#[test]
fn cpp2_client_signs() {
    check_client(Client::PyCpp2, &[], "C++ 2.1");
}

#[test]
fn ali_ons_signs() {
    check_client(Client::Node, &[], "ali-ons");
}

#[test]
fn rust_client_signs_json() {
    check_client(Client::Rust, &[], "rust JSON");
}

#[test]
fn rust_client_signs_rocketmq_encoding() {
    check_client(
        Client::Rust,
        &[("ROCKETMQ_SERIALIZE_TYPE", "ROCKETMQ")],
        "rust ROCKETMQ",
    );
}

/// A host white-listed by editing the file (hot reload) needs no signature; consumers
/// (heartbeat, pull, offsets) work through ACL too.
#[test]
fn white_listed_clients_pass_unsigned_and_signed_consumers_consume() {
    let (r, home) = start(&acl_yml(""));
    assert_eq!(
        call(
            &r.broker(),
            SerializeType::Json,
            create_topic_req("AclTopic"),
            Some(ADMIN)
        )
        .code,
        0
    );
    let refused = client_send(Client::Node, &r, None, &[]);
    assert_eq!(sent_ok(&refused), 0, "{:?}", refused.lines);
    std::fs::write(
        home.path().join("conf/plain_acl.yml"),
        acl_yml("  - 127.0.0.1"),
    )
    .unwrap();
    wait_for("the white list", || {
        call(
            &r.broker(),
            SerializeType::Json,
            send_req("AclTopic", "G"),
            None,
        )
        .code
            == 0
    });
    for c in [Client::PyCpp1, Client::Node, Client::Rust] {
        let run = client_send(c, &r, None, &[]);
        assert_eq!(sent_ok(&run), 3, "{}: {:?}", c.name(), run.lines);
    }
    drop(r);
    let (r, _home) = start(&acl_yml(""));
    assert_eq!(
        call(
            &r.broker(),
            SerializeType::Json,
            create_topic_req("AclTopic"),
            Some(ADMIN)
        )
        .code,
        0
    );
    let sent = client_send(Client::Rust, &r, Some(USER), &[]);
    assert_eq!(sent_ok(&sent), 3, "{:?}", sent.lines);
    let ns = r.namesrv();
    for (c, group) in [
        (Client::PyCpp1, "AclGroupCpp"),
        (Client::Node, "AclGroupNode"),
        (Client::Rust, "AclGroupRust"),
    ] {
        let run = run_driver(
            c,
            &[
                "consume",
                "--namesrv",
                &ns,
                "--topic",
                "AclTopic",
                "--group",
                group,
                "--expect",
                "3",
                "--timeout-secs",
                "40",
                "--access-key",
                USER.0,
                "--secret-key",
                USER.1,
            ],
            r.home.path(),
            T,
        );
        let got: std::collections::HashSet<String> = run
            .messages()
            .iter()
            .filter_map(|m| m["body"].as_str().map(str::to_owned))
            .collect();
        assert_eq!(
            got.len(),
            3,
            "{} consumed {:?}\n{}",
            c.name(),
            run.lines,
            run.stderr
        );
    }
}
