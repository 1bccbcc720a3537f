//! The 5.x remoting POP codes, hand-framed as a Java 5.x `DefaultMQPushConsumer` in POP
//! mode sends them: POP_MESSAGE (200050), ACK_MESSAGE (200051), CHANGE_MESSAGE_INVISIBLETIME
//! (200053), PEEK_MESSAGE (200052), POLLING_INFO (200055). An acked message never comes
//! back; an unacked one comes back from `%RETRY%<group>_<topic>` after its invisible time,
//! under the topic the consumer asked for and with its checkpoint in POP_CK.

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn, Frame};
use rmqd_compat_tests::{create_topic, max_offset, Rmqd};
use rmqd_store::record;

const POP_MESSAGE: i32 = 200050;
const ACK_MESSAGE: i32 = 200051;
const PEEK_MESSAGE: i32 = 200052;
const CHANGE_INVISIBLE: i32 = 200053;
const POLLING_INFO: i32 = 200055;

struct Popped {
    body: String,
    queue_id: i32,
    queue_offset: i64,
    reconsume: i32,
    topic: String,
    pop_ck: Option<String>,
}

fn pop(c: &mut Conn, topic: &str, group: &str, invisible: i64, poll: i64) -> (Frame, Vec<Popped>) {
    let f = c.request(
        POP_MESSAGE,
        &[
            ("consumerGroup", group.into()),
            ("topic", topic.into()),
            ("queueId", "-1".into()),
            ("maxMsgNums", "32".into()),
            ("invisibleTime", invisible.to_string()),
            ("pollTime", poll.to_string()),
            ("bornTime", wire::now_ms().to_string()),
            ("initMode", "1".into()),
            ("expType", "TAG".into()),
            ("exp", "*".into()),
        ],
        b"",
    );
    let msgs = record::decode_all(&f.body)
        .into_iter()
        .map(|m| Popped {
            body: String::from_utf8_lossy(m.body).into_owned(),
            queue_id: m.queue_id,
            queue_offset: m.queue_offset,
            reconsume: m.reconsume_times,
            topic: m.topic.to_string(),
            pop_ck: m.property("POP_CK").map(str::to_string),
        })
        .collect();
    (f, msgs)
}

/// What the Java client builds per message (`ExtraInfoUtil.buildExtraInfo`), from the pop
/// response's `startOffsetInfo` (`mark queueId startOffset;…`).
fn extra_info(f: &Frame, m: &Popped) -> String {
    if let Some(ck) = &m.pop_ck {
        return ck.clone();
    }
    let start = f
        .ext("startOffsetInfo")
        .split(';')
        .find_map(|e| {
            let p: Vec<&str> = e.split(' ').collect();
            (p.len() == 3 && p[1] == m.queue_id.to_string()).then(|| p[2].to_string())
        })
        .expect("start offset of the queue");
    format!(
        "{start} {} {} {} 0 broker-a {} {}",
        f.ext("popTime"),
        f.ext("invisibleTime"),
        f.ext("reviveQid"),
        m.queue_id,
        m.queue_offset
    )
}

#[test]
fn pop_ack_change_invisible_time_and_redelivery_over_remoting() {
    let r = Rmqd::start(&[
        "grpcServerPort=0",
        "mappedFileSizeCommitLog=67108864",
        "diskSpaceWarningLevelRatio=0.99",
        "diskSpaceCleanForciblyRatio=0.99",
        "diskMaxUsedSpaceRatio=95",
    ]);
    let (topic, group) = ("PopWire", "PopWireGroup");
    create_topic(&r.broker(), topic, 2);
    let mut c = Conn::connect(&r.broker());
    for i in 0..3 {
        let props = wire::properties(&[("UNIQ_KEY", &format!("ID{i}")), ("TAGS", "t")]);
        let s = wire::send(
            &mut c,
            "p",
            topic,
            i % 2,
            0,
            &props,
            format!("w-{i}").as_bytes(),
        );
        assert_eq!(s.code, 0, "{}", s.remark);
    }

    // Sends are dispatched to their queues in the background: pop until all three are out.
    let mut got: Vec<(Frame, Popped)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 3 && Instant::now() < deadline {
        let (f, msgs) = pop(&mut c, topic, group, 3000, 1000);
        assert!(f.code == 0 || f.code == 210, "{} {}", f.code, f.remark);
        if f.code == 0 {
            assert!(f.ext_i64("popTime") > 0 && f.ext_i64("reviveQid") >= 0);
        }
        got.extend(msgs.into_iter().map(|m| (f.clone(), m)));
    }
    assert_eq!(got.len(), 3);
    // Nothing more to hand out: an empty pop answers POLLING_TIMEOUT (210) after its poll.
    let t = Instant::now();
    let (empty, none) = pop(&mut c, topic, group, 3000, 500);
    assert_eq!((empty.code, none.len()), (210, 0));
    assert!(t.elapsed() >= Duration::from_millis(400));

    let by_body = |b: &str| {
        got.iter()
            .find(|(_, m)| m.body == b)
            .map(|(f, m)| (f.clone(), m))
            .expect("popped")
    };
    let (fa, acked) = by_body("w-0");
    let a = c.request(
        ACK_MESSAGE,
        &[
            ("consumerGroup", group.into()),
            ("topic", topic.into()),
            ("queueId", acked.queue_id.to_string()),
            ("extraInfo", extra_info(&fa, acked)),
            ("offset", acked.queue_offset.to_string()),
        ],
        b"",
    );
    assert_eq!(a.code, 0, "{}", a.remark);
    // w-1 is made visible again sooner: 1 s instead of 3 s.
    let (fc, changed) = by_body("w-1");
    let ch = c.request(
        CHANGE_INVISIBLE,
        &[
            ("consumerGroup", group.into()),
            ("topic", topic.into()),
            ("queueId", changed.queue_id.to_string()),
            ("extraInfo", extra_info(&fc, changed)),
            ("offset", changed.queue_offset.to_string()),
            ("invisibleTime", "1000".into()),
        ],
        b"",
    );
    assert_eq!(ch.code, 0, "{}", ch.remark);
    assert_eq!(ch.ext_i64("invisibleTime"), 1000);
    // An offset outside the queue: NO_MESSAGE (208).
    let bad = c.request(
        ACK_MESSAGE,
        &[
            ("consumerGroup", group.into()),
            ("topic", topic.into()),
            ("queueId", "0".into()),
            ("extraInfo", extra_info(&fa, acked)),
            ("offset", "99".into()),
        ],
        b"",
    );
    assert_eq!(bad.code, 208, "{}", bad.remark);
    let info = c.request(
        POLLING_INFO,
        &[
            ("consumerGroup", group.into()),
            ("topic", topic.into()),
            ("queueId", "0".into()),
        ],
        b"",
    );
    assert_eq!((info.code, info.ext_i64("pollingNum")), (0, 0));

    // w-1 comes back first (about 2 s: 1 s plus the revive slack), then w-2; never w-0.
    let start = Instant::now();
    let mut back: Vec<(String, Duration)> = Vec::new();
    while back.len() < 2 && start.elapsed() < Duration::from_secs(15) {
        let (f2, again) = pop(&mut c, topic, group, 30_000, 2000);
        for m in &again {
            assert_eq!(m.topic, topic, "retried messages carry the topic asked for");
            assert_eq!(m.reconsume, 1);
            assert!(
                m.pop_ck.is_some(),
                "POP_CK in a message from the retry topic"
            );
            assert_eq!(f2.code, 0);
            back.push((m.body.clone(), start.elapsed()));
        }
    }
    let bodies: Vec<&str> = back.iter().map(|(b, _)| b.as_str()).collect();
    assert_eq!(bodies, ["w-1", "w-2"], "{back:?}");
    assert!(back[0].1 < Duration::from_millis(2800), "{back:?}");
    let (_, late) = pop(&mut c, topic, group, 30_000, 1500);
    assert!(late.is_empty(), "acked message came back");
    assert_eq!(
        max_offset(&r.broker(), &format!("%RETRY%{group}_{topic}"), 0),
        2
    );

    // PEEK shows the group's next messages without handing them out.
    let s = wire::send(
        &mut c,
        "p",
        topic,
        0,
        0,
        &wire::properties(&[("TAGS", "t")]),
        b"w-3",
    );
    assert_eq!(s.code, 0);
    // Dispatch to the queue is asynchronous: peek until the message is there.
    let deadline = Instant::now() + Duration::from_secs(5);
    let peek = loop {
        let peek = c.request(
            PEEK_MESSAGE,
            &[
                ("consumerGroup", group.into()),
                ("topic", topic.into()),
                ("queueId", "0".into()),
                ("maxMsgNums", "8".into()),
            ],
            b"",
        );
        if peek.code == 0 || Instant::now() > deadline {
            break peek;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    assert_eq!(peek.code, 0, "{}", peek.remark);
    let peeked: BTreeSet<String> = record::decode_all(&peek.body)
        .iter()
        .map(|m| String::from_utf8_lossy(m.body).into_owned())
        .collect();
    assert_eq!(peeked, BTreeSet::from(["w-3".to_string()]));
    let (_, after) = pop(&mut c, topic, group, 30_000, 1000);
    assert_eq!(
        after.iter().map(|m| m.body.as_str()).collect::<Vec<_>>(),
        ["w-3"]
    );
}

/// Base64 as fastjson writes a byte array.
fn b64(bytes: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[test]
fn batch_ack_acknowledges_the_offsets_of_its_bit_set() {
    let r = Rmqd::start(&[
        "grpcServerPort=0",
        "mappedFileSizeCommitLog=67108864",
        "diskSpaceWarningLevelRatio=0.99",
        "diskSpaceCleanForciblyRatio=0.99",
        "diskMaxUsedSpaceRatio=95",
    ]);
    let (topic, group) = ("PopBatch", "PopBatchGroup");
    create_topic(&r.broker(), topic, 1);
    let mut c = Conn::connect(&r.broker());
    for i in 0..4 {
        let props = wire::properties(&[("TAGS", "t")]);
        let s = wire::send(
            &mut c,
            "p",
            topic,
            0,
            0,
            &props,
            format!("b-{i}").as_bytes(),
        );
        assert_eq!(s.code, 0, "{}", s.remark);
    }
    let mut got: Vec<(Frame, Popped)> = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(5);
    while got.len() < 4 && Instant::now() < deadline {
        let (f, msgs) = pop(&mut c, topic, group, 2000, 1000);
        got.extend(msgs.into_iter().map(|m| (f.clone(), m)));
    }
    assert_eq!(got.len(), 4);
    // One checkpoint per pop: acknowledge everything but b-2 with one BatchAck each.
    let mut acks = Vec::new();
    for (f, m) in &got {
        if m.body == "b-2" {
            continue;
        }
        let start: i64 = extra_info(f, m).split(' ').next().unwrap().parse().unwrap();
        let bit = (m.queue_offset - start) as usize;
        let mut bytes = vec![0u8; bit / 8 + 1];
        bytes[bit / 8] |= 1 << (bit % 8);
        acks.push(serde_json::json!({
            "c": group, "t": topic, "r": "0", "so": start, "q": m.queue_id,
            "rq": f.ext_i64("reviveQid"), "pt": f.ext_i64("popTime"),
            "it": f.ext_i64("invisibleTime"), "b": b64(&bytes)
        }));
    }
    let body = serde_json::json!({"brokerName": "broker-a", "acks": acks});
    let a = c.request(200151, &[], body.to_string().as_bytes());
    assert_eq!(a.code, 0, "{}", a.remark);
    let bad = c.request(200151, &[], b"{not json");
    assert_eq!(bad.code, 13, "{}", bad.remark);
    let mut back = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(10);
    while back.is_empty() && Instant::now() < deadline {
        let (_, msgs) = pop(&mut c, topic, group, 30_000, 2000);
        back.extend(msgs.into_iter().map(|m| m.body));
    }
    let (_, more) = pop(&mut c, topic, group, 30_000, 2500);
    back.extend(more.into_iter().map(|m| m.body));
    assert_eq!(back, ["b-2"]);
}
