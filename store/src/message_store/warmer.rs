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
        }
        let Some(file) = shared.commitlog.files().last() else {
            continue;
        };
        let next = match file.populate_ahead(WARM_AHEAD) {
            // A fully populated file: wake again when the writer rolls into the next.
            Ok(end) if end >= file.size() => file.start() as i64 + file.size() as i64,
            Ok(end) => (file.start() + end as u64) as i64 - (WARM_AHEAD / 2) as i64,
            Err(e) => {
                tracing::debug!(error = %e, "cannot pre-fault CommitLog pages; the writer faults them");
                i64::MAX
            }
        };
        shared.warm_at.store(next, Ordering::Relaxed);
    }
}
