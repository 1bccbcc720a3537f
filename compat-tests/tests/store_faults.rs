//! A real rmqd process whose store fails an msync (fault points armed through
//! `RMQD_FAILPOINTS`; the workspace build of the binary carries them): the send that
//! waited on that flush and every later one get SERVICE_NOT_AVAILABLE with a remark
//! naming the cause, GET_BROKER_RUNTIME_INFO reports the store POISONED, the log says
//! so, and what was acknowledged before stays readable.
//!
//! One test in this file: it sets the variable the spawned process inherits.

use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{create_topic, Rmqd};

const SERVICE_NOT_AVAILABLE: i64 = 14;

#[test]
fn a_failed_msync_refuses_sends_with_the_cause_and_keeps_serving_reads() {
    // Fails the second msync that has dirty pages (the first send's flush succeeds).
    std::env::set_var("RMQD_FAILPOINTS", "commitlog-flush=1*off->1*return(EIO)");
    let rmqd = Rmqd::start(&["flushDiskType=SYNC_FLUSH"]);
    std::env::remove_var("RMQD_FAILPOINTS");
    create_topic(&rmqd.broker(), "FaultTopic", 1);
    let mut c = Conn::connect(&rmqd.broker());
    let props = wire::properties(&[("UNIQ_KEY", "A0000000000000000000000000000001")]);
    let ok = wire::send(&mut c, "G", "FaultTopic", 0, 0, &props, b"acknowledged");
    assert_eq!(ok.code, 0, "first send: {ok:?}\n{}", rmqd.log());

    let failed = wire::send(&mut c, "G", "FaultTopic", 0, 0, &props, b"not flushed");
    assert_eq!(failed.code, SERVICE_NOT_AVAILABLE, "{failed:?}");
    assert!(
        failed.remark.contains("service not available now"),
        "{}",
        failed.remark
    );
    assert!(failed.remark.contains("POISONED"), "{}", failed.remark);
    assert!(
        failed.remark.contains("commit log flush failed"),
        "{}",
        failed.remark
    );
    let later = wire::send(&mut c, "G", "FaultTopic", 0, 0, &props, b"later");
    assert_eq!(later.code, SERVICE_NOT_AVAILABLE, "poisoned until restart");

    let info = c.request(28, &[], b"");
    assert_eq!(info.code, 0);
    let table: serde_json::Value = serde_json::from_slice(&info.body).expect("KVTable");
    assert_eq!(table["table"]["storeHealth"], "POISONED", "{table}");
    assert!(rmqd.log().contains("store POISONED"), "{}", rmqd.log());

    let pulled = wire::pull_when_there(&mut c, "G", "FaultTopic", 0, 0);
    assert_eq!(
        pulled.first().map(|p| p.body_str()).as_deref(),
        Some("acknowledged")
    );
}
