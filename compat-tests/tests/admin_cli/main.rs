//! `rmqd admin` against a real rmqd: every command, the figures of real clients' traffic
//! (`traffic`), broker settings (`broker_config`); and against the answers a Java 4.9.8
//! name server and broker gave mqadmin, replayed from the captured frames (`replay`).

use std::process::Command;
use std::time::{Duration, Instant};

use rmqd_compat_tests::{rmqd_bin, wire, Rmqd};
use serde_json::Value;

mod broker_config;
mod replay;
mod traffic;

/// These tests are not about a full store disk; on a shared machine whose disk is over
/// the 90 % guard they would be refused sends, so the guard is raised.
pub(crate) const SHARED_DISK: &[&str] = &[
    "diskSpaceWarningLevelRatio=0.99",
    "diskSpaceCleanForciblyRatio=0.99",
];

/// Runs `rmqd admin -n NS ARGS`: (exit ok, stdout, stderr).
pub(crate) fn admin(ns: &str, args: &[&str]) -> (bool, String, String) {
    let o = Command::new(rmqd_bin())
        .args(["admin", "-n", ns])
        .args(args)
        .env_remove("RMQD_ACCESS_KEY")
        .env_remove("RMQD_SECRET_KEY")
        .output()
        .expect("run rmqd admin");
    (
        o.status.success(),
        String::from_utf8_lossy(&o.stdout).into_owned(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

pub(crate) fn ok(ns: &str, args: &[&str]) -> String {
    let (success, out, err) = admin(ns, args);
    assert!(success, "rmqd admin {args:?} failed:\n{out}\n{err}");
    out
}

pub(crate) fn json(ns: &str, args: &[&str]) -> Value {
    let mut a = vec!["--json"];
    a.extend_from_slice(args);
    let out = ok(ns, &a);
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?}: not JSON ({e}):\n{out}"))
}

/// Retries `f` until it holds (the name server learns of changes with the broker's next
/// registration; the index is written just after the append).
pub(crate) fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out: {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn every_command_rmqd_answers() {
    let r = Rmqd::start(SHARED_DISK);
    let ns = r.namesrv();
    let ns = ns.as_str();

    let clusters = json(ns, &["clusterList"]);
    assert_eq!(clusters[0]["brokerName"], "broker-a", "{clusters}");
    assert_eq!(clusters[0]["addr"], r.broker());
    assert!(ok(ns, &["clusterList"]).contains("DefaultCluster"));

    let out = ok(
        ns,
        &[
            "updateTopic",
            "-t",
            "CliTopic",
            "-c",
            "DefaultCluster",
            "-r",
            "4",
            "-w",
            "4",
        ],
    );
    assert!(
        out.contains(&format!("create topic to {} success.", r.broker())),
        "{out}"
    );
    eventually("CliTopic listed", || {
        ok(ns, &["topicList"]).lines().any(|l| l == "CliTopic")
    });
    let route = json(ns, &["topicRoute", "-t", "CliTopic"]);
    assert_eq!(route["queueDatas"][0]["writeQueueNums"], 4, "{route}");
    ok(
        ns,
        &[
            "updateTopic",
            "-t",
            "CliTopic",
            "-b",
            &r.broker(),
            "-r",
            "4",
            "-w",
            "4",
            "-p",
            "6",
        ],
    );

    let sent = json(
        ns,
        &[
            "sendMessage",
            "-t",
            "CliTopic",
            "-p",
            "hello admin",
            "-k",
            "cliKey",
            "-c",
            "cliTag",
        ],
    );
    assert_eq!(sent["sendResult"], "SEND_OK", "{sent}");
    let id = sent["msgId"].as_str().unwrap().to_owned();
    let by_id = json(ns, &["queryMsgById", "-i", &id]);
    assert_eq!(by_id[0]["body"], "hello admin", "{by_id}");
    assert_eq!(by_id[0]["tags"], "cliTag");
    assert_eq!(by_id[0]["keys"], "cliKey");
    let unique = by_id[0]["msgId"].as_str().expect("UNIQ_KEY set").to_owned();
    assert!(ok(ns, &["queryMsgById", "-i", &id]).contains("hello admin"));
    eventually("query by key", || {
        json(ns, &["queryMsgByKey", "-t", "CliTopic", "-k", "cliKey"])[0]["body"] == "hello admin"
    });
    eventually("query by unique key", || {
        json(
            ns,
            &["queryMsgByUniqueKey", "-t", "CliTopic", "-i", &unique],
        )[0]["offsetMsgId"]
            == id.as_str()
    });
    let q = sent["queueId"].to_string();
    let o = sent["queueOffset"].to_string();
    eventually("query by offset", || {
        json(
            ns,
            &[
                "queryMsgByOffset",
                "-t",
                "CliTopic",
                "-b",
                "broker-a",
                "-i",
                &q,
                "-o",
                &o,
            ],
        )[0]["body"]
            == "hello admin"
    });

    let cfg = json(ns, &["getBrokerConfig", "-b", &r.broker()]);
    assert_eq!(cfg["brokerName"], "broker-a", "{cfg}");
    assert!(ok(ns, &["getBrokerConfig", "-b", &r.broker()]).contains("brokerClusterName"));
    let status = json(ns, &["brokerStatus", "-b", &r.broker()]);
    assert!(
        status.as_object().is_some_and(|m| !m.is_empty()),
        "{status}"
    );

    ok(
        ns,
        &["updateSubGroup", "-g", "CliGroup", "-c", "DefaultCluster"],
    );
    let groups = json(ns, &["groupList", "-c", "DefaultCluster"]);
    assert!(
        groups.as_array().unwrap().iter().any(|g| g == "CliGroup"),
        "{groups}"
    );
    ok(
        ns,
        &["deleteSubGroup", "-g", "CliGroup", "-c", "DefaultCluster"],
    );
    let groups = json(ns, &["groupList", "-b", &r.broker()]);
    assert!(
        !groups.as_array().unwrap().iter().any(|g| g == "CliGroup"),
        "{groups}"
    );

    // An online consumer (heartbeat on a connection kept open).
    let mut c = wire::Conn::connect(&r.broker());
    let hb = r#"{"clientID":"127.0.0.1@cli","consumerDataSet":[{"groupName":"CliConsumers","consumeType":"CONSUME_PASSIVELY","messageModel":"CLUSTERING","consumeFromWhere":"CONSUME_FROM_LAST_OFFSET","subscriptionDataSet":[{"topic":"CliTopic","subString":"*","tagsSet":[],"codeSet":[],"subVersion":1,"expressionType":"TAG","classFilterMode":false}],"unitMode":false}],"producerDataSet":[]}"#;
    assert_eq!(c.request(34, &[], hb.as_bytes()).code, 0);
    eventually("the consumer listed", || {
        let (success, out, _) = admin(ns, &["--json", "consumerConnection", "-g", "CliConsumers"]);
        success
            && serde_json::from_str::<Value>(&out)
                .is_ok_and(|v| v["connectionSet"][0]["clientId"] == "127.0.0.1@cli")
    });

    let out = ok(
        ns,
        &["deleteTopic", "-t", "CliTopic", "-c", "DefaultCluster"],
    );
    assert!(out.contains("success"), "{out}");
    assert!(!ok(ns, &["topicList"]).lines().any(|l| l == "CliTopic"));

    // Failures: clear message, exit 1, and JSON errors for scripts.
    let (success, _, err) = admin(ns, &["brokerStatus", "-b", "127.0.0.1:1"]);
    assert!(
        !success && err.contains("cannot connect to 127.0.0.1:1"),
        "{err}"
    );
    let (success, out, _) = admin(ns, &["--json", "topicRoute", "-t", "NoSuchTopic"]);
    assert!(!success);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(
        v["error"].as_str().unwrap().contains("answered code 17"),
        "{v}"
    );
}

#[test]
fn signs_requests_for_an_acl_broker() {
    let home = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(home.path().join("conf")).unwrap();
    std::fs::write(
        home.path().join("conf/plain_acl.yml"),
        "accounts:\n  - accessKey: cliAdmin01\n    secretKey: cliSecret01\n    admin: true\n",
    )
    .unwrap();
    let r = Rmqd::start(&[
        SHARED_DISK[0],
        SHARED_DISK[1],
        "aclEnable=true",
        &format!("rocketmqHome={}", home.path().display()),
    ]);
    let ns = r.namesrv();
    let b = r.broker();
    let (success, _, err) = admin(&ns, &["updateTopic", "-t", "AclCli", "-b", &b]);
    assert!(
        !success && err.contains("answered code 16") && err.contains("No accessKey is configured"),
        "{err}"
    );
    let keys = ["--accessKey", "cliAdmin01", "--secretKey", "cliSecret01"];
    let mut args = keys.to_vec();
    args.extend_from_slice(&["updateTopic", "-t", "AclCli", "-b", &b]);
    ok(&ns, &args);
    let mut args = keys.to_vec();
    args.extend_from_slice(&["--json", "sendMessage", "-t", "AclCli", "-p", "signed"]);
    eventually("a signed send", || admin(&ns, &args).0);
    let (success, _, err) = admin(
        &ns,
        &[
            "--accessKey",
            "cliAdmin01",
            "--secretKey",
            "wrongSecret",
            "getBrokerConfig",
            "-b",
            &b,
        ],
    );
    assert!(
        !success && err.contains("Check signature failed for accessKey=cliAdmin01"),
        "{err}"
    );

    // The ACL commands (50–53).
    let with = |k: &[&str], rest: &[&str]| -> (bool, String, String) {
        let mut a = k.to_vec();
        a.extend_from_slice(rest);
        admin(&ns, &a)
    };
    let user = ["--accessKey", "cliUser001", "--secretKey", "cliUserSecret1"];
    let send = ["sendMessage", "-t", "AclCli", "-p", "x"];
    assert!(!with(&user, &send).0, "no such account yet");
    let (success, out, err) = with(
        &keys,
        &[
            "updateAclConfig",
            "-c",
            "DefaultCluster",
            "-a",
            "cliUser001",
            "-s",
            "cliUserSecret1",
            "-t",
            "AclCli=PUB",
            "-m",
            "false",
        ],
    );
    assert!(success && out.contains("success"), "{out}{err}");
    assert!(with(&user, &send).0, "the new account sends");
    let (_, out, _) = with(
        &keys,
        &["--json", "clusterAclConfigVersion", "-c", "DefaultCluster"],
    );
    let v: Value = serde_json::from_str(&out).unwrap();
    let file = home.path().join("conf/plain_acl.yml").display().to_string();
    assert_eq!(v[0]["files"][&file]["counter"], 1, "{v}");
    assert!(with(&keys, &["clusterAclConfigVersion", "-b", &b])
        .2
        .is_empty());
    let (success, _, err) = with(
        &keys,
        &["updateGlobalWhiteAddr", "-b", &b, "-g", "127.0.0.1"],
    );
    assert!(success, "{err}");
    assert!(admin(&ns, &send).0, "white-listed: unsigned sends pass");
    assert!(
        with(
            &keys,
            &["updateGlobalWhiteAddr", "-b", &b, "-g", "10.0.0.1"]
        )
        .0
    );
    assert!(!admin(&ns, &send).0);
    let (success, _, err) = with(&keys, &["deleteAclConfig", "-b", &b, "-a", "cliUser001"]);
    assert!(success, "{err}");
    let (success, _, err) = with(&user, &send);
    assert!(
        !success && err.contains("No acl config for cliUser001"),
        "{err}"
    );
    // A plain account may not manage accounts.
    let (success, _, err) = with(
        &keys,
        &[
            "updateAclConfig",
            "-b",
            &b,
            "-a",
            "cliUser002",
            "-s",
            "cliUserSecret2",
            "-t",
            "AclCli=PUB",
        ],
    );
    assert!(success, "{err}");
    let plain = ["--accessKey", "cliUser002", "--secretKey", "cliUserSecret2"];
    let (success, _, err) = with(&plain, &["deleteAclConfig", "-b", &b, "-a", "cliAdmin01"]);
    assert!(
        !success && err.contains("Need admin permission for request code=51"),
        "{err}"
    );
}
