//! Delay levels (`ScheduleMessageService`): messages parked in SCHEDULE_TOPIC_XXXX queue
//! level-1 are copied to their real topic once their delivery time (the consume-queue
//! tags code) has come. Progress per level is the next schedule-queue offset, kept in
//! `config/delayOffset.json` as the Java broker keeps it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmqd_remoting::CancellationToken;
use rmqd_store::dispatch::SCHEDULE_TOPIC;
use rmqd_store::record::{self, Decoded};
use rmqd_store::{MessageToStore, PutStatus};

/// The group delay-level deliveries are counted under (`MixAll.SCHEDULE_CONSUMER_GROUP`).
const SCHEDULE_GROUP: &str = "SCHEDULE_CONSUMER";

use super::context::{now_ms, BrokerContext};
use super::properties::{keys, Properties};

/// How often each level looks for due messages.
const TICK: Duration = Duration::from_millis(100);

#[derive(Default)]
pub struct DelayOffsets {
    /// level (1-based) → next offset in SCHEDULE_TOPIC_XXXX queue level-1.
    table: Mutex<BTreeMap<i32, i64>>,
}

impl DelayOffsets {
    pub fn from_table(t: BTreeMap<i32, i64>) -> Self {
        DelayOffsets {
            table: Mutex::new(t),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<i32, i64>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn get(&self, level: i32) -> i64 {
        self.lock().get(&level).copied().unwrap_or(0)
    }

    fn set(&self, level: i32, offset: i64) {
        self.lock().insert(level, offset);
    }

    pub fn snapshot(&self) -> BTreeMap<i32, i64> {
        self.lock().clone()
    }

    /// A slave's copy of its master's progress (`syncDelayOffset`), taken whole.
    pub fn replace_all(&self, table: BTreeMap<i32, i64>) {
        *self.lock() = table;
    }
}

/// The schedule clock: wall time plus `scheduleClockOffsetMillis` (a test aid that lets a
/// 2 h delay come due without waiting 2 h).
fn schedule_now(ctx: &BrokerContext) -> i64 {
    now_ms() + ctx.config.schedule_clock_offset_millis
}

pub async fn run(ctx: Arc<BrokerContext>, shutdown: CancellationToken) {
    let levels = ctx.store.config().delay_level_millis.clone();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let mut moved = false;
        for (i, delay) in levels.iter().enumerate() {
            let level = i as i32 + 1;
            moved |= deliver_due(&ctx, level, *delay).await;
        }
        // Java writes delayOffset.json every flushDelayOffsetInterval (10 s), so a killed
        // broker delivers the last 10 s of delayed messages again. Writing it in the tick
        // that moved (a few hundred bytes, at most 10 times a second) narrows that to the
        // messages of the tick in progress. The tick waits for the write, which runs on
        // a blocking thread so that its fsync does not stall this worker's connections.
        if moved {
            let c = ctx.clone();
            if let Err(e) = tokio::task::spawn_blocking(move || c.persist_delay_offsets()).await {
                tracing::error!(error = %e, "delay offset save did not finish");
            }
        }
    }
}

/// Delivers every due message of one level, in queue order. Returns whether progress moved.
async fn deliver_due(ctx: &BrokerContext, level: i32, delay_ms: i64) -> bool {
    let queue_id = level - 1;
    let max = ctx.store.max_offset_in_queue(SCHEDULE_TOPIC, queue_id);
    let mut offset = ctx.delays.get(level);
    let min = ctx.store.min_offset_in_queue(SCHEDULE_TOPIC, queue_id);
    if offset < min {
        offset = min;
    }
    let start = offset;
    while offset < max {
        let Some((tags_code, bytes)) = ctx.store.unit_and_record(SCHEDULE_TOPIC, queue_id, offset)
        else {
            // A filler unit or a record already deleted: nothing to deliver.
            offset += 1;
            continue;
        };
        let now = schedule_now(ctx);
        // Java's correctDeliverTimestamp: never wait longer than the level's delay from now.
        let due = if tags_code > now + delay_ms {
            now
        } else {
            tags_code
        };
        if due > now {
            break;
        }
        match time_up_copy(&bytes) {
            Some(msg) => {
                let (topic, queue) = (ctx.stats.manager.topic(&msg.topic), msg.queue_id);
                let result = ctx.store.put(msg).await;
                if result.status != PutStatus::PutOk && result.status != PutStatus::FlushDiskTimeout
                {
                    tracing::warn!(level, offset, status = ?result.status, "delayed message not delivered; retrying");
                    break;
                }
                // Java counts a delivery as a put to the real topic and a get by the
                // schedule's own group.
                let (n, bytes) = (result.count as u64, result.wrote_bytes as u64);
                ctx.stats.manager.record_put(&topic, queue, n, bytes);
                ctx.stats
                    .manager
                    .record_get(SCHEDULE_GROUP, SCHEDULE_TOPIC, n, bytes);
            }
            None => {
                tracing::error!(level, offset, "scheduled record unreadable; skipped");
            }
        }
        offset += 1;
    }
    if offset != start {
        ctx.delays.set(level, offset);
        true
    } else {
        false
    }
}

/// `messageTimeup`: the copy delivered to the real topic. The properties string is the
/// stored one re-serialised (so it keeps DELAY, REAL_TOPIC and REAL_QID, as Java's does);
/// the copy is not delayed again because only messages put through the send path are.
fn time_up_copy(bytes: &[u8]) -> Option<MessageToStore> {
    let Ok(Decoded::Message(m)) = record::decode(bytes, false) else {
        return None;
    };
    let props = Properties::parse(m.properties);
    let topic = props.get(keys::REAL_TOPIC)?.to_string();
    let queue_id = props.get(keys::REAL_QID)?.trim().parse().ok()?;
    Some(MessageToStore {
        topic,
        queue_id,
        flag: m.flag,
        body: bytes::Bytes::copy_from_slice(m.body),
        properties: props.encode_java_order(),
        sys_flag: m.sys_flag,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host,
        reconsume_times: m.reconsume_times,
        prepared_transaction_offset: m.prepared_transaction_offset,
    })
}
