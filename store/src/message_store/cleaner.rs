//! Java's `CleanCommitLogService` and `CleanConsumeQueueService`: watches the disk and
//! deletes old CommitLog files, then the queue and index files that only pointed at them.
//!
//! Java's rules, in order of the disk's usage `u` (of the CommitLog's and the consume
//! queues' filesystems, whichever is fuller):
//! - `u > diskSpaceWarningLevelRatio` (0.90): writes are refused (DiskFull) and files go
//!   at once, expired or not (when `cleanFileForciblyEnable`);
//! - `u > diskSpaceCleanForciblyRatio` (0.85): files go at once, expired or not (when
//!   `cleanFileForciblyEnable`);
//! - `u > diskMaxUsedSpaceRatio` (75 %): expired files go at any hour;
//! - otherwise expired files go at `deleteWhen` only.
//!
//! At most `DELETE_FILES_BATCH_MAX` (10) files go per pass, oldest first, never the
//! newest, never one the dispatcher has not finished with.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::shared::{now_ms, Shared};

/// What one look at the disk decided.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Verdict {
    /// Writes must be refused.
    pub disk_full: bool,
    /// Delete files whether expired or not.
    pub clean_immediately: bool,
    /// Delete expired files now, whatever the hour.
    pub space_to_delete: bool,
}

/// The policy, apart from the clock and the filesystem so that it can be tested alone.
pub(crate) fn judge(usage: Option<f64>, cfg: &crate::config::StoreConfig) -> Verdict {
    let Some(u) = usage else {
        // statvfs failed: Java reads that as -1 and deletes expired files.
        return Verdict {
            disk_full: false,
            clean_immediately: false,
            space_to_delete: true,
        };
    };
    let disk_full = u > cfg.disk_space_warning_ratio;
    let forcibly = disk_full || u > cfg.disk_space_clean_forcibly_ratio;
    Verdict {
        disk_full,
        clean_immediately: forcibly && cfg.clean_file_forcibly_enable,
        space_to_delete: u > f64::from(cfg.disk_max_used_space_ratio) / 100.0,
    }
}

pub(crate) fn cleaner_loop(shared: &Shared) {
    // Java's first pass comes a minute after start; one interval is enough to keep start-up
    // free of deletions while an operator looks at a freshly migrated store.
    let mut next = Instant::now() + shared.cfg.clean_resource_interval;
    loop {
        fail::fail_point!("cleaner-loop");
        {
            let p = shared.progress.lock().unwrap_or_else(|e| e.into_inner());
            let (p, _) = shared
                .idle_cv
                .wait_timeout_while(p, Duration::from_millis(500), |p| !p.shutdown)
                .unwrap_or_else(|e| e.into_inner());
            if p.shutdown {
                return;
            }
        }
        if Instant::now() < next {
            continue;
        }
        next = Instant::now() + shared.cfg.clean_resource_interval;
        clean_once(shared);
    }
}

/// One pass: update the disk-full state, then delete what the rules allow.
pub(crate) fn clean_once(shared: &Shared) -> usize {
    let cfg = &shared.cfg;
    let usage = match (
        disk_usage(&cfg.commitlog_path()),
        disk_usage(&cfg.consume_queue_path()),
    ) {
        (Some(a), Some(b)) => Some(a.max(b)),
        (a, b) => a.or(b),
    };
    let v = judge(usage, cfg);
    let shown = usage
        .map(|u| format!("{:.1}%", u * 100.0))
        .unwrap_or_else(|| "unknown".into());
    shared.health.set_disk_full(v.disk_full, &shown);
    // An operator's "delete expired files now" counts down over the next passes, as
    // Java's does.
    let manual = shared
        .manual_deletes
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok();
    if !(manual || v.space_to_delete || v.clean_immediately || is_delete_hour(&cfg.delete_when)) {
        return 0;
    }
    let reserved_ms = (cfg.file_reserved_hours as i64).saturating_mul(3_600_000);
    let now = now_ms();
    let dispatched = shared.dispatched.load(Ordering::Acquire);
    let mut n = 0usize;
    let gone = shared.commitlog.files().delete_oldest_while(|f| {
        let expired = now - f.modified_ms() > reserved_ms;
        let dispatched_past = (f.start() + f.size() as u64) as i64 <= dispatched;
        let take =
            n < cfg.delete_files_batch_max && (expired || v.clean_immediately) && dispatched_past;
        n += usize::from(take);
        take
    });
    if gone.is_empty() {
        return 0;
    }
    tracing::info!(
        files = gone.len(),
        usage = %shown,
        forcibly = v.clean_immediately,
        "deleted commit log files"
    );
    let min = shared.commitlog.min_offset();
    for q in shared.all_queues() {
        q.correct_min_offset(min);
    }
    shared
        .index
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .delete_before(min);
    gone.len()
}

/// Hours of day (local time is not known without a time-zone database; UTC is used) in
/// `deleteWhen` ("04" or "01;02;03").
fn is_delete_hour(delete_when: &str) -> bool {
    let hour = (now_ms() / 3_600_000 % 24) as u32;
    delete_when
        .split(';')
        .filter_map(|h| h.trim().parse::<u32>().ok())
        .any(|h| h == hour)
}

/// Share of the filesystem holding `path` that is in use, as Java's
/// `UtilAll.getDiskPartitionSpaceUsedPercent` computes it: used (total less free)
/// over used plus usable, rounded up to a whole percent. Blocks reserved for root count
/// in neither, so a filesystem with a large reserve is not taken for a full one.
pub fn disk_usage(path: &Path) -> Option<f64> {
    use std::os::unix::ffi::OsStrExt;
    let c = std::ffi::CString::new(path.as_os_str().as_bytes()).ok()?;
    // SAFETY: statvfs writes into the zeroed struct we pass; c is a valid C string.
    let st = unsafe {
        let mut st: libc::statvfs = std::mem::zeroed();
        if libc::statvfs(c.as_ptr(), &mut st) != 0 {
            return None;
        }
        st
    };
    used_ratio(st.f_blocks, st.f_bfree, st.f_bavail)
}

/// Java 4.9.8's `UtilAll.getDiskPartitionSpaceUsedPercent`, in blocks: used is total less
/// free (`getFreeSpace`), and the ratio is taken of used plus what an unprivileged
/// writer may still use (`getUsableSpace`), rounded up to whole percent — what `df`
/// shows. Blocks reserved for root, or held back by the host, count neither as used nor
/// as room: taking them as used would make the cleaner delete unexpired files forcibly on
/// a disk that is far from full.
pub(crate) fn used_ratio(blocks: u64, free: u64, avail: u64) -> Option<f64> {
    if blocks == 0 {
        return None;
    }
    let used = u128::from(blocks.saturating_sub(free));
    let entire = used + u128::from(avail);
    if entire == 0 {
        return None;
    }
    let percent = used * 100 / entire + u128::from(used * 100 % entire != 0);
    Some((percent as f64 / 100.0).clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The figures statvfs gave on a development machine whose host holds back most of
    /// the free blocks: df says 57 %, and so must the cleaner (taking the held-back
    /// blocks as used read 85 %, where unexpired files are deleted forcibly).
    #[test]
    fn usage_is_javas_used_over_used_plus_usable() {
        assert_eq!(used_ratio(66_053_021, 52_505_215, 10_273_666), Some(0.57));
        assert_eq!(used_ratio(100, 100, 100), Some(0.0));
        assert_eq!(used_ratio(100, 0, 0), Some(1.0));
        assert_eq!(used_ratio(100, 10, 5), Some(0.95));
        // Rounded up, as Java does.
        assert_eq!(used_ratio(1000, 899, 899), Some(0.11));
        assert_eq!(used_ratio(0, 0, 0), None);
    }

    use crate::config::StoreConfig;

    #[test]
    fn usage_as_java_measures_it() {
        // No reserve: used over total, rounded up to a percent.
        assert_eq!(used_ratio(1000, 575, 575), Some(0.43));
        // A large root reserve (f_bfree far above f_bavail) is left out, as Java
        // leaves it out: 76.6 used, 21 usable → 79 %, not the 92 % of (total - usable).
        assert_eq!(used_ratio(270_553, 193_955, 20_975), Some(0.79));
        assert_eq!(used_ratio(0, 0, 0), None);
        assert_eq!(used_ratio(100, 0, 0), Some(1.0));
    }

    fn cfg() -> StoreConfig {
        StoreConfig::new("/nonexistent".into(), ([127, 0, 0, 1], 1).into())
    }

    #[test]
    fn java_thresholds() {
        let c = cfg();
        let at = |u| judge(Some(u), &c);
        // Below 75 %: only deleteWhen deletes, and only expired files.
        assert_eq!(
            at(0.50),
            Verdict {
                disk_full: false,
                clean_immediately: false,
                space_to_delete: false
            }
        );
        // 75–85 %: expired files at any hour, unexpired ones stay.
        assert_eq!(
            at(0.76),
            Verdict {
                disk_full: false,
                clean_immediately: false,
                space_to_delete: true
            }
        );
        // 85–90 %: unexpired files too.
        assert_eq!(
            at(0.86),
            Verdict {
                disk_full: false,
                clean_immediately: true,
                space_to_delete: true
            }
        );
        // Above 90 %: writes refused as well.
        assert_eq!(
            at(0.91),
            Verdict {
                disk_full: true,
                clean_immediately: true,
                space_to_delete: true
            }
        );
        let mut c = cfg();
        c.clean_file_forcibly_enable = false;
        assert!(!judge(Some(0.95), &c).clean_immediately);
        assert!(judge(Some(0.95), &c).disk_full);
    }
}
