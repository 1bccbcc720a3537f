//! `rmqd admin updateBrokerConfig` / `getBrokerConfig` against a spawned rmqd.

use rmqd_compat_tests::Rmqd;
use serde_json::Value;

use crate::{admin, json, ok, SHARED_DISK};

/// updateBrokerConfig (25) changes what getBrokerConfig (26) reports and rewrites the
/// broker.conf the broker was started with, as Java's `Configuration.persist` does: every
/// setting, the file's other keys kept, the previous content in `broker.conf.bak`; the next
/// start reads it.
#[test]
fn broker_config_updates_persist() {
    let mut r = Rmqd::start(&[SHARED_DISK[0], SHARED_DISK[1], "someOtherKey=kept"]);
    let ns = r.namesrv();
    let ns = ns.as_str();
    let b = r.broker();
    let before = std::fs::read_to_string(r.conf_path()).unwrap();
    assert_eq!(
        json(ns, &["getBrokerConfig", "-b", &b])["fileReservedTime"],
        "72"
    );
    let out = ok(
        ns,
        &[
            "updateBrokerConfig",
            "-b",
            &b,
            "-k",
            "fileReservedTime",
            "-v",
            "96",
        ],
    );
    assert_eq!(out, format!("update broker config success, {b}\n"));
    let cfg = json(ns, &["getBrokerConfig", "-b", &b]);
    assert_eq!(cfg["fileReservedTime"], "96", "{cfg}");
    let text = ok(ns, &["getBrokerConfig", "-b", &b]);
    let line = text
        .lines()
        .find(|l| l.starts_with("fileReservedTime "))
        .unwrap_or_else(|| panic!("{text}"));
    assert!(line.ends_with("=  96"), "{line}");

    let file = std::fs::read_to_string(r.conf_path()).unwrap();
    let props: std::collections::HashMap<&str, &str> =
        file.lines().filter_map(|l| l.split_once('=')).collect();
    assert_eq!(props.get("fileReservedTime"), Some(&"96"), "{file}");
    assert_eq!(props.get("someOtherKey"), Some(&"kept"), "{file}");
    assert_eq!(
        props.get("listenPort"),
        Some(&r.broker_port.to_string().as_str())
    );
    assert_eq!(props.get("brokerName"), Some(&"broker-a"));
    // Every setting getBrokerConfig shows is written, not only the changed one.
    for (k, v) in cfg.as_object().unwrap() {
        assert_eq!(props.get(k.as_str()).copied(), v.as_str(), "{k} in {file}");
    }
    let bak = std::fs::read_to_string(format!("{}.bak", r.conf_path().display())).unwrap();
    assert_eq!(bak, before);

    // A key Java never lets a remote change: refused with Java's remark.
    let (success, _, err) = admin(
        ns,
        &[
            "updateBrokerConfig",
            "-b",
            &b,
            "-k",
            "brokerConfigPath",
            "-v",
            "/tmp/x",
        ],
    );
    assert!(
        !success
            && err.contains("answered code 16")
            && err.contains("Can not update config in black list."),
        "{err}"
    );
    let (success, out, _) = admin(
        ns,
        &[
            "--json",
            "updateBrokerConfig",
            "-b",
            &b,
            "-k",
            "fileReservedTime",
            "-v",
            "soon",
        ],
    );
    assert!(!success, "{out}");
    assert!(
        serde_json::from_str::<Value>(&out).unwrap()["error"].is_string(),
        "{out}"
    );
    assert_eq!(
        json(ns, &["getBrokerConfig", "-b", &b])["fileReservedTime"],
        "96"
    );

    r.stop_clean();
    r.restart();
    assert_eq!(
        json(ns, &["getBrokerConfig", "-b", &b])["fileReservedTime"],
        "96"
    );
}
