//! The admin codes rmqd answers by asking a consumer, with real clients on the other end:
//! GET_CONSUMER_RUNNING_INFO (307) and CONSUME_MESSAGE_DIRECTLY (309) relayed to the
//! client and its answer returned; INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223) gathering
//! the client's GET_CONSUMER_STATUS_FROM_CLIENT (221) answer; INVOKE_BROKER_TO_RESET_OFFSET
//! (222) pushing RESET_CONSUMER_CLIENT_OFFSET (220), after which the client consumes
//! again from the offsets the broker computed.
//!
//! rocketmq-client-rust 1.0 answers all four; the C++ 1.x client answers 307.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::Conn;
use rmqd_compat_tests::{create_topic, run_driver, spawn_driver, Client, Rmqd, Running};
use rmqd_remoting::body::fastjson;
use serde_json::Value;

const TOPIC: &str = "RelayTopic";
const GROUP: &str = "RelayGroup";
const COUNT: usize = 20;

/// Deliveries per message body the consumer driver has printed.
fn deliveries(c: &Running) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for l in c.lines_so_far() {
        if let Some(b) = l["body"].as_str() {
            *m.entry(b.to_string()).or_default() += 1;
        }
    }
    m
}

fn wait_until(what: &str, timeout: Duration, mut ok: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !ok() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// The client id rmqd lists for `group` (GET_CONSUMER_CONNECTION_LIST).
fn client_id(c: &mut Conn, group: &str) -> String {
    let f = c.request(203, &[("consumerGroup", group.to_string())], b"");
    assert_eq!(f.code, 0, "consumer connections: {}", f.remark);
    let v: Value = serde_json::from_slice(&f.body).expect("ConsumerConnection");
    v["connectionSet"][0]["clientId"]
        .as_str()
        .expect("a connection")
        .to_string()
}

/// Topics of a ConsumerRunningInfo's subscriptionSet.
fn subscribed(info: &Value) -> Vec<String> {
    info["subscriptionSet"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s["topic"].as_str().map(str::to_owned))
        .collect()
}

#[test]
fn relayed_admin_codes_reach_real_clients_and_come_back() {
    let r = Rmqd::start(&[
        "mappedFileSizeCommitLog=67108864",
        "diskSpaceWarningLevelRatio=0.98",
    ]);
    let ns = r.namesrv();
    create_topic(&r.broker(), TOPIC, 4);
    let count = COUNT.to_string();
    let sent = run_driver(
        Client::Rust,
        &[
            "send",
            "--namesrv",
            &ns,
            "--topic",
            TOPIC,
            "--count",
            &count,
        ],
        r.home.path(),
        Duration::from_secs(60),
    );
    assert!(sent.success, "sends failed: {:?}", sent.errors());
    let offset_ids: BTreeMap<i64, String> = sent
        .lines
        .iter()
        .filter_map(|l| Some((l["i"].as_i64()?, l["offsetMsgId"].as_str()?.to_string())))
        .collect();
    assert_eq!(offset_ids.len(), COUNT);

    let home = r.home.path().join("rust-consumer");
    std::fs::create_dir_all(&home).expect("home");
    let consumer = spawn_driver(
        Client::Rust,
        &[
            "consume",
            "--namesrv",
            &ns,
            "--topic",
            TOPIC,
            "--group",
            GROUP,
            "--expect",
            "100000",
            "--timeout",
            "120",
        ],
        &home,
    );
    wait_until("the first consumption", Duration::from_secs(60), || {
        deliveries(&consumer).len() == COUNT
    });
    let mut c = Conn::connect(&r.broker());
    let id = client_id(&mut c, GROUP);

    // 307: the client's running info, through the broker.
    let f = c.request(
        307,
        &[
            ("consumerGroup", GROUP.to_string()),
            ("clientId", id.clone()),
            ("jstackEnable", "false".to_string()),
        ],
        b"",
    );
    assert_eq!(f.code, 0, "running info: {}", f.remark);
    let info = fastjson::parse(&f.body).expect("ConsumerRunningInfo");
    assert!(subscribed(&info).contains(&TOPIC.to_string()), "{info}");
    let queues = info["mqTable"].as_object().expect("mqTable");
    let ours = queues
        .keys()
        .filter_map(|k| fastjson::mq_from_key(k))
        .filter(|mq| mq.topic == TOPIC)
        .count();
    assert_eq!(ours, 4, "the client holds the 4 queues: {info}");
    // An unknown client is refused as Java refuses it.
    let f = c.request(
        307,
        &[
            ("consumerGroup", GROUP.to_string()),
            ("clientId", "nobody".to_string()),
        ],
        b"",
    );
    assert_eq!(f.code, 1);
    assert_eq!(
        f.remark,
        format!("The Consumer <{GROUP}> <nobody> not online")
    );

    // 223: the client's offsets, gathered by the broker (221 to the client).
    wait_until("the client's offsets", Duration::from_secs(30), || {
        let f = c.request(
            223,
            &[("topic", TOPIC.to_string()), ("group", GROUP.to_string())],
            b"",
        );
        assert_eq!(f.code, 0, "consumer status: {}", f.remark);
        let body = rmqd_remoting::body::stats::GetConsumerStatusBody::decode(&f.body)
            .expect("GetConsumerStatusBody");
        let table = body.consumer_table.get(&id).cloned().unwrap_or_default();
        table.len() == 4 && table.iter().map(|(_, o)| *o).sum::<i64>() == COUNT as i64
    });

    // 309: one stored message consumed again by the client's listener, on request.
    let f = c.request(
        309,
        &[
            ("consumerGroup", GROUP.to_string()),
            ("clientId", id.clone()),
            ("msgId", offset_ids[&3].clone()),
        ],
        b"",
    );
    assert_eq!(f.code, 0, "consume directly: {}", f.remark);
    let result = fastjson::parse(&f.body).expect("ConsumeMessageDirectlyResult");
    // rocketmq-client-rust writes this body with its own (snake_case) property names;
    // the broker relays it untouched.
    let outcome = result
        .get("consumeResult")
        .or_else(|| result.get("consume_result"));
    assert_eq!(
        outcome.and_then(Value::as_str),
        Some("CR_SUCCESS"),
        "{result}"
    );
    wait_until("the direct delivery", Duration::from_secs(10), || {
        deliveries(&consumer).get("msg-3").copied().unwrap_or(0) >= 2
    });

    // 222: back to the beginning; the client is told (220) and consumes everything again.
    // The broker computes the reset from the group's committed offsets, which the client
    // sends every few seconds.
    wait_until("the committed offsets", Duration::from_secs(30), || {
        let f = c.request(
            208,
            &[
                ("consumerGroup", GROUP.to_string()),
                ("topic", TOPIC.to_string()),
            ],
            b"",
        );
        let v = fastjson::parse(&f.body).unwrap_or_default();
        let committed: i64 = v["offsetTable"]
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(_, o)| o["consumerOffset"].as_i64())
            .sum();
        committed == COUNT as i64
    });
    let f = c.request(
        222,
        &[
            ("topic", TOPIC.to_string()),
            ("group", GROUP.to_string()),
            ("timestamp", "0".to_string()),
            ("isForce", "true".to_string()),
        ],
        b"",
    );
    assert_eq!(f.code, 0, "reset: {}", f.remark);
    assert_eq!(f.remark, "not set any response code");
    let reset = rmqd_remoting::body::stats::ResetOffsetBody::decode(&f.body).expect("reset body");
    assert_eq!(reset.offset_table.len(), 4);
    assert!(reset.offset_table.iter().all(|(_, o)| *o == 0), "{reset:?}");
    wait_until(
        "the consumption after the reset",
        Duration::from_secs(40),
        || {
            let d = deliveries(&consumer);
            d.len() == COUNT && d.values().all(|n| *n >= 2)
        },
    );
    drop(consumer.finish(Duration::from_millis(10)));

    // The C++ 1.x client answers GET_CONSUMER_RUNNING_INFO too.
    let home = r.home.path().join("cpp-consumer");
    std::fs::create_dir_all(&home).expect("home");
    let cpp = spawn_driver(
        Client::PyCpp1,
        &[
            "consume",
            "--namesrv",
            &ns,
            "--topic",
            TOPIC,
            "--group",
            "RelayCpp",
            "--expect",
            "100000",
            "--timeout-secs",
            "60",
        ],
        &home,
    );
    let mut id = String::new();
    wait_until("the C++ consumer", Duration::from_secs(30), || {
        let f = c.request(203, &[("consumerGroup", "RelayCpp".to_string())], b"");
        if f.code == 0 {
            id = client_id(&mut c, "RelayCpp");
        }
        f.code == 0
    });
    let f = c.request(
        307,
        &[
            ("consumerGroup", "RelayCpp".to_string()),
            ("clientId", id),
            ("jstackEnable", "false".to_string()),
        ],
        b"",
    );
    assert_eq!(f.code, 0, "C++ running info: {}", f.remark);
    let info = fastjson::parse(&f.body).expect("C++ ConsumerRunningInfo");
    assert!(subscribed(&info).contains(&TOPIC.to_string()), "{info}");
    drop(cpp.finish(Duration::from_millis(10)));
}
