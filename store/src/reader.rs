//! A read-only view of a store directory for operators' tools (`rmqd store verify|dump|
//! query`): nothing is created, truncated or recovered, and the files may be read-only.

use std::collections::BTreeMap;
use std::path::Path;

use bytes::Bytes;

use crate::checkpoint::{Checkpoint, CheckpointValues};
use crate::commitlog::{CommitLog, ScanOutcome, ScanStart};
use crate::config::StoreConfig;
use crate::consume_queue::{ConsumeQueue, Unit};
use crate::file_queue::QueueLoadError;
use crate::java;
use crate::mapped_file::FileError;
use crate::record::{self, Decoded};

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error(transparent)]
    Queue(#[from] QueueLoadError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("{0} is not a store directory (no commitlog/)")]
    NotAStore(std::path::PathBuf),
}

pub struct StoreReader {
    pub commitlog: CommitLog,
    pub queues: BTreeMap<String, BTreeMap<i32, ConsumeQueue>>,
    /// The whole CommitLog scanned from its first file, CRCs checked.
    pub scan: ScanOutcome,
    pub checkpoint: CheckpointValues,
    pub abort_present: bool,
}

/// One disagreement found by `verify`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub place: String,
    pub what: String,
}

#[derive(Debug, Default)]
pub struct VerifyReport {
    pub records: u64,
    pub commitlog_min: i64,
    pub commitlog_end: i64,
    pub queues: usize,
    pub units: u64,
    pub problems: Vec<Problem>,
}

impl StoreReader {
    pub fn open(cfg: &StoreConfig) -> Result<Self, ReadError> {
        let cl_dir = cfg.commitlog_path();
        if !cl_dir.is_dir() {
            return Err(ReadError::NotAStore(cfg.root_dir.clone()));
        }
        let commitlog = CommitLog::open(&cl_dir, cfg.mapped_file_size_commitlog, true)?;
        let scan = commitlog.scan(ScanStart::FirstFile, true, |_, _| {});
        commitlog.mark_end(scan.end);
        let mut queues: BTreeMap<String, BTreeMap<i32, ConsumeQueue>> = BTreeMap::new();
        let root = cfg.consume_queue_path();
        if let Ok(topics) = std::fs::read_dir(&root) {
            for t in topics.flatten() {
                let Some(topic) = t.file_name().to_str().map(str::to_string) else {
                    continue;
                };
                let Ok(ids) = std::fs::read_dir(t.path()) else {
                    continue;
                };
                for id in ids.flatten() {
                    let Some(qid) = id.file_name().to_str().and_then(|s| s.parse::<i32>().ok())
                    else {
                        continue;
                    };
                    let q = ConsumeQueue::open(
                        &root,
                        &topic,
                        qid,
                        cfg.mapped_file_size_consume_queue,
                        true,
                    )?;
                    q.scan_read_only();
                    queues.entry(topic.clone()).or_default().insert(qid, q);
                }
            }
        }
        let checkpoint = Checkpoint::open(&cfg.checkpoint_path())?.values();
        Ok(StoreReader {
            commitlog,
            queues,
            scan,
            checkpoint,
            abort_present: cfg.abort_path().exists(),
        })
    }

    pub fn queue(&self, topic: &str, queue_id: i32) -> Option<&ConsumeQueue> {
        self.queues.get(topic)?.get(&queue_id)
    }

    /// The record a consume-queue unit points at.
    pub fn record_for(&self, u: Unit) -> Option<Bytes> {
        if u.is_filler() {
            return None;
        }
        self.commitlog.bytes(u.phy_offset, u.size as usize)
    }

    /// Every valid record, in CommitLog order, as (offset, bytes).
    pub fn records(&self) -> Vec<(i64, Bytes)> {
        let mut out = Vec::new();
        self.commitlog.scan(ScanStart::FirstFile, false, |off, m| {
            if let Some(b) = self.commitlog.bytes(off, m.total_size) {
                out.push((off, b));
            }
        });
        out
    }

    /// Checks every record's CRC (done by the scan), and that every consume-queue unit
    /// points at a record of its topic and queue with the right queue offset, size and
    /// tags code.
    pub fn verify(&self) -> VerifyReport {
        let mut r = VerifyReport {
            records: self.scan.records,
            commitlog_min: self.commitlog.min_offset(),
            commitlog_end: self.scan.end,
            ..VerifyReport::default()
        };
        if let Some((at, why)) = &self.scan.stopped_by {
            r.problems.push(Problem {
                place: format!("commitlog offset {at}"),
                what: format!("{why}; nothing after it is readable"),
            });
        }
        for (topic, qs) in &self.queues {
            for (qid, q) in qs {
                r.queues += 1;
                for off in q.min_offset()..q.max_offset() {
                    let Some(u) = q.get(off) else {
                        break;
                    };
                    if u.is_filler() {
                        continue;
                    }
                    r.units += 1;
                    let place = format!("consumequeue/{topic}/{qid} offset {off}");
                    if u.phy_end() > self.scan.end {
                        r.problems.push(Problem {
                            place,
                            what: format!(
                                "points at commitlog offset {} past the valid end {}",
                                u.phy_offset, self.scan.end
                            ),
                        });
                        continue;
                    }
                    if u.phy_offset < r.commitlog_min {
                        continue; // its CommitLog file was deleted by retention
                    }
                    let Some(bytes) = self.record_for(u) else {
                        r.problems.push(Problem {
                            place,
                            what: format!("no record at commitlog offset {}", u.phy_offset),
                        });
                        continue;
                    };
                    match record::decode(&bytes, false) {
                        Ok(Decoded::Message(m)) => {
                            let tags = if topic == crate::dispatch::SCHEDULE_TOPIC {
                                None
                            } else {
                                Some(
                                    m.property("TAGS")
                                        .map(|t| i64::from(java::string_hash(t)))
                                        .unwrap_or(0),
                                )
                            };
                            let mut wrong = Vec::new();
                            if m.topic != topic {
                                wrong.push(format!("topic {}", m.topic));
                            }
                            if m.queue_id != *qid {
                                wrong.push(format!("queueId {}", m.queue_id));
                            }
                            if m.queue_offset != off {
                                wrong.push(format!("queueOffset {}", m.queue_offset));
                            }
                            if m.total_size != u.size as usize {
                                wrong.push(format!("size {} (unit says {})", m.total_size, u.size));
                            }
                            if m.physical_offset != u.phy_offset {
                                wrong.push(format!("physicalOffset {}", m.physical_offset));
                            }
                            if let Some(t) = tags.filter(|t| *t != u.tags_code) {
                                wrong.push(format!("tags code {t} (unit says {})", u.tags_code));
                            }
                            if !wrong.is_empty() {
                                r.problems.push(Problem {
                                    place,
                                    what: format!("record disagrees: {}", wrong.join(", ")),
                                });
                            }
                        }
                        _ => r.problems.push(Problem {
                            place,
                            what: format!(
                                "commitlog offset {} is not a message record",
                                u.phy_offset
                            ),
                        }),
                    }
                }
            }
        }
        r
    }
}

/// Works out a store's file sizes from the files present, for tools that are not given
/// the broker's config: CommitLog and ConsumeQueue files say their own size.
pub fn detect_sizes(cfg: &mut StoreConfig) {
    let first_len = |dir: &Path| -> Option<usize> {
        crate::file_queue::list_files(dir)
            .ok()?
            .first()
            .map(|(_, _, len)| *len as usize)
    };
    if let Some(n) = first_len(&cfg.commitlog_path()) {
        cfg.mapped_file_size_commitlog = n;
    }
    let cq_root = cfg.consume_queue_path();
    if let Ok(topics) = std::fs::read_dir(&cq_root) {
        'outer: for t in topics.flatten() {
            if let Ok(ids) = std::fs::read_dir(t.path()) {
                for id in ids.flatten() {
                    if let Some(n) = first_len(&id.path()) {
                        cfg.mapped_file_size_consume_queue = n;
                        break 'outer;
                    }
                }
            }
        }
    }
}
