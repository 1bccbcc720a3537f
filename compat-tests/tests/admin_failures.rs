//! Failure paths and side effects of the admin codes: a relayed request whose consumer
//! leaves mid-call, and UPDATE_BROKER_CONFIG refusing black-listed keys, applying
//! `brokerPermission` at once and keeping it across a restart.

use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{create_topic, remoting_request, Rmqd};
use serde_json::{json, Value};

const SMALL: [&str; 2] = [
    "mappedFileSizeCommitLog=67108864",
    "diskSpaceWarningLevelRatio=0.98",
];

#[test]
fn a_consumer_that_leaves_during_a_relayed_call_gets_the_caller_an_error() {
    let r = Rmqd::start(&SMALL);
    // A consumer as the wire sees one: a heartbeat on its connection, then silence.
    let mut consumer = Conn::connect(&r.broker());
    let hb = json!({
        "clientID": "127.0.0.1@gone",
        "producerDataSet": [],
        "consumerDataSet": [{
            "groupName": "LeavingGroup", "consumeType": "CONSUME_PASSIVELY",
            "messageModel": "CLUSTERING", "consumeFromWhere": "CONSUME_FROM_LAST_OFFSET",
            "subscriptionDataSet": [{"topic": "T", "subString": "*", "subVersion": 1}]
        }]
    });
    assert_eq!(consumer.request(34, &[], hb.to_string().as_bytes()).code, 0);
    let broker = r.broker();
    let admin = std::thread::spawn(move || {
        Conn::connect(&broker).request(
            307,
            &[
                ("consumerGroup", "LeavingGroup".to_string()),
                ("clientId", "127.0.0.1@gone".to_string()),
                ("jstackEnable", "false".to_string()),
            ],
            b"",
        )
    });
    // The broker relays the request with the caller's fields; the consumer leaves
    // instead of answering.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let f = consumer
            .next_request(deadline.saturating_duration_since(Instant::now()))
            .expect("the relayed request");
        if f.code == 307 {
            assert_eq!(f.ext("clientId"), "127.0.0.1@gone");
            assert_eq!(f.ext("consumerGroup"), "LeavingGroup");
            break;
        }
    }
    drop(consumer);
    let answer = admin.join().expect("admin call");
    assert_eq!(answer.code, 1, "{}", answer.remark);
    assert!(
        answer
            .remark
            .starts_with("invoke consumer <LeavingGroup> <127.0.0.1@gone> Exception:"),
        "{}",
        answer.remark
    );
}

fn send(c: &mut Conn) -> wire::Frame {
    wire::send(c, "P", "PermTopic", 0, 0, "", b"x")
}

fn route_perm(r: &Rmqd) -> i64 {
    let (code, _, body) = remoting_request(&r.namesrv(), 105, &[("topic", "PermTopic")], b"");
    assert_eq!(code, 0);
    let v: Value = serde_json::from_slice(&body).expect("route");
    v["queueDatas"][0]["perm"].as_i64().expect("perm")
}

fn update(r: &Rmqd, text: &str) -> wire::Frame {
    Conn::connect(&r.broker()).request(25, &[], text.as_bytes())
}

fn wait_perm(r: &Rmqd, perm: i64) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while route_perm(r) != perm {
        assert!(
            Instant::now() < deadline,
            "the route never showed perm {perm}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn broker_permission_applies_at_once_and_stays_after_a_restart() {
    let mut r = Rmqd::start(&SMALL);
    create_topic(&r.broker(), "PermTopic", 4);
    let mut c = Conn::connect(&r.broker());
    assert_eq!(send(&mut c).code, 0);

    let refused = update(&r, "brokerConfigPath=/etc/elsewhere\n");
    assert_eq!(
        (refused.code, refused.remark.as_str()),
        (16, "Can not update config in black list.")
    );
    let bad = update(&r, "listenPort=not-a-port\n");
    assert_eq!(bad.code, 1, "{}", bad.remark);

    // Read-only: sends are refused at once and the name server learns it.
    assert_eq!(update(&r, "brokerPermission=4\n").code, 0);
    let f = send(&mut c);
    assert_eq!(
        (f.code, f.remark.as_str()),
        (16, "the broker[127.0.0.1] sending message is forbidden")
    );
    wait_perm(&r, 4);
    let cfg = Conn::connect(&r.broker()).request(26, &[], b"");
    assert!(String::from_utf8_lossy(&cfg.body).contains("brokerPermission=4\n"));
    assert!(
        cfg.ext("version").contains("\"counter\":1"),
        "{}",
        cfg.ext("version")
    );
    let conf = std::fs::read_to_string(r.conf_path()).expect("broker.conf");
    assert!(conf.lines().any(|l| l == "brokerPermission=4"), "{conf}");

    // The saved file is what the next start reads.
    r.stop_clean();
    r.restart();
    let mut c = Conn::connect(&r.broker());
    assert_eq!(send(&mut c).code, 16);
    assert_eq!(update(&r, "brokerPermission=6\n").code, 0);
    assert_eq!(send(&mut c).code, 0);
    wait_perm(&r, 6);
}
