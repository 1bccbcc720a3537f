//! Opening a store directory: locking it, loading its files and bringing CommitLog,
//! consume queues and index back to a consistent end after a clean stop or a crash.
//!
//! Truncation, scanning and gap filling happen only here, before any service runs:
//! [`Recovered`] is the only holder of the store's parts until [`Recovered::serve`]
//! hands them to the services, so nothing that runs while serving can call them.

use std::collections::HashMap;
use std::fs::OpenOptions;
use std::path::Path;
use std::sync::atomic::{AtomicI64, AtomicUsize};
use std::sync::{Arc, Condvar, Mutex, RwLock};

use tokio::sync::watch;

use super::dispatcher::{dispatch_available, Phase};
use super::health::HealthCell;
use super::shared::{Progress, QueueTable, Shared};
use super::types::{OpenError, RecoveryReport};
use crate::checkpoint::Checkpoint;
use crate::commitlog::{CommitLog, ScanStart};
use crate::config::StoreConfig;
use crate::consume_queue::ConsumeQueue;
use crate::index_file::{AbnormalExit, IndexConfig, IndexService};
use crate::mapped_file::FileError;

/// A recovered store, not yet serving.
pub(crate) struct Recovered {
    pub shared: Arc<Shared>,
    pub lock: std::fs::File,
    pub abnormal: bool,
    pub report: RecoveryReport,
}

impl Recovered {
    pub fn open(cfg: StoreConfig) -> Result<Self, OpenError> {
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
        let start = if abnormal {
            ScanStart::Abnormal(cp)
        } else {
            ScanStart::Normal
        };
        let scan = commitlog.scan(start, cfg.check_crc_on_recover, |_, _| {});
        if let Some((at, why)) = &scan.stopped_by {
            tracing::warn!(offset = at, reason = %why, "commit log ends at a damaged record; the tail is discarded");
        }
        let (index, index_rebuild_from) = IndexService::open(
            &cfg.index_path(),
            IndexConfig {
                max_hash_slot_num: cfg.max_hash_slot_num,
                max_index_num: cfg.max_index_num,
            },
            abnormal.then_some(AbnormalExit {
                index_timestamp: cp.index_msg_timestamp,
                commitlog_end: scan.end,
            }),
        )?;
        // The consume queues' ends tell normal recovery where dispatch stopped; after a
        // crash everything from the CommitLog's re-dispatch point is rebuilt instead.
        let rebuild_from = abnormal.then_some(scan.redispatch_from);
        let mut max_phy_in_queues = 0i64;
        for q in queues.values().flat_map(|m| m.values()) {
            q.recover(rebuild_from);
            max_phy_in_queues = max_phy_in_queues.max(q.max_phy_end());
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
        if let Some(from) = index_rebuild_from {
            // Index files dropped after the crash are rebuilt from where the kept ones end
            // (Java's messageIndexSafe, always on): QUERY_MESSAGE finds every key again.
            // Units already in the consume queues are skipped by the re-dispatch.
            redispatch_from = redispatch_from.min(from.clamp(min, scan.end));
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
            health: HealthCell::new(),
            queued: AtomicUsize::new(0),
            append_started: AtomicI64::new(0),
            last_dispatched_ts: AtomicI64::new(0),
            replica: super::replica::ReplicaState::new(),
            appended: tokio::sync::Notify::new(),
            stats: Default::default(),
            manual_deletes: Default::default(),
        });
        // Re-dispatch what the queues and the index miss, before anyone reads. A failure
        // here is a failure to open: serving a store whose queues hide messages is worse.
        dispatch_available(&shared, Phase::Recovery)
            .map_err(|e| OpenError::Recovery(format!("re-dispatch failed: {e}")))?;
        Ok(Recovered {
            shared,
            lock,
            abnormal,
            report,
        })
    }

    /// The next queue offset of every queue, for the writer.
    pub fn queue_offsets(&self) -> HashMap<String, HashMap<i32, i64>> {
        queue_offsets(&self.shared)
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
