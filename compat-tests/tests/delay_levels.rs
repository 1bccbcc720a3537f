//! Delay levels as the Java broker applies them to a send: a level above the highest
//! configured one is clamped to it (DELAY rewritten), the message is parked in
//! SCHEDULE_TOPIC_XXXX queue level-1 and delivered once, keeping DELAY, REAL_TOPIC and
//! REAL_QID (features.md §3).

use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{create_topic, max_offset, Rmqd};

#[test]
fn a_level_above_the_highest_is_clamped_and_delivered_once() {
    let r = Rmqd::start(&["messageDelayLevel=1s 2s"]);
    let topic = "DelayClamp";
    create_topic(&r.broker(), topic, 2);
    let mut c = Conn::connect(&r.broker());
    let props = wire::properties(&[("DELAY", "99"), ("UNIQ_KEY", "CLAMP1"), ("WAIT", "true")]);
    let f = wire::send(&mut c, "P", topic, 1, 0, &props, b"clamped");
    assert_eq!(f.code, 0, "{}", f.remark);
    // Parked in the highest level's queue, with the level rewritten.
    let parked = wire::pull_when_there(&mut c, "Peek", "SCHEDULE_TOPIC_XXXX", 1, 0);
    assert_eq!(parked[0].property("DELAY"), Some("2"));
    assert_eq!(parked[0].property("REAL_TOPIC"), Some(topic));
    assert_eq!(parked[0].property("REAL_QID"), Some("1"));
    let deadline = Instant::now() + Duration::from_secs(10);
    while max_offset(&r.broker(), topic, 1) == 0 {
        assert!(Instant::now() < deadline, "never delivered\n{}", r.log());
        std::thread::sleep(Duration::from_millis(50));
    }
    let got = wire::pull_when_there(&mut c, "DelayClampReader", topic, 1, 0);
    let m = &got[0];
    assert_eq!(m.body_str(), "clamped");
    let waited = m.store_timestamp - m.born_timestamp;
    assert!(
        waited >= 2_000,
        "delivered after {waited} ms (level 2 is 2 s)"
    );
    assert_eq!(m.property("DELAY"), Some("2"));
    assert_eq!(m.property("REAL_TOPIC"), Some(topic));
    assert_eq!(m.property("REAL_QID"), Some("1"));
    // The delivered copy is not scheduled again.
    std::thread::sleep(Duration::from_millis(2500));
    assert_eq!(max_offset(&r.broker(), topic, 1), 1);
    assert_eq!(max_offset(&r.broker(), "SCHEDULE_TOPIC_XXXX", 1), 1);
}
