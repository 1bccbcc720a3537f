//! Request–reply (`DefaultMQProducer.request`), as ReplyMessageProcessor serves it.
//!
//! Real client: rocketmq-client-rust 1.0.0 on both sides (its `request` and a push
//! consumer replying with `MessageUtil::create_reply_message`, sent as
//! SEND_REPLY_MESSAGE_V2). The refusals, the V1 code and the push itself are also
//! checked hand-framed, shaped as the Java client's `MQClientAPIImpl.sendMessage`
//! sends a reply (the C++ clients and ali-ons have no request API).

use std::time::Duration;

use rmqd_compat_tests::wire::{self, Conn, Frame};
use rmqd_compat_tests::{
    create_topic, max_offset, remoting_request, run_driver, spawn_driver, Client, Rmqd,
};
use serde_json::Value;

const REPLY_TOPIC: &str = "DefaultCluster_REPLY_TOPIC";
const REQUESTER: &str = "127.0.0.1@requester";

/// Properties of a reply built by `MessageUtil.createReplyMessage` and sent by a Java
/// producer (plus its UNIQ_KEY and WAIT).
fn reply_properties(reply_to: Option<&str>) -> String {
    let mut pairs = vec![
        ("CORRELATION_ID", "corr-1"),
        ("MSG_TYPE", "reply"),
        ("TTL", "3000"),
        ("UNIQ_KEY", "7F00000100002A9F0000000000000001"),
        ("WAIT", "true"),
    ];
    if let Some(to) = reply_to {
        pairs.push(("REPLY_TO_CLIENT", to));
    }
    wire::properties(&pairs)
}

/// SEND_REPLY_MESSAGE_V2 (325) with the one-letter header, or SEND_REPLY_MESSAGE (324)
/// with Java's names.
fn send_reply(c: &mut Conn, v2: bool, props: &str, body: &[u8]) -> Frame {
    let fields = [
        ("producerGroup", "a", "ReplierGroup".to_string()),
        ("topic", "b", REPLY_TOPIC.to_string()),
        ("defaultTopic", "c", "TBW102".to_string()),
        ("defaultTopicQueueNums", "d", "4".to_string()),
        ("queueId", "e", "0".to_string()),
        ("sysFlag", "f", "0".to_string()),
        ("bornTimestamp", "g", wire::now_ms().to_string()),
        ("flag", "h", "0".to_string()),
        ("properties", "i", props.to_string()),
        ("reconsumeTimes", "j", "0".to_string()),
        ("unitMode", "k", "false".to_string()),
    ];
    let ext: Vec<(&str, String)> = fields
        .iter()
        .map(|(long, short, v)| (if v2 { *short } else { *long }, v.clone()))
        .collect();
    c.request(if v2 { 325 } else { 324 }, &ext, body)
}

/// A requester connection: a producer heartbeat with its client id.
fn requester(r: &Rmqd) -> Conn {
    let mut c = Conn::connect(&r.broker());
    wire::heartbeat_producer(&mut c, REQUESTER, "RequesterGroup");
    c
}

/// Sends a reply from another connection while the requester answers the push with
/// `answer`; returns (replier's response, the push the requester got).
fn reply_round(r: &Rmqd, v2: bool, answer: i32) -> (Frame, Frame) {
    let mut req = requester(r);
    let pusher = std::thread::spawn(move || {
        let push = req
            .next_request(Duration::from_secs(10))
            .expect("no PUSH_REPLY_MESSAGE_TO_CLIENT");
        req.respond(&push, answer, "");
        push
    });
    let mut replier = Conn::connect(&r.broker());
    let resp = send_reply(
        &mut replier,
        v2,
        &reply_properties(Some(REQUESTER)),
        b"the answer",
    );
    (resp, pusher.join().expect("requester thread"))
}

#[test]
fn a_reply_is_pushed_to_the_requester_and_stored() {
    let r = Rmqd::start(&[]);
    // The reply topic exists and is routable from the start (TopicConfigManager).
    assert_eq!(
        remoting_request(&r.namesrv(), 105, &[("topic", REPLY_TOPIC)], b"").0,
        0
    );

    let (resp, push) = reply_round(&r, true, 0);
    assert_eq!(push.code, 326, "PUSH_REPLY_MESSAGE_TO_CLIENT");
    assert_eq!(push.body, b"the answer");
    assert_eq!(push.ext("topic"), REPLY_TOPIC);
    assert_eq!(push.ext("producerGroup"), "ReplierGroup");
    assert_eq!(push.ext("storeHost"), r.broker());
    assert!(push.ext("bornHost").starts_with("127.0.0.1:"));
    assert!(push.ext_i64("storeTimestamp") > 0);
    let pushed = push.ext("properties");
    for want in [
        "CORRELATION_ID\u{1}corr-1",
        "REPLY_TO_CLIENT\u{1}127.0.0.1@requester",
        "PUSH_REPLY_TIME\u{1}",
    ] {
        assert!(pushed.contains(want), "{want:?} not in {pushed:?}");
    }
    // storeReplyMessageEnable (default true): stored, and the answer says where.
    assert_eq!(
        (resp.code, resp.ext_i64("queueOffset")),
        (0, 0),
        "{}",
        resp.remark
    );
    assert_eq!(
        resp.ext("msgId").len(),
        32,
        "the stored message's offsetMsgId"
    );
    assert_eq!(resp.ext("MSG_REGION"), "DefaultRegion");
    let mut c = Conn::connect(&r.broker());
    let stored = wire::pull_when_there(&mut c, "ReplyReader", REPLY_TOPIC, 0, 0);
    assert_eq!(stored[0].body, b"the answer");
    // Stored with the properties the replier sent: no PUSH_REPLY_TIME, no CLUSTER.
    assert_eq!(stored[0].properties, reply_properties(Some(REQUESTER)));

    // The V1 code and header names work the same.
    let (resp, push) = reply_round(&r, false, 0);
    assert_eq!((resp.code, push.code), (0, 326), "{}", resp.remark);
    assert_eq!(resp.ext_i64("queueOffset"), 1);
}

#[test]
fn replies_not_stored_when_disabled() {
    let r = Rmqd::start(&["storeReplyMessageEnable=false"]);
    let (resp, push) = reply_round(&r, true, 0);
    assert_eq!(push.code, 326);
    assert_eq!(
        (resp.code, resp.ext("msgId"), resp.ext_i64("queueOffset")),
        (0, "0".to_string(), 0),
        "{}",
        resp.remark
    );
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(max_offset(&r.broker(), REPLY_TOPIC, 0), 0);
}

#[test]
fn replies_that_cannot_be_pushed_get_java_remarks() {
    let r = Rmqd::start(&["storeReplyMessageEnable=false"]);
    let mut replier = Conn::connect(&r.broker());
    let f = send_reply(&mut replier, true, &reply_properties(None), b"x");
    assert_eq!(
        (f.code, f.remark.as_str()),
        (1, "reply message properties[REPLY_TO_CLIENT] is null")
    );
    let f = send_reply(
        &mut replier,
        true,
        &reply_properties(Some("127.0.0.1@nobody")),
        b"x",
    );
    assert_eq!(
        (f.code, f.remark.as_str()),
        (
            1,
            "push reply message fail, channel of <127.0.0.1@nobody> not found."
        )
    );
    // The requester answers the push with an error.
    let (resp, _) = reply_round(&r, true, 1);
    assert_eq!(
        (resp.code, resp.remark.as_str()),
        (1, "push reply message to 127.0.0.1@requesterfail.")
    );
}

#[test]
fn a_real_client_gets_its_replies() {
    let r = Rmqd::start(&[]);
    let home = tempfile::tempdir().expect("tempdir");
    let ns = r.namesrv();
    create_topic(&r.broker(), "Requests", 4);
    let responder = spawn_driver(
        Client::Rust,
        &[
            "respond",
            "--namesrv",
            &ns,
            "--topic",
            "Requests",
            "--expect",
            "3",
            "--timeout-secs",
            "60",
        ],
        home.path(),
    );
    let run = run_driver(
        Client::Rust,
        &[
            "request",
            "--namesrv",
            &ns,
            "--topic",
            "Requests",
            "--count",
            "3",
            "--timeout-ms",
            "15000",
        ],
        home.path(),
        Duration::from_secs(90),
    );
    let replier = responder.finish(Duration::from_secs(90));
    assert!(run.success, "requests: {:?}\n{}", run.lines, run.stderr);
    assert!(
        replier.success,
        "responder: {:?}\n{}",
        replier.lines, replier.stderr
    );
    let replies: Vec<&Value> = run
        .lines
        .iter()
        .filter(|l| l.get("reply").is_some())
        .collect();
    assert_eq!(replies.len(), 3, "{:?}", run.lines);
    for (i, l) in replies.iter().enumerate() {
        assert_eq!(l["reply"], format!("reply-to-msg-{i}"));
        assert_eq!(l["topic"], REPLY_TOPIC);
        assert_eq!(l["msgType"], "reply");
        assert!(l["pushReplyTime"].as_str().is_some(), "{l}");
        assert!(
            l["correlationId"].as_str().is_some_and(|c| !c.is_empty()),
            "{l}"
        );
    }
    assert!(
        max_offset(&r.broker(), REPLY_TOPIC, 0) >= 3,
        "replies stored"
    );
}

#[test]
fn the_reply_topic_follows_the_cluster_name() {
    let r = Rmqd::start(&["brokerClusterName=OtherCluster"]);
    assert_eq!(
        remoting_request(
            &r.namesrv(),
            105,
            &[("topic", "OtherCluster_REPLY_TOPIC")],
            b""
        )
        .0,
        0
    );
}
