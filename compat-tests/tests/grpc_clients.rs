//! RocketMQ 5.x gRPC clients against rmqd's gRPC endpoint (PyPI rocketmq-python-client
//! 5.1.2): producers (normal, FIFO, transactional with a check), SimpleConsumer
//! receive/ack/change-invisible-duration, PushConsumer, FIFO order, retry → DLQ, and a 4.x
//! remoting client on the same topics both ways. Timer delivery (`delivery_timestamp`) is
//! in `grpc_timer.rs`, the Node 5.x client in `grpc_node_clients.rs`.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use rmqd_compat_tests::grpc5::{
    body_set, create_group, create_typed_topic, deliveries, expect_sent, run5, start, wait_grpc,
};
use rmqd_compat_tests::{
    create_topic, max_offset, run_driver, spawn_driver, Client, DriverRun, Rmqd,
};

const PY5: Client = Client::Py5;

fn py5(r: &Rmqd, args: &[&str], secs: u64) -> DriverRun {
    run5(PY5, r, args, secs)
}

fn warm(r: &Rmqd, topic: &str, group: &str) {
    rmqd_compat_tests::grpc5::warm(PY5, r, topic, group);
}

#[test]
fn simple_consumer_receive_ack_redelivery_and_change_invisible() {
    let r = start(&[]);
    create_topic(&r.broker(), "G5Simple", 4);
    // Groups pop from where they start (Java's ConsumeInitMode.MAX), so each consumer
    // meets the topic before the messages are sent.
    for g in ["gAck", "gChange"] {
        warm(&r, "G5Simple", g);
    }
    let sent = py5(
        &r,
        &[
            "send",
            "--topic",
            "G5Simple",
            "--count",
            "8",
            "--body-prefix",
            "s",
        ],
        60,
    );
    expect_sent(&sent, 8);
    let want: BTreeSet<String> = (0..8).map(|i| format!("s-{i}")).collect();

    // gAck leaves each first delivery unacknowledged: it comes back after the invisible
    // time (10 s) as attempt 2, is acknowledged then, and never comes back after that.
    let ack = spawn_driver(
        PY5,
        &[
            "simple",
            "--topic",
            "G5Simple",
            "--group",
            "gAck",
            "--expect",
            "8",
            "--invisible",
            "10",
            "--skip-ack-first",
            "--timeout-secs",
            "40",
            "--linger",
            "13",
            "--endpoint",
            &r.grpc(),
        ],
        r.home.path(),
    );
    // gChange moves each first delivery's invisible time down to 2 s.
    let change = py5(
        &r,
        &[
            "simple",
            "--topic",
            "G5Simple",
            "--group",
            "gChange",
            "--expect",
            "8",
            "--invisible",
            "30",
            "--change-invisible",
            "2",
            "--timeout-secs",
            "25",
        ],
        60,
    );
    let ack = ack.finish(Duration::from_secs(90));
    assert!(ack.success, "{:?}\n{}", ack.lines, ack.stderr);
    assert_eq!(body_set(&ack), want);
    let mut first_seen: BTreeMap<String, i64> = BTreeMap::new();
    for d in deliveries(&ack) {
        let b = d["body"].as_str().unwrap().to_string();
        let at = d["recvTimestamp"].as_i64().unwrap();
        assert!(
            d.get("late").is_none(),
            "acknowledged message came back: {d}"
        );
        match first_seen.get(&b) {
            None => {
                assert_eq!(d["attempt"], 1, "{d}");
                first_seen.insert(b, at);
            }
            Some(first) => {
                assert_eq!(d["attempt"], 2, "{d}");
                let gap = at - first;
                assert!(
                    (9_000..20_000).contains(&gap),
                    "redelivered after {gap} ms: {d}"
                );
            }
        }
    }
    assert_eq!(
        deliveries(&ack).len(),
        16,
        "each message twice: {:?}",
        ack.lines
    );

    assert!(change.success, "{:?}\n{}", change.lines, change.stderr);
    assert_eq!(body_set(&change), want);
    let mut firsts: BTreeMap<String, i64> = BTreeMap::new();
    for d in deliveries(&change) {
        let b = d["body"].as_str().unwrap().to_string();
        let at = d["recvTimestamp"].as_i64().unwrap();
        if let Some(first) = firsts.get(&b) {
            let gap = at - first;
            assert!(
                (1_500..9_000).contains(&gap),
                "changed to 2 s, came back after {gap} ms"
            );
        } else {
            firsts.insert(b, at);
        }
    }
    // The POP state is where Java keeps it: checkpoints and acks in the revive topic.
    let revive: i64 = (0..8)
        .map(|q| max_offset(&r.broker(), "rmq_sys_REVIVE_LOG_DefaultCluster", q))
        .sum();
    assert!(revive >= 16, "revive records: {revive}");
    assert!(max_offset(&r.broker(), "%RETRY%gAck_G5Simple", 0) >= 8);
}

#[test]
fn fifo_message_groups_are_consumed_in_order() {
    let r = start(&[]);
    create_typed_topic(&r.broker(), "G5Fifo", 4, "FIFO");
    create_group(&r.broker(), "gFifo", 16, true);
    warm(&r, "G5Fifo", "gFifo");
    let sent = py5(
        &r,
        &[
            "send",
            "--topic",
            "G5Fifo",
            "--count",
            "30",
            "--body-prefix",
            "f",
            "--message-group",
            "order",
            "--groups",
            "3",
        ],
        60,
    );
    expect_sent(&sent, 30);
    let run = py5(
        &r,
        &[
            "push",
            "--topic",
            "G5Fifo",
            "--group",
            "gFifo",
            "--expect",
            "30",
            "--timeout-secs",
            "40",
        ],
        60,
    );
    assert!(run.success, "{:?}\n{}", run.lines, run.stderr);
    let mut per_group: BTreeMap<String, Vec<i64>> = BTreeMap::new();
    for d in deliveries(&run) {
        let idx: i64 = d["props"]["idx"].as_str().unwrap().parse().unwrap();
        per_group
            .entry(d["group"].as_str().unwrap_or("").to_string())
            .or_default()
            .push(idx);
    }
    assert_eq!(per_group.len(), 3, "{per_group:?}");
    for (g, idxs) in &per_group {
        let mut sorted = idxs.clone();
        sorted.sort_unstable();
        assert_eq!(idxs, &sorted, "group {g} out of order");
        assert_eq!(idxs.len(), 10, "group {g}: {idxs:?}");
    }
}

#[test]
fn push_consumer_retries_then_dead_letters() {
    let r = start(&[]);
    create_topic(&r.broker(), "G5Retry", 2);
    // retryMaxTimes 2: three delivery attempts, then the dead letter queue.
    create_group(&r.broker(), "gRetry", 2, false);
    warm(&r, "G5Retry", "gRetry");
    let sent = py5(
        &r,
        &[
            "send",
            "--topic",
            "G5Retry",
            "--count",
            "3",
            "--body-prefix",
            "r",
        ],
        60,
    );
    expect_sent(&sent, 3);
    let run = py5(
        &r,
        &[
            "push",
            "--topic",
            "G5Retry",
            "--group",
            "gRetry",
            "--expect",
            "3",
            "--fail-always",
            "--timeout-secs",
            "25",
        ],
        60,
    );
    let mut attempts: BTreeMap<String, BTreeSet<i64>> = BTreeMap::new();
    for d in deliveries(&run) {
        attempts
            .entry(d["body"].as_str().unwrap().to_string())
            .or_default()
            .insert(d["attempt"].as_i64().unwrap());
    }
    for b in ["r-0", "r-1", "r-2"] {
        assert_eq!(
            attempts.get(b).cloned().unwrap_or_default(),
            BTreeSet::from([1, 2, 3]),
            "{b}: {:?}",
            run.lines
        );
    }
    let deadline = Instant::now() + Duration::from_secs(10);
    while max_offset(&r.broker(), "%DLQ%gRetry", 0) < 3 {
        assert!(
            Instant::now() < deadline,
            "dead letters: {}",
            max_offset(&r.broker(), "%DLQ%gRetry", 0)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    assert_eq!(max_offset(&r.broker(), "%DLQ%gRetry", 0), 3);
}

#[test]
fn transactional_messages_commit_rollback_and_check() {
    let r = start(&["transactionCheckInterval=1000", "transactionTimeOut=2000"]);
    create_typed_topic(&r.broker(), "G5Tx", 2, "TRANSACTION");
    warm(&r, "G5Tx", "gTx");
    // Decisions commit, rollback, unknown; the check answers commit for the unknown ones.
    let tx = py5(
        &r,
        &[
            "tx-send",
            "--topic",
            "G5Tx",
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
    let run = py5(
        &r,
        &[
            "simple",
            "--topic",
            "G5Tx",
            "--group",
            "gTx",
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
}

#[test]
fn remoting_and_grpc_clients_share_topics_both_ways() {
    let r = start(&[]);
    create_topic(&r.broker(), "G5Cross", 4);
    // 4.x producer → 5.x SimpleConsumer.
    let consumer = spawn_driver(
        PY5,
        &[
            "simple",
            "--topic",
            "G5Cross",
            "--group",
            "g5cross",
            "--expect",
            "20",
            "--timeout-secs",
            "40",
            "--endpoint",
            &r.grpc(),
        ],
        r.home.path(),
    );
    std::thread::sleep(Duration::from_secs(4));
    let sent = run_driver(
        Client::PyCpp1,
        &[
            "send",
            "--namesrv",
            &r.namesrv(),
            "--topic",
            "G5Cross",
            "--count",
            "20",
            "--body-prefix",
            "old",
        ],
        r.home.path(),
        Duration::from_secs(60),
    );
    assert!(sent.success, "{:?}\n{}", sent.lines, sent.stderr);
    let got = consumer.finish(Duration::from_secs(60));
    assert!(got.success, "{:?}\n{}", got.lines, got.stderr);
    let want: BTreeSet<String> = (0..20).map(|i| format!("old-{i}")).collect();
    assert_eq!(body_set(&got), want);
    let ids_4x: BTreeSet<&str> = sent
        .lines
        .iter()
        .filter_map(|l| l["msgId"].as_str())
        .collect();
    let ids_5x: BTreeSet<&str> = deliveries(&got)
        .iter()
        .filter_map(|l| l["msgId"].as_str())
        .collect();
    assert_eq!(
        ids_4x, ids_5x,
        "the 5.x client sees the 4.x producer's message ids"
    );

    // 5.x producer → 4.x push consumer.
    let sent5 = py5(
        &r,
        &[
            "send",
            "--topic",
            "G5Cross",
            "--count",
            "20",
            "--body-prefix",
            "new",
        ],
        60,
    );
    expect_sent(&sent5, 20);
    let got4 = run_driver(
        Client::PyCpp1,
        &[
            "consume",
            "--namesrv",
            &r.namesrv(),
            "--topic",
            "G5Cross",
            "--group",
            "g4cross",
            "--expect",
            "20",
            "--count-prefix",
            "new",
            "--timeout-secs",
            "40",
        ],
        r.home.path(),
        Duration::from_secs(60),
    );
    assert!(got4.success, "{:?}\n{}", got4.lines, got4.stderr);
    let new: BTreeSet<String> = body_set(&got4)
        .into_iter()
        .filter(|b| b.starts_with("new"))
        .collect();
    assert_eq!(new, (0..20).map(|i| format!("new-{i}")).collect());
    let ids5: BTreeSet<&str> = sent5
        .lines
        .iter()
        .filter_map(|l| l["msgId"].as_str())
        .collect();
    let seen4: BTreeSet<&str> = deliveries(&got4)
        .iter()
        .filter(|l| l["body"].as_str().is_some_and(|b| b.starts_with("new")))
        .filter_map(|l| l["msgId"].as_str())
        .collect();
    assert_eq!(
        ids5, seen4,
        "the 4.x client sees the 5.x producer's message ids"
    );
}

#[test]
fn acknowledgements_survive_kill9_and_unacked_messages_come_back() {
    let mut r = start(&["flushDiskType=SYNC_FLUSH"]);
    create_topic(&r.broker(), "G5Crash", 4);
    warm(&r, "G5Crash", "gCrash");
    let sent = py5(
        &r,
        &[
            "send",
            "--topic",
            "G5Crash",
            "--count",
            "10",
            "--body-prefix",
            "k",
        ],
        60,
    );
    expect_sent(&sent, 10);
    // Receive all ten, acknowledge the even ones only, then kill -9 at once.
    let first = py5(
        &r,
        &[
            "simple",
            "--topic",
            "G5Crash",
            "--group",
            "gCrash",
            "--expect",
            "10",
            "--invisible",
            "10",
            "--no-ack-odd",
            "--stop-after-received",
            "10",
            "--timeout-secs",
            "30",
        ],
        60,
    );
    assert!(first.success, "{:?}\n{}", first.lines, first.stderr);
    let acked: BTreeSet<&str> = first
        .lines
        .iter()
        .filter_map(|l| l["acked"].as_str())
        .collect();
    assert_eq!(acked.len(), 5, "{:?}", first.lines);
    r.kill9();
    r.restart();
    wait_grpc(&r);
    // After the restart the odd ones come back once their invisible time is over; the
    // acknowledged ones never do.
    let second = py5(
        &r,
        &[
            "simple",
            "--topic",
            "G5Crash",
            "--group",
            "gCrash",
            "--expect",
            "5",
            "--invisible",
            "10",
            "--timeout-secs",
            "40",
            "--linger",
            "12",
        ],
        90,
    );
    assert!(second.success, "{:?}\n{}", second.lines, second.stderr);
    let back = body_set(&second);
    let odd: BTreeSet<String> = (0..10)
        .filter(|i| i % 2 == 1)
        .map(|i| format!("k-{i}"))
        .collect();
    assert_eq!(back, odd, "{:?}", second.lines);
}
