//! `rmqd store verify|dump|query` run as a process on the Java broker's golden store.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::Value;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../shared/fixtures"
    ))
    .join(name)
}

fn rmqd_bin() -> PathBuf {
    std::env::var_os("RMQD_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .map(PathBuf::from)
                .unwrap_or_else(|| {
                    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../target"))
                });
            target.join("debug/rmqd")
        })
}

fn rmqd(args: &[&str]) -> Output {
    Command::new(rmqd_bin())
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {}: {e}", rmqd_bin().display()))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for e in std::fs::read_dir(from).expect("read_dir").flatten() {
        let dst = to.join(e.file_name());
        if e.path().is_dir() {
            copy_dir(&e.path(), &dst);
        } else {
            std::fs::copy(e.path(), &dst).expect("copy");
            let mut p = std::fs::metadata(&dst).expect("meta").permissions();
            #[allow(clippy::permissions_set_readonly_false)]
            p.set_readonly(false);
            std::fs::set_permissions(&dst, p).expect("chmod");
        }
    }
}

#[test]
fn verify_passes_on_both_java_stores() {
    for name in ["java-store-v1", "java-store-v1-crash"] {
        let dir = fixture(name);
        let out = rmqd(&["store", "verify", dir.to_str().expect("path")]);
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "{name}: {text}{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(text.contains("OK"), "{text}");
        assert!(
            text.contains("index: 3 files") || name.ends_with("crash"),
            "{text}"
        );
    }
}

#[test]
fn verify_reports_a_corrupt_record_and_where() {
    let tmp = tempfile::tempdir().expect("tempdir");
    copy_dir(&fixture("java-store-v1"), tmp.path());
    // Flip a byte in the body of the message at commit-log offset 0xE4 (FixtureTopic msg-1).
    let path = tmp.path().join("commitlog/00000000000000000000");
    let mut bytes = std::fs::read(&path).expect("read");
    let body_at = 0xE4 + 84 + 4;
    bytes[body_at] ^= 0xFF;
    std::fs::write(&path, bytes).expect("write");
    let out = rmqd(&["store", "verify", tmp.path().to_str().expect("path")]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("commitlog offset 228"), "{text}");
    assert!(text.contains("CRC"), "{text}");
}

#[test]
fn dump_prints_every_sent_message_with_identical_content() {
    let dir = fixture("java-store-v1");
    let sent: Vec<Value> = std::fs::read_to_string(dir.join("sent-messages.jsonl"))
        .expect("sent")
        .lines()
        .map(|l| serde_json::from_str(l).expect("json"))
        .collect();
    let mut dumped: std::collections::HashMap<String, Vec<Value>> = Default::default();
    for topic in [
        "FixtureTopic",
        "BatchTopic",
        "BigTopic",
        "PadTopic",
        "SCHEDULE_TOPIC_XXXX",
        "RetryTopic",
    ] {
        let out = rmqd(&[
            "store",
            "dump",
            dir.to_str().expect("path"),
            "--topic",
            topic,
            "--json",
        ]);
        assert!(out.status.success());
        dumped.insert(
            topic.to_string(),
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .map(|l| serde_json::from_str(l).expect("dump line is JSON"))
                .collect(),
        );
    }
    let mut checked = 0;
    for s in &sent {
        let kind = s["kind"].as_str().unwrap_or("");
        let (topic, qid) = match kind {
            "fixture" | "batch" | "big" | "pad" | "retry-src" => (
                s["topic"].as_str().expect("topic"),
                s["queueId"].as_i64().expect("q"),
            ),
            "delay" => (
                "SCHEDULE_TOPIC_XXXX",
                s["level"].as_i64().expect("level") - 1,
            ),
            _ => continue,
        };
        let off = s["queueOffset"].as_i64().expect("off");
        let m = dumped[topic]
            .iter()
            .find(|m| m["queueId"] == qid && m["queueOffset"] == off)
            .unwrap_or_else(|| panic!("{topic}/{qid}@{off} not dumped"));
        assert_eq!(m["msgId"], s["offsetMsgId"]);
        assert_eq!(m["uniqKey"], s["msgId"]);
        assert_eq!(m["tags"], s["tags"]);
        assert_eq!(m["keys"], s["keys"]);
        assert_eq!(
            m["body"].as_str().expect("utf8 body").len() as u64,
            s["bodyLen"].as_u64().expect("len")
        );
        if kind != "big" && kind != "pad" {
            assert_eq!(m["body"], s["body"]);
        }
        for (k, v) in s["props"].as_object().into_iter().flatten() {
            assert_eq!(&m["properties"][k], v, "{topic}@{off} {k}");
        }
        checked += 1;
    }
    assert_eq!(checked, 200 + 10 + 2 + 330 + 7 + 3);
    // Compressed bodies come out inflated; the flag says they were stored compressed.
    let big = &dumped["BigTopic"][0];
    assert_eq!(big["sysFlag"].as_i64().expect("flag") & 1, 1);
    assert!(big["body"]
        .as_str()
        .expect("body")
        .starts_with("big-0-big-0-"));
}

#[test]
fn query_finds_keys_and_unique_keys() {
    let dir = fixture("java-store-v1");
    let d = dir.to_str().expect("path");
    for (topic, key) in [
        ("FixtureTopic", "key-7"),
        ("PadTopic", "padkey-329"),
        ("BatchTopic", "bkey-9"),
    ] {
        let out = rmqd(&["store", "query", d, "--topic", topic, "--key", key]);
        assert!(out.status.success(), "{topic}#{key}");
        let m: Value = serde_json::from_str(
            String::from_utf8_lossy(&out.stdout)
                .lines()
                .next()
                .expect("a line"),
        )
        .expect("json");
        assert_eq!(m["keys"], key);
        assert_eq!(m["topic"], topic);
    }
    let uniq = "FD0000000000000000000000000000025EBA5FFD2B276EB2DAB40000";
    let out = rmqd(&[
        "store",
        "query",
        d,
        "--topic",
        "FixtureTopic",
        "--key",
        uniq,
    ]);
    assert!(out.status.success());
    assert!(String::from_utf8_lossy(&out.stdout).contains("\"body\":\"msg-0\""));
    let out = rmqd(&[
        "store",
        "query",
        d,
        "--topic",
        "FixtureTopic",
        "--key",
        "no-such-key",
    ]);
    assert_eq!(out.status.code(), Some(1));
}
