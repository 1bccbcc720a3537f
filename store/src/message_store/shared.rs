//! The state every store service shares, and the wake-ups between them.

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, AtomicU32, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use tokio::sync::watch;

use super::health::HealthCell;
use super::types::ArrivalListener;
use crate::checkpoint::Checkpoint;
use crate::commitlog::CommitLog;
use crate::config::StoreConfig;
use crate::consume_queue::{ConsumeQueue, Unit};
use crate::file_queue::QueueLoadError;
use crate::index_file::IndexService;
use crate::record::{self, Decoded};

pub(crate) type QueueTable = HashMap<String, HashMap<i32, Arc<ConsumeQueue>>>;

/// Progress the writer publishes to the flusher, dispatcher, warmer and cleaner.
#[derive(Default)]
pub(crate) struct Progress {
    /// One past the last appended byte.
    pub written: i64,
    /// Store time of the last appended record.
    pub last_store_ts: i64,
    pub shutdown: bool,
}

pub(crate) struct Shared {
    pub cfg: StoreConfig,
    pub commitlog: CommitLog,
    pub queues: RwLock<QueueTable>,
    pub index: Mutex<IndexService>,
    pub checkpoint: Checkpoint,
    pub health: HealthCell,
    pub progress: Mutex<Progress>,
    /// Wakes the dispatcher when records are appended.
    pub dispatch_cv: Condvar,
    /// Wakes the flusher: on every append for SYNC_FLUSH, only at shutdown otherwise.
    pub flush_cv: Condvar,
    /// Wakes the cleaner at shutdown.
    pub idle_cv: Condvar,
    /// Wakes the page warmer once the CommitLog end passes `warm_at`.
    pub warm_cv: Condvar,
    /// CommitLog offset from which the warmer wants waking (its populated end less a
    /// margin); just past the recovered end until the first append, `i64::MAX` where
    /// pre-faulting is unsupported.
    pub warm_at: AtomicI64,
    /// One past the last byte known on disk. Never moves after a failed flush.
    pub flushed_tx: watch::Sender<i64>,
    /// One past the last dispatched byte.
    pub dispatched: AtomicI64,
    pub listener: RwLock<Option<ArrivalListener>>,
    /// Put jobs queued and not yet taken by the writer.
    pub queued: AtomicUsize,
    /// When the writer began its current append (ms), 0 while it waits for work.
    pub append_started: AtomicI64,
    /// Store time of the last message dispatched, for the checkpoint.
    pub last_dispatched_ts: AtomicI64,
    /// Slaves attached to this (master) store and what they acknowledged.
    pub replica: super::replica::ReplicaState,
    /// Woken after every group commit or replicated append, for HA connections waiting
    /// to send new bytes.
    pub appended: tokio::sync::Notify,
    /// Counters of puts, gets and flushes.
    pub stats: Arc<super::stats::StoreStats>,
    /// Cleaner passes left that delete expired files whatever the hour
    /// (`manualDeleteFileSeveralTimes`, set by DELETE_EXPIRED_COMMITLOG).
    pub manual_deletes: AtomicU32,
}

impl Shared {
    pub fn queue(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        self.queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .and_then(|m| m.get(&queue_id))
            .cloned()
    }

    pub fn all_queues(&self) -> Vec<Arc<ConsumeQueue>> {
        self.queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .flat_map(|m| m.values().cloned())
            .collect()
    }

    pub fn queue_or_create(
        &self,
        topic: &str,
        queue_id: i32,
    ) -> Result<Arc<ConsumeQueue>, QueueLoadError> {
        if let Some(q) = self.queue(topic, queue_id) {
            return Ok(q);
        }
        let mut queues = self.queues.write().unwrap_or_else(|e| e.into_inner());
        if let Some(q) = queues.get(topic).and_then(|m| m.get(&queue_id)) {
            return Ok(Arc::clone(q));
        }
        let q = Arc::new(ConsumeQueue::open(
            &self.cfg.consume_queue_path(),
            topic,
            queue_id,
            self.cfg.mapped_file_size_consume_queue,
            false,
        )?);
        queues
            .entry(topic.to_string())
            .or_default()
            .insert(queue_id, Arc::clone(&q));
        Ok(q)
    }

    pub fn store_time(&self, u: Unit) -> Option<i64> {
        if u.is_filler() {
            return None;
        }
        let b = self.commitlog.bytes(u.phy_offset, u.size as usize)?;
        match record::decode(&b, false) {
            Ok(Decoded::Message(m)) => Some(m.store_timestamp),
            _ => None,
        }
    }
}

pub(crate) fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// Physical memory in bytes (Java's `StoreUtil.TOTAL_PHYSICAL_MEMORY_SIZE`).
pub(crate) fn physical_memory() -> u64 {
    static MEM: std::sync::OnceLock<u64> = std::sync::OnceLock::new();
    *MEM.get_or_init(|| {
        // SAFETY: sysconf has no preconditions.
        let (pages, size) = unsafe {
            (
                libc::sysconf(libc::_SC_PHYS_PAGES),
                libc::sysconf(libc::_SC_PAGESIZE),
            )
        };
        u64::try_from(pages).unwrap_or(0) * u64::try_from(size).unwrap_or(0)
    })
}
