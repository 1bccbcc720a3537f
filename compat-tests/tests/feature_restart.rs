//! A broker restart in the middle of each broker-side feature (delay levels, consumer
//! retry → DLQ, transactions with check-back) loses nothing and delivers nothing twice.
//! Each test runs twice: a clean stop (SIGTERM) and kill -9, with SYNC_FLUSH so that every
//! acknowledged message is on disk when the process dies.
//!
//! The requests are framed by hand ([`rmqd_compat_tests::wire`]) because the tests decide
//! exactly which message is pulled, handed back or checked, and when; the real clients
//! drive the same features end to end in `clients.rs`.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn, Frame, COMMIT, PREPARED, ROLLBACK};
use rmqd_compat_tests::{create_topic, max_offset, Rmqd};

#[derive(Debug, Clone, Copy)]
enum Stop {
    Clean,
    Kill,
}

fn bounce(r: &mut Rmqd, how: Stop) {
    match how {
        Stop::Clean => r.stop_clean(),
        Stop::Kill => r.kill9(),
    }
    r.restart();
}

/// Waits until `topic`/`queue` holds `n` entries; it must never hold more.
fn wait_for_count(r: &Rmqd, topic: &str, queue: i32, n: i64, within: Duration) {
    let deadline = Instant::now() + within;
    loop {
        let have = max_offset(&r.broker(), topic, queue);
        assert!(have <= n, "{topic}/{queue} holds {have}, expected {n}");
        if have == n {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}/{queue} holds {have}, expected {n}; log:\n{}",
            r.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until config/delayOffset.json records `offset` for `level`: from then on a
/// killed broker does not deliver those messages again. (Delivery is at least once: a
/// broker killed between delivering a delayed message and recording it delivers that
/// one again, as the Java broker does for everything since its last 10 s flush.)
fn wait_for_delay_progress(r: &Rmqd, level: i32, offset: i64) {
    let path = r.store_dir().join("config/delayOffset.json");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&path).unwrap_or_default();
        let compact: String = text.chars().filter(|c| !c.is_whitespace()).collect();
        let have = [format!("{{{level}:"), format!(",{level}:")]
            .iter()
            .find_map(|k| compact.find(k.as_str()).map(|i| i + k.len()))
            .and_then(|i| {
                let digits: String = compact[i..]
                    .chars()
                    .take_while(|c| c.is_ascii_digit())
                    .collect();
                digits.parse::<i64>().ok()
            })
            .unwrap_or(0);
        if have >= offset {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "delayOffset.json never reached {level}:{offset}: {text}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn send_ok(c: &mut Conn, topic: &str, sys_flag: i32, props: &str, body: &str) -> Frame {
    let f = wire::send(
        c,
        "RestartProducer",
        topic,
        0,
        sys_flag,
        props,
        body.as_bytes(),
    );
    assert_eq!(f.code, 0, "send {body}: {}", f.remark);
    f
}

// ---------------------------------------------------------------------------------------
// Delay levels

/// Five level-1 messages are delivered before the restart, five level-3 ones are still
/// pending through it: afterwards each is in the real topic exactly once, the pending ones
/// no earlier than their delay.
fn delay_levels_across_a_restart(how: Stop) {
    let mut r = Rmqd::start(&["flushDiskType=SYNC_FLUSH", "messageDelayLevel=1s 2s 6s"]);
    let topic = "DelayRestart";
    create_topic(&r.broker(), topic, 1);
    let mut c = Conn::connect(&r.broker());
    for (level, n) in [(1, 5), (3, 5)] {
        for i in 0..n {
            let body = format!("level{level}-{i}");
            let props = wire::properties(&[
                ("DELAY", &level.to_string()),
                ("KEYS", &body),
                ("UNIQ_KEY", &format!("DR{level}{i:04}")),
                ("WAIT", "true"),
            ]);
            send_ok(&mut c, topic, 0, &props, &body);
        }
    }
    wait_for_count(&r, topic, 0, 5, Duration::from_secs(5));
    wait_for_delay_progress(&r, 1, 5);
    bounce(&mut r, how);
    wait_for_count(&r, topic, 0, 10, Duration::from_secs(15));
    // Nothing comes a second time.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(max_offset(&r.broker(), topic, 0), 10);
    let mut c = Conn::connect(&r.broker());
    let got = wire::pull_all(&mut c, "DelayRestartReader", topic, 0, 0);
    let mut seen: BTreeMap<String, i64> = BTreeMap::new();
    for m in &got {
        let waited = m.store_timestamp - m.born_timestamp;
        seen.insert(m.body_str(), waited);
    }
    assert_eq!(seen.len(), 10, "{seen:?}");
    for i in 0..5 {
        let waited = seen[&format!("level3-{i}")];
        assert!(
            waited >= 5_950,
            "level-3 message delivered after {waited} ms"
        );
    }
}

#[test]
fn delay_levels_across_a_clean_restart() {
    delay_levels_across_a_restart(Stop::Clean);
}

#[test]
fn delay_levels_across_a_kill() {
    delay_levels_across_a_restart(Stop::Kill);
}

// ---------------------------------------------------------------------------------------
// Consumer retry and DLQ

/// One message handed back three times with maxReconsumeTimes 2, the broker restarted
/// while each retry is parked in the schedule topic: reconsumeTimes 1 and 2 come from
/// %RETRY%, then the message is in %DLQ% once with its body and keys.
fn retry_and_dlq_across_restarts(how: Stop) {
    let levels = format!("messageDelayLevel={}", vec!["1s"; 18].join(" "));
    let mut r = Rmqd::start(&["flushDiskType=SYNC_FLUSH", &levels]);
    let (topic, group) = ("RetryRestart", "RetryRestartGroup");
    let retry = format!("%RETRY%{group}");
    let dlq = format!("%DLQ%{group}");
    create_topic(&r.broker(), topic, 1);
    let mut c = Conn::connect(&r.broker());
    let props = wire::properties(&[
        ("KEYS", "rr-key"),
        ("TAGS", "TagR"),
        ("UNIQ_KEY", "RR0001"),
        ("WAIT", "true"),
    ]);
    send_ok(&mut c, topic, 0, &props, "rr-body");
    let msgs = wire::pull_when_there(&mut c, group, topic, 0, 0);
    let mut current = msgs.into_iter().next().expect("the sent message");
    for attempt in 1..=3 {
        let f = wire::send_back(&mut c, group, &current, 0, 2);
        assert_eq!(f.code, 0, "send back {attempt}: {}", f.remark);
        bounce(&mut r, how);
        c = Conn::connect(&r.broker());
        if attempt < 3 {
            wait_for_count(&r, &retry, 0, attempt, Duration::from_secs(10));
            // Retry k went through delay level 3 + (k - 1).
            wait_for_delay_progress(&r, 2 + attempt as i32, 1);
            let msgs = wire::pull_when_there(&mut c, group, &retry, 0, attempt - 1);
            current = msgs.into_iter().next().expect("retried message");
            assert_eq!(current.reconsume_times as i64, attempt);
            assert_eq!(current.body_str(), "rr-body");
            assert_eq!(current.property("RETRY_TOPIC"), Some(topic));
        }
    }
    wait_for_count(&r, &dlq, 0, 1, Duration::from_secs(10));
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(max_offset(&r.broker(), &retry, 0), 2, "retried again");
    assert_eq!(max_offset(&r.broker(), &dlq, 0), 1);
    let dead = wire::pull_all(&mut c, "DlqReader", &dlq, 0, 0);
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].body_str(), "rr-body");
    assert_eq!(dead[0].property("KEYS"), Some("rr-key"));
    assert_eq!(dead[0].property("RETRY_TOPIC"), Some(topic));
    assert_eq!(dead[0].property("UNIQ_KEY"), Some("RR0001"));
}

#[test]
fn retry_and_dlq_across_clean_restarts() {
    retry_and_dlq_across_restarts(Stop::Clean);
}

#[test]
fn retry_and_dlq_across_kills() {
    retry_and_dlq_across_restarts(Stop::Kill);
}

// ---------------------------------------------------------------------------------------
// Transactions

struct Half {
    id: String,
    queue_offset: i64,
    commit_log_offset: i64,
}

fn send_half(c: &mut Conn, topic: &str, group: &str, id: &str) -> Half {
    let props = wire::half_properties(group, id, &[("KEYS", id)]);
    let f = send_ok(c, topic, PREPARED, &props, id);
    let (_, commit_log_offset) =
        rmqd_store::record::decode_offset_msg_id(&f.ext("msgId")).expect("offsetMsgId");
    Half {
        id: id.to_string(),
        queue_offset: f.ext_i64("queueOffset"),
        commit_log_offset,
    }
}

/// Four half messages: A committed and B rolled back before the restart, C and D left
/// undecided through it. Afterwards only C and D are checked; C is committed and D rolled
/// back from the check, and the topic holds A and C once each.
fn transactions_across_a_restart(how: Stop) {
    let mut r = Rmqd::start(&[
        "flushDiskType=SYNC_FLUSH",
        "transactionCheckInterval=1000",
        "transactionTimeOut=3000",
    ]);
    let (topic, group) = ("TxRestart", "TxRestartProducer");
    create_topic(&r.broker(), topic, 1);
    let mut p = Conn::connect(&r.broker());
    wire::heartbeat_producer(&mut p, "127.0.0.1@tx-restart-1", group);
    let halves: Vec<Half> = ["TXA", "TXB", "TXC", "TXD"]
        .iter()
        .map(|id| send_half(&mut p, topic, group, id))
        .collect();
    for (h, decision) in [(&halves[0], COMMIT), (&halves[1], ROLLBACK)] {
        wire::end_transaction(
            &mut p,
            group,
            h.queue_offset,
            h.commit_log_offset,
            decision,
            false,
            &h.id,
            &h.id,
        );
    }
    wait_for_count(&r, topic, 0, 1, Duration::from_secs(5));
    std::thread::sleep(Duration::from_millis(300));
    drop(p);
    bounce(&mut r, how);

    let mut p = Conn::connect(&r.broker());
    wire::heartbeat_producer(&mut p, "127.0.0.1@tx-restart-2", group);
    let mut checked: BTreeMap<String, usize> = BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !(checked.contains_key("TXC") && checked.contains_key("TXD")) {
        assert!(
            Instant::now() < deadline,
            "checks so far {checked:?}; log:\n{}",
            r.log()
        );
        let Some(req) = p.next_request(Duration::from_millis(500)) else {
            continue;
        };
        if req.code != 39 {
            continue;
        }
        let id = req.ext("msgId");
        *checked.entry(id.clone()).or_default() += 1;
        let decision = if id == "TXC" { COMMIT } else { ROLLBACK };
        wire::answer_check(&mut p, group, &req, decision);
    }
    // Decided halves are not asked about again.
    let quiet_until = Instant::now() + Duration::from_secs(4);
    while let Some(req) = p.next_request(quiet_until.saturating_duration_since(Instant::now())) {
        if req.code == 39 {
            *checked.entry(req.ext("msgId")).or_default() += 1;
        }
    }
    assert_eq!(
        checked,
        BTreeMap::from([("TXC".to_string(), 1), ("TXD".to_string(), 1)]),
        "checks after the restart; log:\n{}",
        r.log()
    );
    assert_eq!(max_offset(&r.broker(), topic, 0), 2);
    let got: Vec<String> = wire::pull_all(&mut p, "TxRestartReader", topic, 0, 0)
        .iter()
        .map(|m| m.body_str())
        .collect();
    assert_eq!(got, ["TXA", "TXC"]);
}

#[test]
fn transactions_across_a_clean_restart() {
    transactions_across_a_restart(Stop::Clean);
}

#[test]
fn transactions_across_a_kill() {
    transactions_across_a_restart(Stop::Kill);
}
