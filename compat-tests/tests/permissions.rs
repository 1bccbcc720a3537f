//! Permissions: a topic's perm bits and the broker's `brokerPermission` on send, pull
//! and send-back, with Java's NO_PERMISSION remarks (SendMessageProcessor,
//! PullMessageProcessor); what routes say (BrokerController.registerBrokerAll
//! registers every topic with a restricted brokerPermission); and the name server's
//! WIPE_WRITE_PERM_OF_BROKER / ADD_WRITE_PERM_OF_BROKER (RouteInfoManager).
//!
//! Java 4.9.8 itself checks the broker's write permission on a send only for order
//! topics and never a topic's write bit on SEND_MESSAGE (clients are kept away by their
//! routes); rmqd refuses such sends with the remarks Java uses on its other paths, and a
//! Java producer retries NO_PERMISSION on another broker.

use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{remoting_request, remoting_request_ext, run_driver, Client, Rmqd};
use serde_json::Value;

const NO_PERMISSION: i64 = 16;

fn create_topic_with_perm(broker: &str, topic: &str, perm: i32) {
    let p = perm.to_string();
    let (code, remark, _) = remoting_request(
        broker,
        17,
        &[
            ("topic", topic),
            ("defaultTopic", "TBW102"),
            ("readQueueNums", "2"),
            ("writeQueueNums", "2"),
            ("perm", &p),
            ("topicFilterType", "SINGLE_TAG"),
            ("topicSysFlag", "0"),
            ("order", "false"),
        ],
        b"",
    );
    assert_eq!(code, 0, "create {topic}: {remark}");
}

/// Each queue data's perm in the name server's route for `topic` (GET_ROUTEINFO_BY_TOPIC),
/// or None while there is no route yet.
fn try_route_perms(namesrv: &str, topic: &str) -> Option<Vec<i64>> {
    let (code, _, body) = remoting_request(namesrv, 105, &[("topic", topic)], b"");
    if code != 0 {
        return None;
    }
    let route: Value = serde_json::from_slice(&body).expect("route JSON");
    Some(
        route["queueDatas"]
            .as_array()
            .expect("queueDatas")
            .iter()
            .map(|q| q["perm"].as_i64().unwrap_or(-1))
            .collect(),
    )
}

fn route_perms(namesrv: &str, topic: &str) -> Vec<i64> {
    try_route_perms(namesrv, topic).unwrap_or_else(|| panic!("no route for {topic}"))
}

/// A new topic reaches the name server with the broker's next (oneway) registration.
fn wait_for_route_perm(namesrv: &str, topic: &str, perm: i64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let perms = try_route_perms(namesrv, topic);
        if perms.as_deref() == Some(&[perm][..]) {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "route of {topic} has perms {perms:?}, expected [{perm}]"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A PULL_MESSAGE with the subscription in the header: (code, remark).
fn pull(c: &mut Conn, topic: &str) -> (i64, String) {
    let f = c.request(
        11,
        &[
            ("consumerGroup", "PermGroup".to_string()),
            ("topic", topic.to_string()),
            ("queueId", "0".to_string()),
            ("queueOffset", "0".to_string()),
            ("maxMsgNums", "32".to_string()),
            ("sysFlag", "4".to_string()),
            ("commitOffset", "0".to_string()),
            ("suspendTimeoutMillis", "0".to_string()),
            ("subscription", "*".to_string()),
            ("subVersion", "0".to_string()),
            ("expressionType", "TAG".to_string()),
        ],
        b"",
    );
    (f.code, f.remark)
}

fn send(c: &mut Conn, topic: &str) -> (i64, String) {
    let f = wire::send(c, "PermProducer", topic, 0, 0, "", b"perm");
    (f.code, f.remark)
}

#[test]
fn topic_perm_bits_on_send_and_pull() {
    let r = Rmqd::start(&[]);
    let mut c = Conn::connect(&r.broker());
    create_topic_with_perm(&r.broker(), "ReadOnly", 4);
    create_topic_with_perm(&r.broker(), "WriteOnly", 2);
    assert_eq!(
        send(&mut c, "ReadOnly"),
        (
            NO_PERMISSION,
            "the topic[ReadOnly] sending message is forbidden".to_string()
        )
    );
    assert_ne!(pull(&mut c, "ReadOnly").0, NO_PERMISSION);
    assert_eq!(send(&mut c, "WriteOnly").0, 0);
    assert_eq!(
        pull(&mut c, "WriteOnly"),
        (
            NO_PERMISSION,
            "the topic[WriteOnly] pulling message is forbidden".to_string()
        )
    );
    // Routes carry the topic's own bits.
    wait_for_route_perm(&r.namesrv(), "ReadOnly", 4);
    wait_for_route_perm(&r.namesrv(), "WriteOnly", 2);
}

#[test]
fn read_only_broker() {
    let r = Rmqd::start(&["brokerPermission=4"]);
    let mut c = Conn::connect(&r.broker());
    create_topic_with_perm(&r.broker(), "T", 6);
    assert_eq!(
        send(&mut c, "T"),
        (
            NO_PERMISSION,
            "the broker[127.0.0.1] sending message is forbidden".to_string()
        )
    );
    assert_ne!(pull(&mut c, "T").0, NO_PERMISSION);
    // Every topic is registered with the broker's permission, whatever its own.
    wait_for_route_perm(&r.namesrv(), "T", 4);
    wait_for_route_perm(&r.namesrv(), "TBW102", 4);
    // The send-back of a consumed message (CONSUMER_SEND_MSG_BACK) is refused too.
    let f = c.request(
        36,
        &[
            ("offset", "0".to_string()),
            ("group", "PermGroup".to_string()),
            ("delayLevel", "0".to_string()),
            ("originMsgId", "00".to_string()),
            ("originTopic", "T".to_string()),
            ("unitMode", "false".to_string()),
        ],
        b"",
    );
    assert_eq!(
        (f.code, f.remark.as_str()),
        (
            NO_PERMISSION,
            "the broker[127.0.0.1] sending message is forbidden"
        )
    );
}

#[test]
fn write_only_broker() {
    let r = Rmqd::start(&["brokerPermission=2"]);
    let mut c = Conn::connect(&r.broker());
    create_topic_with_perm(&r.broker(), "T", 6);
    assert_eq!(send(&mut c, "T").0, 0);
    assert_eq!(
        pull(&mut c, "T"),
        (
            NO_PERMISSION,
            "the broker[127.0.0.1] pulling message is forbidden".to_string()
        )
    );
    wait_for_route_perm(&r.namesrv(), "T", 2);
}

#[test]
fn name_server_wipes_and_adds_write_permission() {
    let r = Rmqd::start(&[]);
    let ns = r.namesrv();
    create_topic_with_perm(&r.broker(), "Wiped", 6);
    create_topic_with_perm(&r.broker(), "Inherits", 7);
    wait_for_route_perm(&ns, "Wiped", 6);
    wait_for_route_perm(&ns, "Inherits", 7);
    let home = tempfile::tempdir().expect("tempdir");

    let (code, remark, ext) = remoting_request_ext(&ns, 205, &[("brokerName", "broker-a")]);
    assert_eq!(code, 0, "WIPE_WRITE_PERM_OF_BROKER: {remark}");
    let wiped: i64 = ext["wipeTopicCount"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("wipeTopicCount");
    assert!(wiped >= 2, "{wiped} topics wiped");
    assert_eq!(route_perms(&ns, "Wiped"), [4]);
    assert_eq!(route_perms(&ns, "Inherits"), [5]);
    // A real producer reads the route: no writable queue, so nothing is sent.
    let run = run_driver(
        Client::Rust,
        &["send", "--namesrv", &ns, "--topic", "Wiped", "--count", "1"],
        home.path(),
        Duration::from_secs(60),
    );
    assert!(
        !run.success && run.messages().is_empty(),
        "sent through a wiped route: {:?}",
        run.lines
    );

    let (code, remark, ext) = remoting_request_ext(&ns, 327, &[("brokerName", "broker-a")]);
    assert_eq!(code, 0, "ADD_WRITE_PERM_OF_BROKER: {remark}");
    assert!(ext["addTopicCount"].as_str().is_some());
    assert_eq!(route_perms(&ns, "Wiped"), [6]);
    // Java sets read+write outright: the inherit bit does not come back.
    assert_eq!(route_perms(&ns, "Inherits"), [6]);
    let run = run_driver(
        Client::Rust,
        &["send", "--namesrv", &ns, "--topic", "Wiped", "--count", "1"],
        home.path(),
        Duration::from_secs(60),
    );
    assert!(run.success, "send after ADD_WRITE_PERM: {:?}", run.lines);
}

#[test]
fn a_wipe_lasts_until_the_broker_data_changes() {
    let r = Rmqd::start(&[]);
    let ns = r.namesrv();
    create_topic_with_perm(&r.broker(), "Kept", 6);
    wait_for_route_perm(&ns, "Kept", 6);
    assert_eq!(
        remoting_request_ext(&ns, 205, &[("brokerName", "broker-a")]).0,
        0
    );
    assert_eq!(route_perms(&ns, "Kept"), [4]);
    // A new topic changes the broker's data version: its next registration rewrites
    // every queue data of the broker (RouteInfoManager.registerBroker).
    create_topic_with_perm(&r.broker(), "Another", 6);
    wait_for_route_perm(&ns, "Kept", 6);
}
