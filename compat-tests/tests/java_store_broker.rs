//! rmqd as a broker on a copy of the Java 4.9.8 golden store: it serves what the Java
//! broker stored and carries on its delay, retry/DLQ, offset and transaction state
//! (../shared/fixtures/java-store-v1/MANIFEST.md says what that state is).

use std::path::Path;
use std::time::{Duration, Instant};

use rmqd_compat_tests::max_offset;
use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{fixtures_dir, Rmqd};

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

/// rmqd as a broker on a copy of java-store-v1 with the Java store's geometry.
fn start_on_java_store(extra: &[&str]) -> (tempfile::TempDir, std::path::PathBuf, Rmqd) {
    let tmp = tempfile::tempdir().expect("tempdir");
    let store = tmp.path().join("store");
    copy_dir(&fixtures_dir().join("java-store-v1"), &store);
    let root = format!("storePathRootDir={}", store.display());
    let mut conf = vec![
        root.as_str(),
        "mappedFileSizeCommitLog=262144",
        "mappedFileSizeConsumeQueue=6000",
        "maxHashSlotNum=100",
        "maxIndexNum=400",
    ];
    conf.extend_from_slice(extra);
    let r = Rmqd::start(&conf);
    (tmp, store, r)
}

/// A schedule clock 2 h ahead makes the level-18 (2 h) messages due now.
#[test]
fn pending_level_18_messages_are_delivered_from_a_java_store() {
    let (_tmp, store, r) = start_on_java_store(&["scheduleClockOffsetMillis=7200000"]);
    // What the Java broker stored is served as it was.
    assert_eq!(max_offset(&r.broker(), "FixtureTopic", 0), 50);
    assert_eq!(max_offset(&r.broker(), "PadTopic", 0), 330);
    // DelayTopic held the 5 delivered level-1/2 copies; the 2 pending level-18 ones follow.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let n = max_offset(&r.broker(), "DelayTopic", 0);
        if n == 7 {
            break;
        }
        assert!(n == 5 || n == 6, "DelayTopic max offset {n}");
        assert!(
            Instant::now() < deadline,
            "level-18 messages not delivered; log:\n{}",
            r.log()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    // Levels 1 and 2 were already done (delayOffset.json {1:6,2:2}): nothing delivered twice.
    std::thread::sleep(Duration::from_secs(1));
    assert_eq!(max_offset(&r.broker(), "DelayTopic", 0), 7);
    let dump = std::process::Command::new(rmqd_compat_tests::rmqd_bin())
        .args([
            "store",
            "dump",
            store.to_str().expect("path"),
            "--topic",
            "DelayTopic",
            "--json",
        ])
        .output()
        .expect("dump");
    let text = String::from_utf8_lossy(&dump.stdout);
    assert!(
        text.contains("delay-5-level-18") && text.contains("delay-6-level-18"),
        "{text}"
    );
}

/// Waits until `topic`/0 holds `n` entries.
fn wait_for_count(r: &Rmqd, topic: &str, n: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while max_offset(&r.broker(), topic, 0) < n {
        assert!(
            Instant::now() < deadline,
            "{topic} never reached {n}; log:\n{}",
            r.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(max_offset(&r.broker(), topic, 0), n, "{topic}");
}

/// Committed offsets as the Java broker left them, the DLQ it filled readable, the retry
/// path and the transaction checker carrying on from where the Java broker stopped.
#[test]
fn retry_dlq_offsets_and_transactions_continue_from_a_java_store() {
    let (_tmp, _store, r) =
        start_on_java_store(&["transactionCheckInterval=1000", "transactionTimeOut=1000"]);
    let mut c = Conn::connect(&r.broker());

    // config/consumerOffset.json as the MANIFEST lists it.
    for (group, topic, queue, offset) in [
        ("FixtureGroupPartial", "FixtureTopic", 0, 10),
        ("FixtureGroupPartial", "FixtureTopic", 1, 25),
        ("FixtureGroupPartial", "FixtureTopic", 2, 50),
        ("FixtureGroupRetry", "RetryTopic", 0, 3),
        ("FixtureGroupRetry", "%RETRY%FixtureGroupRetry", 0, 3),
    ] {
        assert_eq!(
            wire::query_offset(&mut c, group, topic, queue),
            (0, offset),
            "{topic}@{group} queue {queue}"
        );
    }

    // The three messages the Java broker dead-lettered, with their origin.
    let dead = wire::pull_all(&mut c, "FixtureDlqReader", "%DLQ%FixtureGroupRetry", 0, 0);
    let mut bodies: Vec<String> = dead.iter().map(|m| m.body_str()).collect();
    bodies.sort();
    assert_eq!(bodies, ["retry-0", "retry-1", "retry-2"]);
    for m in &dead {
        let body = m.body_str();
        assert_eq!(
            m.property("KEYS"),
            Some(format!("retrykey-{}", &body[6..]).as_str())
        );
        assert_eq!(m.property("TAGS"), Some("TagRetry"));
        assert_eq!(m.property("RETRY_TOPIC"), Some("RetryTopic"));
        assert!(m
            .property("ORIGIN_MESSAGE_ID")
            .is_some_and(|v| !v.is_empty()));
        assert!(m.property("UNIQ_KEY").is_some_and(|v| !v.is_empty()));
    }

    // A new failure of FixtureGroupRetry (maxReconsumeTimes 1, level 1) goes the same way
    // and lands after the Java broker's entries.
    let props = wire::properties(&[
        ("KEYS", "retrykey-3"),
        ("TAGS", "TagRetry"),
        ("UNIQ_KEY", "RMQDRETRY3"),
        ("WAIT", "true"),
    ]);
    let f = wire::send(
        &mut c,
        "FixtureProducerGroup",
        "RetryTopic",
        0,
        0,
        &props,
        b"retry-3",
    );
    assert_eq!((f.code, f.ext_i64("queueOffset")), (0, 3), "{}", f.remark);
    let msgs = wire::pull_when_there(&mut c, "FixtureGroupRetry", "RetryTopic", 0, 3);
    let first = msgs.first().expect("retry-3").clone();
    assert_eq!(
        wire::send_back(&mut c, "FixtureGroupRetry", &first, 1, 1).code,
        0
    );
    wait_for_count(&r, "%RETRY%FixtureGroupRetry", 4);
    let msgs = wire::pull_when_there(
        &mut c,
        "FixtureGroupRetry",
        "%RETRY%FixtureGroupRetry",
        0,
        3,
    );
    let retried = msgs.first().expect("retried retry-3").clone();
    assert_eq!(
        (retried.body_str().as_str(), retried.reconsume_times),
        ("retry-3", 1)
    );
    assert_eq!(
        wire::send_back(&mut c, "FixtureGroupRetry", &retried, 1, 1).code,
        0
    );
    wait_for_count(&r, "%DLQ%FixtureGroupRetry", 4);
    let dead = wire::pull_all(&mut c, "FixtureDlqReader", "%DLQ%FixtureGroupRetry", 0, 3);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body_str(), "retry-3");
    assert_eq!(dead[0].property("RETRY_TOPIC"), Some("RetryTopic"));

    // Transactions: the Java broker's five halves are all decided (op records, checker at
    // 5), so only a new undecided half is checked; it continues the half queue at 5.
    let group = "FixtureTxProducerGroup";
    let mut p = Conn::connect(&r.broker());
    wire::heartbeat_producer(&mut p, "127.0.0.1@fixture-tx", group);
    let props = wire::half_properties(
        group,
        "RMQDTX3",
        &[("KEYS", "txkey-tx-unknown-3"), ("TAGS", "TagTx")],
    );
    let f = wire::send(
        &mut p,
        group,
        "TxTopic",
        0,
        wire::PREPARED,
        &props,
        b"tx-unknown-3",
    );
    assert_eq!((f.code, f.ext_i64("queueOffset")), (0, 5), "{}", f.remark);
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut checks = Vec::new();
    while checks.is_empty() {
        assert!(
            Instant::now() < deadline,
            "never checked; log:\n{}",
            r.log()
        );
        if let Some(req) = p.next_request(Duration::from_millis(500)) {
            if req.code == 39 {
                checks.push(req);
            }
        }
    }
    let check = checks[0].clone();
    wire::answer_check(&mut p, group, &check, wire::COMMIT);
    let quiet_until = Instant::now() + Duration::from_secs(3);
    while let Some(req) = p.next_request(quiet_until.saturating_duration_since(Instant::now())) {
        if req.code == 39 {
            checks.push(req);
        }
    }
    let ids: Vec<String> = checks.iter().map(|c| c.ext("msgId")).collect();
    assert_eq!(ids, ["RMQDTX3"], "checks");
    wait_for_count(&r, "TxTopic", 4);
    let got = wire::pull_all(&mut c, "FixtureTxReader", "TxTopic", 0, 0);
    let bodies: Vec<String> = got.iter().map(|m| m.body_str()).collect();
    assert_eq!(
        bodies,
        ["tx-commit-0", "tx-commit-1", "tx-commit-2", "tx-unknown-3"]
    );
}
