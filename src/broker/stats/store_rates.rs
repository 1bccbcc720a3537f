//! Rates of the store's counters (Java's `StoreStatsService` sampling): one sample a
//! second, the last 601 kept, from which the 10 s, 1 min and 10 min rates of runtime info
//! (`putTps`, `getFoundTps`, …) are computed, in Java's text form.

use std::collections::VecDeque;
use std::sync::Mutex;

use rmqd_store::StoreCounters;

/// `MAX_RECORDS_OF_SAMPLING + 1`.
const KEEP: usize = 601;

#[derive(Default)]
pub struct StoreRates {
    samples: Mutex<VecDeque<(i64, StoreCounters)>>,
}

/// Which counter a rate is of.
#[derive(Debug, Clone, Copy)]
pub enum Counter {
    Put,
    GetFound,
    GetMiss,
    GetTransferred,
}

impl Counter {
    fn of(self, c: &StoreCounters) -> u64 {
        match self {
            Counter::Put => c.put_times_total,
            Counter::GetFound => c.get_found,
            Counter::GetMiss => c.get_miss,
            Counter::GetTransferred => c.get_transferred,
        }
    }
}

impl StoreRates {
    pub fn sample(&self, now_ms: i64, c: StoreCounters) {
        let mut s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        s.push_back((now_ms, c));
        while s.len() > KEEP {
            s.pop_front();
        }
    }

    /// Per-second rate over the last `secs` samples, if that many were taken.
    pub fn tps(&self, counter: Counter, secs: usize) -> Option<f64> {
        let s = self.samples.lock().unwrap_or_else(|e| e.into_inner());
        if s.len() <= secs {
            return None;
        }
        let (t1, last) = s.back()?;
        let (t0, before) = s.get(s.len() - (secs + 1))?;
        let elapsed = (t1 - t0) as f64;
        let diff = counter.of(last).saturating_sub(counter.of(before)) as f64;
        Some(if elapsed > 0.0 {
            diff / elapsed * 1000.0
        } else {
            0.0
        })
    }

    /// `"<10 s> <1 min> <10 min>"`, each empty until enough samples exist (Java's format,
    /// so a young broker shows `"0.0  "`).
    pub fn tps_text(&self, counter: Counter) -> String {
        [10, 60, 600]
            .iter()
            .map(|&s| self.tps(counter, s).map(java_double).unwrap_or_default())
            .collect::<Vec<_>>()
            .join(" ")
    }

    /// `getTotalTps`: found plus missed lookups, each 0 until enough samples exist.
    pub fn total_get_tps_text(&self) -> String {
        [10, 60, 600]
            .iter()
            .map(|&s| {
                let f = self.tps(Counter::GetFound, s).unwrap_or(0.0);
                let m = self.tps(Counter::GetMiss, s).unwrap_or(0.0);
                java_double(f + m)
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// Java's `Double.toString`: at least one decimal, scientific notation outside
/// [1e-3, 1e7).
pub fn java_double(v: f64) -> String {
    if v.is_nan() {
        return "NaN".into();
    }
    if v.is_infinite() {
        return if v > 0.0 { "Infinity" } else { "-Infinity" }.into();
    }
    let a = v.abs();
    if a == 0.0 || (1e-3..1e7).contains(&a) {
        let s = format!("{v}");
        if s.contains('.') {
            s
        } else {
            format!("{s}.0")
        }
    } else {
        let s = format!("{v:e}");
        let (mantissa, exp) = s.split_once('e').unwrap_or((&s, "0"));
        if mantissa.contains('.') {
            format!("{mantissa}E{exp}")
        } else {
            format!("{mantissa}.0E{exp}")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_text_of_doubles() {
        assert_eq!(java_double(0.0), "0.0");
        assert_eq!(java_double(218.72549019607843), "218.72549019607843");
        assert_eq!(java_double(3.0), "3.0");
        assert_eq!(java_double(1e7), "1.0E7");
        assert_eq!(java_double(0.0001), "1.0E-4");
        assert_eq!(java_double(12345678.5), "1.23456785E7");
    }

    #[test]
    fn rates_need_enough_samples() {
        let r = StoreRates::default();
        let c = |put| StoreCounters {
            put_times_total: put,
            ..Default::default()
        };
        for i in 0..=10 {
            r.sample(i * 1000, c(i as u64 * 5));
        }
        assert_eq!(r.tps(Counter::Put, 10), Some(5.0));
        assert_eq!(r.tps(Counter::Put, 60), None);
        assert_eq!(r.tps_text(Counter::Put), "5.0  ");
        assert_eq!(r.total_get_tps_text(), "0.0 0.0 0.0");
    }
}
