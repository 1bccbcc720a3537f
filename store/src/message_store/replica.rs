//! What the store knows about its slaves (master side) and how SYNC_MASTER sends wait for
//! them, as Java's `HAService` and `GroupTransferService` keep it: a count of connected
//! slaves and the highest CommitLog offset any of them acknowledged
//! (`push2SlaveMaxOffset`). The network side lives in the broker; it attaches a
//! [`ReplicaLink`] per slave connection and reports acknowledgements through it.
//!
//! Waiting sends are grouped the way flush waiters are: each waits on one shared watch
//! of the acknowledged offset, so one acknowledgement wakes every send it covers and no
//! send holds a lock or a thread while it waits.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use super::shared::Shared;
use super::types::PutStatus;

pub(crate) struct ReplicaState {
    /// `push2SlaveMaxOffset`: only grows, as in Java (a slave that reconnects behind it
    /// does not pull it back; its own acknowledgements are what move it further).
    acked: watch::Sender<i64>,
    /// `connectionCount`: slave connections accepted and not yet closed.
    connections: AtomicUsize,
}

impl ReplicaState {
    pub(crate) fn new() -> Self {
        ReplicaState {
            acked: watch::channel(0).0,
            connections: AtomicUsize::new(0),
        }
    }

    pub(crate) fn acked(&self) -> i64 {
        *self.acked.borrow()
    }

    pub(crate) fn connections(&self) -> usize {
        self.connections.load(Ordering::Acquire)
    }

    /// `notifyTransferSome`: raises the acknowledged offset and wakes the waiters it
    /// covers (a watch wakes only when the value moved).
    fn ack(&self, offset: i64) {
        self.acked.send_if_modified(|a| {
            let moved = offset > *a;
            if moved {
                *a = offset;
            }
            moved
        });
    }

    /// `HAService.isSlaveOK`: a slave is connected and not too far behind `end`.
    fn slave_ok(&self, end: i64, fallbehind_max: i64) -> bool {
        self.connections() > 0 && end - self.acked() < fallbehind_max
    }

    pub(crate) fn subscribe(&self) -> watch::Receiver<i64> {
        self.acked.subscribe()
    }
}

/// One slave connection, counted while it lives (Java counts a connection from accept to
/// close, before its first report).
pub struct ReplicaLink {
    shared: Arc<Shared>,
}

impl ReplicaLink {
    pub(crate) fn attach(shared: &Arc<Shared>) -> Self {
        shared.replica.connections.fetch_add(1, Ordering::AcqRel);
        ReplicaLink {
            shared: Arc::clone(shared),
        }
    }

    /// The slave has the CommitLog up to `offset`.
    pub fn acked(&self, offset: i64) {
        self.shared.replica.ack(offset);
    }
}

impl Drop for ReplicaLink {
    fn drop(&mut self) {
        self.shared
            .replica
            .connections
            .fetch_sub(1, Ordering::AcqRel);
    }
}

/// The wait a SYNC_MASTER send does after its append ended at `end`: `None` once a slave
/// has it, else the status to answer (Java's `submitReplicaRequest`).
pub(crate) async fn wait_for_slave(
    state: &ReplicaState,
    mut acked: watch::Receiver<i64>,
    end: i64,
    fallbehind_max: i64,
    timeout: Duration,
) -> Option<PutStatus> {
    if !state.slave_ok(end, fallbehind_max) {
        return Some(PutStatus::SlaveNotAvailable);
    }
    let reached = tokio::time::timeout(timeout, acked.wait_for(|a| *a >= end))
        .await
        .map(|r| r.is_ok());
    match reached {
        Ok(true) => None,
        // The sender lives as long as the store; a closed watch means it is going away.
        Ok(false) => Some(PutStatus::ServiceNotAvailable),
        Err(_) if *acked.borrow() >= end => None,
        Err(_) => Some(PutStatus::FlushSlaveTimeout),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_send_waits_for_the_ack_that_covers_it() {
        let s = ReplicaState::new();
        s.connections.store(1, Ordering::Release);
        let rx = s.subscribe();
        let wait = wait_for_slave(&s, rx, 100, 1 << 20, Duration::from_secs(5));
        let ack = async {
            s.ack(50);
            tokio::task::yield_now().await;
            s.ack(100);
        };
        let (status, ()) = tokio::join!(wait, ack);
        assert_eq!(status, None);
    }

    #[tokio::test]
    async fn no_slave_or_too_far_behind_is_not_available_and_silence_times_out() {
        let s = ReplicaState::new();
        let status =
            wait_for_slave(&s, s.subscribe(), 10, 1 << 20, Duration::from_millis(20)).await;
        assert_eq!(status, Some(PutStatus::SlaveNotAvailable));
        s.connections.store(1, Ordering::Release);
        let status = wait_for_slave(
            &s,
            s.subscribe(),
            2 << 20,
            1 << 20,
            Duration::from_millis(20),
        )
        .await;
        assert_eq!(status, Some(PutStatus::SlaveNotAvailable));
        let status =
            wait_for_slave(&s, s.subscribe(), 10, 1 << 20, Duration::from_millis(20)).await;
        assert_eq!(status, Some(PutStatus::FlushSlaveTimeout));
    }

    #[test]
    fn the_acked_offset_never_goes_back() {
        let s = ReplicaState::new();
        s.ack(100);
        s.ack(40);
        assert_eq!(s.acked(), 100);
    }
}
