//! One statistic (Java's `StatsItem`): a running value and call count, bumped with relaxed
//! atomics on the hot path, and the samples a background task takes of them every 10 s,
//! 10 min and 1 h, from which the per-minute, per-hour and per-day windows are computed.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use rmqd_remoting::body::stats::BrokerStatsItem;

/// A sample: when, how many calls, what total value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Snap {
    at_ms: i64,
    times: u64,
    value: u64,
}

/// Sampling cadences and how many samples each window keeps (Java: 7 samples 10 s apart
/// span the minute, 7 taken 10 min apart the hour, 25 taken hourly the day).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Window {
    Minute,
    Hour,
    Day,
}

impl Window {
    fn period_ms(self) -> i64 {
        match self {
            Window::Minute => 10_000,
            Window::Hour => 600_000,
            Window::Day => 3_600_000,
        }
    }

    fn keep(self) -> usize {
        match self {
            Window::Day => 25,
            _ => 7,
        }
    }
}

#[derive(Default)]
struct Samples {
    minute: VecDeque<Snap>,
    hour: VecDeque<Snap>,
    day: VecDeque<Snap>,
}

impl Samples {
    fn list(&mut self, w: Window) -> &mut VecDeque<Snap> {
        match w {
            Window::Minute => &mut self.minute,
            Window::Hour => &mut self.hour,
            Window::Day => &mut self.day,
        }
    }
}

/// Sum, rate and mean of one window (Java's `StatsSnapshot`).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Snapshot {
    pub sum: u64,
    pub tps: f64,
    pub avgpt: f64,
    pub times: u64,
}

impl From<Snapshot> for BrokerStatsItem {
    fn from(s: Snapshot) -> Self {
        BrokerStatsItem {
            avgpt: s.avgpt,
            sum: s.sum as i64,
            tps: s.tps,
        }
    }
}

#[derive(Default)]
pub struct StatsItem {
    value: AtomicU64,
    times: AtomicU64,
    samples: Mutex<Samples>,
}

impl StatsItem {
    /// Adds `value` over `times` calls (a message count, a byte count).
    #[inline]
    pub fn add(&self, value: u64, times: u64) {
        self.value.fetch_add(value, Ordering::Relaxed);
        self.times.fetch_add(times, Ordering::Relaxed);
    }

    pub fn value(&self) -> u64 {
        self.value.load(Ordering::Relaxed)
    }

    pub fn times(&self) -> u64 {
        self.times.load(Ordering::Relaxed)
    }

    /// Records a sample for `w`. A window's first sample is preceded by a zero one a
    /// period earlier, as Java's, so a new item shows a rate after its first sample.
    pub fn sample(&self, w: Window, now_ms: i64) {
        let snap = Snap {
            at_ms: now_ms,
            times: self.times(),
            value: self.value(),
        };
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let list = s.list(w);
        if list.is_empty() {
            list.push_back(Snap {
                at_ms: now_ms - w.period_ms(),
                times: 0,
                value: 0,
            });
        }
        list.push_back(snap);
        while list.len() > w.keep() {
            list.pop_front();
        }
    }

    /// `computeStatsData`: the change between the window's first and last samples.
    pub fn snapshot(&self, w: Window) -> Snapshot {
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        let list = s.list(w);
        let (Some(first), Some(last)) = (list.front(), list.back()) else {
            return Snapshot::default();
        };
        let sum = last.value.saturating_sub(first.value);
        let elapsed = last.at_ms - first.at_ms;
        // Java divides by the elapsed time even when it is 0 (NaN/Infinity); a window of
        // one sample has no rate.
        let tps = if elapsed > 0 {
            sum as f64 * 1000.0 / elapsed as f64
        } else {
            0.0
        };
        let times = last.times.saturating_sub(first.times);
        let avgpt = if times > 0 {
            sum as f64 / times as f64
        } else {
            0.0
        };
        Snapshot {
            sum,
            tps,
            avgpt,
            times,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_as_java_computes_them() {
        let item = StatsItem::default();
        item.add(3, 1);
        item.sample(Window::Minute, 100_000);
        // Zero sample 10 s before, then 3 messages: 0.3 per second.
        let s = item.snapshot(Window::Minute);
        assert_eq!(s.sum, 3);
        assert!((s.tps - 0.3).abs() < 1e-9);
        assert_eq!(s.avgpt, 3.0);
        for i in 1..=10 {
            item.add(10, 2);
            item.sample(Window::Minute, 100_000 + i * 10_000);
        }
        // Seven samples kept: the last six periods, 60 s, 60 messages.
        let s = item.snapshot(Window::Minute);
        assert_eq!(s.sum, 60);
        assert!((s.tps - 1.0).abs() < 1e-9);
        assert_eq!(s.avgpt, 5.0);
        assert_eq!(item.snapshot(Window::Hour), Snapshot::default());
    }
}
