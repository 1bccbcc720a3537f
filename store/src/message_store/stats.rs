//! The store's own counters (Java's `StoreStatsService`): appends and their latency,
//! reads found and missed. Plain relaxed atomics bumped once per put or get, never a lock;
//! the broker samples them for rates and percentiles.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

/// Java's put latency ranges (`PUT_MESSAGE_ENTIRE_TIME_MAX_DESC`), in ms: upper bounds,
/// exclusive, of the 13 distribution slots (the last is open).
const DISTRIBUTION_BOUNDS: [u64; 12] = [
    1, 10, 50, 100, 200, 500, 1000, 2000, 3000, 4000, 5000, 10000,
];
pub const DISTRIBUTION_NAMES: [&str; 13] = [
    "[<=0ms]",
    "[0~10ms]",
    "[10~50ms]",
    "[50~100ms]",
    "[100~200ms]",
    "[200~500ms]",
    "[500ms~1s]",
    "[1~2s]",
    "[2~3s]",
    "[3~4s]",
    "[4~5s]",
    "[5~10s]",
    "[10s~]",
];

/// Java's percentile buckets (`PUT_MESSAGE_ENTIRE_TIME_BUCKETS`): (step, count) runs of
/// upper bounds, then one open bucket.
const BUCKET_RUNS: [(u64, usize); 7] = [
    (1, 20),
    (2, 15),
    (5, 10),
    (10, 10),
    (50, 6),
    (100, 5),
    (1000, 9),
];
const BUCKETS: usize = 20 + 15 + 10 + 10 + 6 + 5 + 9 + 1;

fn bucket_bounds() -> [u64; BUCKETS] {
    let mut b = [u64::MAX; BUCKETS];
    let mut at = 0u64;
    let mut i = 0;
    for (step, n) in BUCKET_RUNS {
        for _ in 0..n {
            at += step;
            if let Some(slot) = b.get_mut(i) {
                *slot = at;
            }
            i += 1;
        }
    }
    b
}

/// One minute of put latencies: the distribution slots and the percentile buckets.
struct Window {
    distribution: [AtomicU64; 13],
    buckets: [AtomicU64; BUCKETS],
}

impl Window {
    fn new() -> Self {
        Window {
            distribution: std::array::from_fn(|_| AtomicU64::new(0)),
            buckets: std::array::from_fn(|_| AtomicU64::new(0)),
        }
    }
}

/// The last complete minute, as [`StoreStats::roll_minute`] left it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LatencyMinute {
    pub distribution: Vec<u64>,
    pub buckets: Vec<u64>,
}

/// Upper bounds (seconds) of the CommitLog flush latency histogram.
pub const FLUSH_BUCKETS: [f64; 11] = [
    0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
];

/// CommitLog flushes that wrote something: how many, their total and longest time, and
/// how many fell at or under each of [`FLUSH_BUCKETS`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FlushLatency {
    pub count: u64,
    pub total_us: u64,
    pub max_us: u64,
    /// Cumulative counts, one per bucket bound.
    pub buckets: Vec<u64>,
}

pub struct StoreStats {
    bounds: [u64; BUCKETS],
    flush_count: AtomicU64,
    flush_total_us: AtomicU64,
    flush_max_us: AtomicU64,
    flush_buckets: [AtomicU64; 11],
    put_times_total: AtomicU64,
    put_size_total: AtomicU64,
    put_failed_times: AtomicU64,
    put_entire_time_max: AtomicU64,
    get_found: AtomicU64,
    get_miss: AtomicU64,
    get_transferred: AtomicU64,
    get_entire_time_max: AtomicU64,
    current: Window,
    /// `None` until the first minute has passed (Java prints "null" until then).
    last_minute: Mutex<Option<LatencyMinute>>,
}

impl Default for StoreStats {
    fn default() -> Self {
        StoreStats {
            bounds: bucket_bounds(),
            flush_count: AtomicU64::new(0),
            flush_total_us: AtomicU64::new(0),
            flush_max_us: AtomicU64::new(0),
            flush_buckets: std::array::from_fn(|_| AtomicU64::new(0)),
            put_times_total: AtomicU64::new(0),
            put_size_total: AtomicU64::new(0),
            put_failed_times: AtomicU64::new(0),
            put_entire_time_max: AtomicU64::new(0),
            get_found: AtomicU64::new(0),
            get_miss: AtomicU64::new(0),
            get_transferred: AtomicU64::new(0),
            get_entire_time_max: AtomicU64::new(0),
            current: Window::new(),
            last_minute: Mutex::new(None),
        }
    }
}

/// A consistent-enough copy of the counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreCounters {
    pub put_times_total: u64,
    pub put_size_total: u64,
    pub put_failed_times: u64,
    pub put_entire_time_max: u64,
    pub get_found: u64,
    pub get_miss: u64,
    pub get_transferred: u64,
    pub get_entire_time_max: u64,
}

impl StoreStats {
    /// One finished put: `messages` stored (0 if it failed), `bytes` written, `ms` from
    /// the call to the result.
    pub fn record_put(&self, messages: u64, bytes: u64, ok: bool, ms: u64) {
        if ok {
            self.put_times_total.fetch_add(messages, Ordering::Relaxed);
            self.put_size_total.fetch_add(bytes, Ordering::Relaxed);
        } else {
            self.put_failed_times.fetch_add(1, Ordering::Relaxed);
        }
        self.put_entire_time_max.fetch_max(ms, Ordering::Relaxed);
        let slot = DISTRIBUTION_BOUNDS.partition_point(|&b| b <= ms);
        if let Some(c) = self.current.distribution.get(slot) {
            c.fetch_add(1, Ordering::Relaxed);
        }
        // Java's `ceilingEntry`: the first bucket whose bound is at least `ms`.
        let b = self.bounds.partition_point(|&b| b < ms);
        if let Some(c) = self.current.buckets.get(b) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// One pull's lookup: whether it found messages, how many, and how long it took.
    pub fn record_get(&self, found: bool, messages: u64, ms: u64) {
        if found {
            self.get_found.fetch_add(1, Ordering::Relaxed);
        } else {
            self.get_miss.fetch_add(1, Ordering::Relaxed);
        }
        self.get_transferred.fetch_add(messages, Ordering::Relaxed);
        self.get_entire_time_max.fetch_max(ms, Ordering::Relaxed);
    }

    /// One CommitLog flush that wrote dirty pages, and how long it took.
    pub fn record_flush(&self, took: std::time::Duration) {
        let us = took.as_micros() as u64;
        self.flush_count.fetch_add(1, Ordering::Relaxed);
        self.flush_total_us.fetch_add(us, Ordering::Relaxed);
        self.flush_max_us.fetch_max(us, Ordering::Relaxed);
        let secs = took.as_secs_f64();
        let i = FLUSH_BUCKETS.partition_point(|&b| b < secs);
        if let Some(c) = self.flush_buckets.get(i) {
            c.fetch_add(1, Ordering::Relaxed);
        }
    }

    pub fn flush_latency(&self) -> FlushLatency {
        let mut running = 0;
        FlushLatency {
            count: self.flush_count.load(Ordering::Relaxed),
            total_us: self.flush_total_us.load(Ordering::Relaxed),
            max_us: self.flush_max_us.load(Ordering::Relaxed),
            buckets: self
                .flush_buckets
                .iter()
                .map(|c| {
                    running += c.load(Ordering::Relaxed);
                    running
                })
                .collect(),
        }
    }

    pub fn counters(&self) -> StoreCounters {
        let l = |a: &AtomicU64| a.load(Ordering::Relaxed);
        StoreCounters {
            put_times_total: l(&self.put_times_total),
            put_size_total: l(&self.put_size_total),
            put_failed_times: l(&self.put_failed_times),
            put_entire_time_max: l(&self.put_entire_time_max),
            get_found: l(&self.get_found),
            get_miss: l(&self.get_miss),
            get_transferred: l(&self.get_transferred),
            get_entire_time_max: l(&self.get_entire_time_max),
        }
    }

    /// Closes the current minute of latencies (Java does so every 60 s): it becomes the
    /// one [`Self::last_minute`] reports, and counting starts afresh.
    pub fn roll_minute(&self) {
        let take = |a: &[AtomicU64]| -> Vec<u64> {
            a.iter().map(|c| c.swap(0, Ordering::Relaxed)).collect()
        };
        let m = LatencyMinute {
            distribution: take(&self.current.distribution),
            buckets: take(&self.current.buckets),
        };
        *self.last_minute.lock().unwrap_or_else(|e| e.into_inner()) = Some(m);
    }

    pub fn last_minute(&self) -> Option<LatencyMinute> {
        self.last_minute
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// `findPutMessageEntireTimePX` over the last complete minute: the latency (ms) below
    /// which a share `px` of the puts fell, interpolated within its bucket.
    pub fn put_latency_percentile(&self, px: f64) -> f64 {
        let Some(m) = self.last_minute() else {
            return 0.0;
        };
        percentile(&self.bounds, &m.buckets, px)
    }
}

fn percentile(bounds: &[u64], counts: &[u64], px: f64) -> f64 {
    let total: u64 = counts.iter().sum();
    let px_index = (total as f64 * px) as u64;
    let mut passed = 0u64;
    for (i, (&bound, &count)) in bounds.iter().zip(counts).enumerate() {
        if px_index <= passed + count {
            let relative = (px_index - passed) as f64;
            let share = if count == 0 {
                0.0
            } else {
                relative / count as f64
            };
            return match i.checked_sub(1).and_then(|p| bounds.get(p)) {
                None => bound as f64 * share,
                Some(&low) => low as f64 + (bound as f64 - low as f64) * share,
            };
        }
        passed += count;
    }
    0.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_match_java() {
        let b = bucket_bounds();
        assert_eq!(&b[..3], &[1, 2, 3]);
        assert_eq!(b[19], 20);
        assert_eq!(b[20], 22);
        assert_eq!(b[34], 50);
        assert_eq!(b[35], 55);
        assert_eq!(b[74], 10_000);
        assert_eq!(b[75], u64::MAX);
    }

    #[test]
    fn distribution_and_percentiles() {
        let s = StoreStats::default();
        for ms in [0, 0, 3, 12, 70, 20_000] {
            s.record_put(1, 100, true, ms);
        }
        s.record_put(0, 0, false, 1);
        s.roll_minute();
        let m = s.last_minute().unwrap();
        assert_eq!(&m.distribution[..5], &[2, 2, 1, 1, 0]);
        assert_eq!(m.distribution[12], 1);
        let c = s.counters();
        assert_eq!(c.put_times_total, 6);
        assert_eq!(c.put_failed_times, 1);
        assert_eq!(c.put_entire_time_max, 20_000);
        // 7 puts, index 6 of them: the one of 70 ms, bucket (65, 70].
        assert_eq!(s.put_latency_percentile(0.99), 70.0);
        assert!(s.put_latency_percentile(0.3) <= 1.0);
        s.record_flush(std::time::Duration::from_micros(1500));
        s.record_flush(std::time::Duration::from_secs(3));
        let f = s.flush_latency();
        assert_eq!((f.count, f.max_us), (2, 3_000_000));
        assert_eq!(f.buckets[0], 0);
        assert_eq!(f.buckets[1], 1);
        assert_eq!(f.buckets[10], 1);
        // A fresh minute has nothing yet.
        s.roll_minute();
        assert_eq!(s.put_latency_percentile(0.99), 0.0);
    }
}
