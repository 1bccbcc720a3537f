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
    let props = wire::half_properties(group, "TXMAX1", &[]);
    let f = wire::send(
        &mut p,
        group,
        topic,
        0,
        wire::PREPARED,
        &props,
        b"never-answered",
    );
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

/// Answers that arrive while the checker is still going through its run (the producer
/// answers each check at once) are honoured: every half is checked once and committed
/// once, never checked again after its answer.
#[test]
fn answers_arriving_during_a_check_run_end_the_checks() {
    let r = Rmqd::start(&["transactionCheckInterval=1000", "transactionTimeOut=1000"]);
    let (topic, group) = ("TxDuringRun", "TxDuringRunProducer");
    create_topic(&r.broker(), topic, 1);
    let mut p = Conn::connect(&r.broker());
    wire::heartbeat_producer(&mut p, "127.0.0.1@tx-during-run", group);
    let n = 30;
    for i in 0..n {
        let id = format!("TXRUN{i:03}");
        let props = wire::half_properties(group, &id, &[]);
        let f = wire::send(
            &mut p,
            group,
            topic,
            0,
            wire::PREPARED,
            &props,
            id.as_bytes(),
        );
        assert_eq!(f.code, 0, "{}", f.remark);
    }
    let mut checks: std::collections::BTreeMap<String, usize> = Default::default();
    let mut quiet_since = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(30);
    // Until every half was checked and nothing more came for 3 s.
    while checks.len() < n || quiet_since.elapsed() < Duration::from_secs(3) {
        assert!(Instant::now() < deadline, "checks {checks:?}\n{}", r.log());
        let Some(req) = p.next_request(Duration::from_millis(200)) else {
            continue;
        };
        if req.code != 39 {
            continue;
        }
        quiet_since = Instant::now();
        *checks.entry(req.ext("msgId")).or_default() += 1;
        wire::answer_check(&mut p, group, &req, wire::COMMIT);
    }
    let repeated: Vec<_> = checks.iter().filter(|(_, c)| **c > 1).collect();
    assert!(
        repeated.is_empty(),
        "checked again after an answer: {repeated:?}"
    );
    assert_eq!(
        max_offset(&r.broker(), topic, 0),
        n as i64,
        "committed once each"
    );
}
