//! The files of timer messages (RocketMQ 5.x "timer wheel"), laid out as the Java 5.x
//! broker's `TimerMessageStore` keeps them, so that the pending timers of a 5.x store
//! carry over:
//!
//! - [`wheel`]: `timerwheel`, one slot per delivery time (`timerPrecisionMs` apart) over
//!   two turns of 7 days, each naming the newest timer-log unit due then;
//! - [`log`]: `timerlog/`, 52-byte units linking a message parked in
//!   `rmq_sys_wheel_timer` (by its commit-log offset) to its slot, each unit pointing
//!   back at the slot's previous one;
//! - [`checkpoint`]: `config/timercheck`, how far delivery (the read time) and parking
//!   (the queue offset of `rmq_sys_wheel_timer`) have come.
//!
//! The message itself stays in the commit log; the broker's timer service reads the
//! topic's consume queue into the wheel ([`TimerFiles::enqueue`]) and delivers each
//! slot's messages when it comes due ([`TimerFiles::walk`]). The wheel is derived data:
//! after a crash, [`TimerFiles::open`] re-links it from the units written since the
//! checkpoint, and cuts a torn or damaged tail off the log.

pub mod checkpoint;
pub mod log;
pub mod wheel;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::file_queue::QueueLoadError;
use crate::mapped_file::FileError;
use checkpoint::{TimerCheckpoint, TimerCheckpointValues};
use log::{Head, TimerLog, TimerUnit, MAGIC_DEFAULT, MAGIC_DELETE, MAGIC_ROLL, UNIT_SIZE};
use wheel::{TimerWheel, WheelError};

/// Topic where timer messages wait (`TimerMessageStore.TIMER_TOPIC`), queue 0.
pub const TIMER_TOPIC: &str = "rmq_sys_wheel_timer";
/// Days one turn of the wheel spans at 1 s precision (`TIMER_WHEEL_TTL_DAY`).
pub const TTL_DAYS: usize = 7;
pub const DAY_SECS: usize = 24 * 3600;
/// Slots per turn, whatever the precision (`slotsTotal`); the file holds two turns.
pub const SLOTS_TOTAL: usize = TTL_DAYS * DAY_SECS;
/// `TIMER_BLANK_SLOTS`.
pub const BLANK_SLOTS: i64 = 60;

/// `timerRollWindowSlots`: the configured value unless outside [2, slots − 60].
pub fn roll_window_slots(configured: i64) -> i64 {
    let max = SLOTS_TOTAL as i64 - BLANK_SLOTS;
    if configured > max || configured < 2 {
        max
    } else {
        configured
    }
}

/// `setTimerPrecisionMs`: 100, 200, 500 or 1000, the largest not above the value asked.
pub fn snap_precision(ms: i64) -> i64 {
    let candidates = [100, 200, 500, 1000];
    for w in candidates.windows(2) {
        if ms < w[1] {
            return w[0];
        }
    }
    1000
}

pub fn wheel_path(root: &Path) -> PathBuf {
    root.join("timerwheel")
}
pub fn log_dir(root: &Path) -> PathBuf {
    root.join("timerlog")
}
pub fn checkpoint_path(root: &Path) -> PathBuf {
    root.join("config").join("timercheck")
}

#[derive(Debug, Clone)]
pub struct TimerFilesConfig {
    pub root_dir: PathBuf,
    /// `timerPrecisionMs`, already snapped.
    pub precision_ms: i64,
    /// `mappedFileSizeTimerLog`.
    pub log_file_size: usize,
    /// `timerRollWindowSlot`, already bounded ([`roll_window_slots`]).
    pub roll_window_slots: i64,
    /// Slots per turn of the wheel: [`SLOTS_TOTAL`], as Java's (only tests and the fuzz
    /// targets use small wheels; a wheel file of another length is refused).
    pub slots_total: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum TimerError {
    #[error(transparent)]
    File(#[from] FileError),
    #[error(transparent)]
    Queue(#[from] QueueLoadError),
    #[error(transparent)]
    Wheel(#[from] WheelError),
}

/// What opening found.
#[derive(Debug, Clone, Default)]
pub struct Recovery {
    pub checkpoint: TimerCheckpointValues,
    /// Whether `config/timercheck` was there (a store that never parked a timer has none).
    pub checkpoint_existed: bool,
    /// Where the unit scan began and the log's end after it.
    pub scanned_from: u64,
    pub log_end: u64,
    /// Units re-linked into the wheel.
    pub revised: usize,
    /// Non-zero bytes found in the page after the last unit: a torn or damaged tail, cut.
    pub cut: u64,
    /// The newest unit in the log, if any.
    pub last_unit: Option<TimerUnit>,
}

/// A message to park (from `rmq_sys_wheel_timer`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EnqueueRequest {
    /// `TIMER_OUT_MS`.
    pub delayed_time: i64,
    pub offset_py: i64,
    pub size_py: i32,
    /// Java `String.hashCode` of its REAL_TOPIC (0 without one).
    pub real_topic_hash: i32,
    /// It carries `TIMER_DEL_UNIQKEY`: it cancels a message of its slot.
    pub delete: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enqueued {
    pub pos: u64,
    /// The slot it went to (nearer than asked when rolled).
    pub slot_time: i64,
    pub rolled: bool,
}

/// A slot's units, oldest first, and why the walk stopped early if it did.
#[derive(Debug, Default)]
pub struct SlotWalk {
    pub units: Vec<(u64, TimerUnit)>,
    pub broken: Option<String>,
}

pub struct TimerFiles {
    wheel: Arc<TimerWheel>,
    log: TimerLog,
    checkpoint: TimerCheckpoint,
    precision_ms: i64,
    roll_window_slots: i64,
}

impl TimerFiles {
    /// Opens (creating) the wheel, log and checkpoint under `cfg.root_dir` and recovers
    /// them. After a crash (`after_crash`) units are re-linked into the wheel from the
    /// start of the log file one file before the checkpoint's flush position, as Java
    /// does on every start; after a clean stop, the wheel was flushed with the
    /// checkpoint, and only what follows the flush position is looked at.
    pub fn open(cfg: &TimerFilesConfig, after_crash: bool) -> Result<(Self, Recovery), TimerError> {
        let precision_ms = cfg.precision_ms.max(1);
        let wheel = Arc::new(TimerWheel::open(
            &wheel_path(&cfg.root_dir),
            cfg.slots_total,
            precision_ms,
        )?);
        let log = TimerLog::open(&log_dir(&cfg.root_dir), cfg.log_file_size)?;
        let checkpoint = TimerCheckpoint::open(&checkpoint_path(&cfg.root_dir))?;
        let files = TimerFiles {
            wheel,
            log,
            checkpoint,
            precision_ms,
            roll_window_slots: cfg.roll_window_slots,
        };
        let recovery = files.recover(after_crash)?;
        Ok((files, recovery))
    }

    /// `recoverAndRevise(from, checkTimerLog = true)`.
    fn recover(&self, after_crash: bool) -> Result<Recovery, TimerError> {
        let cp = self.checkpoint.values();
        let mut r = Recovery {
            checkpoint: cp,
            checkpoint_existed: self.checkpoint.existed(),
            ..Default::default()
        };
        let files: Vec<_> = self.log.files().files().iter().cloned().collect();
        let Some(last) = files.last() else {
            return Ok(r);
        };
        let written_end = last.start() + last.size() as u64;
        let flush_pos = u64::try_from(cp.last_timer_log_flush_pos).unwrap_or(0);
        let begin = if after_crash {
            flush_pos.saturating_sub(last.size() as u64)
        } else {
            flush_pos
        };
        let index = files.iter().rposition(|f| f.start() <= begin).unwrap_or(0);
        let mut end = files[index].start();
        let mut first_pos = 0usize;
        if !after_crash {
            // A flush position is a unit boundary of its file; anything else means the
            // checkpoint cannot be trusted, and the whole file is scanned.
            let rel = begin.saturating_sub(files[index].start());
            if let Ok(rel) = usize::try_from(rel) {
                if rel % UNIT_SIZE == 0 && rel <= files[index].size() {
                    first_pos = rel;
                }
            }
        }
        r.scanned_from = files[index].start() + first_pos as u64;
        'files: for (k, f) in files.iter().enumerate().skip(index) {
            let bytes = f.all_bytes();
            let mut pos = if k == index { first_pos } else { 0 };
            let mut stop = false;
            while pos < bytes.len() {
                match TimerUnit::head(&bytes[pos..]) {
                    Head::Blank => break,
                    Head::Invalid => {
                        stop = true;
                        break;
                    }
                    Head::Unit => {
                        if let Some(u) = TimerUnit::decode(&bytes[pos..]) {
                            self.wheel
                                .revise_last(u.delayed_time(), (f.start() + pos as u64) as i64);
                            r.revised += 1;
                            r.last_unit = Some(u);
                        }
                        pos += UNIT_SIZE;
                    }
                }
            }
            end = f.start() + pos as u64;
            if stop {
                break 'files;
            }
        }
        // What the page after the end held: a torn or damaged unit leaves bytes there,
        // while the untouched rest of a file is zeros (and is not read: it may be large).
        r.cut = files
            .iter()
            .find(|f| f.start() <= end && end < f.start() + f.size() as u64)
            .map(|f| {
                let from = (end - f.start()) as usize;
                let to = (from + 4096).min(f.size());
                f.all_bytes()[from..to].iter().filter(|b| **b != 0).count() as u64
            })
            .unwrap_or(0);
        if r.last_unit.is_none() && end > 0 {
            // Nothing after the scan start: the newest unit is the one just before it.
            r.last_unit = end
                .checked_sub(UNIT_SIZE as u64)
                .and_then(|p| self.unit_at_any(&files, p));
        }
        if end < written_end {
            self.log.truncate(end)?;
        }
        r.log_end = self.log.end();
        if r.cut > 0 {
            tracing::warn!(end, cut = r.cut, "timer log: torn or damaged tail cut off");
        }
        Ok(r)
    }

    /// A valid unit at `pos` of the files, published or not (recovery only).
    fn unit_at_any(
        &self,
        files: &[Arc<crate::mapped_file::MappedFile>],
        pos: u64,
    ) -> Option<TimerUnit> {
        let f = files
            .iter()
            .find(|f| f.start() <= pos && pos < f.start() + f.size() as u64)?;
        let at = usize::try_from(pos - f.start()).ok()?;
        let u = TimerUnit::decode(f.all_bytes().get(at..)?)?;
        u.is_valid().then_some(u)
    }

    pub fn wheel(&self) -> &Arc<TimerWheel> {
        &self.wheel
    }

    pub fn precision_ms(&self) -> i64 {
        self.precision_ms
    }

    pub fn log_end(&self) -> u64 {
        self.log.end()
    }

    pub fn log_min_offset(&self) -> u64 {
        self.log.min_offset()
    }

    pub fn checkpoint(&self) -> TimerCheckpointValues {
        self.checkpoint.values()
    }

    pub fn unit_at(&self, pos: u64) -> Option<TimerUnit> {
        self.log.unit_at(pos)
    }

    /// `doEnqueue`: appends the message's unit to the log and makes it its slot's newest.
    /// A delivery further than the roll window from `write_time` goes to a nearer slot
    /// marked ROLL (at half the window when the rest would be short, else at the window),
    /// from where it is parked again.
    pub fn enqueue(
        &mut self,
        req: &EnqueueRequest,
        write_time: i64,
    ) -> Result<Enqueued, FileError> {
        let p = self.precision_ms;
        let window = self.roll_window_slots.saturating_mul(p);
        let mut delayed = req.delayed_time;
        let mut magic = MAGIC_DEFAULT;
        let rolled = delayed.saturating_sub(write_time) >= window;
        if rolled {
            magic |= MAGIC_ROLL;
            if delayed - write_time - window < (self.roll_window_slots / 3).saturating_mul(p) {
                delayed = write_time + (self.roll_window_slots / 2) * p;
            } else {
                delayed = write_time + window;
            }
        }
        if req.delete {
            magic |= MAGIC_DELETE;
        }
        let slot = self.wheel.slot(delayed);
        let (first, last, num, slot_magic) = slot
            .map(|s| (s.first_pos, s.last_pos, s.num, s.magic))
            .unwrap_or((-1, -1, 0, 0));
        let delay = i32::try_from(delayed.saturating_sub(write_time)).unwrap_or(i32::MAX);
        let unit = TimerUnit::new(
            last,
            magic,
            write_time,
            delay,
            req.offset_py,
            req.size_py,
            req.real_topic_hash,
        );
        let pos = self.log.append(&unit)?;
        let num = if req.delete {
            num.wrapping_sub(1)
        } else {
            num.wrapping_add(1)
        };
        self.wheel.put_slot(
            unit.delayed_time(),
            if first == -1 { pos as i64 } else { first },
            pos as i64,
            num,
            slot_magic,
        );
        Ok(Enqueued {
            pos,
            slot_time: unit.delayed_time() / p * p,
            rolled,
        })
    }

    /// The units of the slot of `time_ms`, oldest first. The walk follows `prev pos`
    /// from the slot's newest unit and stops at the first link that cannot be right: a
    /// position outside the written log or not below the one before, a unit of the wrong
    /// size or magic, or of another slot. (After a crash that lost the log's tail, a slot
    /// may still name units that are gone; the messages they parked are parked again from
    /// the consume queue, and such a walk must not wander into other slots' units.)
    pub fn walk(&self, time_ms: i64) -> SlotWalk {
        let mut w = SlotWalk::default();
        let Some(slot) = self.wheel.slot(time_ms) else {
            return w;
        };
        let p = self.precision_ms;
        let slot_time = time_ms / p * p;
        let end = self.log.end();
        let mut pos = slot.last_pos;
        let mut bound = i64::MAX;
        while pos != -1 {
            let Ok(at) = u64::try_from(pos) else {
                w.broken = Some(format!("negative position {pos}"));
                break;
            };
            if pos >= bound || at + UNIT_SIZE as u64 > end {
                w.broken = Some(format!(
                    "position {pos} outside the log (end {end}, bound {bound})"
                ));
                break;
            }
            let Some(u) = self.log.unit_at(at) else {
                w.broken = Some(format!("no unit at {pos} (file deleted?)"));
                break;
            };
            if !u.is_valid() {
                w.broken = Some(format!("damaged unit at {pos}"));
                break;
            }
            if u.delayed_time().wrapping_div(p).wrapping_mul(p) != slot_time {
                w.broken = Some(format!(
                    "unit at {pos} belongs to {} not {slot_time}",
                    u.delayed_time()
                ));
                break;
            }
            w.units.push((at, u));
            bound = pos;
            pos = u.prev_pos;
        }
        w.units.reverse();
        w
    }

    /// Writes the log and the wheel back; returns the log's flushed end.
    pub fn flush(&self) -> Result<u64, FileError> {
        let end = self.log.flush()?;
        self.wheel.flush()?;
        Ok(end)
    }

    /// Flushes, then records `read_time` and `queue_offset` in `config/timercheck`
    /// (the data version moves when either changed, as Java's does).
    pub fn checkpoint_now(
        &mut self,
        read_time: i64,
        queue_offset: i64,
        now_ms: i64,
    ) -> Result<(), FileError> {
        let flushed = self.flush()?;
        let old = self.checkpoint.values();
        let mut v = TimerCheckpointValues {
            last_read_time_ms: read_time,
            last_timer_log_flush_pos: flushed as i64,
            last_timer_queue_offset: queue_offset,
            master_timer_queue_offset: queue_offset,
            ..old
        };
        if old.last_read_time_ms != read_time || old.last_timer_queue_offset != queue_offset {
            v.timestamp = now_ms;
            v.counter = old.counter.wrapping_add(1);
        }
        if v == old && self.checkpoint.existed() {
            return Ok(());
        }
        self.checkpoint.save(v)
    }

    /// Drops timer-log files whose messages left the commit log.
    pub fn delete_expired(&self, min_commitlog_offset: i64) -> usize {
        self.log.delete_expired(min_commitlog_offset)
    }
}

#[cfg(test)]
mod tests;
