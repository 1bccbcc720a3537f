//! The timer service: one supervised task doing what Java 5.x's enqueue, dequeue and
//! flush services do.
//!
//! Each round it
//! 1. reads new entries of `rmq_sys_wheel_timer` queue 0: a message already due is
//!    delivered at once, the others are parked in their wheel slot (a unit in the timer
//!    log). The due ones are stored before the others are parked, so a unit in the log
//!    means everything before it in the queue is taken care of (recovery relies on it);
//! 2. delivers every slot whose time has passed, in batches, oldest unit first; a slot
//!    counts as done (the read time moves on) once all of its messages are stored;
//! 3. after a slot was delivered, and every `timerFlushIntervalMs`, flushes the timer log
//!    and wheel and records the read time and queue offset in `config/timercheck`.
//!
//! Nothing given to the store is dropped on a refusal: a put refused for want of room or
//! health is tried again until it is stored (only a message the store can never take —
//! illegal — is logged and skipped), and progress is not recorded past it meanwhile.

use std::collections::HashSet;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use rmqd_remoting::CancellationToken;
use rmqd_store::java::string_hash;
use rmqd_store::timer::wheel::SLOTS_PER_PAGE;
use rmqd_store::timer::{EnqueueRequest, TIMER_TOPIC};
use rmqd_store::{MessageStore, MessageToStore, PutStatus};

use super::super::context::{now_ms, BrokerContext};
use super::{convert, SlotWork, State, Timer, TimerStats};

/// Queue entries read per step.
const ENQUEUE_BATCH: usize = 1024;
/// Puts in flight at once: well below the store's queue (`sendThreadPoolQueueCapacity`),
/// so a large slot does not crowd producers out.
const DELIVER_BATCH: usize = 256;
/// Empty slots passed over per step (after a clock jump, a day is 86 400 of them).
const SLOT_SCAN: usize = 100_000;
/// Delivery batches per round before the queue is looked at again.
const BATCHES_PER_ROUND: usize = 16;
/// Pause before a refused put is tried again.
const RETRY_PAUSE: Duration = Duration::from_millis(500);
/// How often timer-log files of deleted commit-log files are removed (Java: 30 s).
const CLEAN_EVERY: Duration = Duration::from_secs(30);

pub async fn run(ctx: Arc<BrokerContext>, shutdown: CancellationToken) {
    let Some(timer) = ctx.timer.clone() else {
        return;
    };
    let cfg = &ctx.config;
    if cfg.broker_role.eq_ignore_ascii_case("SLAVE") {
        // Only a master delivers timers (Java's `shouldRunningDequeue`); a slave's store
        // takes no puts.
        tracing::info!("slave: the timer service does not run");
        return;
    }
    // Java waits 100 ms × precision / 1000 when idle.
    let tick = Duration::from_millis((timer.precision_ms / 10).max(10) as u64);
    let flush_every = Duration::from_millis(cfg.timer_flush_interval_ms.max(10));
    let progress_every = Duration::from_millis(cfg.timer_progress_log_interval_ms.max(1000));
    let (mut last_flush, mut last_clean, mut last_progress) =
        (Instant::now(), Instant::now(), Instant::now());
    let mut reported = (0, 0);
    while !shutdown.is_cancelled() {
        fail::fail_point!("timer-loop");
        let mut busy = false;
        if !cfg.timer_stop_enqueue {
            busy |= enqueue_round(&ctx, &timer, &shutdown).await;
        }
        let mut slots_done = 0;
        if !cfg.timer_stop_dequeue {
            let (did, done) = dequeue_round(&ctx, &timer, &shutdown).await;
            busy |= did;
            slots_done = done;
        }
        timer.publish(&timer.lock());
        // A slot just delivered is recorded at once (not only every flush interval): a
        // crash then delivers again at most what was in flight, not the last second's.
        if slots_done > 0 || last_flush.elapsed() >= flush_every {
            checkpoint(&timer).await;
            last_flush = Instant::now();
        }
        if last_clean.elapsed() >= CLEAN_EVERY {
            let min = ctx.store.commitlog_min_offset();
            let n = blocking(&timer, move |st| st.files.delete_expired(min)).await;
            if n > 0 {
                tracing::info!(
                    files = n,
                    "timer log files of deleted commit-log files removed"
                );
            }
            last_clean = Instant::now();
        }
        if last_progress.elapsed() >= progress_every {
            reported = log_progress(&ctx, &timer, reported);
            last_progress = Instant::now();
        }
        if !busy {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(tick) => {}
            }
        }
    }
    checkpoint(&timer).await;
    log_progress(&ctx, &timer, (u64::MAX, u64::MAX));
}

/// Runs file work on a blocking thread with the state locked. A panic there is a panic
/// of the task (the supervisor restarts it; the state stays in the context).
async fn blocking<T, F>(timer: &Arc<Timer>, f: F) -> T
where
    T: Send + 'static,
    F: FnOnce(&mut State) -> T + Send + 'static,
{
    let t = Arc::clone(timer);
    match tokio::task::spawn_blocking(move || f(&mut t.lock())).await {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        Err(e) => panic!("timer work did not finish: {e}"),
    }
}

/// `maybeMoveWriteTime`.
fn move_write_time(st: &mut State, now: i64, p: i64) {
    st.write_time = st.write_time.max(now / p * p);
}

/// `moveReadTime`; a page of slots left behind is let go (see `release_page_of`).
fn advance_read_time(st: &mut State, p: i64) {
    st.read_time += p;
    if (st.read_time / p).rem_euclid(SLOTS_PER_PAGE) == 0 {
        st.files.wheel().release_page_of(st.read_time - p);
    }
}

/// What one read of the timer topic's queue found.
#[derive(Default)]
struct Batch {
    next: i64,
    due: Vec<MessageToStore>,
    park: Vec<(i64, EnqueueRequest)>,
}

/// Step 1 (`enqueue` + `TimerEnqueuePutService`). Returns whether anything was read.
async fn enqueue_round(
    ctx: &Arc<BrokerContext>,
    timer: &Arc<Timer>,
    shutdown: &CancellationToken,
) -> bool {
    let store = ctx.store.clone();
    let (p, now) = (timer.precision_ms, timer.now());
    let t = Arc::clone(timer);
    let batch = blocking(timer, move |st| read_queue(st, &store, &t.stats, now, p)).await;
    let Some(batch) = batch else {
        return false;
    };
    let due = batch.due.len();
    if !deliver(ctx, timer, batch.due, shutdown).await {
        return true;
    }
    TimerStats::add(&timer.stats.due_on_arrival, due);
    let t = Arc::clone(timer);
    let parked = blocking(timer, move |st| {
        for (offset, req) in &batch.park {
            if let Err(e) = st.files.enqueue(req, st.write_time) {
                st.queue_offset = *offset;
                return Err((*offset, e));
            }
            TimerStats::add(&t.stats.parked, 1);
        }
        st.queue_offset = batch.next;
        Ok(())
    })
    .await;
    match parked {
        Err((offset, e)) => {
            if !timer.parking_failing.swap(true, Ordering::Relaxed) {
                tracing::error!(offset, error = %e, "timer log write failed; parking is retried");
            }
            tokio::select! {
                _ = shutdown.cancelled() => {}
                _ = tokio::time::sleep(RETRY_PAUSE) => {}
            }
        }
        Ok(()) => {
            if timer.parking_failing.swap(false, Ordering::Relaxed) {
                tracing::info!("timer log written again; parking resumed");
            }
        }
    }
    true
}

/// Reads up to [`ENQUEUE_BATCH`] new queue entries; `None` when there are none.
fn read_queue(
    st: &mut State,
    store: &MessageStore,
    stats: &TimerStats,
    now: i64,
    p: i64,
) -> Option<Batch> {
    move_write_time(st, now, p);
    let (min, max) = (
        store.min_offset_in_queue(TIMER_TOPIC, 0),
        store.max_offset_in_queue(TIMER_TOPIC, 0),
    );
    if st.queue_offset < min {
        tracing::warn!(
            offset = st.queue_offset,
            min,
            "timer queue offset below the queue's minimum; moved up"
        );
        st.queue_offset = min;
    }
    if st.queue_offset >= max {
        return None;
    }
    // A slot before the read time is never read again: what is due before it is due now.
    let due_before = st.write_time.max(st.read_time);
    let mut b = Batch::default();
    let mut offset = st.queue_offset;
    while offset < max && (offset - st.queue_offset) < ENQUEUE_BATCH as i64 {
        let at = offset;
        offset += 1;
        let Some(unit) = store.queue_unit(TIMER_TOPIC, 0, at) else {
            continue;
        };
        let Some(bytes) = store.commitlog_bytes(unit.phy_offset, unit.size.max(0) as usize) else {
            tracing::warn!(
                offset = at,
                phy = unit.phy_offset,
                "timer message no longer in the commit log; skipped"
            );
            TimerStats::add(&stats.skipped, 1);
            continue;
        };
        let parked = match convert::parse(&bytes) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(offset = at, error = %e, "timer topic entry cannot be parked; skipped");
                TimerStats::add(&stats.skipped, 1);
                continue;
            }
        };
        if parked.timer_out_ms < due_before {
            if parked.deletes.is_some() {
                // A delete marker that comes too late cancels nothing (Java: not put).
                TimerStats::add(&stats.deleted, 1);
            } else {
                b.due.push(convert::delivered_copy(
                    &bytes,
                    &parked,
                    i64::MAX,
                    false,
                    now,
                ));
            }
            continue;
        }
        b.park.push((
            at,
            EnqueueRequest {
                delayed_time: parked.timer_out_ms,
                offset_py: unit.phy_offset,
                size_py: unit.size,
                real_topic_hash: string_hash(parked.real_topic),
                delete: parked.deletes.is_some(),
            },
        ));
    }
    b.next = offset;
    Some(b)
}

/// One delivery batch of the slot being delivered.
struct Due {
    items: Vec<MessageToStore>,
    upto: usize,
}

/// Step 2 (`dequeue` + its get and put services). Returns whether anything was done,
/// and how many slots with messages were completed.
async fn dequeue_round(
    ctx: &Arc<BrokerContext>,
    timer: &Arc<Timer>,
    shutdown: &CancellationToken,
) -> (bool, usize) {
    let mut busy = false;
    let mut done = 0;
    for _ in 0..BATCHES_PER_ROUND {
        let store = ctx.store.clone();
        let (p, now) = (timer.precision_ms, timer.now());
        let t = Arc::clone(timer);
        let step = blocking(timer, move |st| next_due(st, &store, &t.stats, now, p)).await;
        let Some(due) = step else {
            break;
        };
        busy = true;
        if !deliver(ctx, timer, due.items, shutdown).await {
            break;
        }
        let mut st = timer.lock();
        if let Some(w) = st.slot.as_mut() {
            w.next = due.upto;
            if w.next >= w.units.len() {
                st.slot = None;
                advance_read_time(&mut st, p);
                done += 1;
            }
        }
    }
    (busy, done)
}

/// The next batch to deliver, moving the read time over empty slots; `None` when no
/// slot is due (or after [`SLOT_SCAN`] empty ones).
fn next_due(
    st: &mut State,
    store: &MessageStore,
    stats: &TimerStats,
    now: i64,
    p: i64,
) -> Option<Due> {
    move_write_time(st, now, p);
    let mut scanned = 0;
    loop {
        if st.slot.is_none() {
            if st.read_time >= st.write_time || scanned >= SLOT_SCAN {
                return None;
            }
            scanned += 1;
            if st.files.wheel().slot(st.read_time).is_none() {
                advance_read_time(st, p);
                continue;
            }
            let work = open_slot(st, store, stats);
            st.slot = Some(work);
        }
        let Some(w) = st.slot.as_mut() else {
            continue;
        };
        if w.next >= w.units.len() {
            st.slot = None;
            advance_read_time(st, p);
            continue;
        }
        let upto = (w.next + DELIVER_BATCH).min(w.units.len());
        let mut items = Vec::with_capacity(upto - w.next);
        for (pos, u) in &w.units[w.next..upto] {
            let Some(bytes) = store.commitlog_bytes(u.offset_py, u.size_py.max(0) as usize) else {
                tracing::warn!(
                    pos,
                    phy = u.offset_py,
                    "timer message no longer in the commit log; skipped"
                );
                TimerStats::add(&stats.skipped, 1);
                continue;
            };
            let parked = match convert::parse(&bytes) {
                Ok(p) => p,
                Err(e) => {
                    tracing::warn!(pos, phy = u.offset_py, error = %e, "timer unit does not lead to a parked message; skipped");
                    TimerStats::add(&stats.skipped, 1);
                    continue;
                }
            };
            let cancelled = parked
                .delete_key
                .as_ref()
                .is_some_and(|k| w.deleted.contains(k));
            if cancelled || (parked.deletes.is_some() && !u.rolled()) {
                TimerStats::add(&stats.deleted, 1);
                continue;
            }
            items.push(convert::delivered_copy(
                &bytes,
                &parked,
                u.write_time,
                u.rolled(),
                now,
            ));
        }
        return Some(Due { items, upto });
    }
}

/// Reads a due slot's units; its delete markers are read first (their keys cancel the
/// other messages of the slot, as Java's dequeue does).
fn open_slot(st: &State, store: &MessageStore, stats: &TimerStats) -> SlotWork {
    let walk = st.files.walk(st.read_time);
    if let Some(why) = &walk.broken {
        tracing::warn!(slot = st.read_time, units = walk.units.len(), why = %why, "timer slot chain ends early");
    }
    let mut deleted = HashSet::new();
    let mut units = Vec::with_capacity(walk.units.len());
    for (pos, u) in walk.units {
        if u.deletes() && !u.rolled() {
            TimerStats::add(&stats.deleted, 1);
            let key = store
                .commitlog_bytes(u.offset_py, u.size_py.max(0) as usize)
                .and_then(|b| {
                    convert::parse(&b)
                        .ok()
                        .and_then(|p| p.deletes.map(str::to_string))
                });
            if let Some(k) = key {
                deleted.insert(k);
            }
        } else {
            units.push((pos, u));
        }
    }
    SlotWork {
        time: st.read_time,
        units,
        deleted,
        next: 0,
    }
}

/// Stores the copies; returns false if shutdown came first (some may not be stored).
async fn deliver(
    ctx: &BrokerContext,
    timer: &Timer,
    mut items: Vec<MessageToStore>,
    shutdown: &CancellationToken,
) -> bool {
    let mut warned = false;
    while !items.is_empty() {
        let puts: Vec<_> = items.iter().map(|m| put(ctx, m.clone())).collect();
        let statuses = futures::future::join_all(puts).await;
        let mut again = Vec::new();
        let mut last = PutStatus::PutOk;
        for (m, status) in items.into_iter().zip(statuses) {
            match status {
                PutStatus::PutOk | PutStatus::FlushDiskTimeout => {
                    let c = if m.topic == TIMER_TOPIC {
                        &timer.stats.rolled
                    } else {
                        &timer.stats.delivered
                    };
                    c.fetch_add(1, Ordering::Relaxed);
                }
                PutStatus::MessageIllegal | PutStatus::PropertiesSizeExceeded => {
                    tracing::error!(topic = %m.topic, status = ?status, "timer message cannot be stored; skipped");
                    TimerStats::add(&timer.stats.skipped, 1);
                }
                other => {
                    last = other;
                    again.push(m);
                }
            }
        }
        if !again.is_empty() {
            if !warned {
                tracing::warn!(count = again.len(), status = ?last, "timer delivery refused by the store; retrying");
                warned = true;
            }
            tokio::select! {
                _ = shutdown.cancelled() => return false,
                _ = tokio::time::sleep(RETRY_PAUSE) => {}
            }
        }
        items = again;
    }
    if warned {
        tracing::info!("timer delivery resumed");
    }
    true
}

async fn put(ctx: &BrokerContext, m: MessageToStore) -> PutStatus {
    fail::fail_point!("timer-deliver", |_| PutStatus::ServiceNotAvailable);
    ctx.store.put(m).await.status
}

/// Step 3: flush, then `config/timercheck`.
async fn checkpoint(timer: &Arc<Timer>) {
    let t = Arc::clone(timer);
    let r = blocking(timer, move |st| {
        let (read, queue) = (st.read_time, st.queue_offset);
        let r = st.files.checkpoint_now(read, queue, now_ms());
        *t.checkpoint.lock().unwrap_or_else(|p| p.into_inner()) = st.files.checkpoint();
        t.publish(st);
        r
    })
    .await;
    // Logged when it starts failing and when it works again, not every second between.
    match r {
        Err(e) if !timer.checkpoint_failing.swap(true, Ordering::Relaxed) => {
            tracing::error!(error = %e, "timer checkpoint not written; after a crash, timers since the last one are delivered again");
        }
        Ok(()) if timer.checkpoint_failing.swap(false, Ordering::Relaxed) => {
            tracing::info!("timer checkpoint written again");
        }
        _ => {}
    }
}

/// Java's "Timer progress-check" line, when something moved since the last one.
fn log_progress(ctx: &BrokerContext, timer: &Timer, last: (u64, u64)) -> (u64, u64) {
    let s = &timer.stats;
    let now = (
        s.parked.load(Ordering::Relaxed),
        s.delivered.load(Ordering::Relaxed),
    );
    if now != last {
        let st = timer.lock();
        tracing::info!(
            read_time = st.read_time,
            write_time = st.write_time,
            queue_offset = st.queue_offset,
            queue_behind = ctx.store.max_offset_in_queue(TIMER_TOPIC, 0) - st.queue_offset,
            slot_in_progress = st.slot.as_ref().map(|w| w.time),
            parked = now.0,
            delivered = now.1,
            due_on_arrival = s.due_on_arrival.load(Ordering::Relaxed),
            rolled = s.rolled.load(Ordering::Relaxed),
            deleted = s.deleted.load(Ordering::Relaxed),
            skipped = s.skipped.load(Ordering::Relaxed),
            "timer progress"
        );
    }
    now
}
