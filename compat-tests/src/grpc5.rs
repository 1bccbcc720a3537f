//! Shared setup and readers for the 5.x gRPC client tests (`grpc_clients.rs` for the
//! Python client, `grpc_node_clients.rs` for the Node one): a broker with its gRPC port
//! open, 5.x typed topics and groups, and the JSON lines the 5.x drivers print.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use serde_json::Value;

use crate::{remoting_request, run_driver, Client, DriverRun, Rmqd};

/// Waits until the broker's gRPC port accepts connections.
pub fn wait_grpc(r: &Rmqd) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(r.grpc()).is_err() {
        assert!(
            Instant::now() < deadline,
            "gRPC port never opened:\n{}",
            r.log()
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A broker for the 5.x tests, gRPC port open.
pub fn start(extra: &[&str]) -> Rmqd {
    // Small CommitLog files, and no disk guard: several brokers run at once on a shared
    // disk, and these tests are not about a full one.
    let mut conf = vec![
        "mappedFileSizeCommitLog=67108864",
        "diskSpaceWarningLevelRatio=0.99",
        "diskSpaceCleanForciblyRatio=0.99",
        "diskMaxUsedSpaceRatio=95",
    ];
    conf.extend_from_slice(extra);
    let r = Rmqd::start(&conf);
    wait_grpc(&r);
    r
}

/// UPDATE_AND_CREATE_TOPIC with a 5.x `message.type` attribute.
pub fn create_typed_topic(broker: &str, topic: &str, queues: u32, message_type: &str) {
    let q = queues.to_string();
    let attrs = format!("+message.type={message_type}");
    let (code, remark, _) = remoting_request(
        broker,
        17,
        &[
            ("topic", topic),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", &q),
            ("writeQueueNums", &q),
            ("perm", "6"),
            ("topicFilterType", "SINGLE_TAG"),
            ("topicSysFlag", "0"),
            ("order", "false"),
            ("attributes", &attrs),
        ],
        b"",
    );
    assert_eq!(code, 0, "create topic {topic}: {remark}");
}

/// UPDATE_AND_CREATE_SUBSCRIPTIONGROUP with 5.x fields; `retry_max_times` + 1 is the
/// group's max delivery attempts.
pub fn create_group(broker: &str, group: &str, retry_max_times: i32, orderly: bool) {
    create_group_with(
        broker,
        group,
        retry_max_times,
        orderly,
        serde_json::json!({}),
    );
}

/// [`create_group`] with more `SubscriptionGroupConfig` fields (e.g. `groupRetryPolicy`).
pub fn create_group_with(
    broker: &str,
    group: &str,
    retry_max_times: i32,
    orderly: bool,
    extra: Value,
) {
    let mut body = serde_json::json!({
        "groupName": group, "consumeEnable": true, "consumeFromMinEnable": true,
        "consumeBroadcastEnable": true, "retryQueueNums": 1, "retryMaxTimes": retry_max_times,
        "brokerId": 0, "whichBrokerWhenConsumeSlowly": 1,
        "notifyConsumerIdsChangedEnable": true, "consumeMessageOrderly": orderly
    });
    if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
        b.extend(e.clone());
    }
    let (code, remark, _) = remoting_request(broker, 200, &[], body.to_string().as_bytes());
    assert_eq!(code, 0, "create group {group}: {remark}");
}

/// Runs a 5.x driver command against the broker's gRPC endpoint.
pub fn run5(client: Client, r: &Rmqd, args: &[&str], secs: u64) -> DriverRun {
    let mut full: Vec<&str> = args.to_vec();
    let ep = r.grpc();
    full.extend(["--endpoint", &ep]);
    run_driver(client, &full, r.home.path(), Duration::from_secs(secs))
}

/// A group pops from where it first meets a queue (Java's ConsumeInitMode.MAX): one
/// receive before the messages are sent makes it see them all.
pub fn warm(client: Client, r: &Rmqd, topic: &str, group: &str) {
    let run = run5(
        client,
        r,
        &[
            "simple",
            "--topic",
            topic,
            "--group",
            group,
            "--expect",
            "0",
            "--timeout-secs",
            "3",
        ],
        30,
    );
    assert!(run.success, "{:?}\n{}", run.lines, run.stderr);
}

/// [`warm`] for several groups at once (each receive long-polls for at least 5 s).
pub fn warm_all(client: Client, r: &Rmqd, topic: &str, groups: &[&str]) {
    let ep = r.grpc();
    let running: Vec<_> = groups
        .iter()
        .map(|g| {
            let args = [
                "simple",
                "--topic",
                topic,
                "--group",
                g,
                "--expect",
                "0",
                "--timeout-secs",
                "3",
                "--endpoint",
                &ep,
            ];
            crate::spawn_driver(client, &args, r.home.path())
        })
        .collect();
    for run in running {
        let run = run.finish(Duration::from_secs(30));
        assert!(run.success, "{:?}\n{}", run.lines, run.stderr);
    }
}

/// The lines that report a received message.
pub fn deliveries(run: &DriverRun) -> Vec<&Value> {
    run.lines
        .iter()
        .filter(|l| l.get("body").is_some())
        .collect()
}

/// The distinct bodies received.
pub fn body_set(run: &DriverRun) -> BTreeSet<String> {
    deliveries(run)
        .iter()
        .filter_map(|l| l["body"].as_str().map(str::to_string))
        .collect()
}

/// Asserts that `n` sends were answered SEND_OK.
pub fn expect_sent(run: &DriverRun, n: usize) {
    let ok = run
        .lines
        .iter()
        .filter(|l| l["status"] == "SEND_OK")
        .count();
    assert_eq!(ok, n, "sends: {:?}\n{}", run.lines, run.stderr);
}

/// The message ids a driver printed under `msgId` (sends or deliveries).
pub fn msg_ids<'a>(lines: impl IntoIterator<Item = &'a Value>) -> BTreeSet<String> {
    lines
        .into_iter()
        .filter_map(|l| l["msgId"].as_str().map(str::to_string))
        .collect()
}
