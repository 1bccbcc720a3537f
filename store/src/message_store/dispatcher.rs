//! Java's "reput": turns appended CommitLog records into consume-queue units and index
//! entries, tells the broker about new messages, and flushes the queues and the index
//! into the checkpoint.
//!
//! A record whose unit or index entry cannot be written stops dispatch at that record:
//! skipping it would leave a hole that the next unit fills, hiding an acknowledged
//! message. The write is retried (`dispatch_retry_times` × `dispatch_retry_interval`,
//! Java's 30 × 1 s) and then the store is poisoned; retries go on, so a disk that heals
//! lets consumers catch up.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::health::HealthState;
use super::shared::Shared;
use crate::consume_queue::{PutUnitError, Unit};
use crate::dispatch::DispatchRequest;
use crate::index_file::IndexError;
use crate::mapped_file::FileError;
use crate::record::{self, Decoded};

/// Why one record could not be dispatched.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DispatchError {
    #[error(
        "consume queue write failed for {topic}-{queue_id} at commit log offset {phy}: {source}"
    )]
    ConsumeQueue {
        topic: String,
        queue_id: i32,
        phy: i64,
        source: PutUnitError,
    },
    #[error("cannot open consume queue {topic}-{queue_id}: {source}")]
    OpenQueue {
        topic: String,
        queue_id: i32,
        source: crate::file_queue::QueueLoadError,
    },
    #[error("index write failed at commit log offset {phy}: {source}")]
    Index { phy: i64, source: IndexError },
    #[error("checkpoint write failed: {0}")]
    Checkpoint(FileError),
}

/// Where the dispatcher runs: recovery may fill consume-queue gaps left by damaged
/// files; serving never does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Phase {
    Recovery,
    Serving,
}

/// Dispatches every record between the dispatched offset and the commit-log end.
/// Returns whether anything was dispatched, or the error that stopped it (the dispatched
/// offset then points at the failed record).
pub(crate) fn dispatch_available(shared: &Shared, phase: Phase) -> Result<bool, DispatchError> {
    let end = shared.commitlog.max_offset();
    let mut pos = shared.dispatched.load(Ordering::Acquire);
    let start = pos;
    let mut arrived: HashMap<(String, i32), i64> = HashMap::new();
    let mut failure = None;
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
                if let Err(e) = dispatch_one(shared, &req, phase) {
                    failure = Some(e);
                    break;
                }
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
    match failure {
        Some(e) => Err(e),
        None => Ok(pos > start),
    }
}

/// Writes one record's unit and index entries. Both are idempotent (a unit below the
/// queue's end and an entry below the index's end are skipped), so a retry after a
/// partial failure writes each once.
fn dispatch_one(shared: &Shared, req: &DispatchRequest, phase: Phase) -> Result<(), DispatchError> {
    if req.goes_to_consume_queue() {
        let q = shared
            .queue_or_create(&req.topic, req.queue_id)
            .map_err(|source| DispatchError::OpenQueue {
                topic: req.topic.clone(),
                queue_id: req.queue_id,
                source,
            })?;
        let unit = Unit {
            phy_offset: req.phy_offset,
            size: req.size,
            tags_code: req.tags_code,
        };
        match put_unit(shared, &q, req.queue_offset, unit, phase == Phase::Recovery) {
            Ok(()) => {}
            // During recovery a queue offset far past the queue's end comes from a damaged
            // record (the CRC covers the body only): it cannot be placed, and filling up
            // to it could fill the disk. Serving never gets here: it stops and retries.
            Err(e @ (PutUnitError::Gap { .. } | PutUnitError::BadOffset(_)))
                if phase == Phase::Recovery =>
            {
                tracing::error!(error = %e, phy = req.phy_offset, "record not placed in its consume queue");
            }
            Err(source) => {
                return Err(DispatchError::ConsumeQueue {
                    topic: req.topic.clone(),
                    queue_id: req.queue_id,
                    phy: req.phy_offset,
                    source,
                })
            }
        }
    }
    if shared.cfg.message_index_enable && req.goes_to_index() {
        let mut index = shared.index.lock().unwrap_or_else(|e| e.into_inner());
        build_index(shared, &mut index, req).map_err(|source| DispatchError::Index {
            phy: req.phy_offset,
            source,
        })?;
        if let Some(ts) = index.take_rolled() {
            // A file just filled up and is flushed: vouch for it before the next file takes
            // keys, so recovery after a crash keeps it instead of rebuilding it.
            shared.checkpoint.set_index(ts);
            flush_checkpoint(shared).map_err(DispatchError::Checkpoint)?;
        }
    }
    Ok(())
}

fn put_unit(
    shared: &Shared,
    q: &crate::consume_queue::ConsumeQueue,
    offset: i64,
    unit: Unit,
    fill_gaps: bool,
) -> Result<(), PutUnitError> {
    let _ = shared;
    fail::fail_point!("consume-queue-put", |arg| Err(PutUnitError::File(
        crate::mapped_file::FileError::new(
            &shared.cfg.consume_queue_path(),
            super::faults::injected(arg)
        )
    )));
    q.put(offset, unit, fill_gaps)
}

fn build_index(
    shared: &Shared,
    index: &mut crate::index_file::IndexService,
    req: &DispatchRequest,
) -> Result<(), IndexError> {
    let _ = shared;
    fail::fail_point!("index-build", |arg| Err(IndexError::Io {
        path: shared.cfg.index_path(),
        source: super::faults::injected(arg),
    }));
    index.build(
        &req.topic,
        req.uniq_key.as_deref(),
        req.keys.as_deref(),
        req.phy_offset,
        req.store_timestamp,
    )
}

pub(crate) fn flush_checkpoint(shared: &Shared) -> Result<(), FileError> {
    fail::fail_point!("checkpoint-flush", |arg| Err(FileError::new(
        &shared.cfg.checkpoint_path(),
        super::faults::injected(arg)
    )));
    shared.checkpoint.flush()
}

pub(crate) fn dispatcher_loop(shared: &Shared) {
    let mut last_flush = Instant::now();
    let mut failures = 0u32;
    loop {
        fail::fail_point!("dispatcher-loop");
        let wait = if failures > 0 {
            shared.cfg.dispatch_retry_interval
        } else {
            Duration::from_millis(100)
        };
        let shutdown = {
            let p = shared.progress.lock().unwrap_or_else(|e| e.into_inner());
            let dispatched = shared.dispatched.load(Ordering::Acquire);
            let p = if (failures > 0 || p.written <= dispatched) && !p.shutdown {
                shared
                    .dispatch_cv
                    .wait_timeout(p, wait)
                    .map(|(g, _)| g)
                    .unwrap_or_else(|e| e.into_inner().0)
            } else {
                p
            };
            p.shutdown
        };
        match dispatch_available(shared, Phase::Serving) {
            Ok(_) => {
                if failures > 0 {
                    tracing::warn!(retries = failures, "dispatch resumed after write failures");
                }
                failures = 0;
            }
            Err(e) => {
                failures = failures.saturating_add(1);
                if failures == shared.cfg.dispatch_retry_times.max(1) {
                    shared.health.poison(e.to_string());
                } else if failures < shared.cfg.dispatch_retry_times {
                    tracing::warn!(error = %e, attempt = failures, "dispatch failed; retrying");
                }
            }
        }
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
/// A failure poisons the store: recovery trusts what the checkpoint says is on disk.
pub(crate) fn flush_logics(shared: &Shared) -> bool {
    let mut ok = true;
    let ts = shared.last_dispatched_ts.load(Ordering::Acquire);
    for q in shared.all_queues() {
        if let Err(e) = q.flush() {
            shared
                .health
                .poison(format!("consume queue flush failed: {e}"));
            ok = false;
        }
    }
    {
        let mut index = shared.index.lock().unwrap_or_else(|e| e.into_inner());
        if let Err(e) = index.flush() {
            shared.health.poison(format!("index flush failed: {e}"));
            ok = false;
        }
        shared.checkpoint.set_index(index.last_full_end_timestamp());
    }
    if ok && shared.health.state() != HealthState::Poisoned {
        shared.checkpoint.set_logics(ts);
    }
    if let Err(e) = flush_checkpoint(shared) {
        shared
            .health
            .poison(format!("checkpoint flush failed: {e}"));
        ok = false;
    }
    ok
}
