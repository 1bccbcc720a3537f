//! The single append writer: owns the CommitLog tail and the queue-offset table, and
//! batches every waiting append into one group commit.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::mpsc;

use tokio::sync::oneshot;

use super::health::HealthState;
use super::shared::{now_ms, Shared};
use super::types::{MessageToStore, PutResult, PutStatus, ReplicaAppendError, ReplicatedEnd};
use crate::commitlog::AppendError;
use crate::config::FlushDiskType;
use crate::record::{self, sys_flag, RecordFields};

pub(crate) enum Job {
    Put {
        msgs: Vec<MessageToStore>,
        reply: oneshot::Sender<PutResult>,
    },
    /// Forget a deleted topic's queue offsets.
    DeleteTopic(String),
    /// Bytes a master replicated, appended verbatim at `start` (SLAVE only).
    Replicate {
        start: i64,
        data: bytes::Bytes,
        reply: oneshot::Sender<Result<ReplicatedEnd, ReplicaAppendError>>,
    },
}

pub(crate) fn writer_loop(
    shared: &Shared,
    rx: mpsc::Receiver<Job>,
    mut offsets: HashMap<String, HashMap<i32, i64>>,
) {
    let mut replies = Vec::new();
    // A slave's record still arriving: its first bytes, held until the rest comes.
    let mut partial = Vec::new();
    while let Ok(first) = rx.recv() {
        fail::fail_point!("writer-loop");
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
                    // Checked per job: appends queued before the store was poisoned must
                    // not be acknowledged either.
                    let result = if shared.health.state() != HealthState::Running {
                        PutResult::failed(PutStatus::ServiceNotAvailable)
                    } else {
                        shared.append_started.store(now_ms(), Ordering::Relaxed);
                        append(shared, &mut offsets, &msgs)
                    };
                    appended |= result.status == PutStatus::PutOk;
                    replies.push((reply, result));
                }
                Job::DeleteTopic(t) => {
                    offsets.remove(&t);
                }
                Job::Replicate { start, data, reply } => {
                    shared.append_started.store(now_ms(), Ordering::Relaxed);
                    let result = replicate(shared, &mut partial, start, &data);
                    // Published before the answer (even after a failure part-way: what was
                    // written is there), so the end the slave reports is one the flusher
                    // and dispatcher already know about.
                    publish(shared, None);
                    let _ = reply.send(result);
                }
            }
        }
        if appended {
            publish(shared, replies.last().map(|(_, r)| r.store_timestamp));
        }
        shared.append_started.store(0, Ordering::Relaxed);
        for (reply, result) in replies.drain(..) {
            let _ = reply.send(result);
        }
    }
}

/// Tells the flusher, dispatcher and warmer how far the CommitLog now reaches.
fn publish(shared: &Shared, last_store_ts: Option<i64>) {
    let mut p = shared.progress.lock().unwrap_or_else(|e| e.into_inner());
    p.written = shared.commitlog.max_offset();
    let written = p.written;
    if let Some(ts) = last_store_ts {
        p.last_store_ts = p.last_store_ts.max(ts);
    }
    drop(p);
    shared.dispatch_cv.notify_one();
    if shared.cfg.flush_disk_type == FlushDiskType::Sync {
        shared.flush_cv.notify_one();
    }
    if written >= shared.warm_at.load(Ordering::Relaxed) {
        shared.warm_cv.notify_one();
    }
    // HA connections waiting for new bytes; without one this is a single atomic load.
    shared.appended.notify_waiters();
}

/// A replicated append: refused like any write when the store cannot vouch for what it
/// writes (poisoned); a full disk does not stop it, as a Java slave keeps copying into
/// the files it has. Only whole records reach the files; the start of one still arriving
/// waits in `partial`.
fn replicate(
    shared: &Shared,
    partial: &mut Vec<u8>,
    start: i64,
    data: &[u8],
) -> Result<ReplicatedEnd, ReplicaAppendError> {
    if !shared.cfg.broker_role.is_slave() {
        return Err(ReplicaAppendError::NotSlave);
    }
    if shared.health.state() == HealthState::Poisoned {
        return Err(ReplicaAppendError::Refused("POISONED"));
    }
    let cl = &shared.commitlog;
    let empty = cl.files().last().is_none();
    let stored = cl.max_offset();
    let received = stored + partial.len() as i64;
    if !empty && start != received {
        if start != stored {
            return Err(ReplicaAppendError::OffsetMismatch {
                slave: received,
                master: start,
            });
        }
        // A new connection starts again from the last whole record.
        partial.clear();
    }
    let at = if empty { start } else { stored };
    let joined;
    let bytes: &[u8] = if partial.is_empty() {
        data
    } else {
        partial.extend_from_slice(data);
        joined = std::mem::take(partial);
        &joined
    };
    let whole = crate::commitlog::whole_records(at, bytes, cl.file_size())
        .map_err(ReplicaAppendError::Malformed)?;
    inject_append_fault(shared).map_err(|e| match e {
        AppendError::File(f) => ReplicaAppendError::File(f),
        AppendError::TooLarge { .. } => ReplicaAppendError::Refused("append fault"),
    })?;
    let stored = cl.append_verbatim(at, bytes.get(..whole).unwrap_or_default())?;
    *partial = bytes.get(whole..).unwrap_or_default().to_vec();
    Ok(ReplicatedEnd {
        stored,
        received: stored + partial.len() as i64,
    })
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
    let res = inject_append_fault(shared).and_then(|()| {
        shared.commitlog.append(total, |start, buf| {
            let mut pos = 0usize;
            for (i, (m, len)) in msgs.iter().zip(&lens).enumerate() {
                let phy = start + pos as i64;
                if let Some(dst) = buf.get_mut(pos..pos + len) {
                    fields_of(m, qo(i), phy, store_ts, store_host).encode_into(dst);
                }
                ids.push(record::offset_msg_id(store_host, phy));
                pos += len;
            }
        })
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
            // Nothing was written: the record is refused, not lost. Creating the next file
            // is what fails here (ENOSPC from fallocate, typically); the cleaner decides
            // whether the disk is full.
            tracing::error!(error = %e, "commit log append failed");
            PutResult::failed(PutStatus::CreateMappedFileFailed)
        }
    }
}

fn inject_append_fault(shared: &Shared) -> Result<(), AppendError> {
    let _ = shared;
    fail::fail_point!("commitlog-append", |arg| Err(AppendError::File(
        crate::mapped_file::FileError::new(
            &shared.cfg.commitlog_path(),
            super::faults::injected(arg)
        )
    )));
    Ok(())
}
