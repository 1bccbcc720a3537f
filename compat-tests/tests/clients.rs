//! Scenarios run against a real `rmqd` process by real, unmodified RocketMQ clients, one
//! test per scenario and client. A scenario a client cannot express has no test for that
//! client and is listed as not covered in the README's compatibility table.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::Duration;

use rmqd_compat_tests::{create_topic, run_driver, spawn_driver, Client, DriverRun, Rmqd};
use serde_json::Value;

const T: Duration = Duration::from_secs(120);

fn s(v: &Value, k: &str) -> String {
    v.get(k)
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string()
}

fn i(v: &Value, k: &str) -> i64 {
    v.get(k).and_then(Value::as_i64).unwrap_or(-1)
}

fn send(c: Client, r: &Rmqd, topic: &str, count: usize, extra: &[&str]) -> DriverRun {
    let n = count.to_string();
    let ns = r.namesrv();
    let mut args = vec!["send", "--namesrv", &ns, "--topic", topic, "--count", &n];
    args.extend_from_slice(extra);
    let run = run_driver(c, &args, r.home.path(), T);
    assert!(
        run.success && run.errors().is_empty(),
        "{}: send failed: {:?}\n{}\nbroker log:\n{}",
        c.name(),
        run.errors(),
        run.stderr,
        r.log()
    );
    run
}

fn consume_args<'a>(ns: &'a str, topic: &'a str, group: &'a str, expect: &'a str) -> Vec<&'a str> {
    vec![
        "consume",
        "--namesrv",
        ns,
        "--topic",
        topic,
        "--group",
        group,
        "--expect",
        expect,
        "--timeout",
        "60",
    ]
}

fn consume(
    c: Client,
    r: &Rmqd,
    topic: &str,
    group: &str,
    expect: usize,
    extra: &[&str],
) -> DriverRun {
    let n = expect.to_string();
    let ns = r.namesrv();
    let mut args = consume_args(&ns, topic, group, &n);
    args.extend_from_slice(extra);
    run_driver(c, &args, r.home.path(), T)
}

/// Distinct received bodies.
fn bodies(run: &DriverRun) -> BTreeSet<String> {
    run.lines
        .iter()
        .filter(|l| l.get("body").is_some())
        .map(|l| s(l, "body"))
        .collect()
}

fn expect_bodies(prefix: &str, n: usize) -> BTreeSet<String> {
    (0..n).map(|k| format!("{prefix}-{k}")).collect()
}

/// Two members of one group run with separate HOMEs, as on separate hosts: clients keep
/// local state (broadcast offsets) under HOME keyed by a client id that may not differ
/// between processes on one host.
fn member_home(r: &Rmqd, name: &str) -> std::path::PathBuf {
    let p = r.home.path().join(format!("member-{name}"));
    let _ = std::fs::create_dir_all(&p);
    p
}

fn prepare_topic(c: Client, r: &Rmqd, topic: &str, queues: u32) {
    // ali-ons does not create topics on send; the others rely on TBW102 auto-creation.
    if c == Client::Node {
        create_topic(&r.broker(), topic, queues);
    }
}

/// Scenario 1: 1000 sync sends with tags and keys to a new topic; a push consumer gets them all with
/// the content, queue and offset the producer was told; per-queue order is the send order.
fn s1_sync_send_and_consume(c: Client) {
    let r = Rmqd::start(&[]);
    let topic = "S1Topic";
    prepare_topic(c, &r, topic, 4);
    let sent = send(
        c,
        &r,
        topic,
        1000,
        &["--tag", "TagS1", "--keys-prefix", "k"],
    );
    let acks: BTreeMap<i64, &Value> = sent
        .messages()
        .into_iter()
        .map(|m| (i(m, "i"), m))
        .collect();
    assert_eq!(acks.len(), 1000);
    let got = consume(c, &r, topic, "S1Group", 1000, &[]);
    assert_eq!(
        bodies(&got),
        expect_bodies("msg", 1000),
        "{}: {}",
        c.name(),
        got.stderr
    );
    let mut per_queue: BTreeMap<i64, Vec<(i64, i64)>> = BTreeMap::new();
    for m in got.lines.iter().filter(|l| l.get("body").is_some()) {
        let idx: i64 = s(m, "body")
            .trim_start_matches("msg-")
            .parse()
            .expect("idx");
        assert_eq!(s(m, "tags"), "TagS1");
        assert_eq!(s(m, "keys"), format!("k-{idx}"));
        if let Some(ack) = acks.get(&idx) {
            // The record consumed is at the queue and offset the send acknowledged.
            if i(m, "reconsumeTimes") == 0
                && i(ack, "queueOffset") >= 0
                && ack.get("queueId").is_some()
            {
                assert_eq!(i(ack, "queueId"), i(m, "queueId"), "msg-{idx} queue");
                assert_eq!(
                    i(ack, "queueOffset"),
                    i(m, "queueOffset"),
                    "msg-{idx} offset"
                );
            }
        }
        // A redelivery from %RETRY% carries the retry queue's id and offset.
        if i(m, "reconsumeTimes") == 0 {
            per_queue
                .entry(i(m, "queueId"))
                .or_default()
                .push((i(m, "queueOffset"), idx));
        }
    }
    assert!(
        per_queue.len() >= 2,
        "spread over queues: {:?}",
        per_queue.keys()
    );
    for (q, mut v) in per_queue {
        v.sort();
        v.dedup();
        for w in v.windows(2) {
            assert!(
                w[0].1 < w[1].1,
                "queue {q}: offset {} holds msg-{} after msg-{}",
                w[1].0,
                w[1].1,
                w[0].1
            );
        }
        let offs: Vec<i64> = v.iter().map(|x| x.0).collect();
        assert_eq!(
            offs,
            (0..offs.len() as i64).collect::<Vec<_>>(),
            "queue {q} offsets contiguous"
        );
    }
}

/// Scenario 2: async and oneway sends, and a batch send; everything arrives.
fn s2_async_oneway_batch(c: Client, modes: &[&str]) {
    let r = Rmqd::start(&[]);
    for mode in modes {
        let topic = format!("S2{mode}");
        prepare_topic(c, &r, &topic, 4);
        let prefix = format!("{mode}msg");
        send(
            c,
            &r,
            &topic,
            50,
            &["--mode", mode, "--body-prefix", &prefix],
        );
        let got = consume(c, &r, &topic, &format!("S2G{mode}"), 50, &[]);
        assert_eq!(
            bodies(&got),
            expect_bodies(&prefix, 50),
            "{} {mode}: {}",
            c.name(),
            got.stderr
        );
    }
}

/// Scenario 3, orderly: messages go to queues by key; an orderly listener sees each key's messages
/// in send order.
fn s3_orderly(c: Client) {
    let r = Rmqd::start(&[]);
    let topic = "S3Topic";
    prepare_topic(c, &r, topic, 4);
    send(
        c,
        &r,
        topic,
        120,
        &["--mode", "orderly", "--order-keys", "3"],
    );
    let got = consume(c, &r, topic, "S3Group", 120, &["--orderly"]);
    assert_eq!(bodies(&got), expect_bodies("msg", 120), "{}", got.stderr);
    let mut last: HashMap<i64, i64> = HashMap::new();
    for m in got.lines.iter().filter(|l| l.get("body").is_some()) {
        let idx: i64 = s(m, "body")
            .trim_start_matches("msg-")
            .parse()
            .expect("idx");
        let key = idx % 3;
        if let Some(prev) = last.insert(key, idx) {
            assert!(prev < idx, "key {key}: msg-{idx} after msg-{prev}");
        }
    }
}

/// Scenario 4: two groups each get everything; two consumers of one group split the queues;
/// broadcasting consumers each get everything.
fn s4_pubsub_split_broadcast(c: Client) {
    let r = Rmqd::start(&[]);
    let topic = "S4Topic";
    prepare_topic(c, &r, topic, 4);
    send(c, &r, topic, 200, &[]);
    let ns = r.namesrv();
    for g in ["S4GroupA", "S4GroupB"] {
        let got = consume(c, &r, topic, g, 200, &[]);
        assert_eq!(
            bodies(&got),
            expect_bodies("msg", 200),
            "{g}: {}",
            got.stderr
        );
    }
    // One group, two members, both running before the messages are sent: together
    // they get everything, each only part.
    let a = spawn_driver(
        c,
        &[
            "consume",
            "--namesrv",
            &ns,
            "--topic",
            topic,
            "--group",
            "S4Split",
            "--expect",
            "200",
            "--timeout",
            "45",
            "--instance",
            "a",
            "--count-prefix",
            "sp",
        ],
        &member_home(&r, "a"),
    );
    let b = spawn_driver(
        c,
        &[
            "consume",
            "--namesrv",
            &ns,
            "--topic",
            topic,
            "--group",
            "S4Split",
            "--expect",
            "200",
            "--timeout",
            "45",
            "--instance",
            "b",
            "--count-prefix",
            "sp",
        ],
        &member_home(&r, "b"),
    );
    // Let both join and rebalance (clients also rebalance on their own every 20 s).
    std::thread::sleep(Duration::from_secs(22));
    send(c, &r, topic, 200, &["--body-prefix", "sp"]);
    let (a, b) = (a.finish(T), b.finish(T));
    let only = |run: &DriverRun| -> BTreeSet<String> {
        bodies(run)
            .into_iter()
            .filter(|x| x.starts_with("sp-"))
            .collect()
    };
    let (ba, bb) = (only(&a), only(&b));
    let all: BTreeSet<String> = ba.union(&bb).cloned().collect();
    assert_eq!(all, expect_bodies("sp", 200));
    assert!(
        ba.len() < 200 && bb.len() < 200,
        "queues were split: {} / {}",
        ba.len(),
        bb.len()
    );
    // Broadcasting: both members get every message sent while they run (a new
    // broadcasting consumer starts at the queue end, as the Java client does).
    let a = spawn_driver(
        c,
        &[
            "consume",
            "--namesrv",
            &ns,
            "--topic",
            topic,
            "--group",
            "S4Bcast",
            "--expect",
            "50",
            "--timeout",
            "60",
            "--broadcast",
            "--instance",
            "a",
            "--count-prefix",
            "bc",
        ],
        &member_home(&r, "a"),
    );
    let b = spawn_driver(
        c,
        &[
            "consume",
            "--namesrv",
            &ns,
            "--topic",
            topic,
            "--group",
            "S4Bcast",
            "--expect",
            "50",
            "--timeout",
            "60",
            "--broadcast",
            "--instance",
            "b",
            "--count-prefix",
            "bc",
        ],
        &member_home(&r, "b"),
    );
    std::thread::sleep(Duration::from_secs(8));
    send(c, &r, topic, 50, &["--body-prefix", "bc"]);
    let (a, b) = (a.finish(T), b.finish(T));
    let only_bc = |run: &DriverRun| -> BTreeSet<String> {
        bodies(run)
            .into_iter()
            .filter(|x| x.starts_with("bc-"))
            .collect()
    };
    assert_eq!(
        only_bc(&a),
        expect_bodies("bc", 50),
        "broadcast a: {}",
        a.stderr
    );
    assert_eq!(
        only_bc(&b),
        expect_bodies("bc", 50),
        "broadcast b: {}",
        b.stderr
    );
}

/// Scenario 5: consume half, stop the consumer, start it again: nothing lost, few duplicates.
fn s5_resume(c: Client) {
    let r = Rmqd::start(&[]);
    let topic = "S5Topic";
    prepare_topic(c, &r, topic, 4);
    send(c, &r, topic, 200, &[]);
    // The first consumer stops taking messages after 100 and leaves without a clean
    // shutdown; what it did not finish must come to the second.
    let first = consume(
        c,
        &r,
        topic,
        "S5Group",
        200,
        &["--stop-after", "100", "--linger", "7"],
    );
    let b1 = bodies(&first);
    assert!(b1.len() >= 100, "first run got {}", b1.len());
    // The second run gets what the first left, some of it through %RETRY% (what the
    // first run refused past its quota) and some twice (offsets not yet committed):
    // it runs for a fixed time rather than to a count.
    let second = consume(c, &r, topic, "S5Group", 200, &["--timeout", "25"]);
    let b2 = bodies(&second);
    let all: BTreeSet<String> = b1.union(&b2).cloned().collect();
    assert_eq!(all, expect_bodies("msg", 200), "lost messages");
    let dups = b1.intersection(&b2).count();
    assert!(dups <= 100, "{dups} duplicates");
}

/// Scenario 6: restart rmqd between send and consume: a clean stop, then kill -9 with SYNC_FLUSH.
fn s6_restart(c: Client) {
    for kill in [false, true] {
        let mut r = Rmqd::start(&["flushDiskType=SYNC_FLUSH"]);
        let topic = if kill { "S6Killed" } else { "S6Clean" };
        prepare_topic(c, &r, topic, 4);
        send(c, &r, topic, 300, &[]);
        if kill {
            r.kill9();
        } else {
            r.stop_clean();
        }
        r.restart();
        let got = consume(c, &r, topic, "S6Group", 300, &[]);
        assert_eq!(
            bodies(&got),
            expect_bodies("msg", 300),
            "kill={kill}: {}\n{}",
            got.stderr,
            r.log()
        );
    }
}

/// Delay levels 2 and 3: delivered no earlier than 5 s / 10 s after sending, at most 1 s late.
fn delay_levels(c: Client) {
    let r = Rmqd::start(&[]);
    for (level, secs) in [(2, 5_000i64), (3, 10_000)] {
        let topic = format!("DelayL{level}");
        prepare_topic(c, &r, &topic, 4);
        let lv = level.to_string();
        send(c, &r, &topic, 3, &["--delay-level", &lv]);
        let got = consume(c, &r, &topic, &format!("DelayG{level}"), 3, &[]);
        let msgs: Vec<&Value> = got
            .lines
            .iter()
            .filter(|l| l.get("body").is_some())
            .collect();
        assert_eq!(msgs.len(), 3, "{}", got.stderr);
        for m in msgs {
            // Store time is when the delayed copy was written to the real topic.
            let waited = i(m, "storeTimestamp") - i(m, "bornTimestamp");
            assert!(
                waited >= secs - 50 && waited <= secs + 1000,
                "level {level}: delivered after {waited} ms"
            );
        }
    }
}

/// A consumer that always asks for a retry sees reconsumeTimes 0,1,2,… and the message then
/// lands in %DLQ%<group>, readable with its original body and keys. Delay levels are set to
/// one second each so the 16 retries take seconds, not hours.
fn retry_to_dlq(c: Client) {
    let levels = format!("messageDelayLevel={}", vec!["1s"; 18].join(" "));
    let r = Rmqd::start(&[&levels]);
    let topic = "RetryTopic";
    prepare_topic(c, &r, topic, 1);
    send(c, &r, topic, 1, &["--keys-prefix", "rk"]);
    let got = consume(
        c,
        &r,
        topic,
        "RetryGroup",
        1,
        &["--fail-times", "1000", "--timeout", "50", "--linger", "5"],
    );
    let times: Vec<i64> = got
        .lines
        .iter()
        .filter(|l| l.get("body").is_some())
        .map(|m| i(m, "reconsumeTimes"))
        .collect();
    assert!(times.len() >= 17, "deliveries: {times:?}\n{}", got.stderr);
    assert_eq!(
        &times[..17],
        &(0..17).collect::<Vec<_>>()[..],
        "reconsumeTimes"
    );
    let ns = r.namesrv();
    // ali-ons and the Rust driver read the DLQ with a push consumer.
    let how = if matches!(c, Client::Node | Client::Rust) {
        "consume"
    } else {
        "pull"
    };
    let dlq = run_driver(
        c,
        &[
            how,
            "--namesrv",
            &ns,
            "--topic",
            "%DLQ%RetryGroup",
            "--group",
            "DlqReader",
            "--expect",
            "1",
            "--timeout",
            "30",
        ],
        r.home.path(),
        T,
    );
    let m = dlq
        .lines
        .iter()
        .find(|l| l.get("body").is_some())
        .unwrap_or_else(|| panic!("DLQ empty: {}\n{}", dlq.stderr, r.log()));
    assert_eq!(s(m, "body"), "msg-0");
    assert_eq!(s(m, "keys"), "rk-0");
}

/// COMMIT visible, ROLLBACK never, UNKNOWN resolved by check-back (to COMMIT here).
fn transactions(c: Client, answer: &str) {
    let r = Rmqd::start(&["transactionCheckInterval=1000", "transactionTimeOut=1000"]);
    let topic = "TxTopic";
    prepare_topic(c, &r, topic, 2);
    let ns = r.namesrv();
    let sent = run_driver(
        c,
        &[
            "tx-send",
            "--namesrv",
            &ns,
            "--topic",
            topic,
            "--group",
            "TxProducer",
            "--count",
            "3",
            "--decisions",
            "commit,rollback,unknown",
            "--check-answer",
            answer,
            "--linger",
            "8",
        ],
        r.home.path(),
        T,
    );
    assert!(sent.success, "{:?}\n{}", sent.lines, sent.stderr);
    assert!(
        sent.lines.iter().any(|l| l.get("check").is_some()),
        "no check-back: {:?}\n{}",
        sent.lines,
        r.log()
    );
    let expect: BTreeSet<String> = if answer == "commit" {
        ["msg-0", "msg-2"].iter().map(|x| x.to_string()).collect()
    } else {
        ["msg-0"].iter().map(|x| x.to_string()).collect()
    };
    let got = consume(c, &r, topic, "TxConsumer", expect.len(), &["--linger", "3"]);
    assert_eq!(bodies(&got), expect, "{}", got.stderr);
}

/// Scenario 7: query by key (QUERY_MESSAGE through the index) and by id (VIEW_MESSAGE_BY_ID).
fn s7_query(c: Client) {
    let r = Rmqd::start(&[]);
    let topic = "S7Topic";
    prepare_topic(c, &r, topic, 4);
    let sent = send(c, &r, topic, 5, &["--keys-prefix", "qk"]);
    let third = sent
        .messages()
        .into_iter()
        .find(|m| i(m, "i") == 3)
        .expect("ack of msg 3");
    let offset_id = s(third, "offsetMsgId");
    assert!(
        !offset_id.is_empty(),
        "client reports no offsetMsgId: {third}"
    );
    std::thread::sleep(Duration::from_millis(500));
    let ns = r.namesrv();
    let q = run_driver(
        c,
        &[
            "query",
            "--namesrv",
            &ns,
            "--topic",
            topic,
            "--key",
            "qk-3",
            "--msg-id",
            &offset_id,
        ],
        r.home.path(),
        T,
    );
    assert!(q.success, "{:?}\n{}", q.lines, q.stderr);
    let by_key: Vec<&Value> = q.lines.iter().filter(|l| l["by"] == "key").collect();
    assert_eq!(by_key.len(), 1, "{:?}", q.lines);
    assert_eq!(s(&by_key[0]["message"], "body"), "msg-3");
    let by_id = q
        .lines
        .iter()
        .find(|l| l["by"] == "id")
        .expect("view by id");
    assert_eq!(s(&by_id["message"], "body"), "msg-3");
    assert_eq!(s(&by_id["message"], "keys"), "qk-3");
}

/// A consumer that asks for a retry gets the message again from %RETRY% with
/// reconsumeTimes 1 (the part of the retry path ali-ons completes; see the README).
fn retry_once(c: Client) {
    let levels = format!("messageDelayLevel={}", vec!["1s"; 18].join(" "));
    let r = Rmqd::start(&[&levels]);
    let topic = "RetryOnce";
    prepare_topic(c, &r, topic, 1);
    send(c, &r, topic, 1, &["--keys-prefix", "rk"]);
    let got = consume(
        c,
        &r,
        topic,
        "RetryOnceGroup",
        1,
        &["--fail-times", "1", "--timeout", "30"],
    );
    let deliveries: Vec<(i64, String)> = got
        .lines
        .iter()
        .filter(|l| l.get("body").is_some())
        .map(|m| (i(m, "reconsumeTimes"), s(m, "keys")))
        .collect();
    assert!(deliveries.len() >= 2, "{deliveries:?}\n{}", got.stderr);
    assert_eq!(deliveries[0], (0, "rk-0".to_string()));
    assert_eq!(deliveries[1], (1, "rk-0".to_string()));
}

macro_rules! client_tests {
    ($modname:ident, $client:expr, [$($name:ident => $body:expr),* $(,)?]) => {
        mod $modname {
            #[allow(unused_imports)]
            use super::*;
            $(
                #[test]
                fn $name() {
                    let c: Client = $client;
                    ($body)(c);
                }
            )*
        }
    };
}

client_tests!(py_cpp1, Client::PyCpp1, [
    s1_sync_send_and_consume => super::s1_sync_send_and_consume,
    s2_async_oneway_batch => |c| super::s2_async_oneway_batch(c, &["async", "oneway", "batch"]),
    s3_orderly => super::s3_orderly,
    s4_pubsub_split_broadcast => super::s4_pubsub_split_broadcast,
    s5_resume => super::s5_resume,
    s6_restart => super::s6_restart,
    delay_levels => super::delay_levels,
    retry_to_dlq => super::retry_to_dlq,
]);

client_tests!(py_cpp2, Client::PyCpp2, [
    s1_sync_send_and_consume => super::s1_sync_send_and_consume,
    s2_async_oneway_batch => |c| super::s2_async_oneway_batch(c, &["async", "oneway", "batch"]),
    s3_orderly => super::s3_orderly,
    s4_pubsub_split_broadcast => super::s4_pubsub_split_broadcast,
    s5_resume => super::s5_resume,
    s6_restart => super::s6_restart,
    delay_levels => super::delay_levels,
    retry_to_dlq => super::retry_to_dlq,
    transaction_commit => |c| super::transactions(c, "commit"),
    transaction_rollback => |c| super::transactions(c, "rollback"),
]);

client_tests!(node_ali_ons, Client::Node, [
    // ali-ons has no oneway or batch send: async only.
    s2_async_oneway_batch => |c| super::s2_async_oneway_batch(c, &["async"]),
    retry_once => super::retry_once,
    retry_to_dlq => super::retry_to_dlq,
    s1_sync_send_and_consume => super::s1_sync_send_and_consume,
    s4_pubsub_split_broadcast => super::s4_pubsub_split_broadcast,
    s5_resume => super::s5_resume,
    s6_restart => super::s6_restart,
    delay_levels => super::delay_levels,
]);

client_tests!(rust_client, Client::Rust, [
    s1_sync_send_and_consume => super::s1_sync_send_and_consume,
    s2_async_oneway_batch => |c| super::s2_async_oneway_batch(c, &["async", "oneway", "batch"]),
    s3_orderly => super::s3_orderly,
    s4_pubsub_split_broadcast => super::s4_pubsub_split_broadcast,
    s5_resume => super::s5_resume,
    s6_restart => super::s6_restart,
    s7_query => super::s7_query,
    delay_levels => super::delay_levels,
    retry_to_dlq => super::retry_to_dlq,
    transaction_commit => |c| super::transactions(c, "commit"),
    transaction_rollback => |c| super::transactions(c, "rollback"),
]);
