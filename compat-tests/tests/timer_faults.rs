//! Failure paths of the timer service, through fault points the workspace build of rmqd
//! carries (armed with `RMQD_FAILPOINTS`, which the spawned process inherits; one test in
//! this file): the timer task panics once at start (the supervisor restarts it, counted
//! in GET_BROKER_RUNTIME_INFO), and the store refuses the first deliveries (retried, not
//! dropped). Every timer still comes, once.

use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, now_ms, Conn};
use rmqd_compat_tests::{create_topic, max_offset, Rmqd};

#[test]
fn a_dead_timer_task_and_refused_deliveries_lose_nothing() {
    std::env::set_var(
        "RMQD_FAILPOINTS",
        "timer-loop=1*panic;timer-deliver=5*return",
    );
    let r = Rmqd::start(&[]);
    std::env::remove_var("RMQD_FAILPOINTS");
    create_topic(&r.broker(), "Faulty", 1);
    let mut c = Conn::connect(&r.broker());
    let due = now_ms() + 1500;
    for i in 0..20 {
        let id = format!("F{i:02}");
        let props = wire::properties(&[("UNIQ_KEY", &id), ("TIMER_DELIVER_MS", &due.to_string())]);
        let f = wire::send(&mut c, "P", "Faulty", 0, 0, &props, id.as_bytes());
        assert_eq!(f.code, 0, "{}", f.remark);
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while max_offset(&r.broker(), "Faulty", 0) < 20 {
        assert!(
            Instant::now() < deadline,
            "not delivered; log:\n{}",
            r.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    std::thread::sleep(Duration::from_millis(1000));
    let all = wire::pull_all(&mut c, "G", "Faulty", 0, 0);
    let mut bodies: Vec<String> = all.iter().map(|m| m.body_str()).collect();
    bodies.sort();
    let want: Vec<String> = (0..20).map(|i| format!("F{i:02}")).collect();
    assert_eq!(bodies, want, "each once");
    // The refused puts were tried again at least half a second later.
    assert!(all.iter().all(|m| m.store_timestamp >= due));
    let log = r.log();
    assert!(
        log.contains("timer delivery refused by the store; retrying"),
        "{log}"
    );
    assert!(log.contains("timer delivery resumed"), "{log}");
    assert!(
        log.lines()
            .any(|l| l.contains("broker task died; restarting it") && l.contains("timer")),
        "{log}"
    );
    let info = Conn::connect(&r.broker()).request(28, &[], b"");
    let table: serde_json::Value = serde_json::from_slice(&info.body).expect("KVTable");
    assert_eq!(table["table"]["brokerTaskRestarts"], "1", "{table}");
}
