//! The Node 5.x gRPC client (npm rocketmq-client-nodejs 1.0.8) against rmqd's gRPC
//! endpoint: Producer (normal, FIFO with message groups, transactional with a
//! TransactionChecker answering the broker's check), SimpleConsumer receive / ack /
//! change-invisible-duration / redelivery, PushConsumer (standard and FIFO), retry → DLQ
//! (by the broker at max attempts, and by the FIFO push consumer's
//! ForwardMessageToDeadLetterQueue), and a 4.x remoting client on the same topic both ways.
//! The Python 5.x client's tests are in `grpc_clients.rs`, timer delivery in
//! `grpc_timer.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rmqd_compat_tests::grpc5::{
    body_set, create_group, create_group_with, create_typed_topic, deliveries, expect_sent,
    msg_ids, run5, start, warm_all,
};
use rmqd_compat_tests::{
    create_topic, max_offset, run_driver, spawn_driver, wire, Client, DriverRun, Rmqd, Running,
};

const NODE5: Client = Client::Node5;

fn node5(r: &Rmqd, args: &[&str], secs: u64) -> DriverRun {
    run5(NODE5, r, args, secs)
}

fn spawn_node5(r: &Rmqd, args: &[&str]) -> Running {
    let mut full: Vec<&str> = args.to_vec();
    let ep = r.grpc();
    full.extend(["--endpoint", &ep]);
    spawn_driver(NODE5, &full, r.home.path())
}

fn warm(r: &Rmqd, topic: &str, group: &str) {
    rmqd_compat_tests::grpc5::warm(NODE5, r, topic, group);
}

fn send(r: &Rmqd, topic: &str, count: usize, prefix: &str, extra: &[&str]) -> DriverRun {
    let n = count.to_string();
    let mut args = vec![
        "send",
        "--topic",
        topic,
        "--count",
        &n,
        "--body-prefix",
        prefix,
    ];
    args.extend_from_slice(extra);
    let run = node5(r, &args, 60);
    expect_sent(&run, count);
    run
}

fn names(prefix: &str, n: usize) -> BTreeSet<String> {
    (0..n).map(|i| format!("{prefix}-{i}")).collect()
}

/// Waits until `topic` queue 0 holds `n` messages.
fn wait_for_count(r: &Rmqd, topic: &str, n: i64, within: Duration) {
    let deadline = Instant::now() + within;
    while max_offset(&r.broker(), topic, 0) < n {
        assert!(
            Instant::now() < deadline,
            "{topic}: {} of {n}",
            max_offset(&r.broker(), topic, 0)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Per body, the delivery attempts seen.
fn attempts(run: &DriverRun) -> BTreeMap<String, BTreeSet<i64>> {
    let mut a: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for d in deliveries(run) {
        a.entry(d["body"].as_str().unwrap_or_default().to_string())
            .or_default()
            .insert(d["attempt"].as_i64().unwrap_or(-1));
    }
    a
}

/// A `groupRetryPolicy` the Node client understands (it skips a customized one).
fn exponential_policy() -> serde_json::Value {
    serde_json::json!({"groupRetryPolicy": {"type": "EXPONENTIAL",
        "exponentialRetryPolicy": {"initial": 1000, "max": 2000, "multiplier": 2}}})
}

#[test]
fn node_client_sends_receives_and_gets_unacked_messages_back() {
    let r = start(&[]);
    create_topic(&r.broker(), "G5Node", 2);
    warm_all(NODE5, &r, "G5Node", &["gNode", "gNodeChange"]);
    let sent = send(&r, "G5Node", 5, "n", &[]);
    // gNodeChange moves each first delivery's invisible time from 30 s down to 2 s.
    let change = spawn_node5(
        &r,
        &[
            "simple",
            "--topic",
            "G5Node",
            "--group",
            "gNodeChange",
            "--expect",
            "5",
            "--invisible",
            "30",
            "--change-invisible",
            "2",
            "--timeout-secs",
            "25",
        ],
    );
    // gNode leaves each first delivery unacknowledged: it comes back after 10 s.
    let got = node5(
        &r,
        &[
            "simple",
            "--topic",
            "G5Node",
            "--group",
            "gNode",
            "--expect",
            "5",
            "--invisible",
            "10",
            "--skip-ack-first",
            "--timeout-secs",
            "40",
        ],
        60,
    );
    assert!(got.success, "{:?}\n{}", got.lines, got.stderr);
    assert_eq!(body_set(&got), names("n", 5));
    for (b, a) in attempts(&got) {
        assert_eq!(a, BTreeSet::from([1, 2]), "{b}: {:?}", got.lines);
    }
    // The consumer sees the message ids the producer was given.
    assert_eq!(msg_ids(&sent.lines), msg_ids(deliveries(&got)));

    let change = change.finish(Duration::from_secs(60));
    assert!(change.success, "{:?}\n{}", change.lines, change.stderr);
    assert_eq!(body_set(&change), names("n", 5));
    let mut firsts: BTreeMap<String, i64> = BTreeMap::new();
    for d in deliveries(&change) {
        let b = d["body"].as_str().unwrap().to_string();
        let at = d["recvTimestamp"].as_i64().unwrap();
        match firsts.get(&b) {
            None => {
                firsts.insert(b, at);
            }
            Some(first) => {
                let gap = at - first;
                assert!(
                    (1_500..9_000).contains(&gap),
                    "changed to 2 s, {b} came back after {gap} ms"
                );
            }
        }
    }
    assert_eq!(deliveries(&change).len(), 10, "{:?}", change.lines);
}

#[test]
fn node_fifo_message_groups_are_consumed_in_order() {
    let r = start(&[]);
    create_typed_topic(&r.broker(), "G5NFifo", 4, "FIFO");
    create_group(&r.broker(), "gNFifoSimple", 16, true);
    create_group(&r.broker(), "gNFifoPush", 16, true);
    // Two attempts, then the FIFO push consumer forwards the message to the DLQ itself
    // (ForwardMessageToDeadLetterQueue). The client retries only with an exponential
    // backoff policy (1.0.8 ignores the customized one, a group's default), which the
    // group's `groupRetryPolicy` gives it.
    create_group_with(&r.broker(), "gNFifoDlq", 1, true, exponential_policy());
    warm_all(
        NODE5,
        &r,
        "G5NFifo",
        &["gNFifoSimple", "gNFifoPush", "gNFifoDlq"],
    );
    let sent = send(
        &r,
        "G5NFifo",
        15,
        "f",
        &["--message-group", "order", "--groups", "3"],
    );
    let common = [
        "--topic",
        "G5NFifo",
        "--expect",
        "15",
        "--timeout-secs",
        "30",
    ];
    let push = spawn_node5(
        &r,
        &[&["push", "--group", "gNFifoPush"][..], &common].concat(),
    );
    let dlq = spawn_node5(
        &r,
        &[
            &["push", "--group", "gNFifoDlq", "--fail-always"][..],
            &common,
        ]
        .concat(),
    );
    let simple = node5(
        &r,
        &[
            &["simple", "--group", "gNFifoSimple", "--batch", "4"][..],
            &common,
        ]
        .concat(),
        60,
    );
    let push = push.finish(Duration::from_secs(60));
    for (name, run) in [("simple", &simple), ("push", &push)] {
        assert!(run.success, "{name}: {:?}\n{}", run.lines, run.stderr);
        let mut per_group: BTreeMap<String, Vec<i64>> = BTreeMap::new();
        for d in deliveries(run) {
            let idx: i64 = d["props"]["idx"].as_str().unwrap().parse().unwrap();
            assert_eq!(d["attempt"], 1, "{name}: {d}");
            per_group
                .entry(d["group"].as_str().unwrap_or("").to_string())
                .or_default()
                .push(idx);
        }
        assert_eq!(
            per_group.keys().cloned().collect::<BTreeSet<_>>(),
            names("order", 3),
            "{name}"
        );
        for (g, idxs) in &per_group {
            let k: i64 = g.trim_start_matches("order-").parse().unwrap();
            let want: Vec<i64> = (0..15).filter(|i| i % 3 == k).collect();
            assert_eq!(idxs, &want, "{name}: group {g} out of order or incomplete");
        }
    }

    // Each message twice (attempts 1 and 2, the second by the client's own FIFO retry),
    // then in %DLQ%gNFifoDlq; a group's next message only after the one before it left.
    wait_for_count(&r, "%DLQ%gNFifoDlq", 15, Duration::from_secs(40));
    let dlq = dlq.finish(Duration::ZERO);
    for (b, a) in attempts(&dlq) {
        assert_eq!(a, BTreeSet::from([1, 2]), "{b}: {:?}", dlq.lines);
    }
    assert_eq!(body_set(&dlq), names("f", 15));
    let mut c = wire::Conn::connect(&r.broker());
    let dead = wire::pull_all(&mut c, "gNFifoDlqReader", "%DLQ%gNFifoDlq", 0, 0);
    let dead_ids: BTreeSet<String> = dead
        .iter()
        .filter_map(|m| m.property("UNIQ_KEY").map(str::to_string))
        .collect();
    assert_eq!(dead_ids, msg_ids(&sent.lines));
    for m in &dead {
        // Forwarded from the topic itself: the client retried, the broker never did.
        assert_eq!(m.property("RETRY_TOPIC"), Some("G5NFifo"));
    }
    assert_eq!(max_offset(&r.broker(), "%DLQ%gNFifoDlq", 0), 15);
}

#[test]
fn node_transactions_commit_rollback_and_the_checker_answers() {
    let r = start(&["transactionCheckInterval=1000", "transactionTimeOut=2000"]);
    create_typed_topic(&r.broker(), "G5NTx", 2, "TRANSACTION");
    warm(&r, "G5NTx", "gNTx");
    // Decisions commit, rollback, unknown; the broker's check reaches the Node checker
    // over telemetry, which answers commit for the unknown ones.
    let tx = node5(
        &r,
        &[
            "tx-send",
            "--topic",
            "G5NTx",
            "--count",
            "6",
            "--body-prefix",
            "t",
            "--decisions",
            "commit,rollback,unknown",
            "--check-answer",
            "commit",
            "--linger",
            "8",
        ],
        60,
    );
    assert!(tx.success, "{:?}\n{}", tx.lines, tx.stderr);
    let checked: BTreeSet<&str> = tx
        .lines
        .iter()
        .filter_map(|l| l["check"].as_str())
        .collect();
    assert_eq!(checked, BTreeSet::from(["t-2", "t-5"]), "{:?}", tx.lines);
    // The check carries the message id the send returned.
    let unknown_ids: BTreeSet<String> = msg_ids(
        tx.lines
            .iter()
            .filter(|l| l["decision"] == "unknown" || l.get("check").is_some()),
    );
    assert_eq!(unknown_ids.len(), 2, "{:?}", tx.lines);
    let run = node5(
        &r,
        &[
            "simple",
            "--topic",
            "G5NTx",
            "--group",
            "gNTx",
            "--expect",
            "4",
            "--timeout-secs",
            "20",
            "--linger",
            "3",
        ],
        60,
    );
    assert!(run.success, "{:?}\n{}", run.lines, run.stderr);
    assert_eq!(
        body_set(&run),
        ["t-0", "t-2", "t-3", "t-5"]
            .into_iter()
            .map(String::from)
            .collect()
    );
    assert_eq!(deliveries(&run).len(), 4, "each once: {:?}", run.lines);
}

#[test]
fn node_consumers_retry_then_dead_letter() {
    let r = start(&[]);
    create_topic(&r.broker(), "G5NRetry", 2);
    // A SimpleConsumer that never acknowledges: two attempts (retryMaxTimes 1), each
    // after the 10 s invisible time, then the broker moves the message to the DLQ.
    create_group(&r.broker(), "gNNeverAck", 1, false);
    // A PushConsumer whose listener always fails: three attempts (retryMaxTimes 2).
    create_group_with(&r.broker(), "gNPushFail", 2, false, exponential_policy());
    warm_all(NODE5, &r, "G5NRetry", &["gNNeverAck", "gNPushFail"]);
    let sent = send(&r, "G5NRetry", 3, "r", &[]);
    let push = spawn_node5(
        &r,
        &[
            "push",
            "--topic",
            "G5NRetry",
            "--group",
            "gNPushFail",
            "--expect",
            "3",
            "--fail-always",
            "--timeout-secs",
            "45",
        ],
    );
    let never = spawn_node5(
        &r,
        &[
            "simple",
            "--topic",
            "G5NRetry",
            "--group",
            "gNNeverAck",
            "--expect",
            "3",
            "--invisible",
            "10",
            "--never-ack",
            "--timeout-secs",
            "45",
        ],
    );
    wait_for_count(&r, "%DLQ%gNPushFail", 3, Duration::from_secs(45));
    wait_for_count(&r, "%DLQ%gNNeverAck", 3, Duration::from_secs(45));
    // Both consumers would go on until their timeout: what they saw is in their lines.
    let push = push.finish(Duration::ZERO);
    let never = never.finish(Duration::ZERO);
    for (name, run, want) in [
        ("push", &push, BTreeSet::from([1, 2, 3])),
        ("never-ack", &never, BTreeSet::from([1, 2])),
    ] {
        let a = attempts(run);
        assert_eq!(
            a.keys().cloned().collect::<BTreeSet<_>>(),
            names("r", 3),
            "{name}: {:?}",
            run.lines
        );
        for (b, seen) in a {
            assert_eq!(seen, want, "{name} {b}: {:?}", run.lines);
        }
    }
    let mut c = wire::Conn::connect(&r.broker());
    for dlq in ["%DLQ%gNPushFail", "%DLQ%gNNeverAck"] {
        let dead = wire::pull_all(&mut c, "dlqReader", dlq, 0, 0);
        let bodies: BTreeSet<String> = dead.iter().map(|m| m.body_str()).collect();
        assert_eq!(bodies, names("r", 3), "{dlq}");
        let ids: BTreeSet<String> = dead
            .iter()
            .filter_map(|m| m.property("UNIQ_KEY").map(str::to_string))
            .collect();
        assert_eq!(ids, msg_ids(&sent.lines), "{dlq}");
        // They reached the DLQ from the POP retry topic: the revive
        // (`PopReviveService.reviveRetry`) copies the properties without adding
        // RETRY_TOPIC, so the send-back to the DLQ names the retry topic.
        let group = dlq.trim_start_matches("%DLQ%");
        let retry = format!("%RETRY%{group}_G5NRetry");
        for m in &dead {
            assert_eq!(m.property("RETRY_TOPIC"), Some(retry.as_str()), "{dlq}");
            assert!(m.reconsume_times >= 2, "{dlq}: {}", m.reconsume_times);
        }
        assert_eq!(max_offset(&r.broker(), dlq, 0), 3, "{dlq}: once each");
    }
}

#[test]
fn node_and_remoting_clients_share_a_topic_both_ways() {
    let r = start(&[]);
    create_topic(&r.broker(), "G5NCross", 4);
    warm(&r, "G5NCross", "gNCross");
    // 4.x producer (C++ 1.x remoting client) → Node SimpleConsumer.
    let sent4 = run_driver(
        Client::PyCpp1,
        &[
            "send",
            "--namesrv",
            &r.namesrv(),
            "--topic",
            "G5NCross",
            "--count",
            "10",
            "--body-prefix",
            "old",
        ],
        r.home.path(),
        Duration::from_secs(60),
    );
    assert!(sent4.success, "{:?}\n{}", sent4.lines, sent4.stderr);
    let got5 = node5(
        &r,
        &[
            "simple",
            "--topic",
            "G5NCross",
            "--group",
            "gNCross",
            "--expect",
            "10",
            "--timeout-secs",
            "30",
        ],
        60,
    );
    assert!(got5.success, "{:?}\n{}", got5.lines, got5.stderr);
    assert_eq!(body_set(&got5), names("old", 10));
    assert_eq!(
        msg_ids(&sent4.lines),
        msg_ids(deliveries(&got5)),
        "the Node client sees the 4.x producer's message ids"
    );

    // Node producer → 4.x push consumer.
    let sent5 = send(&r, "G5NCross", 10, "new", &[]);
    let got4 = run_driver(
        Client::PyCpp1,
        &[
            "consume",
            "--namesrv",
            &r.namesrv(),
            "--topic",
            "G5NCross",
            "--group",
            "g4NCross",
            "--expect",
            "10",
            "--count-prefix",
            "new",
            "--timeout-secs",
            "40",
        ],
        r.home.path(),
        Duration::from_secs(60),
    );
    assert!(got4.success, "{:?}\n{}", got4.lines, got4.stderr);
    let new: Vec<&serde_json::Value> = deliveries(&got4)
        .into_iter()
        .filter(|l| l["body"].as_str().is_some_and(|b| b.starts_with("new")))
        .collect();
    assert_eq!(
        new.iter()
            .filter_map(|l| l["body"].as_str().map(str::to_string))
            .collect::<BTreeSet<_>>(),
        names("new", 10)
    );
    assert_eq!(
        msg_ids(&sent5.lines),
        msg_ids(new),
        "the 4.x client sees the Node producer's message ids"
    );
}
