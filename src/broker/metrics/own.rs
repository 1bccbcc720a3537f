//! rmqd's own broker-wide families (`rmqd_*`): connections, flow control, store counters
//! and health, task restarts, and the CommitLog flush latency histogram.

use std::sync::atomic::Ordering;

use super::families::{Family, Histogram};
use crate::broker::context::BrokerContext;

/// rmqd's own broker-wide figures.
pub fn families(ctx: &BrokerContext) -> Vec<Family> {
    let s = &ctx.stats;
    let mut connections = Family::gauge(
        "rmqd_connections",
        "Client connections open on the broker ports",
    );
    connections.add(vec![], s.connections.load(Ordering::Relaxed) as f64);
    let mut busy = Family::counter(
        "rmqd_system_busy",
        "Sends answered SYSTEM_BUSY (flow control)",
    );
    busy.add(vec![], s.system_busy.load(Ordering::Relaxed) as f64);
    let c = ctx.store.stats().counters();
    let mut put = Family::counter(
        "rmqd_store_put_messages",
        "Messages appended to the CommitLog",
    );
    put.add(vec![], c.put_times_total as f64);
    let mut put_failed = Family::counter(
        "rmqd_store_put_failures",
        "Appends the store refused or failed",
    );
    put_failed.add(vec![], c.put_failed_times as f64);
    let mut get = Family::counter("rmqd_store_get_messages", "Messages read for pulls");
    get.add(vec![], c.get_transferred as f64);
    let health = ctx.store.health();
    let mut state = Family::gauge(
        "rmqd_store_health",
        "1 for the store's current health state",
    );
    for st in ["RUNNING", "DISK_FULL", "POISONED"] {
        state.add(
            vec![("state", st.to_owned())],
            f64::from(u8::from(health.state.as_str() == st)),
        );
    }
    let mut restarts = Family::counter(
        "rmqd_broker_task_restarts",
        "Broker timer tasks restarted after a panic",
    );
    restarts.add(vec![], ctx.task_restarts.get() as f64);
    vec![connections, busy, put, put_failed, get, state, restarts]
}

pub fn flush_histogram(ctx: &BrokerContext) -> Histogram {
    let f = ctx.store.stats().flush_latency();
    let mut prev = 0;
    let buckets = rmqd_store::message_store::FLUSH_BUCKETS
        .iter()
        .zip(&f.buckets)
        .map(|(&b, &cum)| {
            let n = cum - prev;
            prev = cum;
            (b, n)
        })
        .collect();
    Histogram {
        name: "rmqd_commitlog_flush_latency_seconds",
        help: "Time of each CommitLog flush that wrote data",
        sum: f.total_us as f64 / 1e6,
        count: f.count,
        buckets,
    }
}
