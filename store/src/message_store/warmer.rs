//! Faults in the CommitLog pages just ahead of the writer, on another core, so that the
//! appends (and the sends waiting on them) do not stall on first-touch page faults.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::shared::Shared;

/// How far ahead of the write position the warmer keeps the CommitLog's pages faulted in.
const WARM_AHEAD: usize = 4 << 20;

/// Faults in the CommitLog pages just ahead of the writer, on another core, so that the
/// appends (and the sends waiting on them) do not stall on first-touch page faults. It
/// only runs after appends, so an idle broker's resident memory does not grow.
pub(crate) fn warmer_loop(shared: &Shared) {
    let mut written;
    loop {
        fail::fail_point!("warmer-loop");
        {
            let p = shared.progress.lock().unwrap_or_else(|e| e.into_inner());
            if p.shutdown {
                return;
            }
            let p = shared
                .warm_cv
                .wait_timeout(p, Duration::from_millis(500))
                .map(|(g, _)| g)
                .unwrap_or_else(|e| e.into_inner().0);
            if p.shutdown {
                return;
            }
            // Only appends move the end past the mark: an idle broker stays as small as it is.
            if p.written < shared.warm_at.load(Ordering::Relaxed) {
                continue;
            }
            written = p.written;
        }
        let Some(file) = shared.commitlog.files().last() else {
            continue;
        };
        let file_end = file.start() as i64 + file.size() as i64;
        let next = match file.populate_ahead(WARM_AHEAD) {
            // A fully populated file: the writer is near its end, so the next file is
            // created now; wake again when the writer rolls into it.
            Ok(end) if end >= file.size() => {
                prepare_next(shared);
                file_end
            }
            // Wake again halfway through the populated stretch, and at the latest once the
            // writer is within WARM_AHEAD of the end: a warmer that woke late (a busy
            // machine) would otherwise sleep past the point where the next file is due.
            Ok(end) => ((file.start() + end as u64) as i64 - (WARM_AHEAD / 2) as i64)
                .min(file_end - WARM_AHEAD as i64),
            Err(e) => {
                tracing::debug!(error = %e, "cannot pre-fault CommitLog pages; the writer faults them");
                if written >= file_end - WARM_AHEAD as i64 {
                    prepare_next(shared);
                    file_end
                } else {
                    file_end - WARM_AHEAD as i64
                }
            }
        };
        shared.warm_at.store(next, Ordering::Relaxed);
    }
}

/// Creates the next CommitLog file ahead of the writer (creating and reserving a 1 GiB
/// file inline stalled every send waiting behind the roll) and faults in its first pages.
/// A failure only costs the writer the inline creation it would have done anyway.
fn prepare_next(shared: &Shared) {
    match shared.commitlog.files().prepare_next() {
        Ok(Some(f)) => {
            tracing::debug!(file = %f.path().display(), "next commit log file preallocated");
            let _ = f.populate_ahead(WARM_AHEAD);
        }
        Ok(None) => {}
        Err(e) => tracing::warn!(error = %e, "cannot preallocate the next commit log file"),
    }
}
