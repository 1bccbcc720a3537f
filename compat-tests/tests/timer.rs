//! Timer messages (RocketMQ 5.x): sends shaped like a Java 5.3.3 producer's (SEND_MESSAGE_V2
//! with TIMER_DELAY_SEC / TIMER_DELAY_MS / TIMER_DELIVER_MS) to a real rmqd, delivery
//! checked on the records pulled back: on time within `timerPrecisionMs`, Java's
//! properties, refusals with Java's codes and remarks, delay levels alongside, many
//! timers in one slot.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, now_ms, Conn, Pulled};
use rmqd_compat_tests::{create_topic, max_offset, Rmqd};

const P: i64 = 1000;
/// Service tick (precision / 10), dispatch and a loaded 2-core machine running debug
/// builds: what a delivery may take past its slot boundary here.
const SLACK: i64 = 600;

/// SEND_MESSAGE_V2 as the Java 5.3.3 producer sends it (version 479, header `n` = broker).
fn send5(c: &mut Conn, topic: &str, queue: i32, props: &str, body: &[u8]) -> wire::Frame {
    c.set_version(479);
    c.request(
        310,
        &[
            ("a", "TimerProducer".to_string()),
            ("b", topic.to_string()),
            ("c", "TBW102".to_string()),
            ("d", "4".to_string()),
            ("e", queue.to_string()),
            ("f", "0".to_string()),
            ("g", now_ms().to_string()),
            ("h", "0".to_string()),
            ("i", props.to_string()),
            ("j", "0".to_string()),
            ("k", "false".to_string()),
            ("m", "false".to_string()),
            ("n", "broker-a".to_string()),
        ],
        body,
    )
}

/// A Java producer's properties (`Message.setDelayTimeSec` and friends add the timer one).
fn props5(id: &str, extra: &[(&str, String)]) -> String {
    let mut pairs: Vec<(&str, &str)> = vec![
        ("TAGS", "TagT"),
        ("KEYS", id),
        ("UNIQ_KEY", id),
        ("WAIT", "true"),
    ];
    pairs.extend(extra.iter().map(|(k, v)| (*k, v.as_str())));
    wire::properties(&pairs)
}

/// Everything in `topic`/`queue`, once it holds `n` messages (or panics after `within`).
fn wait_for(
    r: &Rmqd,
    c: &mut Conn,
    topic: &str,
    queue: i32,
    n: usize,
    within: Duration,
) -> Vec<Pulled> {
    let deadline = Instant::now() + within;
    loop {
        let got = wire::pull_all(c, "TimerCheck", topic, queue, 0);
        if got.len() >= n {
            return got;
        }
        assert!(
            Instant::now() < deadline,
            "{topic}/{queue}: {} of {n} messages after {within:?}; log:\n{}",
            got.len(),
            r.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// How late a delivery was for a request due at `due` (≥ 0 is on time or late; < 0 early).
fn lateness(m: &Pulled, due: i64) -> i64 {
    m.store_timestamp - due
}

#[test]
fn timer_messages_come_on_time_with_javas_properties() {
    let r = Rmqd::start(&[]);
    create_topic(&r.broker(), "TimerTopic", 4);
    let mut c = Conn::connect(&r.broker());
    // (queue, timer property, delay in ms from the send or absolute time, absolute?)
    let at_boundary = (now_ms() / P + 5) * P;
    let off_boundary = now_ms() + 2_123;
    let cases: Vec<(i32, &str, String)> = vec![
        (0, "TIMER_DELAY_SEC", "1".into()),
        (1, "TIMER_DELAY_SEC", "3".into()),
        (2, "TIMER_DELAY_MS", "2500".into()),
        (3, "TIMER_DELIVER_MS", at_boundary.to_string()),
        (0, "TIMER_DELIVER_MS", off_boundary.to_string()),
    ];
    let mut due = Vec::new();
    for (i, (q, key, v)) in cases.iter().enumerate() {
        let id = format!("T{i}");
        let before = now_ms();
        let f = send5(
            &mut c,
            "TimerTopic",
            *q,
            &props5(&id, &[(key, v.clone())]),
            id.as_bytes(),
        );
        let after = now_ms();
        assert_eq!(f.code, 0, "{key}={v}: {}", f.remark);
        // Answered for the queue asked, with the offset where it waits in the timer topic.
        assert_eq!(f.ext_i64("queueId"), i64::from(*q));
        assert_eq!(f.ext_i64("queueOffset"), i as i64);
        assert!(!f.ext("msgId").is_empty());
        let n: i64 = v.parse().expect("number");
        due.push(match *key {
            "TIMER_DELAY_SEC" => (before + n * 1000, after + n * 1000),
            "TIMER_DELAY_MS" => (before + n, after + n),
            _ => (n, n),
        });
    }
    // Due already: stored at once in its topic, untouched.
    let past = (now_ms() - 5000).to_string();
    let f = send5(
        &mut c,
        "TimerTopic",
        1,
        &props5("Tpast", &[("TIMER_DELIVER_MS", past.clone())]),
        b"Tpast",
    );
    assert_eq!(f.code, 0, "{}", f.remark);
    let first = wire::pull_when_there(&mut c, "TimerCheck", "TimerTopic", 1, 0);
    assert_eq!(first[0].body_str(), "Tpast");
    assert_eq!(first[0].property("TIMER_DELIVER_MS"), Some(past.as_str()));
    assert_eq!(first[0].property("TIMER_OUT_MS"), None);
    assert_eq!(first[0].property("REAL_TOPIC"), None);

    // Parked as Java parks them: rmq_sys_wheel_timer queue 0, slot time in TIMER_OUT_MS.
    let parked = wait_for(
        &r,
        &mut c,
        "rmq_sys_wheel_timer",
        0,
        5,
        Duration::from_secs(5),
    );
    assert_eq!(parked.len(), 5);
    for (i, m) in parked.iter().enumerate() {
        assert_eq!(m.property("REAL_TOPIC"), Some("TimerTopic"));
        assert_eq!(
            m.property("REAL_QID"),
            Some(cases[i].0.to_string().as_str())
        );
        assert_eq!(m.property("UNIQ_KEY"), Some(format!("T{i}").as_str()));
        assert_eq!(m.property("WAIT"), Some("true"));
        let out: i64 = m
            .property("TIMER_OUT_MS")
            .expect("TIMER_OUT_MS")
            .parse()
            .expect("ms");
        assert_eq!(out % P, 0, "slot boundary");
        assert!(
            out + P >= due[i].0 && out < due[i].1,
            "slot {out} for {:?}",
            due[i]
        );
    }
    assert_eq!(
        parked[3].property("TIMER_OUT_MS"),
        Some((at_boundary - P).to_string().as_str()),
        "a time on a boundary goes to the slot before it"
    );

    let mut got: HashMap<String, Pulled> = HashMap::new();
    for q in 0..4 {
        let want = match q {
            0 => 2,
            1 => 2,
            _ => 1,
        };
        for m in wait_for(&r, &mut c, "TimerTopic", q, want, Duration::from_secs(15)) {
            got.insert(m.body_str(), m);
        }
    }
    let mut worst = 0;
    for (i, (q, key, _)) in cases.iter().enumerate() {
        let m = &got[&format!("T{i}")];
        let (lo, hi) = due[i];
        let early = lateness(m, lo);
        let late = lateness(m, hi);
        eprintln!("{key} case {i}: delivered {early} ms after the earliest due time");
        assert!(early >= 0, "case {i} delivered {} ms early", -early);
        assert!(late < P + SLACK, "case {i} delivered {late} ms late");
        worst = worst.max(late);
        assert_eq!(m.topic, "TimerTopic");
        assert_eq!(m.property("REAL_QID"), Some(q.to_string().as_str()));
        // Java's copy: the parked properties plus TIMER_ENQUEUE_MS and TIMER_DEQUEUE_MS,
        // REAL_TOPIC / REAL_QID left in.
        assert_eq!(m.property("REAL_TOPIC"), Some("TimerTopic"));
        assert_eq!(m.property("UNIQ_KEY"), Some(format!("T{i}").as_str()));
        assert_eq!(m.property("TAGS"), Some("TagT"));
        assert!(m.property(key).is_some());
        let enq: i64 = m
            .property("TIMER_ENQUEUE_MS")
            .expect("enqueue")
            .parse()
            .expect("ms");
        let deq: i64 = m
            .property("TIMER_DEQUEUE_MS")
            .expect("dequeue")
            .parse()
            .expect("ms");
        let out: i64 = m
            .property("TIMER_OUT_MS")
            .expect("out")
            .parse()
            .expect("ms");
        assert!(
            enq <= out && out < deq && deq <= m.store_timestamp,
            "{enq} {out} {deq}"
        );
        assert_eq!(m.property("TIMER_ROLL_TIMES"), None);
    }
    eprintln!("latest delivery: {worst} ms after its due time (precision {P} ms)");
}

#[test]
fn refusals_and_the_delay_level_rule() {
    let r = Rmqd::start(&["timerMaxDelaySec=60"]);
    let mut c = Conn::connect(&r.broker());
    let illegal = "timer message illegal, the delay time should not be bigger than the max delay 60000ms; or if set del msg, the delay time should be bigger than the current time";
    for (k, v) in [
        ("TIMER_DELAY_SEC", "61".to_string()),
        ("TIMER_DELAY_MS", "60500".to_string()),
        ("TIMER_DELIVER_MS", (now_ms() + 70_000).to_string()),
        ("TIMER_DELIVER_MS", "soon".to_string()),
        ("TIMER_DELAY_SEC", "1.5".to_string()),
    ] {
        let f = send5(&mut c, "Refused", 0, &props5("R", &[(k, v.clone())]), b"x");
        assert_eq!((f.code, f.remark.as_str()), (13, illegal), "{k}={v}");
    }
    // A delete marker for a time already past.
    let f = send5(
        &mut c,
        "Refused",
        0,
        &props5(
            "D",
            &[
                ("TIMER_DELIVER_MS", "5".into()),
                ("TIMER_DEL_UNIQKEY", "Refused+X".into()),
            ],
        ),
        b"x",
    );
    assert_eq!((f.code, f.remark.as_str()), (13, illegal));
    assert_eq!(
        max_offset(&r.broker(), "Refused", 0),
        0,
        "nothing refused was stored"
    );
    // Within the maximum: accepted.
    let f = send5(
        &mut c,
        "Refused",
        0,
        &props5("OK", &[("TIMER_DELAY_SEC", "59".into())]),
        b"ok",
    );
    assert_eq!(f.code, 0, "{}", f.remark);

    // A delay level wins over timer properties, which are dropped (Java 5.x
    // checkIfTimerMessage): the message goes through SCHEDULE_TOPIC_XXXX level 1.
    let sent = now_ms();
    let f = send5(
        &mut c,
        "Levels",
        0,
        &props5(
            "L",
            &[("DELAY", "1".into()), ("TIMER_DELAY_SEC", "30".into())],
        ),
        b"level",
    );
    assert_eq!(f.code, 0, "{}", f.remark);
    let m = &wait_for(&r, &mut c, "Levels", 0, 1, Duration::from_secs(10))[0];
    assert_eq!(m.property("DELAY"), Some("1"));
    assert_eq!(m.property("TIMER_DELAY_SEC"), None);
    assert_eq!(m.property("REAL_TOPIC"), Some("Levels"));
    let waited = m.store_timestamp - sent;
    assert!(
        (1000..1000 + 2 * P).contains(&waited),
        "level 1 after {waited} ms"
    );
    assert_eq!(max_offset(&r.broker(), "SCHEDULE_TOPIC_XXXX", 0), 1);

    // Disabled: refused with Java's status and remark; plain and delay-level sends work.
    let off = Rmqd::start(&["timerWheelEnable=false"]);
    let mut c = Conn::connect(&off.broker());
    let f = send5(
        &mut c,
        "Off",
        0,
        &props5("X", &[("TIMER_DELAY_SEC", "5".into())]),
        b"x",
    );
    assert_eq!(
        (f.code, f.remark.as_str()),
        (
            1,
            "accurate timer message is not enabled, timerWheelEnable is false"
        )
    );
    let f = send5(&mut c, "Off", 0, &props5("Y", &[]), b"y");
    assert_eq!(f.code, 0);
    assert!(!off.store_dir().join("timerwheel").exists());
}

#[test]
fn many_timers_in_one_slot_beside_delay_levels() {
    let r = Rmqd::start(&[]);
    create_topic(&r.broker(), "Crowd", 1);
    let mut c = Conn::connect(&r.broker());
    const N: usize = 2000;
    // One slot for all, far enough ahead for every send to be in before it is due.
    let due = (now_ms() / P + 6) * P + 500;
    for i in 0..N {
        let id = format!("C{i:05}");
        let f = send5(
            &mut c,
            "Crowd",
            0,
            &props5(&id, &[("TIMER_DELIVER_MS", due.to_string())]),
            id.as_bytes(),
        );
        assert_eq!(f.code, 0, "{}", f.remark);
    }
    // Delay levels in the same run: level 2 (5 s).
    let sent = now_ms();
    for i in 0..20 {
        let id = format!("L{i}");
        let f = send5(
            &mut c,
            "Lvl",
            0,
            &props5(&id, &[("DELAY", "2".into())]),
            id.as_bytes(),
        );
        assert_eq!(f.code, 0);
    }
    assert!(
        now_ms() < due - P,
        "sends took too long for the test's slot"
    );
    assert_eq!(
        max_offset(&r.broker(), "Crowd", 0),
        0,
        "nothing before its time"
    );
    // GET_BROKER_RUNTIME_INFO counts them in the wheel once parked (Java 5.x's keys).
    let figures = |c: &mut Conn| {
        let info = c.request(28, &[], b"");
        let t: serde_json::Value = serde_json::from_slice(&info.body).expect("KVTable");
        let n = |k: &str| t["table"][k].as_str().and_then(|v| v.parse::<i64>().ok());
        (
            n("timerCongestNum"),
            n("timerOffsetBehind"),
            n("timerReadBehind"),
        )
    };
    let deadline = Instant::now() + Duration::from_secs(3);
    while figures(&mut c).0 != Some(N as i64) {
        assert!(
            Instant::now() < deadline,
            "wheel figures {:?}",
            figures(&mut c)
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    assert_eq!(figures(&mut c).1, Some(0));
    let got = wait_for(&r, &mut c, "Crowd", 0, N, Duration::from_secs(30));
    assert_eq!(got.len(), N, "each exactly once");
    // In the order they were sent (the slot's units, oldest first).
    for (i, m) in got.iter().enumerate() {
        assert_eq!(m.body_str(), format!("C{i:05}"));
    }
    let first = got.iter().map(|m| m.store_timestamp).min().unwrap_or(0);
    let last = got.iter().map(|m| m.store_timestamp).max().unwrap_or(0);
    eprintln!(
        "{N} timers of one slot: first stored {} ms, last {} ms after the due time",
        first - due,
        last - due
    );
    assert!(first >= due, "delivered {} ms early", due - first);
    assert!(
        last - due < P + SLACK + 1000,
        "last of the slot {} ms late",
        last - due
    );
    assert_eq!(figures(&mut c).0, Some(0), "the wheel is empty again");
    // GET_TIMER_CHECK_POINT (60): Java's 56 bytes, read time past the slot, every
    // timer-topic entry parked.
    let cp = c.request(60, &[], b"");
    assert_eq!((cp.code, cp.body.len()), (0, 56));
    let long = |o: usize| i64::from_be_bytes(cp.body[o..o + 8].try_into().expect("8 bytes"));
    assert!(
        long(0) > due - P,
        "read time {} for a slot at {}",
        long(0),
        due / P * P
    );
    assert_eq!((long(16), long(24)), (N as i64, N as i64));
    let levels = wait_for(&r, &mut c, "Lvl", 0, 20, Duration::from_secs(15));
    assert_eq!(levels.len(), 20);
    for m in &levels {
        let waited = m.store_timestamp - sent;
        assert!(
            (5000..5000 + 2 * P + 2000).contains(&waited),
            "level 2 after {waited} ms"
        );
    }
}

#[test]
fn a_transactional_timer_message_is_timed_from_its_commit() {
    let r = Rmqd::start(&[]);
    create_topic(&r.broker(), "TxTimer", 1);
    let mut c = Conn::connect(&r.broker());
    let group = "TxTimerProducer";
    wire::heartbeat_producer(&mut c, "127.0.0.1@tx-timer", group);
    let props = wire::half_properties(group, "TXT", &[("TIMER_DELAY_SEC", "2")]);
    // A prepared half (sysFlag TRANSACTION_PREPARED = 4).
    let f = wire::send(&mut c, group, "TxTimer", 0, 4, &props, b"TXT");
    assert_eq!(f.code, 0, "{}", f.remark);
    let (_, phy) = rmqd_store::record::decode_offset_msg_id(&f.ext("msgId")).expect("offsetMsgId");
    let offset = f.ext_i64("queueOffset");
    // The half waits for the decision, not for the wheel (its consume-queue entry comes
    // a moment after the answer: dispatch is asynchronous).
    let deadline = Instant::now() + Duration::from_secs(5);
    while max_offset(&r.broker(), "RMQ_SYS_TRANS_HALF_TOPIC", 0) < 1 {
        assert!(Instant::now() < deadline, "half not dispatched");
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_eq!(max_offset(&r.broker(), "rmq_sys_wheel_timer", 0), 0);
    std::thread::sleep(Duration::from_millis(1500));
    let committed = now_ms();
    wire::end_transaction(&mut c, group, offset, phy, 8, false, "TXT", "TXT");
    let m = &wait_for(&r, &mut c, "TxTimer", 0, 1, Duration::from_secs(10))[0];
    assert_eq!(m.body_str(), "TXT");
    let waited = m.store_timestamp - committed;
    eprintln!("committed timer message stored {waited} ms after the commit");
    assert!(
        (2000..2000 + P + SLACK).contains(&waited),
        "{waited} ms after the commit"
    );
    assert!(m.property("TIMER_OUT_MS").is_some());
    assert_eq!(max_offset(&r.broker(), "rmq_sys_wheel_timer", 0), 1);
    // A half whose timer is refused is refused at once.
    let props = wire::half_properties(group, "TXBAD", &[("TIMER_DELAY_SEC", "999999")]);
    let f = wire::send(&mut c, group, "TxTimer", 0, 4, &props, b"TXBAD");
    assert_eq!(f.code, 13, "{}", f.remark);
}
