//! The state the captured commands ran against, rebuilt in rmqd the way the capture's
//! set-up built it (`../README.md`, "State while the commands ran"):
//!
//! - AdmTopic (4 queues) holding the same 100 messages in the same queues and order, sent
//!   with the properties and born times the Java client gave them (read back from the
//!   capture's own pulls), so record comparisons hold field by field;
//! - group AdmGroup having pulled and committed 13, 13, 12, 12 of them;
//! - an online, suspended push consumer in AdmGroup: the real rocketmq-client-rust client,
//!   which answers the broker's GET_CONSUMER_RUNNING_INFO as the Java one did;
//! - producer group AdmProducerGroup online, having sent to AdmBgTopic.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{create_topic, spawn_driver, Client, Rmqd, Running};
use rmqd_store::record;

use super::frames;

pub const TOPIC: &str = "AdmTopic";
pub const GROUP: &str = "AdmGroup";
/// What the Java pull consumer committed per queue.
const COMMITTED: [i64; 4] = [13, 13, 12, 12];

/// One message of the capture's AdmTopic, as the Java broker stored it.
#[derive(Debug, Clone)]
pub struct JavaMessage {
    pub queue_id: i32,
    pub physical_offset: i64,
    pub store_timestamp: i64,
    pub born_timestamp: i64,
    pub flag: i32,
    pub sys_flag: i32,
    pub body: Vec<u8>,
    pub properties: String,
}

/// The 100 set-up messages, in CommitLog order, from printMsg's pulls.
pub fn java_messages() -> Vec<JavaMessage> {
    let mut out: Vec<JavaMessage> = Vec::new();
    for f in frames::load("printMsg") {
        if f.c2s || f.peer != frames::Peer::Broker || f.cmd.code != 0 {
            continue;
        }
        for m in record::decode_all(&f.cmd.body) {
            if m.topic != TOPIC || m.body == b"hello from mqadmin" {
                continue;
            }
            out.push(JavaMessage {
                queue_id: m.queue_id,
                physical_offset: m.physical_offset,
                store_timestamp: m.store_timestamp,
                born_timestamp: m.born_timestamp,
                flag: m.flag,
                sys_flag: m.sys_flag,
                body: m.body.to_vec(),
                properties: m.properties.to_string(),
            });
        }
    }
    out.sort_by_key(|m| m.physical_offset);
    out.dedup_by_key(|m| m.physical_offset);
    assert_eq!(
        out.len(),
        100,
        "the capture's printMsg read the 100 set-up messages"
    );
    out
}

/// What the seeding leaves running, and how to translate the capture's positions.
pub struct Seeded {
    /// Java CommitLog offset → rmqd's, per message.
    pub phys: HashMap<i64, i64>,
    pub java: Vec<JavaMessage>,
    pub consumer: Running,
    /// The background producer's connection, kept open.
    pub _producer: Conn,
}

fn send_as_java(c: &mut Conn, m: &JavaMessage) -> i64 {
    // The broker adds CLUSTER and drops WAIT=true: send what the client sent.
    let mut props: Vec<(&str, &str)> = record::properties(&m.properties)
        .into_iter()
        .filter(|(k, _)| *k != "CLUSTER")
        .collect();
    props.push(("WAIT", "true"));
    let f = c.request(
        310,
        &[
            ("a", "AdmSetupProducer".to_string()),
            ("b", TOPIC.to_string()),
            ("c", "TBW102".to_string()),
            ("d", "4".to_string()),
            ("e", m.queue_id.to_string()),
            ("f", m.sys_flag.to_string()),
            ("g", m.born_timestamp.to_string()),
            ("h", m.flag.to_string()),
            ("i", wire::properties(&props)),
            ("j", "0".to_string()),
            ("k", "false".to_string()),
            ("m", "false".to_string()),
        ],
        &m.body,
    );
    assert_eq!(f.code, 0, "seed send: {}", f.remark);
    record::decode_offset_msg_id(&f.ext("msgId"))
        .expect("offsetMsgId")
        .1
}

pub fn seed(r: &Rmqd) -> Seeded {
    let java = java_messages();
    create_topic(&r.broker(), TOPIC, 4);
    let mut c = Conn::connect(&r.broker());
    let phys = java
        .iter()
        .map(|m| (m.physical_offset, send_as_java(&mut c, m)))
        .collect();

    // The Java set-up's pull consumer: pulls and commits.
    for (q, n) in COMMITTED.iter().enumerate() {
        let q = q as i32;
        let mut got = 0;
        let deadline = Instant::now() + Duration::from_secs(10);
        while got < *n {
            // Dispatch runs behind the send's answer: PULL_NOT_FOUND (19) until it is done.
            let (code, msgs) = wire::pull(&mut c, GROUP, TOPIC, q, got, (*n - got) as i32);
            assert!(code == 0 || code == 19, "set-up pull of queue {q}: {code}");
            assert!(Instant::now() < deadline, "queue {q} never filled");
            got += msgs.len() as i64;
            if code != 0 {
                std::thread::sleep(Duration::from_millis(20));
            }
        }
        let f = c.request(
            15,
            &[
                ("consumerGroup", GROUP.to_string()),
                ("topic", TOPIC.to_string()),
                ("queueId", q.to_string()),
                ("commitOffset", n.to_string()),
            ],
            b"",
        );
        assert_eq!(f.code, 0, "commit: {}", f.remark);
    }

    // The idle push consumer: a real client, suspended before start.
    let home = r.home.path().join("consumer");
    std::fs::create_dir_all(&home).expect("consumer home");
    let consumer = spawn_driver(
        Client::Rust,
        &[
            "consume",
            "--namesrv",
            &r.namesrv(),
            "--topic",
            TOPIC,
            "--group",
            GROUP,
            "--suspend",
            "--expect",
            "1000000",
            "--timeout",
            "240",
        ],
        &home,
    );
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let f = c.request(203, &[("consumerGroup", GROUP.to_string())], b"");
        let both = f.code == 0 && {
            let v: serde_json::Value = serde_json::from_slice(&f.body).unwrap_or_default();
            let t = &v["subscriptionTable"];
            t.get(TOPIC).is_some() && t.get(format!("%RETRY%{GROUP}")).is_some()
        };
        if both {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the suspended consumer never came online ({}: {})",
            f.code,
            f.remark
        );
        std::thread::sleep(Duration::from_millis(200));
    }

    // The background producer, online with one message sent.
    let mut producer = Conn::connect(&r.broker());
    wire::heartbeat_producer(&mut producer, "192.0.2.2@9941#1", "AdmProducerGroup");
    let f = wire::send(
        &mut producer,
        "AdmProducerGroup",
        "AdmBgTopic",
        0,
        0,
        "",
        b"bg",
    );
    assert_eq!(f.code, 0, "background send: {}", f.remark);

    Seeded {
        phys,
        java,
        consumer,
        _producer: producer,
    }
}
