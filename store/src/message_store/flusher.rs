//! Writes the CommitLog back to disk: at once after every group commit for SYNC_FLUSH,
//! every `flushIntervalCommitLog` otherwise, and publishes how far the disk has it.
//!
//! A failed msync poisons the store and the flushed mark never moves again: Linux
//! reports a writeback error once, so a retry that "succeeds" proves nothing.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::shared::Shared;
use super::types::PutStatus;
use crate::config::FlushDiskType;
use crate::mapped_file::FileError;

pub(crate) fn flusher_loop(shared: &Shared) {
    let sync = shared.cfg.flush_disk_type == FlushDiskType::Sync;
    let interval = shared.cfg.flush_interval_commitlog;
    loop {
        fail::fail_point!("flusher-loop");
        if shared.health.state() == super::health::HealthState::Poisoned {
            // Nothing more can be vouched for; idle until shutdown instead of spinning on
            // a flushed mark that will not move.
            let p = shared.progress.lock().unwrap_or_else(|e| e.into_inner());
            if p.shutdown {
                return;
            }
            let _ = shared.flush_cv.wait_timeout(p, Duration::from_millis(100));
            continue;
        }
        let (written, ts, shutdown) = {
            let mut p = shared.progress.lock().unwrap_or_else(|e| e.into_inner());
            let flushed = *shared.flushed_tx.borrow();
            if sync {
                while p.written <= flushed && !p.shutdown {
                    p = shared
                        .flush_cv
                        .wait_timeout(p, Duration::from_millis(100))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
            } else if !p.shutdown {
                p = shared
                    .flush_cv
                    .wait_timeout_while(p, interval, |p| !p.shutdown)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0);
            }
            // A slave's writer appends replicated bytes without decoding them, so the
            // store time it vouches for is the last dispatched record's. Read before the
            // msync, which covers every byte published by then, so it is never ahead of
            // what is flushed.
            let dispatched_ts = shared.last_dispatched_ts.load(Ordering::Acquire);
            (p.written, p.last_store_ts.max(dispatched_ts), p.shutdown)
        };
        flush_commitlog(shared, written, ts);
        if shutdown {
            return;
        }
    }
}

/// Flushes the CommitLog up to at least `written` and publishes it, or poisons the store.
/// Returns whether the bytes are on disk.
pub(crate) fn flush_commitlog(shared: &Shared, written: i64, last_store_ts: i64) -> bool {
    if shared.health.state() == super::health::HealthState::Poisoned {
        // After a failed flush nothing more is vouched for; keep the mark where it is.
        return false;
    }
    let pending = written > *shared.flushed_tx.borrow();
    match msync(shared, pending) {
        Ok(_) => {
            shared.checkpoint.set_physic(last_store_ts);
            shared.flushed_tx.send_if_modified(|f| {
                let moved = written > *f;
                *f = (*f).max(written);
                moved
            });
            true
        }
        Err(e) => {
            shared
                .health
                .poison(format!("commit log flush failed: {e}"));
            false
        }
    }
}

fn msync(shared: &Shared, pending: bool) -> Result<i64, FileError> {
    // Injected only where a real msync has dirty pages to fail on.
    fail::fail_point!("commitlog-flush", pending, |arg| Err(FileError::new(
        &shared.cfg.commitlog_path(),
        super::faults::injected(arg)
    )));
    let began = std::time::Instant::now();
    let r = shared.commitlog.flush();
    // Only flushes that had bytes to write say anything about the disk.
    if pending && r.is_ok() {
        shared.stats.record_flush(began.elapsed());
    }
    r
}

/// The SYNC_FLUSH wait: `None` once the flush covers `end`, else the status to answer.
pub(crate) async fn wait_flushed(
    mut flushed: tokio::sync::watch::Receiver<i64>,
    mut poisoned: tokio::sync::watch::Receiver<bool>,
    end: i64,
    timeout: Duration,
) -> Option<PutStatus> {
    let wait = async {
        let reached = tokio::select! {
            biased;
            r = flushed.wait_for(|f| *f >= end) => r.is_ok(),
            // The flush that would cover this append failed (or the flusher died): it is
            // not on disk and will not be.
            _ = poisoned.wait_for(|p| *p) => false,
        };
        reached || *flushed.borrow() >= end
    };
    match tokio::time::timeout(timeout, wait).await {
        Ok(true) => None,
        Ok(false) => Some(PutStatus::ServiceNotAvailable),
        Err(_) => Some(PutStatus::FlushDiskTimeout),
    }
}
