//! Timer messages (RocketMQ 5.x): delivery at any time up to `timerMaxDelaySec` ahead,
//! asked for with the TIMER_DELIVER_MS, TIMER_DELAY_SEC or TIMER_DELAY_MS property.
//!
//! - [`put`]: the send path parks such a message in `rmq_sys_wheel_timer` queue 0;
//! - [`service`]: a supervised task moves parked messages into the wheel (the store
//!   crate's `timer` files, laid out as Java's) and delivers each slot when due;
//! - [`convert`]: the delivered copy, with Java's TIMER_* properties.
//!
//! Delivery is at least once: after a crash, slots delivered since the last checkpoint
//! (`timerFlushIntervalMs`) are delivered again.

mod convert;
pub mod put;
mod service;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use rmqd_remoting::codes::response;
use rmqd_remoting::RemotingCommand;
use rmqd_store::timer::checkpoint::TimerCheckpointValues;
use rmqd_store::timer::log::TimerUnit;
use rmqd_store::timer::wheel::{TimerWheel, SLOTS_PER_PAGE};
use rmqd_store::timer::{
    roll_window_slots, snap_precision, Recovery, TimerError, TimerFiles, TimerFilesConfig,
    BLANK_SLOTS, SLOTS_TOTAL, TIMER_TOPIC,
};
use rmqd_store::MessageStore;

use super::context::{now_ms, BrokerContext, Outcome};
use crate::config::BrokerConfig;

pub use service::run;

/// Counters since start (logged with the timer's progress).
#[derive(Debug, Default)]
pub struct TimerStats {
    /// Messages put into a wheel slot.
    pub parked: AtomicU64,
    /// Copies stored in their real topic.
    pub delivered: AtomicU64,
    /// Of those, messages already due when read from the timer topic.
    pub due_on_arrival: AtomicU64,
    /// Messages moved on to a later slot (delays beyond the roll window).
    pub rolled: AtomicU64,
    /// Messages cancelled by a delete marker, and delete markers themselves.
    pub deleted: AtomicU64,
    /// Parked records that could not be delivered (unreadable, no real topic, refused
    /// by the store as illegal), each logged.
    pub skipped: AtomicU64,
}

impl TimerStats {
    fn add(c: &AtomicU64, n: usize) {
        c.fetch_add(n as u64, Ordering::Relaxed);
    }
}

pub struct Timer {
    pub precision_ms: i64,
    pub max_delay_ms: i64,
    pub congest_limit: i64,
    roll_window_slots: i64,
    clock_offset_ms: i64,
    wheel: Arc<TimerWheel>,
    state: Mutex<State>,
    topic_ready: AtomicBool,
    pub stats: TimerStats,
    /// The read time and queue offset as of the service's last step, and the checkpoint
    /// last written: for requests, which must not wait for the service's lock.
    read_time: AtomicI64,
    queue_offset: AtomicI64,
    checkpoint: Mutex<TimerCheckpointValues>,
    /// Whether the last checkpoint write, or timer-log write, failed (each logged once
    /// per spell of failures).
    checkpoint_failing: AtomicBool,
    parking_failing: AtomicBool,
}

/// Where the service is; only the service task touches it (through the lock).
struct State {
    files: TimerFiles,
    /// The wheel's write time: slots before it may be delivered, messages due before it
    /// are delivered at once instead of parked.
    write_time: i64,
    /// The first slot not yet delivered (what the checkpoint records).
    read_time: i64,
    /// The next `rmq_sys_wheel_timer` queue offset to park (and to checkpoint).
    queue_offset: i64,
    /// The slot being delivered, when it takes more than one batch.
    slot: Option<SlotWork>,
}

struct SlotWork {
    time: i64,
    units: Vec<(u64, TimerUnit)>,
    /// Delete keys (`REAL_TOPIC+UNIQ_KEY`) named by the slot's delete markers.
    deleted: HashSet<String>,
    next: usize,
}

impl Timer {
    /// Opens the timer files under the store root and works out where to resume: the
    /// read time and queue offset of the checkpoint, moved past the units written after
    /// it when the log kept them (so they are not parked twice), or back to the last
    /// unit that survived when the log lost its tail.
    pub fn open(cfg: &BrokerConfig, store: &MessageStore) -> Result<Timer, TimerError> {
        let precision_ms = snap_precision(cfg.timer_precision_ms);
        let files_cfg = TimerFilesConfig {
            root_dir: store.config().root_dir.clone(),
            precision_ms,
            log_file_size: cfg.mapped_file_size_timer_log.clamp(4096, i32::MAX as u64) as usize,
            roll_window_slots: roll_window_slots(cfg.timer_roll_window_slot),
            slots_total: SLOTS_TOTAL,
        };
        let (files, rec) = TimerFiles::open(&files_cfg, store.started_after_crash())?;
        let now = now_ms() + cfg.timer_clock_offset_millis;
        let now_slot = now / precision_ms * precision_ms;
        let queue_offset = resume_queue_offset(store, &rec);
        let earliest = now_slot - SLOTS_TOTAL as i64 * precision_ms + BLANK_SLOTS * precision_ms;
        let read_time = if rec.checkpoint_existed {
            rec.checkpoint.last_read_time_ms.max(earliest)
        } else if rec.log_end > 0 {
            earliest
        } else {
            now_slot
        };
        tracing::info!(
            read_time,
            queue_offset,
            log_end = rec.log_end,
            revised = rec.revised,
            cut = rec.cut,
            checkpoint_read_time = rec.checkpoint.last_read_time_ms,
            checkpoint_queue_offset = rec.checkpoint.last_timer_queue_offset,
            "timer wheel recovered"
        );
        let checkpoint = Mutex::new(files.checkpoint());
        Ok(Timer {
            read_time: AtomicI64::new(read_time),
            queue_offset: AtomicI64::new(queue_offset),
            checkpoint,
            checkpoint_failing: AtomicBool::new(false),
            parking_failing: AtomicBool::new(false),
            precision_ms,
            max_delay_ms: cfg.timer_max_delay_sec.saturating_mul(1000),
            congest_limit: cfg.timer_congest_num_each_slot,
            roll_window_slots: roll_window_slots(cfg.timer_roll_window_slot),
            clock_offset_ms: cfg.timer_clock_offset_millis,
            wheel: files.wheel().clone(),
            state: Mutex::new(State {
                files,
                write_time: now_slot,
                read_time,
                queue_offset,
                slot: None,
            }),
            topic_ready: AtomicBool::new(false),
            stats: TimerStats::default(),
        })
    }

    /// The timer clock: wall time plus `timerClockOffsetMillis`.
    pub fn now(&self) -> i64 {
        now_ms() + self.clock_offset_ms
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `isReject`: whether a timer send for `slot_time` is refused for flow control.
    pub fn is_congested(&self, slot_time: i64) -> bool {
        let limit = self.congest_limit;
        let n = self
            .wheel
            .slot(slot_time)
            .map(|s| i64::from(s.num))
            .unwrap_or(0);
        if n <= limit {
            return false;
        }
        if n >= limit.saturating_mul(2) {
            return true;
        }
        let dice = (std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0)
            % 1000) as f64;
        dice > 1000.0 * (n - limit) as f64 / (limit as f64 + 0.1)
    }

    /// Publishes where the service is (for [`Timer::figures`]).
    fn publish(&self, st: &State) {
        self.read_time.store(st.read_time, Ordering::Relaxed);
        self.queue_offset.store(st.queue_offset, Ordering::Relaxed);
    }

    /// GET_BROKER_RUNTIME_INFO's timer figures, Java 5.x's keys: seconds the delivery is
    /// behind, timer-topic entries not yet parked, messages waiting in the wheel (the
    /// slots from the read time over one roll window, where every pending one is).
    pub fn figures(&self, store: &MessageStore) -> [(&'static str, String); 3] {
        let read = self.read_time.load(Ordering::Relaxed);
        let behind =
            store.max_offset_in_queue(TIMER_TOPIC, 0) - self.queue_offset.load(Ordering::Relaxed);
        let p = self.precision_ms;
        let span = self.roll_window_slots + BLANK_SLOTS;
        let mut waiting = 0i64;
        for k in 0..span {
            let t = read + k * p;
            if let Some(s) = self.wheel.slot(t) {
                waiting += i64::from(s.num);
            }
            // Read once; not kept resident (see `release_page_of`).
            if (t / p + 1).rem_euclid(SLOTS_PER_PAGE) == 0 || k + 1 == span {
                self.wheel.release_page_of(t);
            }
        }
        [
            (
                "timerReadBehind",
                ((self.now() - read) / 1000).max(0).to_string(),
            ),
            ("timerOffsetBehind", behind.max(0).to_string()),
            ("timerCongestNum", waiting.max(0).to_string()),
        ]
    }

    /// Creates the timer topic (1 queue) on the first parked message.
    pub fn ensure_topic(&self, ctx: &BrokerContext) {
        if !self.topic_ready.swap(true, Ordering::AcqRel) {
            ctx.ensure_system_topic(TIMER_TOPIC, 1);
        }
    }
}

/// `recover`'s queue offset: the checkpoint's, or one past the newest unit's message
/// when that one is known to be in the timer topic's queue (see [`Timer::open`]), kept
/// within the queue.
fn resume_queue_offset(store: &MessageStore, rec: &Recovery) -> i64 {
    let cp = rec
        .checkpoint
        .last_timer_queue_offset
        .min(rec.checkpoint.master_timer_queue_offset);
    let after_last = rec
        .last_unit
        .and_then(|u| queue_offset_of(store, &u))
        .map(|q| q + 1);
    let lost_tail = (rec.log_end as i64) < rec.checkpoint.last_timer_log_flush_pos;
    let q = match after_last {
        Some(a) if lost_tail => a.min(cp),
        Some(a) => a.max(cp),
        None => cp,
    };
    let (min, max) = (
        store.min_offset_in_queue(TIMER_TOPIC, 0),
        store.max_offset_in_queue(TIMER_TOPIC, 0),
    );
    if q < min {
        tracing::warn!(q, min, "timer queue offset below the queue; moved up");
    } else if q > max {
        tracing::warn!(q, max, "timer queue offset past the queue; moved back");
    }
    q.clamp(min, max.max(min))
}

/// The timer-topic queue offset of the message a unit parks, if the queue agrees.
fn queue_offset_of(store: &MessageStore, u: &TimerUnit) -> Option<i64> {
    let bytes = store.commitlog_bytes(u.offset_py, usize::try_from(u.size_py).ok()?)?;
    let rmqd_store::record::Decoded::Message(m) = rmqd_store::record::decode(&bytes, false).ok()?
    else {
        return None;
    };
    if m.topic != TIMER_TOPIC || m.queue_id != 0 {
        return None;
    }
    let unit = store.queue_unit(TIMER_TOPIC, 0, m.queue_offset)?;
    (unit.phy_offset == u.offset_py && unit.size == u.size_py).then_some(m.queue_offset)
}

/// GET_TIMER_CHECK_POINT (60): the timer checkpoint's 56 bytes, as last written.
pub fn checkpoint_request(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let Some(timer) = ctx.timer.as_deref() else {
        return Ok(RemotingCommand::error(
            req,
            response::SYSTEM_ERROR,
            "The checkpoint is null",
        ));
    };
    let v = *timer.checkpoint.lock().unwrap_or_else(|p| p.into_inner());
    Ok(RemotingCommand::success(req).with_body(v.encode().to_vec()))
}
