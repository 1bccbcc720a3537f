//! Timer messages across restarts: delays of minutes, hours and days brought within
//! seconds with the timer clock offset (`timerClockOffsetMillis`) over clean restarts
//! (each delivered on time and exactly once, the 2.5-day one rolled on through a nearer
//! slot as Java does), and a
//! kill -9 in the middle of deliveries and of a burst of sends (nothing lost; the copies
//! delivered twice are counted and bounded by what was due around the kill).

use std::collections::HashMap;
use std::io::Write;
use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, now_ms, Conn, Pulled};
use rmqd_compat_tests::{create_topic, max_offset, Rmqd};

const P: i64 = 1000;
const SLACK: i64 = 600;

fn send(c: &mut Conn, topic: &str, queue: i32, id: &str, timer: (&str, String)) {
    let props = wire::properties(&[
        ("TAGS", "TagT"),
        ("UNIQ_KEY", id),
        ("WAIT", "true"),
        (timer.0, timer.1.as_str()),
    ]);
    let f = wire::send(c, "TimerProducer", topic, queue, 0, &props, id.as_bytes());
    assert_eq!(f.code, 0, "{id}: {}", f.remark);
}

fn set_clock_offset(r: &Rmqd, ms: i64) {
    let mut f = std::fs::OpenOptions::new()
        .append(true)
        .open(r.conf_path())
        .expect("broker.conf");
    writeln!(f, "timerClockOffsetMillis={ms}").expect("write");
}

fn count(r: &Rmqd, topic: &str, queue: i32) -> i64 {
    max_offset(&r.broker(), topic, queue)
}

/// Waits until `topic`/`queue` holds `n`, then checks it stays there for `settle`.
fn expect_count(r: &Rmqd, topic: &str, queue: i32, n: i64, settle: Duration) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while count(r, topic, queue) < n {
        assert!(
            Instant::now() < deadline,
            "{topic}/{queue} short of {n}; log:\n{}",
            r.log()
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    std::thread::sleep(settle);
    assert_eq!(count(r, topic, queue), n, "{topic}/{queue}");
}

/// Sends one timer message; returns the broker's possible receipt times (before, after).
fn send_timed(c: &mut Conn, topic: &str, queue: i32, id: &str, delay_sec: i64) -> (i64, i64) {
    let before = now_ms();
    send(
        c,
        topic,
        queue,
        id,
        ("TIMER_DELAY_SEC", delay_sec.to_string()),
    );
    (before, now_ms())
}

/// The one message in `topic`/`queue`, checked to be stored within the precision of
/// `due` (real-clock bounds of the time asked).
fn delivered_on_time(r: &Rmqd, topic: &str, queue: i32, id: &str, due: (i64, i64)) -> Pulled {
    expect_count(r, topic, queue, 1, Duration::from_millis(0));
    let mut c = Conn::connect(&r.broker());
    let m = wire::pull_all(&mut c, "TimerCheck", topic, queue, 0).remove(0);
    assert_eq!(m.body_str(), id);
    let (early, late) = (m.store_timestamp - due.0, m.store_timestamp - due.1);
    eprintln!("{id}: stored {early} ms after the earliest due time");
    assert!(early >= 0, "{id} {} ms early", -early);
    assert!(late < P + SLACK, "{id} {late} ms late");
    m
}

#[test]
fn minutes_hours_and_days_across_clean_restarts() {
    let mut r = Rmqd::start(&[]);
    create_topic(&r.broker(), "Long", 4);
    let mut c = Conn::connect(&r.broker());
    let soon = send_timed(&mut c, "Long", 3, "soon", 1);
    let min2 = send_timed(&mut c, "Long", 0, "2min", 120);
    let hour = send_timed(&mut c, "Long", 1, "1h", 3600);
    let days = send_timed(&mut c, "Long", 2, "2.5d", 216_000);
    drop(c);
    // The wheel runs: the 1 s one comes on time, the others wait.
    delivered_on_time(&r, "Long", 3, "soon", (soon.0 + 1000, soon.1 + 1000));
    assert_eq!(
        (
            count(&r, "Long", 0),
            count(&r, "Long", 1),
            count(&r, "Long", 2)
        ),
        (0, 0, 0)
    );

    // Each restart sets the timer clock so that the next delay has 3 s of real time left:
    // the message must come then, within the precision, not at the restart.
    let lead = 3000;
    let restart_due_in = |r: &mut Rmqd, sent: (i64, i64), delay_ms: i64| -> (i64, i64) {
        r.stop_clean();
        let offset = sent.0 + delay_ms - (now_ms() + lead);
        set_clock_offset(r, offset);
        r.restart();
        (sent.0 + delay_ms - offset, sent.1 + delay_ms - offset)
    };
    let due = restart_due_in(&mut r, min2, 120_000);
    delivered_on_time(&r, "Long", 0, "2min", due);
    let due = restart_due_in(&mut r, hour, 3_600_000);
    delivered_on_time(&r, "Long", 1, "1h", due);
    assert_eq!(count(&r, "Long", 0), 1, "the 2 min one once");

    // 2.5 days is past the 2-day roll window: parked 1 day ahead (half the window, as
    // the rest is short), then put back into the timer topic with TIMER_ROLL_TIMES=1.
    assert_eq!(count(&r, "rmq_sys_wheel_timer", 0), 4);
    r.stop_clean();
    set_clock_offset(&r, 86_400_000 + 60_000);
    r.restart();
    expect_count(&r, "rmq_sys_wheel_timer", 0, 5, Duration::from_millis(1500));
    assert_eq!(count(&r, "Long", 2), 0);
    let mut c = Conn::connect(&r.broker());
    let rolled = &wire::pull_all(&mut c, "TimerCheck", "rmq_sys_wheel_timer", 0, 4)[0];
    assert_eq!(rolled.body_str(), "2.5d");
    assert_eq!(rolled.property("TIMER_ROLL_TIMES"), Some("1"));
    assert_eq!(rolled.property("REAL_TOPIC"), Some("Long"));

    let due = restart_due_in(&mut r, days, 216_000_000);
    let m = delivered_on_time(&r, "Long", 2, "2.5d", due);
    assert_eq!(m.property("TIMER_ROLL_TIMES"), Some("1"));
    // Exactly once each over four clean restarts.
    std::thread::sleep(Duration::from_millis(1000));
    assert_eq!(
        (
            count(&r, "Long", 0),
            count(&r, "Long", 1),
            count(&r, "Long", 2),
            count(&r, "Long", 3)
        ),
        (1, 1, 1, 1)
    );
}

/// Bodies pulled from every queue of `topic`, with how often each came.
fn delivered(c: &mut Conn, topic: &str, queues: i32) -> (HashMap<String, usize>, Vec<Pulled>) {
    let mut all = Vec::new();
    for q in 0..queues {
        all.extend(wire::pull_all(c, "TimerCheck", topic, q, 0));
    }
    let mut n = HashMap::new();
    for m in &all {
        *n.entry(m.body_str()).or_insert(0) += 1;
    }
    (n, all)
}

#[test]
fn a_kill_loses_no_timer_and_few_come_twice() {
    let mut r = Rmqd::start(&[]);
    create_topic(&r.broker(), "Crash", 4);
    let mut c = Conn::connect(&r.broker());
    let start = now_ms();
    // 400 timers due over 1–7 s from now.
    let mut due = HashMap::new();
    for i in 0..400i64 {
        let id = format!("S{i:03}");
        let t = start + 1000 + (i * 37) % 6000;
        send(
            &mut c,
            "Crash",
            (i % 4) as i32,
            &id,
            ("TIMER_DELIVER_MS", t.to_string()),
        );
        due.insert(id, t);
    }
    // Kill 3.5 s in (deliveries under way), right after a burst of sends whose parking
    // has not reached a checkpoint yet.
    let kill_at = start + 3500;
    std::thread::sleep(Duration::from_millis((kill_at - now_ms()).max(0) as u64));
    for i in 0..100i64 {
        let id = format!("B{i:03}");
        let t = now_ms() + 2000;
        send(
            &mut c,
            "Crash",
            (i % 4) as i32,
            &id,
            ("TIMER_DELIVER_MS", t.to_string()),
        );
        due.insert(id, t);
    }
    drop(c);
    let killed = now_ms();
    r.kill9();
    r.restart();
    let up = now_ms();
    let last_due = due.values().copied().max().unwrap_or(0);
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut c = Conn::connect(&r.broker());
    let (seen, all) = loop {
        let (seen, all) = delivered(&mut c, "Crash", 4);
        if seen.len() == due.len() && now_ms() > last_due + P + SLACK {
            break (seen, all);
        }
        assert!(
            Instant::now() < deadline,
            "{} of {} timers delivered; log:\n{}",
            seen.len(),
            due.len(),
            r.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    };
    let missing: Vec<_> = due.keys().filter(|k| !seen.contains_key(*k)).collect();
    assert!(missing.is_empty(), "lost: {missing:?}");
    let twice: Vec<_> = seen
        .iter()
        .filter(|(_, n)| **n > 1)
        .map(|(k, _)| k.clone())
        .collect();
    let copies = all.len() - due.len();
    // A copy can come twice only if its slot was delivered after the last checkpoint
    // before the kill (timerFlushIntervalMs, 1 s) and not recorded.
    let window = |id: &String| due[id] >= killed - 2 * P - SLACK && due[id] <= killed + P;
    let in_window = due.keys().filter(|k| window(k)).count();
    eprintln!(
        "kill -9 at {} ms: {} timers, {} delivered twice ({} extra copies), {} were due around the kill; restart took {} ms",
        killed - start,
        due.len(),
        twice.len(),
        copies,
        in_window,
        up - killed
    );
    assert!(
        twice.iter().all(window),
        "a copy delivered twice outside the window: {twice:?}"
    );
    assert!(twice.len() <= in_window);
    // Those due once the broker was back came on time.
    for m in &all {
        let t = due[&m.body_str()];
        if t > up + P {
            assert!(m.store_timestamp >= t, "{} early", m.body_str());
            assert!(
                m.store_timestamp - t < P + SLACK,
                "{} {} ms late",
                m.body_str(),
                m.store_timestamp - t
            );
        }
    }
}

#[test]
fn a_clean_stop_in_flight_delivers_each_once() {
    let mut r = Rmqd::start(&[]);
    create_topic(&r.broker(), "Clean", 2);
    let mut c = Conn::connect(&r.broker());
    let start = now_ms();
    for i in 0..200i64 {
        let id = format!("C{i:03}");
        let t = start + 800 + (i * 29) % 4000;
        send(
            &mut c,
            "Clean",
            (i % 2) as i32,
            &id,
            ("TIMER_DELIVER_MS", t.to_string()),
        );
    }
    drop(c);
    std::thread::sleep(Duration::from_millis(
        (start + 2500 - now_ms()).max(0) as u64
    ));
    r.stop_clean();
    r.restart();
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut c = Conn::connect(&r.broker());
    loop {
        let (seen, all) = delivered(&mut c, "Clean", 2);
        if seen.len() == 200 {
            std::thread::sleep(Duration::from_millis(1500));
            let (seen, all) = delivered(&mut c, "Clean", 2);
            assert_eq!((seen.len(), all.len()), (200, 200), "exactly once");
            break;
        }
        assert!(all.len() <= 200, "a copy came twice after a clean stop");
        assert!(
            Instant::now() < deadline,
            "{} of 200; log:\n{}",
            seen.len(),
            r.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_torn_timer_log_tail_is_parked_again_from_the_queue() {
    let mut r = Rmqd::start(&[]);
    create_topic(&r.broker(), "Torn", 1);
    let mut c = Conn::connect(&r.broker());
    let due = now_ms() + 5000;
    for i in 0..50 {
        send(
            &mut c,
            "Torn",
            0,
            &format!("U{i:02}"),
            ("TIMER_DELIVER_MS", due.to_string()),
        );
    }
    drop(c);
    // Parked and checkpointed (every second), then killed; the timer log loses its last
    // ten units and the one before is torn, as a power cut can leave it.
    std::thread::sleep(Duration::from_millis(2500));
    r.kill9();
    let log = r.store_dir().join("timerlog").join(format!("{:020}", 0));
    let mut bytes = std::fs::read(&log).expect("timer log");
    let unit = |k: usize| k * 52;
    bytes[unit(39) + 20..unit(50)]
        .iter_mut()
        .for_each(|b| *b = 0);
    bytes[unit(39)..unit(39) + 4].copy_from_slice(&[0xde, 0xad, 0xbe, 0xef]);
    std::fs::write(&log, &bytes).expect("damage");
    r.restart();
    expect_count(&r, "Torn", 0, 50, Duration::from_millis(1500));
    let mut c = Conn::connect(&r.broker());
    let (seen, all) = delivered(&mut c, "Torn", 1);
    assert_eq!((seen.len(), all.len()), (50, 50), "each once");
    for m in &all {
        assert!(m.store_timestamp >= due && m.store_timestamp - due < P + SLACK);
    }
    assert!(
        r.log().contains("timer log: torn or damaged tail cut off"),
        "{}",
        r.log()
    );
}
