//! The transaction checker's limits: a half message nobody answers for is checked
//! `transactionCheckMax` times and then discarded (never made visible), as the Java broker's
//! check service does.

use std::time::{Duration, Instant};

use rmqd_compat_tests::wire::{self, Conn};
use rmqd_compat_tests::{create_topic, max_offset, Rmqd};

#[test]
fn an_unanswered_half_is_checked_transaction_check_max_times_then_discarded() {
    let r = Rmqd::start(&[
        "transactionCheckInterval=500",
        "transactionTimeOut=500",
        "transactionCheckMax=3",
    ]);
    let (topic, group) = ("TxCheckMax", "TxCheckMaxProducer");
    create_topic(&r.broker(), topic, 1);
    let mut p = Conn::connect(&r.broker());
    wire::heartbeat_producer(&mut p, "127.0.0.1@tx-check-max", group);
    let props = wire::properties(&[
        ("TRAN_MSG", "true"),
        ("PGROUP", group),
        ("UNIQ_KEY", "TXMAX1"),
        ("WAIT", "true"),
    ]);
    let f = wire::send(&mut p, group, topic, 0, 0x4, &props, b"never-answered");
    assert_eq!(f.code, 0, "{}", f.remark);
    // Three checks come about half a second apart; after the third nothing more.
    let until = Instant::now() + Duration::from_secs(6);
    let mut checks = Vec::new();
    while let Some(req) = p.next_request(until.saturating_duration_since(Instant::now())) {
        if req.code == 39 {
            checks.push((req.ext("msgId"), req.ext_i64("tranStateTableOffset")));
        }
    }
    let ids: Vec<&str> = checks.iter().map(|(id, _)| id.as_str()).collect();
    assert_eq!(ids, ["TXMAX1"; 3], "checks: {checks:?}\n{}", r.log());
    // Each check names a renewed copy further down the half queue.
    assert!(
        checks.windows(2).all(|w| w[0].1 < w[1].1),
        "offsets {checks:?}"
    );
    assert_eq!(
        max_offset(&r.broker(), topic, 0),
        0,
        "discarded half became visible"
    );
}
