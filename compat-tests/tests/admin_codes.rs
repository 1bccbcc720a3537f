//! The admin codes mqadmin's everyday commands do not send (the mqadmin replay covers
//! those): QUERY_CONSUME_TIME_SPAN (303), QUERY_CONSUME_QUEUE (321),
//! QUERY_CORRECTION_OFFSET (308), CLONE_GROUP_OFFSET (314), GET_ALL_PRODUCER_INFO (328),
//! RESUME_CHECK_HALF_MESSAGE (323), and the housekeeping codes DELETE_EXPIRED_COMMITLOG
//! (329), CLEAN_EXPIRED_CONSUMEQUEUE (306) and CLEAN_UNUSED_TOPIC (316).

use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{create_topic, max_offset, run_driver, Client, Rmqd};
use rmqd_remoting::body::fastjson;
use rmqd_store::record;
use serde_json::Value;

const SMALL: [&str; 2] = [
    "mappedFileSizeCommitLog=67108864",
    "diskSpaceWarningLevelRatio=0.98",
];

fn json(f: &wire::Frame) -> Value {
    fastjson::parse(&f.body).unwrap_or_else(|e| panic!("body {e}: {:?}", f.body))
}

fn s(v: &str) -> String {
    v.to_string()
}

#[test]
fn queries_over_what_real_clients_did() {
    let r = Rmqd::start(&SMALL);
    let ns = r.namesrv();
    let topic = "AdmCodes";
    create_topic(&r.broker(), topic, 4);
    let sent = run_driver(
        Client::Rust,
        &["send", "--namesrv", &ns, "--topic", topic, "--count", "12"],
        r.home.path(),
        Duration::from_secs(60),
    );
    assert!(sent.success, "{:?}", sent.errors());
    let consumed = run_driver(
        Client::Rust,
        &[
            "consume",
            "--namesrv",
            &ns,
            "--topic",
            topic,
            "--group",
            "G1",
            "--expect",
            "12",
        ],
        r.home.path(),
        Duration::from_secs(90),
    );
    assert!(consumed.success, "{}", consumed.stderr);
    let mut c = Conn::connect(&r.broker());
    // The consumer commits its offsets every few seconds and at shutdown.
    let deadline = Instant::now() + Duration::from_secs(20);
    while (0..4)
        .map(|q| wire::query_offset(&mut c, "G1", topic, q).1)
        .sum::<i64>()
        < 12
    {
        assert!(Instant::now() < deadline, "G1's offsets never reached 12");
        std::thread::sleep(Duration::from_millis(200));
    }

    // 303: every queue consumed to its end.
    let f = c.request(303, &[("topic", s(topic)), ("group", s("G1"))], b"");
    assert_eq!(f.code, 0, "{}", f.remark);
    let spans = json(&f)["consumeTimeSpanSet"]
        .as_array()
        .cloned()
        .expect("spans");
    assert_eq!(spans.len(), 4);
    for sp in &spans {
        let (min, max) = (
            sp["minTimeStamp"].as_i64().unwrap(),
            sp["maxTimeStamp"].as_i64().unwrap(),
        );
        assert!(min > 0 && max >= min, "{sp}");
        assert_eq!(
            sp["consumeTimeStamp"], sp["maxTimeStamp"],
            "caught up: {sp}"
        );
        assert_eq!(sp["delayTime"], 0, "{sp}");
        let text = sp["maxTimeStampStr"].as_str().expect("formatted");
        assert_eq!(text.len(), "2026-12-04#05:06:07:123".len(), "{text}");
        assert_eq!(&text[10..11], "#");
    }
    let f = c.request(303, &[("topic", s("NoSuchTopic")), ("group", s("G1"))], b"");
    assert_eq!(
        (f.code, f.remark.as_str()),
        (17, "topic[NoSuchTopic] not exist")
    );

    // 321: the units of a queue, each naming a stored message of that queue.
    let q = (0..4)
        .find(|q| max_offset(&r.broker(), topic, *q) > 0)
        .expect("a queue");
    let max = max_offset(&r.broker(), topic, q);
    let f = c.request(
        321,
        &[
            ("topic", s(topic)),
            ("queueId", q.to_string()),
            ("index", s("0")),
            ("count", s("100")),
            ("consumerGroup", s("G1")),
        ],
        b"",
    );
    assert_eq!(
        (f.code, f.remark.as_str()),
        (0, "not set any response code")
    );
    let body = json(&f);
    assert_eq!(body["maxQueueIndex"], max);
    assert_eq!(body["minQueueIndex"], 0);
    assert_eq!(body["filterData"], format!("G1@{topic} is not online!"));
    let units = body["queueData"].as_array().cloned().expect("units");
    assert_eq!(units.len() as i64, max);
    for (i, u) in units.iter().enumerate() {
        let v = c.request(33, &[("offset", u["physicOffset"].to_string())], b"");
        let recs = record::decode_all(&v.body);
        assert_eq!(recs.len(), 1);
        assert_eq!(recs[0].topic, topic);
        assert_eq!((recs[0].queue_id, recs[0].queue_offset), (q, i as i64));
        assert_eq!(u["physicSize"].as_i64(), Some(v.body.len() as i64));
    }
    let f = c.request(321, &[("topic", s(topic)), ("queueId", s("9"))], b"");
    assert_eq!((f.code, f.remark.as_str()), (1, "9@AdmCodes is not exist!"));
    let f = c.request(
        321,
        &[
            ("topic", s(topic)),
            ("queueId", q.to_string()),
            ("index", s("100")),
        ],
        b"",
    );
    assert_eq!(f.code, 0);
    assert_eq!(f.remark, format!("Index 100 of {q}@{topic} is not exist!"));

    // 314: G2 starts where G1 is.
    let f = c.request(
        314,
        &[
            ("srcGroup", s("G1")),
            ("destGroup", s("G2")),
            ("topic", s(topic)),
            ("offline", s("true")),
        ],
        b"",
    );
    assert_eq!(f.code, 0, "{}", f.remark);
    for q in 0..4 {
        assert_eq!(
            wire::query_offset(&mut c, "G2", topic, q),
            wire::query_offset(&mut c, "G1", topic, q)
        );
    }

    // 308: the smallest offset any group holds per queue.
    let f = c.request(
        15,
        &[
            ("consumerGroup", s("G3")),
            ("topic", s(topic)),
            ("queueId", q.to_string()),
            ("commitOffset", s("0")),
        ],
        b"",
    );
    assert_eq!(f.code, 0);
    let f = c.request(308, &[("topic", s(topic)), ("compareGroup", s("G9"))], b"");
    assert_eq!(f.code, 0, "{}", f.remark);
    let corr = json(&f)["correctionOffsets"].clone();
    assert_eq!(corr[q.to_string()], 0, "G3 holds queue {q} at 0: {corr}");
    let f = c.request(
        308,
        &[
            ("topic", s(topic)),
            ("compareGroup", s("G9")),
            ("filterGroups", s("G3")),
        ],
        b"",
    );
    let corr = json(&f)["correctionOffsets"].clone();
    assert_eq!(corr[q.to_string()], max, "without G3: {corr}");
    // G3's offsets are still there (Java's lookup drops them).
    assert_eq!(wire::query_offset(&mut c, "G3", topic, q), (0, 0));

    // 328: every producer online.
    let mut p = Conn::connect(&r.broker());
    wire::heartbeat_producer(&mut p, "10.0.0.9@prod", "ProdGroup");
    let f = c.request(328, &[], b"");
    assert_eq!(f.code, 0);
    let infos = json(&f)["data"]["ProdGroup"]
        .as_array()
        .cloned()
        .expect("ProdGroup");
    assert_eq!(infos.len(), 1);
    assert_eq!(infos[0]["clientId"], "10.0.0.9@prod");
    assert_eq!(infos[0]["language"], "JAVA");
    assert!(infos[0]["remoteIP"]
        .as_str()
        .is_some_and(|a| a.starts_with("127.0.0.1:")));
}

#[test]
fn a_half_message_is_put_back_for_checking() {
    let r = Rmqd::start(&[SMALL[0], SMALL[1], "transactionCheckInterval=3600000"]);
    create_topic(&r.broker(), "TxTopic", 1);
    let mut c = Conn::connect(&r.broker());
    let props = wire::half_properties("TxGroup", "HALF-1", &[("TRANSACTION_CHECK_TIMES", "3")]);
    let f = wire::send(
        &mut c,
        "TxGroup",
        "TxTopic",
        0,
        wire::PREPARED,
        &props,
        b"half",
    );
    assert_eq!(f.code, 0, "{}", f.remark);
    let half = "RMQ_SYS_TRANS_HALF_TOPIC";
    // The half message reaches its queue just after the send is answered.
    let original = wire::pull_when_there(&mut c, "CID_CHECK", half, 0, 0);
    assert_eq!(original[0].property("TRANSACTION_CHECK_TIMES"), Some("3"));
    let before = max_offset(&r.broker(), half, 0);
    let f = c.request(323, &[("msgId", f.ext("msgId"))], b"");
    assert_eq!(f.code, 0, "{}", f.remark);
    let again = wire::pull_when_there(&mut c, "CID_CHECK", half, 0, before);
    assert_eq!(again[0].body_str(), "half");
    assert_eq!(again[0].property("TRANSACTION_CHECK_TIMES"), Some("0"));
    assert_eq!(again[0].property("REAL_TOPIC"), Some("TxTopic"));
    let f = c.request(323, &[("msgId", s("not-an-id"))], b"");
    assert_eq!(
        (f.code, f.remark.as_str()),
        (
            1,
            "Exception was thrown when putting message back to RMQ_SYS_TRANS_HALF_TOPIC."
        )
    );
}

fn send_n(c: &mut Conn, topic: &str, n: usize) {
    for i in 0..n {
        let f = wire::send(c, "P", topic, 0, 0, "", &[b'x'; 1000]);
        assert_eq!(f.code, 0, "send {i}: {}", f.remark);
    }
}

fn cq_dir(r: &Rmqd, topic: &str) -> std::path::PathBuf {
    r.store_dir().join("consumequeue").join(topic)
}

#[test]
fn housekeeping_codes_remove_what_is_gone() {
    // 64 KiB CommitLog files; nothing expires on its own (deleteWhen never comes).
    let mut r = Rmqd::start(&[
        "mappedFileSizeCommitLog=65536",
        "fileReservedTime=0",
        "deleteWhen=99",
        "diskSpaceWarningLevelRatio=0.98",
    ]);
    for t in ["Old", "New", "Ghost"] {
        create_topic(&r.broker(), t, 1);
    }
    let mut c = Conn::connect(&r.broker());
    send_n(&mut c, "Old", 150);
    send_n(&mut c, "Ghost", 5);
    send_n(&mut c, "New", 150);
    let deadline = Instant::now() + Duration::from_secs(10);
    while max_offset(&r.broker(), "New", 0) < 150 {
        assert!(Instant::now() < deadline, "New never dispatched");
        std::thread::sleep(Duration::from_millis(50));
    }
    let runtime = |c: &mut Conn, key: &str| -> i64 {
        let f = c.request(28, &[], b"");
        let v: Value = serde_json::from_slice(&f.body).expect("runtime");
        v["table"][key]
            .as_str()
            .and_then(|x| x.parse().ok())
            .expect(key)
    };
    assert_eq!(runtime(&mut c, "commitLogMinOffset"), 0);

    // 329: expired files go now, whatever the hour; the newest file stays.
    let f = c.request(329, &[], b"");
    assert_eq!(f.code, 0, "{}", f.remark);
    let min = runtime(&mut c, "commitLogMinOffset");
    assert!(min > 150 * 1000, "files holding Old are gone: min {min}");
    assert!(min < runtime(&mut c, "commitLogMaxOffset"));

    // 306: consume queues that only point at deleted messages go; New's stay.
    assert!(cq_dir(&r, "Old").exists());
    let f = c.request(306, &[], b"");
    assert_eq!(f.code, 0, "{}", f.remark);
    assert!(
        !cq_dir(&r, "Old").exists(),
        "Old's consume queue is removed"
    );
    assert!(!cq_dir(&r, "Ghost").exists(), "Ghost's too");
    assert!(cq_dir(&r, "New").exists());

    // 316: a topic the broker no longer has (removed from topics.json while it was
    // down) keeps its consume queue until cleaned.
    send_n(&mut c, "Ghost", 3);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cq_dir(&r, "Ghost").exists() {
        assert!(Instant::now() < deadline);
        std::thread::sleep(Duration::from_millis(50));
    }
    r.stop_clean();
    let path = r.store_dir().join("config/topics.json");
    let mut v: Value =
        serde_json::from_str(&std::fs::read_to_string(&path).expect("topics.json")).expect("json");
    v["topicConfigTable"]
        .as_object_mut()
        .expect("table")
        .remove("Ghost");
    std::fs::write(&path, v.to_string()).expect("write topics.json");
    let _ = std::fs::remove_file(r.store_dir().join("config/topics.json.bak"));
    r.restart();
    let mut c = Conn::connect(&r.broker());
    assert!(cq_dir(&r, "Ghost").exists());
    let f = c.request(316, &[], b"");
    assert_eq!(f.code, 0, "{}", f.remark);
    assert!(
        !cq_dir(&r, "Ghost").exists(),
        "Ghost's consume queue is removed"
    );
    assert!(cq_dir(&r, "New").exists());
    assert_eq!(max_offset(&r.broker(), "New", 0), 150);
}
