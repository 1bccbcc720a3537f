//! The message store: opening and recovering a store directory, the single append writer
//! with group commit, the flusher, the dispatcher that builds consume queues and the
//! index, and the reads the broker serves from the mapped files.
//!
//! Threads: one writer owns the CommitLog tail and the queue-offset table; one flusher
//! writes the CommitLog back (at once for SYNC_FLUSH, periodically for ASYNC_FLUSH); one
//! dispatcher turns appended records into consume-queue units and index entries and
//! tells the broker about new messages; one cleaner deletes expired files and watches
//! the disk. Readers never lock the writer out: they read what the writer has published.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::future::Future;
use std::path::Path;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, RwLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tokio::sync::{oneshot, watch};

use crate::checkpoint::Checkpoint;
use crate::commitlog::{AppendError, CommitLog, ScanStart};
use crate::config::{FlushDiskType, StoreConfig};
use crate::consume_queue::{ConsumeQueue, Unit};
use crate::dispatch::DispatchRequest;
use crate::file_queue::QueueLoadError;
use crate::index_file::{IndexConfig, IndexError, IndexService};
use crate::mapped_file::FileError;
use crate::record::{self, sys_flag, Decoded, RecordFields, MAX_PROPERTIES_LEN};

/// A message as the broker hands it to the store.
#[derive(Debug, Clone)]
pub struct MessageToStore {
    pub topic: String,
    pub queue_id: i32,
    pub flag: i32,
    pub body: Bytes,
    /// The stored properties string (`k\x01v\x02…`).
    pub properties: String,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: std::net::SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutStatus {
    PutOk,
    FlushDiskTimeout,
    ServiceNotAvailable,
    MessageIllegal,
    PropertiesSizeExceeded,
    /// The writer has been stuck in one append longer than `os_page_cache_busy_timeout`.
    OsPageCacheBusy,
    /// `send_queue_capacity` appends are already waiting for the writer.
    QueueFull,
    UnknownError,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    pub status: PutStatus,
    /// offsetMsgId; comma-joined for a batch.
    pub msg_id: String,
    pub queue_id: i32,
    /// Queue offset of the (first) message.
    pub queue_offset: i64,
    pub phy_offset: i64,
    pub wrote_bytes: usize,
    pub store_timestamp: i64,
    pub count: usize,
}

impl PutResult {
    fn failed(status: PutStatus) -> Self {
        PutResult {
            status,
            msg_id: String::new(),
            queue_id: 0,
            queue_offset: 0,
            phy_offset: 0,
            wrote_bytes: 0,
            store_timestamp: 0,
            count: 0,
        }
    }
}

pub type PutFuture = Pin<Box<dyn Future<Output = PutResult> + Send>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetMessageStatus {
    Found,
    NoMatchedMessage,
    MessageWasRemoving,
    OffsetFoundNull,
    OffsetOverflowBadly,
    OffsetOverflowOne,
    OffsetTooSmall,
    NoMatchedLogicQueue,
    NoMessageInQueue,
}

#[derive(Debug, Clone)]
pub struct GetMessageResult {
    pub status: GetMessageStatus,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
    /// Stored records, each straight from the mapped CommitLog file.
    pub messages: Vec<Bytes>,
}

#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    pub records: Vec<Bytes>,
    pub index_last_update_timestamp: i64,
    pub index_last_update_phy_offset: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Queue(#[from] QueueLoadError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("index: {0}")]
    Index(#[from] IndexError),
    #[error("{0}: lock failed, the store is already in use by another broker")]
    Locked(std::path::PathBuf),
    #[error("recovery: {0}")]
    Recovery(String),
}

/// Called with (topic, queue id, new max offset) after messages are dispatched.
pub type ArrivalListener = Arc<dyn Fn(&str, i32, i64) + Send + Sync>;

type QueueTable = HashMap<String, HashMap<i32, Arc<ConsumeQueue>>>;

enum Job {
    Put {
        msgs: Vec<MessageToStore>,
        reply: oneshot::Sender<PutResult>,
    },
    /// Forget a deleted topic's queue offsets.
    DeleteTopic(String),
}

/// Shared progress between writer, flusher and dispatcher.
#[derive(Default)]
struct Progress {
    /// One past the last appended byte.
    written: i64,
    /// Store time of the last appended record.
    last_store_ts: i64,
    shutdown: bool,
}

struct Shared {
    cfg: StoreConfig,
    commitlog: CommitLog,
    queues: RwLock<QueueTable>,
    index: Mutex<IndexService>,
    checkpoint: Checkpoint,
    progress: Mutex<Progress>,
    /// Wakes the dispatcher when records are appended.
    dispatch_cv: Condvar,
    /// Wakes the flusher: on every append for SYNC_FLUSH, only at shutdown otherwise.
    flush_cv: Condvar,
    /// Wakes the cleaner at shutdown.
    idle_cv: Condvar,
    /// Wakes the page warmer once the CommitLog end passes `warm_at`.
    warm_cv: Condvar,
    /// CommitLog offset from which the warmer wants waking (its populated end less a
    /// margin); just past the recovered end until the first append, `i64::MAX` where
    /// pre-faulting is unsupported.
    warm_at: AtomicI64,
    /// One past the last byte known on disk.
    flushed_tx: watch::Sender<i64>,
    /// One past the last dispatched byte.
    dispatched: AtomicI64,
    listener: RwLock<Option<ArrivalListener>>,
    disk_full: AtomicBool,
    /// Put jobs queued and not yet taken by the writer.
    queued: AtomicUsize,
    /// When the writer began its current append (ms), 0 while it waits for work.
    append_started: AtomicI64,
    /// Store time of the last message dispatched, for the checkpoint.
    last_dispatched_ts: AtomicI64,
}

pub struct MessageStore {
    shared: Arc<Shared>,
    jobs: Mutex<Option<mpsc::Sender<Job>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    _lock: std::fs::File,
    abnormal_start: bool,
}

/// What opening found, for logs and the store CLI.
#[derive(Debug, Clone)]
pub struct RecoveryReport {
    pub abnormal: bool,
    pub commitlog_min: i64,
    pub commitlog_end: i64,
    pub redispatch_from: i64,
    pub stopped_by: Option<(i64, String)>,
    pub consume_queues: usize,
    pub commitlog_file_size: usize,
}

impl MessageStore {
    /// Opens (creating if needed) and recovers the store, then starts its threads.
    pub fn open(cfg: StoreConfig) -> Result<(Self, RecoveryReport), OpenError> {
        std::fs::create_dir_all(&cfg.root_dir).map_err(|e| FileError::new(&cfg.root_dir, e))?;
        let lock = lock_store(&cfg.lock_path())?;
        let abnormal = cfg.abort_path().exists();
        let checkpoint = Checkpoint::open(&cfg.checkpoint_path())?;
        let commitlog =
            CommitLog::open(&cfg.commitlog_path(), cfg.mapped_file_size_commitlog, false)?;
        if commitlog.file_size() != cfg.mapped_file_size_commitlog {
            tracing::warn!(
                found = commitlog.file_size(),
                configured = cfg.mapped_file_size_commitlog,
                "commit log files keep the size they were written with"
            );
        }
        let queues = load_queues(&cfg, false)?;
        let cp = checkpoint.values();
        let index = IndexService::open(
            &cfg.index_path(),
            IndexConfig {
                max_hash_slot_num: cfg.max_hash_slot_num,
                max_index_num: cfg.max_index_num,
            },
            abnormal.then_some(cp.index_msg_timestamp),
        )?;

        // Consume queues first: their end tells normal recovery where dispatch stopped.
        let mut max_phy_in_queues = 0i64;
        for q in queues.values().flat_map(|m| m.values()) {
            q.recover();
            max_phy_in_queues = max_phy_in_queues.max(q.max_phy_end());
        }
        let start = if abnormal {
            ScanStart::Abnormal(cp)
        } else {
            ScanStart::Normal
        };
        let scan = commitlog.scan(start, cfg.check_crc_on_recover, |_, _| {});
        if let Some((at, why)) = &scan.stopped_by {
            tracing::warn!(offset = at, reason = %why, "commit log ends at a damaged record; the tail is discarded");
        }
        commitlog.truncate(scan.end)?;
        for q in queues.values().flat_map(|m| m.values()) {
            q.truncate_phy(scan.end)?;
        }
        let min = commitlog.min_offset();
        for q in queues.values().flat_map(|m| m.values()) {
            q.correct_min_offset(min);
        }
        let mut redispatch_from = max_phy_in_queues.min(scan.end).max(min);
        if abnormal {
            redispatch_from = redispatch_from.min(scan.redispatch_from.max(min));
        }
        let report = RecoveryReport {
            abnormal,
            commitlog_min: min,
            commitlog_end: scan.end,
            redispatch_from,
            stopped_by: scan.stopped_by.clone(),
            consume_queues: queues.values().map(HashMap::len).sum(),
            commitlog_file_size: commitlog.file_size(),
        };
        tracing::info!(?report, "store recovered");

        let (flushed_tx, _) = watch::channel(scan.end);
        let shared = Arc::new(Shared {
            cfg,
            commitlog,
            queues: RwLock::new(queues),
            index: Mutex::new(index),
            checkpoint,
            progress: Mutex::new(Progress {
                written: scan.end,
                last_store_ts: 0,
                shutdown: false,
            }),
            dispatch_cv: Condvar::new(),
            flush_cv: Condvar::new(),
            idle_cv: Condvar::new(),
            warm_cv: Condvar::new(),
            warm_at: AtomicI64::new(scan.end + 1),
            flushed_tx,
            dispatched: AtomicI64::new(redispatch_from),
            listener: RwLock::new(None),
            disk_full: AtomicBool::new(false),
            queued: AtomicUsize::new(0),
            append_started: AtomicI64::new(0),
            last_dispatched_ts: AtomicI64::new(0),
        });
        // Re-dispatch what the queues and the index miss, before anyone reads.
        dispatch_available(&shared);

        let offsets = queue_offsets(&shared);
        let (tx, rx) = mpsc::channel();
        let mut threads = Vec::new();
        let spawn = |name: &str, f: Box<dyn FnOnce() + Send>| {
            std::thread::Builder::new()
                .name(name.to_string())
                .spawn(f)
                .map_err(|e| FileError::new(Path::new(name), e))
        };
        {
            let s = Arc::clone(&shared);
            threads.push(spawn(
                "store-writer",
                Box::new(move || writer_loop(&s, rx, offsets)),
            )?);
        }
        {
            let s = Arc::clone(&shared);
            threads.push(spawn("store-flusher", Box::new(move || flusher_loop(&s)))?);
        }
        {
            let s = Arc::clone(&shared);
            threads.push(spawn("store-warmer", Box::new(move || warmer_loop(&s)))?);
        }
        {
            let s = Arc::clone(&shared);
            threads.push(spawn(
                "store-dispatcher",
                Box::new(move || dispatcher_loop(&s)),
            )?);
        }
        {
            let s = Arc::clone(&shared);
            threads.push(spawn("store-cleaner", Box::new(move || cleaner_loop(&s)))?);
        }
        let abort = shared.cfg.abort_path();
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .open(&abort)
            .map_err(|e| FileError::new(&abort, e))?;
        Ok((
            MessageStore {
                shared,
                jobs: Mutex::new(Some(tx)),
                threads: Mutex::new(threads),
                _lock: lock,
                abnormal_start: abnormal,
            },
            report,
        ))
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
    pub fn put(&self, msg: MessageToStore) -> PutFuture {
        self.put_batch(vec![msg])
    }

    /// Queues messages that must be stored contiguously with consecutive queue offsets.
    pub fn put_batch(&self, msgs: Vec<MessageToStore>) -> PutFuture {
        if let Some(status) = self.reject(&msgs) {
            return Box::pin(async move { PutResult::failed(status) });
        }
        if let Some(status) = self.shed() {
            return Box::pin(async move { PutResult::failed(status) });
        }
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
        let sync = self.shared.cfg.flush_disk_type == FlushDiskType::Sync;
        let timeout = self.shared.cfg.sync_flush_timeout;
        let mut flushed = self.shared.flushed_tx.subscribe();
        Box::pin(async move {
            let Ok(mut result) = rx.await else {
                return PutResult::failed(PutStatus::ServiceNotAvailable);
            };
            if sync && result.status == PutStatus::PutOk {
                let end = result.phy_offset + result.wrote_bytes as i64;
                let wait = flushed.wait_for(|f| *f >= end);
                match tokio::time::timeout(timeout, wait).await {
                    Ok(Ok(_)) => {}
                    _ => result.status = PutStatus::FlushDiskTimeout,
                }
            }
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
        if self.shared.disk_full.load(Ordering::Relaxed) {
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
        let mut r = GetMessageResult {
            status: GetMessageStatus::NoMatchedLogicQueue,
            next_begin_offset: offset,
            min_offset: 0,
            max_offset: 0,
            messages: Vec::new(),
        };
        let Some(q) = self.queue(topic, queue_id) else {
            // Java creates a missing consume queue on lookup, so a pull of a queue that
            // never held a message reads as an empty queue, not as an unknown one.
            r.status = GetMessageStatus::NoMessageInQueue;
            r.next_begin_offset = 0;
            return r;
        };
        let (min, max) = (q.min_offset(), q.max_offset());
        r.min_offset = min;
        r.max_offset = max;
        if max == 0 {
            r.status = GetMessageStatus::NoMessageInQueue;
            r.next_begin_offset = 0;
            return r;
        }
        if offset < min {
            r.status = GetMessageStatus::OffsetTooSmall;
            r.next_begin_offset = min;
            return r;
        }
        if offset == max {
            r.status = GetMessageStatus::OffsetOverflowOne;
            r.next_begin_offset = offset;
            return r;
        }
        if offset > max {
            r.status = GetMessageStatus::OffsetOverflowBadly;
            r.next_begin_offset = if min == 0 { min } else { max };
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
        r.status = GetMessageStatus::NoMatchedMessage;
        while cur < max && cur - offset < scan_units {
            let Some(u) = q.get(cur) else {
                if r.messages.is_empty() {
                    r.status = GetMessageStatus::OffsetFoundNull;
                }
                break;
            };
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
        r.next_begin_offset = cur;
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
        dispatch_available(&self.shared);
        let ok = flush_all(&self.shared);
        if ok {
            if let Err(e) = std::fs::remove_file(self.shared.cfg.abort_path()) {
                tracing::warn!(error = %e, "could not remove the abort file");
            }
        }
        tracing::info!("store shut down");
    }
}

impl Drop for MessageStore {
    fn drop(&mut self) {
        self.shutdown();
    }
}

impl Shared {
    fn queue(&self, topic: &str, queue_id: i32) -> Option<Arc<ConsumeQueue>> {
        self.queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(topic)
            .and_then(|m| m.get(&queue_id))
            .cloned()
    }

    fn queue_or_create(
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

    fn store_time(&self, u: Unit) -> Option<i64> {
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

fn lock_store(path: &Path) -> Result<std::fs::File, OpenError> {
    use std::io::Write;
    use std::os::fd::AsRawFd;
    let mut f = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(path)
        .map_err(|e| FileError::new(path, e))?;
    // A POSIX record lock on the first byte, as Java's FileChannel.tryLock(0, 1) takes,
    // so rmqd and a Java broker exclude each other.
    // SAFETY: zeroed flock is a valid value; fcntl on an fd we own.
    let rc = unsafe {
        let mut fl: libc::flock = std::mem::zeroed();
        fl.l_type = libc::F_WRLCK as _;
        fl.l_whence = libc::SEEK_SET as _;
        fl.l_start = 0;
        fl.l_len = 1;
        libc::fcntl(f.as_raw_fd(), libc::F_SETLK, &fl)
    };
    if rc != 0 {
        return Err(OpenError::Locked(path.to_path_buf()));
    }
    let _ = f.write_all(b"lock");
    Ok(f)
}

fn load_queues(cfg: &StoreConfig, read_only: bool) -> Result<QueueTable, OpenError> {
    let root = cfg.consume_queue_path();
    let mut table = QueueTable::new();
    let Ok(topics) = std::fs::read_dir(&root) else {
        return Ok(table);
    };
    for t in topics.flatten() {
        let Some(topic) = t.file_name().to_str().map(str::to_string) else {
            continue;
        };
        let Ok(ids) = std::fs::read_dir(t.path()) else {
            continue;
        };
        for id in ids.flatten() {
            let Some(queue_id) = id.file_name().to_str().and_then(|s| s.parse::<i32>().ok()) else {
                continue;
            };
            let q = ConsumeQueue::open(
                &root,
                &topic,
                queue_id,
                cfg.mapped_file_size_consume_queue,
                read_only,
            )?;
            if q.file_size() != cfg.mapped_file_size_consume_queue && q.files().first().is_some() {
                tracing::warn!(
                    topic = %topic,
                    queue = queue_id,
                    found = q.file_size(),
                    configured = cfg.mapped_file_size_consume_queue,
                    "consume queue files keep the size they were written with"
                );
            }
            table
                .entry(topic.clone())
                .or_default()
                .insert(queue_id, Arc::new(q));
        }
    }
    Ok(table)
}

/// Next queue offset per topic and queue, from the recovered consume queues.
fn queue_offsets(shared: &Shared) -> HashMap<String, HashMap<i32, i64>> {
    let queues = shared.queues.read().unwrap_or_else(|e| e.into_inner());
    queues
        .iter()
        .map(|(t, m)| {
            (
                t.clone(),
                m.iter().map(|(id, q)| (*id, q.max_offset())).collect(),
            )
        })
        .collect()
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

fn writer_loop(
    shared: &Shared,
    rx: mpsc::Receiver<Job>,
    mut offsets: HashMap<String, HashMap<i32, i64>>,
) {
    let mut replies = Vec::new();
    while let Ok(first) = rx.recv() {
        let mut job = Some(first);
        let mut appended = false;
        // Group commit: take everything already queued, append it all, then publish
        // progress and answer once.
        for _ in 0..4096 {
            let Some(j) = job.take().or_else(|| rx.try_recv().ok()) else {
                break;
            };
            match j {
                Job::Put { msgs, reply } => {
                    shared.queued.fetch_sub(1, Ordering::Relaxed);
                    shared.append_started.store(now_ms(), Ordering::Relaxed);
                    let result = append(shared, &mut offsets, &msgs);
                    appended |= result.status == PutStatus::PutOk;
                    replies.push((reply, result));
                }
                Job::DeleteTopic(t) => {
                    offsets.remove(&t);
                }
            }
        }
        if appended {
            let mut p = shared.progress.lock().unwrap_or_else(|e| e.into_inner());
            p.written = shared.commitlog.max_offset();
            let written = p.written;
            if let Some((_, r)) = replies.last() {
                p.last_store_ts = p.last_store_ts.max(r.store_timestamp);
            }
            drop(p);
            shared.dispatch_cv.notify_one();
            if shared.cfg.flush_disk_type == FlushDiskType::Sync {
                shared.flush_cv.notify_one();
            }
            if written >= shared.warm_at.load(Ordering::Relaxed) {
                shared.warm_cv.notify_one();
            }
        }
        shared.append_started.store(0, Ordering::Relaxed);
        for (reply, result) in replies.drain(..) {
            let _ = reply.send(result);
        }
    }
}

fn append(
    shared: &Shared,
    offsets: &mut HashMap<String, HashMap<i32, i64>>,
    msgs: &[MessageToStore],
) -> PutResult {
    let Some(first) = msgs.first() else {
        return PutResult::failed(PutStatus::MessageIllegal);
    };
    let store_ts = now_ms();
    let store_host = shared.cfg.store_host;
    let tran = sys_flag::transaction_type(first.sys_flag);
    // Prepared and rolled-back records take no queue offset (they are not consumable).
    let takes_offset = matches!(
        tran,
        sys_flag::TRANSACTION_NOT_TYPE | sys_flag::TRANSACTION_COMMIT
    );
    let next = offsets
        .get(&first.topic)
        .and_then(|m| m.get(&first.queue_id))
        .copied()
        .unwrap_or(0);
    let base_queue_offset = if takes_offset { next } else { 0 };
    fn fields_of(
        m: &MessageToStore,
        queue_offset: i64,
        phy: i64,
        store_ts: i64,
        store_host: std::net::SocketAddr,
    ) -> RecordFields<'_> {
        RecordFields {
            queue_id: m.queue_id,
            flag: m.flag,
            queue_offset,
            physical_offset: phy,
            sys_flag: m.sys_flag,
            born_timestamp: m.born_timestamp,
            born_host: m.born_host,
            store_timestamp: store_ts,
            store_host,
            reconsume_times: m.reconsume_times,
            prepared_transaction_offset: m.prepared_transaction_offset,
            body: &m.body,
            topic: &m.topic,
            properties: &m.properties,
        }
    }
    let qo = |i: usize| base_queue_offset + if takes_offset { i as i64 } else { 0 };
    let lens: Vec<usize> = msgs
        .iter()
        .enumerate()
        .map(|(i, m)| fields_of(m, qo(i), 0, store_ts, store_host).encoded_len())
        .collect();
    let total: usize = lens.iter().sum();
    let mut ids = Vec::with_capacity(msgs.len());
    let res = shared.commitlog.append(total, |start, buf| {
        let mut pos = 0usize;
        for (i, (m, len)) in msgs.iter().zip(&lens).enumerate() {
            let phy = start + pos as i64;
            if let Some(dst) = buf.get_mut(pos..pos + len) {
                fields_of(m, qo(i), phy, store_ts, store_host).encode_into(dst);
            }
            ids.push(record::offset_msg_id(store_host, phy));
            pos += len;
        }
    });
    match res {
        Ok(phy) => {
            if takes_offset {
                offsets
                    .entry(first.topic.clone())
                    .or_default()
                    .insert(first.queue_id, next + msgs.len() as i64);
            }
            PutResult {
                status: PutStatus::PutOk,
                msg_id: ids.join(","),
                queue_id: first.queue_id,
                queue_offset: base_queue_offset,
                phy_offset: phy,
                wrote_bytes: total,
                store_timestamp: store_ts,
                count: msgs.len(),
            }
        }
        Err(AppendError::TooLarge { len, file_size }) => {
            tracing::warn!(len, file_size, topic = %first.topic, "message larger than a commit log file");
            PutResult::failed(PutStatus::MessageIllegal)
        }
        Err(AppendError::File(e)) => {
            tracing::error!(error = %e, "commit log append failed");
            PutResult::failed(PutStatus::UnknownError)
        }
    }
}

/// How far ahead of the write position the warmer keeps the CommitLog's pages faulted in.
const WARM_AHEAD: usize = 4 << 20;

/// Faults in the CommitLog pages just ahead of the writer, on another core, so that the
/// appends (and the sends waiting on them) do not stall on first-touch page faults. It
/// only runs after appends, so an idle broker's resident memory does not grow.
fn warmer_loop(shared: &Shared) {
    loop {
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

fn flusher_loop(shared: &Shared) {
    let sync = shared.cfg.flush_disk_type == FlushDiskType::Sync;
    let interval = shared.cfg.flush_interval_commitlog;
    loop {
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
            (p.written, p.last_store_ts, p.shutdown)
        };
        match shared.commitlog.flush() {
            Ok(_) => {
                shared.checkpoint.set_physic(ts);
                shared.flushed_tx.send_replace(written);
            }
            Err(e) => tracing::error!(error = %e, "commit log flush failed"),
        }
        if shutdown {
            return;
        }
    }
}

/// Dispatches every record between the dispatched offset and the commit-log end.
/// Returns whether anything was dispatched.
fn dispatch_available(shared: &Shared) -> bool {
    let end = shared.commitlog.max_offset();
    let mut pos = shared.dispatched.load(Ordering::Acquire);
    let start = pos;
    let mut arrived: HashMap<(String, i32), i64> = HashMap::new();
    while pos < end {
        let Some(file) = shared.commitlog.files().find(pos as u64) else {
            // Offset below the first file (deleted): jump to it.
            let min = shared.commitlog.min_offset();
            if pos < min {
                pos = min;
                continue;
            }
            break;
        };
        let in_file = (pos as u64 - file.start()) as usize;
        let avail = file.wrote().saturating_sub(in_file);
        let Some(bytes) = file.slice(in_file, avail) else {
            break;
        };
        if bytes.is_empty() {
            break;
        }
        match record::decode(bytes, false) {
            Ok(Decoded::Message(m)) => {
                let req = DispatchRequest::from_record(pos, &m, &shared.cfg.delay_level_millis);
                dispatch_one(shared, &req);
                if req.goes_to_consume_queue() {
                    arrived.insert((req.topic.clone(), req.queue_id), req.queue_offset + 1);
                }
                shared
                    .last_dispatched_ts
                    .store(req.store_timestamp, Ordering::Release);
                pos += m.total_size as i64;
            }
            Ok(Decoded::Blank { .. }) => {
                pos = (file.start() + file.size() as u64) as i64;
            }
            Err(e) => {
                tracing::error!(offset = pos, error = %e, "undecodable record in the commit log; dispatch skips to the next file");
                pos = (file.start() + file.size() as u64) as i64;
            }
        }
    }
    shared.dispatched.store(pos, Ordering::Release);
    if !arrived.is_empty() {
        let listener = shared
            .listener
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .clone();
        if let Some(l) = listener {
            for ((topic, qid), max) in &arrived {
                l(topic, *qid, *max);
            }
        }
    }
    pos > start
}

fn dispatch_one(shared: &Shared, req: &DispatchRequest) {
    if req.goes_to_consume_queue() {
        match shared.queue_or_create(&req.topic, req.queue_id) {
            Ok(q) => {
                let unit = Unit {
                    phy_offset: req.phy_offset,
                    size: req.size,
                    tags_code: req.tags_code,
                };
                if let Err(e) = q.put(req.queue_offset, unit) {
                    tracing::error!(error = %e, topic = %req.topic, "consume queue write failed");
                }
            }
            Err(e) => tracing::error!(error = %e, topic = %req.topic, "cannot open consume queue"),
        }
    }
    if shared.cfg.message_index_enable && req.goes_to_index() {
        let mut index = shared.index.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = index.build(
            &req.topic,
            req.uniq_key.as_deref(),
            req.keys.as_deref(),
            req.phy_offset,
            req.store_timestamp,
        ) {
            tracing::error!(error = %e, "index write failed");
        }
    }
}

fn dispatcher_loop(shared: &Shared) {
    let mut last_flush = Instant::now();
    loop {
        let shutdown = {
            let p = shared.progress.lock().unwrap_or_else(|e| e.into_inner());
            let dispatched = shared.dispatched.load(Ordering::Acquire);
            let p = if p.written <= dispatched && !p.shutdown {
                shared
                    .dispatch_cv
                    .wait_timeout(p, Duration::from_millis(100))
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0)
            } else {
                p
            };
            p.shutdown
        };
        dispatch_available(shared);
        if last_flush.elapsed() >= shared.cfg.flush_interval_consume_queue {
            flush_logics(shared);
            last_flush = Instant::now();
        }
        if shutdown {
            return;
        }
    }
}

/// Flushes consume queues and index, then records their progress in the checkpoint.
fn flush_logics(shared: &Shared) -> bool {
    let mut ok = true;
    let ts = shared.last_dispatched_ts.load(Ordering::Acquire);
    let queues: Vec<_> = shared
        .queues
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .flat_map(|m| m.values().cloned())
        .collect();
    for q in queues {
        if let Err(e) = q.flush() {
            tracing::error!(error = %e, "consume queue flush failed");
            ok = false;
        }
    }
    {
        let mut index = shared.index.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = index.flush() {
            tracing::error!(error = %e, "index flush failed");
            ok = false;
        }
        shared.checkpoint.set_index(index.last_full_end_timestamp());
    }
    if ok {
        shared.checkpoint.set_logics(ts);
    }
    if let Err(e) = shared.checkpoint.flush() {
        tracing::error!(error = %e, "checkpoint flush failed");
        ok = false;
    }
    ok
}

fn flush_all(shared: &Shared) -> bool {
    let mut ok = true;
    match shared.commitlog.flush() {
        Ok(end) => {
            let ts = shared
                .progress
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .last_store_ts;
            shared
                .checkpoint
                .set_physic(ts.max(shared.last_dispatched_ts.load(Ordering::Acquire)));
            shared.flushed_tx.send_replace(end);
        }
        Err(e) => {
            tracing::error!(error = %e, "commit log flush failed");
            ok = false;
        }
    }
    ok && flush_logics(shared)
}

/// `CleanCommitLogService` and friends: every 10 s, watch the disk and delete expired
/// files at `deleteWhen` (or at once when the disk is over `diskMaxUsedSpaceRatio`).
fn cleaner_loop(shared: &Shared) {
    let period = Duration::from_secs(10);
    let mut next = Instant::now();
    loop {
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
        next = Instant::now() + period;
        clean_once(shared);
    }
}

fn clean_once(shared: &Shared) {
    let cfg = &shared.cfg;
    let usage = disk_usage(&cfg.commitlog_path());
    if let Some(u) = usage {
        let full = u > cfg.disk_space_warning_ratio;
        let was = shared.disk_full.swap(full, Ordering::Relaxed);
        if full && !was {
            tracing::error!(
                usage = format!("{:.1}%", u * 100.0),
                "disk almost full: new messages are refused until space is freed"
            );
        } else if was && !full {
            tracing::info!("disk usage back below the limit: accepting messages again");
        }
    }
    let over_ratio = usage.is_some_and(|u| u * 100.0 > f64::from(cfg.disk_max_used_space_ratio));
    if !(over_ratio || is_delete_hour(&cfg.delete_when)) {
        return;
    }
    let reserved_ms = (cfg.file_reserved_hours as i64).saturating_mul(3_600_000);
    let now = now_ms();
    let dispatched = shared.dispatched.load(Ordering::Acquire);
    let gone = shared.commitlog.files().delete_oldest_while(|f| {
        let expired = now - f.modified_ms() > reserved_ms;
        let dispatched_past = (f.start() + f.size() as u64) as i64 <= dispatched;
        (expired || over_ratio) && dispatched_past
    });
    if gone.is_empty() {
        return;
    }
    tracing::info!(files = gone.len(), "deleted expired commit log files");
    let min = shared.commitlog.min_offset();
    let queues: Vec<_> = shared
        .queues
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .values()
        .flat_map(|m| m.values().cloned())
        .collect();
    for q in queues {
        q.correct_min_offset(min);
    }
    shared
        .index
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .delete_before(min);
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

/// Share of the filesystem holding `path` that is in use.
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
    let total = st.f_blocks as f64;
    if total <= 0.0 {
        return None;
    }
    let free = st.f_bavail as f64;
    Some(((total - free) / total).clamp(0.0, 1.0))
}
