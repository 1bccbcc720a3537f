//! The message store: its API (appends, the reads the broker serves from the mapped
//! files, health, shutdown) over services with one job each:
//!
//! - [`recovery`]: opening and recovering a store directory, before anything serves;
//! - [`writer`]: the single append writer, owner of the CommitLog tail, group commit;
//! - [`flusher`]: writes the CommitLog back (at once for SYNC_FLUSH, periodically else);
//! - [`dispatcher`]: consume-queue units and index entries from appended records;
//! - [`warmer`]: faults CommitLog pages in ahead of the writer;
//! - [`cleaner`]: disk watch and deletion of old files;
//! - [`services`]: the threads, supervised; [`health`]: whether writes are still safe.
//!
//! Readers never lock the writer out: they read what the writer has published.

mod cleaner;
mod dispatcher;
mod faults;
mod flusher;
mod health;
mod recovery;
mod replica;
mod services;
mod shared;
mod stats;
mod types;
mod warmer;
mod writer;

use std::fs::OpenOptions;
use std::sync::atomic::Ordering;
use std::sync::{mpsc, Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::oneshot;

pub use cleaner::disk_usage;
pub use health::{Health, HealthState};
pub use replica::ReplicaLink;
pub use stats::{
    FlushLatency, LatencyMinute, StoreCounters, StoreStats, DISTRIBUTION_NAMES, FLUSH_BUCKETS,
};
pub use types::*;

use crate::config::{BrokerRole, FlushDiskType, StoreConfig};
use crate::consume_queue::ConsumeQueue;
use crate::mapped_file::FileError;
use crate::record::MAX_PROPERTIES_LEN;
use dispatcher::Phase;
use recovery::Recovered;
use services::Services;
use shared::{now_ms, physical_memory, Shared};
use writer::Job;

pub struct MessageStore {
    shared: Arc<Shared>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    _lock: std::fs::File,
    abnormal_start: bool,
}

impl MessageStore {
    /// Opens (creating if needed) and recovers the store, then starts its services.
    pub fn open(cfg: StoreConfig) -> Result<(Self, RecoveryReport), OpenError> {
        faults::configure_from_env();
        let recovered = Recovered::open(cfg)?;
        let offsets = recovered.queue_offsets();
        let Recovered {
            shared,
            lock,
            abnormal,
            report,
        } = recovered;
        let (tx, rx) = mpsc::channel();
        let services = Services::start(&shared, rx, offsets)?;
        let abort = shared.cfg.abort_path();
        create_durably(&abort)?;
        Ok((
            MessageStore {
                shared,
                jobs: Mutex::new(Some(tx)),
                threads: Mutex::new(services.threads),
                _lock: lock,
                abnormal_start: abnormal,
            },
            report,
        ))
    }

    /// Runs one cleaner pass now (tests and operators' "delete expired files now");
    /// returns how many CommitLog files it deleted.
    pub fn clean_now(&self) -> usize {
        cleaner::clean_once(&self.shared)
    }

    /// `executeDeleteFilesManually`: the next 20 cleaner passes delete expired CommitLog
    /// files whatever the hour; the first runs now. Returns how many files it deleted.
    pub fn delete_expired_files_manually(&self) -> usize {
        self.shared.manual_deletes.store(20, Ordering::Relaxed);
        cleaner::clean_once(&self.shared)
    }

    /// Appends waiting for the writer.
    pub fn queued_appends(&self) -> usize {
        self.shared.queued.load(Ordering::Relaxed)
    }

    /// How long the writer has been in its current append (ms), 0 when idle.
    pub fn append_stall_ms(&self) -> i64 {
        match self.shared.append_started.load(Ordering::Relaxed) {
            0 => 0,
            t => (now_ms() - t).max(0),
        }
    }

    /// Counters of puts and gets (Java's `StoreStatsService`).
    pub fn stats(&self) -> &StoreStats {
        &self.shared.stats
    }

    /// One past the last CommitLog byte known to be on disk.
    pub fn flushed_offset(&self) -> i64 {
        *self.shared.flushed_tx.borrow()
    }

    /// Whether writes are accepted, and if not, why.
    pub fn health(&self) -> Health {
        self.shared.health.snapshot()
    }

    pub fn config(&self) -> &StoreConfig {
        &self.shared.cfg
    }

    /// Whether the last shutdown was not clean (the `abort` file was there).
    pub fn started_after_crash(&self) -> bool {
        self.abnormal_start
    }

    pub fn set_arrival_listener(&self, l: ArrivalListener) {
        *self
            .shared
            .listener
            .write()
            .unwrap_or_else(|e| e.into_inner()) = Some(l);
    }

    /// Queues one message for the writer. The append order is the order of `put` calls.
    /// A SYNC_MASTER does not wait for a slave here (the broker's own appends: delay
    /// levels, retries, transactions); client sends use [`MessageStore::put_batch_with`].
    pub fn put(&self, msg: MessageToStore) -> PutFuture {
        self.put_batch_with(vec![msg], false)
    }

    /// Queues messages that must be stored contiguously with consecutive queue offsets.
    pub fn put_batch(&self, msgs: Vec<MessageToStore>) -> PutFuture {
        self.put_batch_with(msgs, false)
    }

    /// Like [`MessageStore::put_batch`]; `wait_replica` is the message's WAIT property
    /// (`isWaitStoreMsgOK`): on a SYNC_MASTER the result then also waits for a slave to
    /// acknowledge the bytes (SLAVE_NOT_AVAILABLE or FLUSH_SLAVE_TIMEOUT otherwise), while
    /// the flush wait of SYNC_FLUSH runs alongside.
    pub fn put_batch_with(&self, msgs: Vec<MessageToStore>, wait_replica: bool) -> PutFuture {
        if let Some(status) = self.reject(&msgs) {
            return Box::pin(async move { PutResult::failed(status) });
        }
        if let Some(status) = self.shed() {
            if status == PutStatus::OsPageCacheBusy {
                self.shared.stats.record_put(0, 0, false, 0);
            }
            return Box::pin(async move { PutResult::failed(status) });
        }
        let began = Instant::now();
        let stats = self.shared.stats.clone();
        let (reply, rx) = oneshot::channel();
        let sent = self
            .jobs
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .as_ref()
            .map(|tx| tx.send(Job::Put { msgs, reply }).is_ok())
            .unwrap_or(false);
        if !sent {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            return Box::pin(async { PutResult::failed(PutStatus::ServiceNotAvailable) });
        }
        let cfg = &self.shared.cfg;
        let sync = cfg.flush_disk_type == FlushDiskType::Sync;
        let replicate = wait_replica && cfg.broker_role == BrokerRole::SyncMaster;
        if !sync && !replicate {
            // ASYNC_FLUSH and no slave to wait for: the answer is the append's.
            return Box::pin(async move {
                let result = rx
                    .await
                    .unwrap_or_else(|_| PutResult::failed(PutStatus::ServiceNotAvailable));
                stats.record_put(
                    result.count as u64,
                    result.wrote_bytes as u64,
                    result.status == PutStatus::PutOk,
                    began.elapsed().as_millis() as u64,
                );
                result
            });
        }
        let timeout = cfg.sync_flush_timeout;
        let flushed = sync.then(|| self.shared.flushed_tx.subscribe());
        let poisoned = sync.then(|| self.shared.health.subscribe_poisoned());
        let acked = replicate.then(|| self.shared.replica.subscribe());
        let shared = Arc::clone(&self.shared);
        Box::pin(async move {
            let Ok(mut result) = rx.await else {
                return PutResult::failed(PutStatus::ServiceNotAvailable);
            };
            if result.status != PutStatus::PutOk {
                return result;
            }
            let end = result.phy_offset + result.wrote_bytes as i64;
            let flush = async {
                match (flushed, poisoned) {
                    (Some(f), Some(p)) => flusher::wait_flushed(f, p, end, timeout).await,
                    _ => None,
                }
            };
            let slave = async {
                match acked {
                    Some(rx) => {
                        let c = &shared.cfg;
                        replica::wait_for_slave(
                            &shared.replica,
                            rx,
                            end,
                            c.ha_slave_fallbehind_max,
                            c.slave_timeout,
                        )
                        .await
                    }
                    None => None,
                }
            };
            let (flush, slave) = tokio::join!(flush, slave);
            // Java lets the replica status override the flush status. A flush that
            // failed (the store poisoned under it) wins instead: the message is then on
            // no disk, and SLAVE_NOT_AVAILABLE would tell the producer it was sent.
            if let Some(s) = slave {
                result.status = s;
            }
            match flush {
                Some(PutStatus::ServiceNotAvailable) => {
                    result.status = PutStatus::ServiceNotAvailable
                }
                Some(s) if slave.is_none() => result.status = s,
                _ => {}
            }
            // Java counts the append (done even when the flush timed out) and the time
            // from the call to the result.
            let appended = matches!(
                result.status,
                PutStatus::PutOk
                    | PutStatus::FlushDiskTimeout
                    | PutStatus::FlushSlaveTimeout
                    | PutStatus::SlaveNotAvailable
            ) || (result.status == PutStatus::ServiceNotAvailable
                && result.count > 0);
            stats.record_put(
                result.count as u64,
                result.wrote_bytes as u64,
                appended,
                began.elapsed().as_millis() as u64,
            );
            result
        })
    }

    /// Load shedding: refuses an append (and counts it as queued otherwise) when the
    /// writer is stalled or its queue is full, so producers are told to back off instead
    /// of piling messages up in memory.
    fn shed(&self) -> Option<PutStatus> {
        let started = self.shared.append_started.load(Ordering::Relaxed);
        let stall = self.shared.cfg.os_page_cache_busy_timeout.as_millis() as i64;
        if started != 0 && now_ms() - started > stall {
            return Some(PutStatus::OsPageCacheBusy);
        }
        let queued = self.shared.queued.fetch_add(1, Ordering::Relaxed);
        if queued >= self.shared.cfg.send_queue_capacity.max(1) {
            self.shared.queued.fetch_sub(1, Ordering::Relaxed);
            return Some(PutStatus::QueueFull);
        }
        None
    }

    fn reject(&self, msgs: &[MessageToStore]) -> Option<PutStatus> {
        if msgs.is_empty() {
            return Some(PutStatus::MessageIllegal);
        }
        // `checkStoreStatus`: a slave's CommitLog holds only what its master sent.
        if self.shared.cfg.broker_role.is_slave() {
            return Some(PutStatus::ServiceNotAvailable);
        }
        if self.shared.health.state() != HealthState::Running {
            return Some(PutStatus::ServiceNotAvailable);
        }
        for m in msgs {
            if m.properties.len() > MAX_PROPERTIES_LEN {
                return Some(PutStatus::PropertiesSizeExceeded);
            }
            if m.body.len() > self.shared.cfg.max_message_size
                || m.topic.is_empty()
                || m.topic.len() > i16::MAX as usize
            {
                return Some(PutStatus::MessageIllegal);
            }
        }
        None
    }

    /// Forgets a deleted topic: its consume queues are removed from disk.
    pub fn delete_topic(&self, topic: &str) {
        if let Some(tx) = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).as_ref() {
            let _ = tx.send(Job::DeleteTopic(topic.to_string()));
        }
        let removed = self
            .shared
            .queues
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .remove(topic);
        for q in removed.into_iter().flat_map(|m| m.into_values()) {
            q.files().destroy();
        }
        let _ = std::fs::remove_dir(self.shared.cfg.consume_queue_path().join(topic));
    }

    fn queue(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        self.shared.queue(topic, queue_id)
    }

    /// Every topic with a consume queue, and its queue ids.
    pub fn topics_on_disk(&self) -> Vec<(String, Vec<i32>)> {
        let queues = self.shared.queues.read().unwrap_or_else(|e| e.into_inner());
        let mut v: Vec<_> = queues
            .iter()
            .map(|(t, m)| {
                let mut ids: Vec<i32> = m.keys().copied().collect();
                ids.sort_unstable();
                (t.clone(), ids)
            })
            .collect();
        v.sort();
        v
    }

    pub fn max_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.queue(topic, queue_id)
            .map(|q| q.max_offset())
            .unwrap_or(0)
    }

    pub fn min_offset_in_queue(&self, topic: &str, queue_id: i32) -> i64 {
        self.queue(topic, queue_id)
            .map(|q| q.min_offset())
            .unwrap_or(0)
    }

    /// Whether reading `offset` would leave memory (Java's `checkInDiskByConsumeOffset`).
    /// Everything here is served from the page cache, so never.
    pub fn is_offset_swapped_out(&self, _topic: &str, _queue_id: i32, _offset: i64) -> bool {
        false
    }

    pub fn commitlog_min_offset(&self) -> i64 {
        self.shared.commitlog.min_offset()
    }
    pub fn commitlog_max_offset(&self) -> i64 {
        self.shared.commitlog.max_offset()
    }
    /// One past the last byte the dispatcher has processed.
    pub fn dispatched_offset(&self) -> i64 {
        self.shared.dispatched.load(Ordering::Acquire)
    }

    /// The stored record at a commit-log offset (VIEW_MESSAGE_BY_ID).
    pub fn message_at(&self, offset: i64) -> Option<Bytes> {
        self.shared.commitlog.record_bytes(offset)
    }

    /// A queue's unit at `offset` (its tags code) and the record it points at.
    pub fn unit_and_record(&self, topic: &str, queue_id: i32, offset: i64) -> Option<(i64, Bytes)> {
        let u = self.queue(topic, queue_id)?.get(offset)?;
        if u.is_filler() {
            return None;
        }
        let b = self.shared.commitlog.bytes(u.phy_offset, u.size as usize)?;
        Some((u.tags_code, b))
    }

    /// A queue's unit at `offset`; `None` past its end or for a filler.
    pub fn queue_unit(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
    ) -> Option<crate::consume_queue::Unit> {
        self.queue(topic, queue_id)?
            .get(offset)
            .filter(|u| !u.is_filler())
    }

    /// `size` bytes of the CommitLog from `offset`, if all of them are still there.
    pub fn commitlog_bytes(&self, offset: i64, size: usize) -> Option<Bytes> {
        self.shared.commitlog.bytes(offset, size)
    }

    /// Whether `topic`/`queue_id` has a consume queue (Java's `getConsumeQueue` finding one).
    pub fn has_queue(&self, topic: &str, queue_id: i32) -> bool {
        self.queue(topic, queue_id).is_some()
    }

    /// A queue's unit at `offset`: (CommitLog offset, size, tags code), fillers included.
    pub fn queue_unit_raw(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
    ) -> Option<(i64, i32, i64)> {
        let u = self.queue(topic, queue_id)?.get(offset)?;
        Some((u.phy_offset, u.size, u.tags_code))
    }

    /// Store time of the message at a queue offset.
    pub fn store_time_at(&self, topic: &str, queue_id: i32, offset: i64) -> Option<i64> {
        let q = self.queue(topic, queue_id)?;
        let u = q.get(offset)?;
        self.shared.store_time(u)
    }

    pub fn earliest_message_time(&self, topic: &str, queue_id: i32) -> i64 {
        let Some(q) = self.queue(topic, queue_id) else {
            return -1;
        };
        self.store_time_at(topic, queue_id, q.min_offset())
            .unwrap_or(-1)
    }

    /// `getOffsetInQueueByTime`: the queue offset whose store time is closest to
    /// `timestamp` (exact match first, ties towards the earlier one).
    pub fn offset_by_timestamp(&self, topic: &str, queue_id: i32, timestamp: i64) -> i64 {
        let Some(q) = self.queue(topic, queue_id) else {
            return 0;
        };
        let (min, max) = (q.min_offset(), q.max_offset());
        if max <= min {
            return max.max(0);
        }
        let (mut lo, mut hi) = (min, max - 1);
        let mut left: Option<(i64, i64)> = None;
        let mut right: Option<(i64, i64)> = None;
        while lo <= hi {
            let mid = lo + (hi - lo) / 2;
            let Some(ts) = q.get(mid).and_then(|u| self.shared.store_time(u)) else {
                break;
            };
            match ts.cmp(&timestamp) {
                std::cmp::Ordering::Equal => return mid,
                std::cmp::Ordering::Greater => {
                    right = Some((mid, ts));
                    hi = mid - 1;
                }
                std::cmp::Ordering::Less => {
                    left = Some((mid, ts));
                    lo = mid + 1;
                }
            }
        }
        match (left, right) {
            (None, Some((r, _))) => r,
            (Some((l, _)), None) => l,
            (Some((l, lt)), Some((r, rt))) => {
                if (timestamp - lt).abs() > (timestamp - rt).abs() {
                    r
                } else {
                    l
                }
            }
            (None, None) => min,
        }
    }

    /// `DefaultMessageStore.getMessage` for one pull.
    pub fn get_messages(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_msg_nums: i32,
        filter: &dyn Fn(i64) -> bool,
    ) -> GetMessageResult {
        self.get_messages_filtered(topic, queue_id, offset, max_msg_nums, filter, &|_| true)
    }

    /// `getMessage` with both of Java's `MessageFilter` stages: `by_tags_code` on the
    /// consume-queue unit (`isMatchedByConsumeQueue`), then `by_record` on the stored
    /// record's bytes (`isMatchedByCommitLog`, property filters). A record either
    /// refuses counts as scanned, not returned, like a tag mismatch.
    pub fn get_messages_filtered(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_msg_nums: i32,
        filter: &dyn Fn(i64) -> bool,
        by_record: &dyn Fn(&[u8]) -> bool,
    ) -> GetMessageResult {
        let began = Instant::now();
        let r = self.lookup_messages(topic, queue_id, offset, max_msg_nums, filter, by_record);
        self.shared.stats.record_get(
            r.status == GetMessageStatus::Found,
            r.messages.len() as u64,
            began.elapsed().as_millis() as u64,
        );
        r
    }

    fn lookup_messages(
        &self,
        topic: &str,
        queue_id: i32,
        offset: i64,
        max_msg_nums: i32,
        filter: &dyn Fn(i64) -> bool,
        by_record: &dyn Fn(&[u8]) -> bool,
    ) -> GetMessageResult {
        let mut r = GetMessageResult {
            status: GetMessageStatus::NoMatchedLogicQueue,
            next_begin_offset: offset,
            min_offset: 0,
            max_offset: 0,
            messages: Vec::new(),
            suggest_pulling_from_slave: false,
        };
        // `nextOffsetCorrection`: a slave leaves a consumer's offset alone (unless
        // `offsetCheckInSlave`); the master corrects it when the consumer comes back.
        let correct = |requested: i64, corrected: i64| {
            let c = &self.shared.cfg;
            if c.broker_role.is_slave() && !c.offset_check_in_slave {
                requested
            } else {
                corrected
            }
        };
        let Some(q) = self.queue(topic, queue_id) else {
            // Java creates a missing consume queue on lookup, so a pull of a queue that
            // never held a message reads as an empty queue, not as an unknown one.
            r.status = GetMessageStatus::NoMessageInQueue;
            r.next_begin_offset = correct(offset, 0);
            return r;
        };
        let (min, max) = (q.min_offset(), q.max_offset());
        r.min_offset = min;
        r.max_offset = max;
        if max == 0 {
            r.status = GetMessageStatus::NoMessageInQueue;
            r.next_begin_offset = correct(offset, 0);
            return r;
        }
        if offset < min {
            r.status = GetMessageStatus::OffsetTooSmall;
            r.next_begin_offset = correct(offset, min);
            return r;
        }
        if offset == max {
            r.status = GetMessageStatus::OffsetOverflowOne;
            r.next_begin_offset = offset;
            return r;
        }
        if offset > max {
            r.status = GetMessageStatus::OffsetOverflowBadly;
            r.next_begin_offset = correct(offset, if min == 0 { min } else { max });
            return r;
        }
        let cfg = &self.shared.cfg;
        let max_count = usize::try_from(max_msg_nums)
            .unwrap_or(1)
            .clamp(1, cfg.max_transfer_count_on_message_in_memory.max(1));
        // Java scans at most max(16000 bytes, maxMsgNums units) of the queue per pull.
        let scan_units = (16000 / 20).max(max_msg_nums.max(1) as i64);
        let min_phy = self.shared.commitlog.min_offset();
        let mut total = 0usize;
        let mut cur = offset;
        let mut max_phy_pulling = 0i64;
        r.status = GetMessageStatus::NoMatchedMessage;
        while cur < max && cur - offset < scan_units {
            let Some(u) = q.get(cur) else {
                if r.messages.is_empty() {
                    r.status = GetMessageStatus::OffsetFoundNull;
                }
                break;
            };
            max_phy_pulling = max_phy_pulling.max(u.phy_offset);
            if u.is_filler() || u.phy_offset < min_phy {
                cur += 1;
                continue;
            }
            let size = u.size as usize;
            if !r.messages.is_empty()
                && (r.messages.len() >= max_count
                    || total + size > cfg.max_transfer_bytes_on_message_in_memory)
            {
                break;
            }
            if !filter(u.tags_code) {
                cur += 1;
                continue;
            }
            match self.shared.commitlog.bytes(u.phy_offset, size) {
                Some(b) if !by_record(&b) => {
                    if r.messages.is_empty() {
                        r.status = GetMessageStatus::NoMatchedMessage;
                    }
                }
                Some(b) => {
                    total += size;
                    r.messages.push(b);
                    r.status = GetMessageStatus::Found;
                }
                None => {
                    if r.messages.is_empty() {
                        r.status = GetMessageStatus::MessageWasRemoving;
                    }
                }
            }
            cur += 1;
        }
        r.next_begin_offset = if r.status == GetMessageStatus::OffsetFoundNull {
            correct(offset, cur)
        } else {
            cur
        };
        // How far this consumer is behind the CommitLog end, against the share of memory
        // Java expects to hold the hot data.
        let behind = self.shared.commitlog.max_offset() - max_phy_pulling;
        let memory =
            physical_memory() as f64 * (f64::from(cfg.access_message_in_memory_max_ratio) / 100.0);
        r.suggest_pulling_from_slave =
            r.status != GetMessageStatus::OffsetFoundNull && behind as f64 > memory;
        r
    }

    /// QUERY_MESSAGE: records whose `topic#key` is in the index within the time range.
    pub fn query_by_key(
        &self,
        topic: &str,
        key: &str,
        max: usize,
        begin: i64,
        end: i64,
    ) -> QueryResult {
        let found = {
            let index = self.shared.index.lock().unwrap_or_else(|e| e.into_inner());
            index.query(topic, key, max, begin, end)
        };
        let mut records = Vec::new();
        for off in found.phy_offsets {
            if let Some(b) = self.shared.commitlog.record_bytes(off) {
                records.push(b);
            }
        }
        QueryResult {
            records,
            index_last_update_timestamp: found.last_update_timestamp,
            index_last_update_phy_offset: found.last_update_phy_offset,
        }
    }

    /// Waits until everything appended so far is dispatched (tests, shutdown).
    pub fn wait_dispatched(&self, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let target = self.shared.commitlog.max_offset();
        while self.shared.dispatched.load(Ordering::Acquire) < target {
            if Instant::now() > deadline {
                return false;
            }
            self.shared.dispatch_cv.notify_one();
            std::thread::sleep(Duration::from_millis(1));
        }
        true
    }

    /// Stops the threads after they finish queued work, flushes everything and removes
    /// the `abort` marker: the next start recovers normally.
    pub fn shutdown(&self) {
        let tx = self.jobs.lock().unwrap_or_else(|e| e.into_inner()).take();
        drop(tx);
        let threads: Vec<_> = self
            .threads
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .drain(..)
            .collect();
        if threads.is_empty() {
            return;
        }
        // The writer ends when its channel closes; then the others are told to stop.
        let mut threads = threads.into_iter();
        if let Some(writer) = threads.next() {
            let _ = writer.join();
        }
        {
            let mut p = self
                .shared
                .progress
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            p.shutdown = true;
        }
        self.shared.dispatch_cv.notify_all();
        self.shared.flush_cv.notify_all();
        self.shared.idle_cv.notify_all();
        self.shared.warm_cv.notify_all();
        for t in threads {
            let _ = t.join();
        }
        self.shared.commitlog.files().drop_spare();
        if let Err(e) = dispatcher::dispatch_available(&self.shared, Phase::Serving) {
            tracing::error!(error = %e, "dispatch at shutdown failed; the next start re-dispatches");
        }
        let ok = self.flush_all();
        if ok {
            if let Err(e) = std::fs::remove_file(self.shared.cfg.abort_path()) {
                tracing::warn!(error = %e, "could not remove the abort file");
            }
        }
        tracing::info!("store shut down");
    }
}

impl MessageStore {
    /// Everything to disk at shutdown. A store that failed a flush keeps its `abort`
    /// marker, so the next start recovers as after a crash.
    fn flush_all(&self) -> bool {
        let s = &self.shared;
        let ts = s
            .progress
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .last_store_ts
            .max(s.last_dispatched_ts.load(Ordering::Acquire));
        let cl = flusher::flush_commitlog(s, s.commitlog.max_offset(), ts);
        let logics = dispatcher::flush_logics(s);
        cl && logics && s.health.state() != HealthState::Poisoned
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

/// Creates (or empties) a marker file and makes its directory entry durable: the `abort`
/// marker must survive a power cut, or the next start would trust a half-flushed store.
fn create_durably(path: &std::path::Path) -> Result<(), FileError> {
    let f = OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .open(path)
        .map_err(|e| FileError::new(path, e))?;
    f.sync_all().map_err(|e| FileError::new(path, e))?;
    if let Some(dir) = path.parent() {
        crate::mapped_file::sync_dir(dir).map_err(|e| FileError::new(dir, e))?;
    }
    Ok(())
}
