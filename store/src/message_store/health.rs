//! Whether the store can still keep its promise to acknowledged writes.
//!
//! Linux reports a writeback error once per file: a flush that failed and is simply
//! retried "succeeds" the second time with the data possibly gone. So after any failed
//! flush or dispatch write, or a store thread dying, the store stops accepting writes
//! for good (until a restart re-runs recovery), as fjall poisons itself after an fsync
//! failure. Reads keep working. A full disk is the one recoverable state: writes resume
//! once the cleaner sees space again.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HealthState {
    Running,
    /// Usage above `diskSpaceWarningLevelRatio`: writes refused until space is freed.
    DiskFull,
    /// A write the store cannot vouch for failed, or a store service died: writes are
    /// refused until restart.
    Poisoned,
}

impl HealthState {
    fn code(self) -> u8 {
        match self {
            HealthState::Running => 0,
            HealthState::DiskFull => 1,
            HealthState::Poisoned => 2,
        }
    }

    fn from_code(c: u8) -> Self {
        match c {
            0 => HealthState::Running,
            1 => HealthState::DiskFull,
            _ => HealthState::Poisoned,
        }
    }

    /// The name operators see in logs and runtime info.
    pub fn as_str(self) -> &'static str {
        match self {
            HealthState::Running => "RUNNING",
            HealthState::DiskFull => "DISK_FULL",
            HealthState::Poisoned => "POISONED",
        }
    }
}

/// A snapshot of the store's health.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Health {
    pub state: HealthState,
    /// What moved the store out of Running (the first cause wins for Poisoned).
    pub cause: Option<String>,
}

impl Health {
    pub fn is_writable(&self) -> bool {
        self.state == HealthState::Running
    }
}

/// Shared by every store service. The state is one atomic so the send path checks it
/// without a lock; the cause is only read when something already went wrong.
pub(crate) struct HealthCell {
    state: AtomicU8,
    cause: Mutex<Option<String>>,
    /// Wakes sends waiting for a flush when the store is poisoned under them.
    poisoned_tx: watch::Sender<bool>,
}

impl HealthCell {
    pub(crate) fn new() -> Self {
        HealthCell {
            state: AtomicU8::new(HealthState::Running.code()),
            cause: Mutex::new(None),
            poisoned_tx: watch::channel(false).0,
        }
    }

    pub(crate) fn state(&self) -> HealthState {
        HealthState::from_code(self.state.load(Ordering::Acquire))
    }

    pub(crate) fn snapshot(&self) -> Health {
        let state = self.state();
        let cause = match state {
            HealthState::Running => None,
            _ => self.cause.lock().unwrap_or_else(|e| e.into_inner()).clone(),
        };
        Health { state, cause }
    }

    /// Moves the store to Poisoned. Only the first cause is kept: later failures are
    /// usually consequences of it.
    pub(crate) fn poison(&self, cause: impl Into<String>) {
        let cause = cause.into();
        let mut c = self.cause.lock().unwrap_or_else(|e| e.into_inner());
        let prev = self
            .state
            .swap(HealthState::Poisoned.code(), Ordering::AcqRel);
        if HealthState::from_code(prev) == HealthState::Poisoned {
            tracing::error!(%cause, "store failure while already poisoned");
            return;
        }
        tracing::error!(
            %cause,
            "store POISONED: writes are refused until restart; reads continue"
        );
        *c = Some(cause);
        drop(c);
        self.poisoned_tx.send_replace(true);
    }

    /// The cleaner's verdict on the disk; never lifts Poisoned.
    pub(crate) fn set_disk_full(&self, full: bool, detail: &str) {
        let (from, to) = if full {
            (HealthState::Running, HealthState::DiskFull)
        } else {
            (HealthState::DiskFull, HealthState::Running)
        };
        let mut c = self.cause.lock().unwrap_or_else(|e| e.into_inner());
        if self
            .state
            .compare_exchange(from.code(), to.code(), Ordering::AcqRel, Ordering::Acquire)
            .is_ok()
        {
            if full {
                tracing::error!(
                    usage = detail,
                    "disk almost full: new messages are refused until space is freed"
                );
                *c = Some(format!("the disk is full ({detail})"));
            } else {
                tracing::info!(
                    usage = detail,
                    "disk usage back below the limit: accepting messages again"
                );
                *c = None;
            }
        }
    }

    pub(crate) fn subscribe_poisoned(&self) -> watch::Receiver<bool> {
        self.poisoned_tx.subscribe()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn poison_is_final_and_keeps_the_first_cause() {
        let h = HealthCell::new();
        assert!(h.snapshot().is_writable());
        h.set_disk_full(true, "91%");
        assert_eq!(h.state(), HealthState::DiskFull);
        h.poison("commit log flush failed");
        h.poison("later failure");
        h.set_disk_full(false, "10%");
        let s = h.snapshot();
        assert_eq!(s.state, HealthState::Poisoned);
        assert_eq!(s.cause.as_deref(), Some("commit log flush failed"));
        assert!(*h.subscribe_poisoned().borrow());
    }

    #[test]
    fn disk_full_lifts_when_space_returns() {
        let h = HealthCell::new();
        h.set_disk_full(true, "95%");
        assert!(!h.snapshot().is_writable());
        assert!(h.snapshot().cause.unwrap().contains("95%"));
        h.set_disk_full(false, "50%");
        assert_eq!(
            h.snapshot(),
            Health {
                state: HealthState::Running,
                cause: None
            }
        );
    }
}
