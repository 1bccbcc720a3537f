//! Broker statistics as the Java broker keeps them: per topic, queue and group
//! ([`manager`]), the store's rates ([`store_rates`]), and the day's totals (the
//! `msgPutTotalTodayMorning`/`…YesterdayMorning` snapshots taken at midnight). A
//! supervised task samples them; the hot path only adds to atomics.

pub mod disk;
pub mod item;
pub mod manager;
pub mod store_rates;

use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rmqd_remoting::CancellationToken;

use super::context::{now_ms, BrokerContext};
use item::Window;
use manager::BrokerStatsManager;
use store_rates::StoreRates;

const DAY_MS: i64 = 86_400_000;

/// Put and get totals at the last two midnights (Java's `BrokerStats`).
#[derive(Default)]
pub struct DailyTotals {
    put_yesterday_morning: AtomicU64,
    put_today_morning: AtomicU64,
    get_yesterday_morning: AtomicU64,
    get_today_morning: AtomicU64,
    /// Midnight (ms) of the day the last record was taken in.
    recorded_day: AtomicI64,
}

impl DailyTotals {
    /// `BrokerStats.record`: today's morning becomes yesterday's, `put`/`get` today's.
    pub fn record(&self, put: u64, get: u64) {
        let r = Ordering::Relaxed;
        self.put_yesterday_morning
            .store(self.put_today_morning.load(r), r);
        self.get_yesterday_morning
            .store(self.get_today_morning.load(r), r);
        self.put_today_morning.store(put, r);
        self.get_today_morning.store(get, r);
        tracing::info!(
            put = put.saturating_sub(self.put_yesterday_morning.load(r)),
            get = get.saturating_sub(self.get_yesterday_morning.load(r)),
            "yesterday's message totals"
        );
    }

    /// Records once the clock passes a midnight (UTC, like `deleteWhen`) the last call did
    /// not see. Returns whether it recorded.
    pub fn record_if_new_day(&self, now_ms: i64, put: u64, get: u64) -> bool {
        let day = now_ms - now_ms.rem_euclid(DAY_MS);
        let last = self.recorded_day.swap(day, Ordering::Relaxed);
        if last != 0 && day > last {
            self.record(put, get);
            return true;
        }
        false
    }

    /// (putYesterdayMorning, putTodayMorning, getYesterdayMorning, getTodayMorning).
    pub fn get(&self) -> (u64, u64, u64, u64) {
        let r = Ordering::Relaxed;
        (
            self.put_yesterday_morning.load(r),
            self.put_today_morning.load(r),
            self.get_yesterday_morning.load(r),
            self.get_today_morning.load(r),
        )
    }
}

pub struct BrokerStats {
    pub manager: BrokerStatsManager,
    pub store_rates: StoreRates,
    pub daily: DailyTotals,
    /// When the broker started (runtime info `bootTimestamp`).
    pub boot_ms: i64,
    /// Sends answered SYSTEM_BUSY (flow control).
    pub system_busy: AtomicU64,
    /// Client connections open on the broker's ports.
    pub connections: AtomicI64,
}

impl BrokerStats {
    pub fn new(cluster: &str) -> Self {
        BrokerStats {
            manager: BrokerStatsManager::new(cluster),
            store_rates: StoreRates::default(),
            daily: DailyTotals::default(),
            boot_ms: now_ms(),
            system_busy: AtomicU64::new(0),
            connections: AtomicI64::new(0),
        }
    }
}

/// The sampler: store rates every second, the stats windows every 10 s / 10 min / 1 h
/// (first samples at once, as Java's schedules start), the put-latency minute every 60 s,
/// and the daily totals at midnight.
pub async fn run(ctx: Arc<BrokerContext>, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let stats = &ctx.stats;
    let mut n: u64 = 0;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let now = now_ms();
        let counters = ctx.store.stats().counters();
        stats.store_rates.sample(now, counters);
        if n.is_multiple_of(10) {
            stats.manager.sample(Window::Minute, now);
        }
        if n.is_multiple_of(600) {
            stats.manager.sample(Window::Hour, now);
        }
        if n.is_multiple_of(3600) {
            stats.manager.sample(Window::Day, now);
        }
        if n > 0 && n.is_multiple_of(60) {
            ctx.store.stats().roll_minute();
        }
        stats
            .daily
            .record_if_new_day(now, counters.put_times_total, counters.get_transferred);
        n += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn midnight_moves_the_morning_totals() {
        let d = DailyTotals::default();
        let day = 20_000 * DAY_MS;
        assert!(!d.record_if_new_day(day + 1000, 5, 1));
        assert!(!d.record_if_new_day(day + 2000, 6, 2));
        assert!(d.record_if_new_day(day + DAY_MS + 5, 10, 4));
        assert_eq!(d.get(), (0, 10, 0, 4));
        assert!(d.record_if_new_day(day + 2 * DAY_MS, 30, 9));
        assert_eq!(d.get(), (10, 30, 4, 9));
        // A clock stepping back does not record again.
        assert!(!d.record_if_new_day(day + DAY_MS, 40, 9));
    }
}
