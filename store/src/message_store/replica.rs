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

use bytes::Bytes;
use tokio::sync::oneshot;

use super::shared::Shared;
use super::types::{PutStatus, ReplicaAppendError, ReplicatedEnd};
use super::writer::Job;
use super::MessageStore;

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

/// The store's side of replication, for the broker's HA service (which owns the
/// sockets).
impl MessageStore {
    /// Counts one slave connection until the link is dropped; acknowledgements go
    /// through it (the broker's HA service, master side).
    pub fn replica_attach(&self) -> ReplicaLink {
        ReplicaLink::attach(&self.shared)
    }

    /// Slave connections and the highest offset one of them acknowledged.
    pub fn replica_status(&self) -> (usize, i64) {
        (
            self.shared.replica.connections(),
            self.shared.replica.acked(),
        )
    }

    /// CommitLog bytes from `offset` up to the written end of its file, at most `max`
    /// (what an HA transfer carries). `None` when nothing is there yet.
    pub fn commitlog_data(&self, offset: i64, max: usize) -> Option<Bytes> {
        self.shared.commitlog.data_from(offset, max)
    }

    /// Waits until the CommitLog reaches past `offset`, or `timeout` passes (an HA
    /// connection with nothing to send). Returns whether it did.
    pub async fn wait_appended(&self, offset: i64, timeout: Duration) -> bool {
        let notified = self.shared.appended.notified();
        tokio::pin!(notified);
        notified.as_mut().enable();
        if self.commitlog_max_offset() > offset {
            return true;
        }
        let _ = tokio::time::timeout(timeout, notified).await;
        self.commitlog_max_offset() > offset
    }

    /// Appends bytes a master replicated, verbatim, at `start` (SLAVE only): through the
    /// single writer, then dispatched like any record. `start` is where the last append
    /// left off ([`ReplicatedEnd::received`]), or the CommitLog end (a new connection; a
    /// partly received record is then dropped). A size-0 append checks the offset and, on
    /// an empty store, creates the first file at `start` (what a Java slave does with the
    /// master's first heartbeat).
    pub fn append_replicated(
        &self,
        start: i64,
        data: Bytes,
    ) -> impl std::future::Future<Output = Result<ReplicatedEnd, ReplicaAppendError>> + Send + 'static
    {
        let (reply, rx) = oneshot::channel();
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|tx| tx.send(Job::Replicate { start, data, reply }).is_ok())
            .unwrap_or(false);
        async move {
            if !sent {
                return Err(ReplicaAppendError::Refused("store shut down"));
            }
            rx.await
                .unwrap_or(Err(ReplicaAppendError::Refused("store shut down")))
        }
    }

    /// The size of the CommitLog's files (a migrated store keeps the size it was
    /// written with).
    pub fn commitlog_file_size(&self) -> usize {
        self.shared.commitlog.file_size()
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
