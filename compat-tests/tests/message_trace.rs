//! Message trace: `traceTopicEnable` / `msgTraceTopicName` create the trace topic at
//! start (TopicConfigManager: 1 queue, perm 6, registered like any topic), so clients
//! with `enableMsgTrace` find a route and deliver their trace records to it.
//!
//! Real client: rocketmq-client-rust 1.0.0's producer with tracing on (its
//! `AsyncTraceDispatcher`, Java's "Pub" record format). Its push consumer sends no
//! trace records at all (checked against this broker's request log), so only the
//! producer side is exercised.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{create_topic, max_offset, remoting_request, run_driver, Client, Rmqd};
use serde_json::Value;

fn routed(namesrv: &str, topic: &str) -> Option<Value> {
    let (code, _, body) = remoting_request(namesrv, 105, &[("topic", topic)], b"");
    (code == 0).then(|| serde_json::from_slice(&body).expect("route JSON"))
}

/// Sends three traced messages to `topic`; returns their message ids.
fn traced_send(r: &Rmqd, topic: &str, trace_topic: Option<&str>) -> BTreeSet<String> {
    let home = tempfile::tempdir().expect("tempdir");
    create_topic(&r.broker(), topic, 4);
    let ns = r.namesrv();
    let mut args = vec![
        "send",
        "--namesrv",
        &ns,
        "--topic",
        topic,
        "--count",
        "3",
        "--trace",
    ];
    if let Some(t) = trace_topic {
        args.extend(["--trace-topic", t]);
    }
    let run = run_driver(Client::Rust, &args, home.path(), Duration::from_secs(60));
    assert!(run.success, "traced send: {:?}\n{}", run.lines, run.stderr);
    run.lines
        .iter()
        .filter_map(|l| l["msgId"].as_str().map(str::to_string))
        .collect()
}

/// The trace records in `trace_topic` (queue 0), once all of `ids` are there.
fn trace_records_for(r: &Rmqd, trace_topic: &str, ids: &BTreeSet<String>) -> Vec<wire::Pulled> {
    let mut c = Conn::connect(&r.broker());
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if max_offset(&r.broker(), trace_topic, 0) > 0 {
            let records = wire::pull_all(&mut c, "TraceReader", trace_topic, 0, 0);
            let text: String = records.iter().map(|m| m.body_str()).collect();
            if ids.iter().all(|id| text.contains(id.as_str())) {
                return records;
            }
        }
        assert!(
            Instant::now() < deadline,
            "trace records for {ids:?} never reached {trace_topic}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn traced_sends_land_in_the_trace_topic() {
    let r = Rmqd::start(&["traceTopicEnable=true"]);
    let route = routed(&r.namesrv(), "RMQ_SYS_TRACE_TOPIC").expect("trace topic routed at start");
    assert_eq!(route["queueDatas"][0]["perm"], 6);
    assert_eq!(route["queueDatas"][0]["writeQueueNums"], 1);

    let ids = traced_send(&r, "Traced", None);
    assert_eq!(ids.len(), 3);
    let records = trace_records_for(&r, "RMQ_SYS_TRACE_TOPIC", &ids);
    for m in &records {
        // Java's trace format: "Pub" records, fields split by \x01, records by \x02;
        // the message ids are the record's keys, so QUERY_MESSAGE by id finds it.
        assert!(m.body_str().starts_with("Pub\u{1}"), "{:?}", m.body_str());
        assert!(m.body_str().contains("\u{1}Traced\u{1}"));
        let keys = m.property("KEYS").unwrap_or("");
        assert!(
            ids.iter().any(|id| keys.contains(id.as_str())),
            "keys {keys:?}"
        );
    }
}

#[test]
fn the_trace_topic_name_is_configurable() {
    let r = Rmqd::start(&["traceTopicEnable=true", "msgTraceTopicName=OpsTrace"]);
    assert!(
        routed(&r.namesrv(), "OpsTrace").is_some(),
        "OpsTrace routed at start"
    );
    assert!(routed(&r.namesrv(), "RMQ_SYS_TRACE_TOPIC").is_none());
    let ids = traced_send(&r, "TracedOps", Some("OpsTrace"));
    trace_records_for(&r, "OpsTrace", &ids);
}

#[test]
fn without_trace_topic_enable_the_topic_comes_from_auto_create() {
    // Java's default: no trace topic at start; a traced client's first trace send
    // creates it from TBW102 (autoCreateTopicEnable), so traces are still kept.
    let r = Rmqd::start(&[]);
    assert!(routed(&r.namesrv(), "RMQ_SYS_TRACE_TOPIC").is_none());
    let ids = traced_send(&r, "TracedAuto", None);
    trace_records_for(&r, "RMQ_SYS_TRACE_TOPIC", &ids);
}
