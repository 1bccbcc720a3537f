//! The revive service (`PopReviveService`): reads the revive topic, pairs acks with their
//! checkpoints, and once a checkpoint's invisible time has passed puts its unacknowledged
//! messages into the group's POP retry topic, where the next pop finds them.
//!
//! rmqd writes checkpoints and acks straight into the revive queues (Java 5.x routes them
//! through its timer store so that they arrive when due); so this service keeps the
//! checkpoints it has read in memory and revives each when it is due, in any order. After
//! reviving a checkpoint it appends an ack of what it revived, so a restart that reads the
//! queue again from the saved progress does not revive it twice. The progress saved is
//! just before the oldest checkpoint still open.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use rmqd_remoting::body::topic::perm;
use rmqd_remoting::CancellationToken;
use rmqd_store::record::{self, Decoded};
use rmqd_store::{MessageToStore, PutStatus};

use super::records::{self, ack_message, AckMsg, CheckPoint, ReviveRecord, ReviveTarget};
use super::{retry_topic_v1, RETRY_PREFIX, RETRY_QUEUES, REVIVE_GROUP};
use crate::broker::context::{now_ms, BrokerContext};
use crate::broker::properties::{keys, Properties};

/// Records read from one revive queue per round, so one busy queue cannot starve the rest.
const SCAN_BATCH: i64 = 4096;
/// `PopAckConstants.ackTimeInterval` (ms).
const ACK_TIME_INTERVAL: i64 = 1000;
/// `MessageConst.PROPERTY_FIRST_POP_TIME`.
const FIRST_POP_TIME: &str = "1ST_POP_TIME";

/// What the service knows about one revive queue.
#[derive(Default)]
struct QueueScan {
    loaded: bool,
    /// Next revive-queue offset to read.
    next: i64,
    /// Open checkpoints by their revive-queue offset.
    open: BTreeMap<i64, CheckPoint>,
    by_key: HashMap<String, i64>,
    saved: i64,
}

pub async fn run(ctx: Arc<BrokerContext>, shutdown: CancellationToken) {
    let mut scans: Vec<QueueScan> = (0..ctx.pop.revive_queues)
        .map(|_| QueueScan::default())
        .collect();
    let period = Duration::from_millis(ctx.config.revive_interval.max(50));
    loop {
        let mut moved = false;
        for (q, scan) in scans.iter_mut().enumerate() {
            moved |= revive_queue(&ctx, q as i32, scan).await;
        }
        if moved {
            let c = ctx.clone();
            let _ = tokio::task::spawn_blocking(move || c.persist_offsets()).await;
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(period) => {}
        }
    }
}

/// One round over one revive queue; true when its saved progress moved.
async fn revive_queue(ctx: &Arc<BrokerContext>, q: i32, scan: &mut QueueScan) -> bool {
    let topic = ctx.pop.revive_topic.clone();
    if !scan.loaded {
        let committed = ctx.offsets.query(REVIVE_GROUP, &topic, q).unwrap_or(-1);
        scan.next = (committed + 1).max(ctx.store.min_offset_in_queue(&topic, q));
        scan.saved = committed;
        scan.loaded = true;
    }
    // Taken before reading: an ack answered before its handle expired was stored by then
    // (`PopAckConstants.ackTimeInterval` of slack for the put itself).
    let now = now_ms() + ctx.config.pop_clock_offset_millis;
    read_new(ctx, &topic, q, scan);
    let due: Vec<i64> = scan
        .open
        .iter()
        .filter(|(_, ck)| ck.revive_time().saturating_add(ACK_TIME_INTERVAL) <= now)
        .map(|(o, _)| *o)
        .collect();
    for at in due {
        let Some(ck) = scan.open.get(&at).cloned() else {
            continue;
        };
        if !revive(ctx, q, &ck).await {
            // The store refused; this checkpoint and the ones after it wait a round.
            break;
        }
        scan.open.remove(&at);
        scan.by_key.remove(&ck.merge_key());
    }
    let progress = match scan.open.keys().next() {
        Some(first) => first - 1,
        None => scan.next - 1,
    };
    if progress > scan.saved {
        ctx.offsets.commit(REVIVE_GROUP, &topic, q, progress);
        scan.saved = progress;
        return true;
    }
    false
}

/// Reads what was appended to the queue since the last round.
fn read_new(ctx: &BrokerContext, topic: &str, q: i32, scan: &mut QueueScan) {
    let max = ctx.store.max_offset_in_queue(topic, q);
    let end = max.min(scan.next + SCAN_BATCH);
    while scan.next < end {
        let at = scan.next;
        scan.next += 1;
        let Some((_, bytes)) = ctx.store.unit_and_record(topic, q, at) else {
            continue;
        };
        let Ok(Decoded::Message(m)) = record::decode(&bytes, false) else {
            continue;
        };
        match records::decode(m.property(keys::TAGS), m.body) {
            Some(ReviveRecord::Ck(mut ck)) => {
                ck.revive_offset = at;
                keep_pop_offset_past(ctx, &ck);
                if ck.all_acked() {
                    continue;
                }
                scan.by_key.insert(ck.merge_key(), at);
                scan.open.insert(at, ck);
            }
            Some(ReviveRecord::Ack(ack)) => {
                let key = ack.merge_key(&ctx.config.broker_name);
                let Some(&ck_at) = scan.by_key.get(&key) else {
                    continue;
                };
                let Some(ck) = scan.open.get_mut(&ck_at) else {
                    continue;
                };
                for o in ack.offsets() {
                    match ck.index_of(o) {
                        Some(i) => ck.set_acked(i),
                        None => {
                            tracing::debug!(offset = o, "ack for an offset its checkpoint lacks")
                        }
                    }
                }
                if ck.all_acked() {
                    scan.open.remove(&ck_at);
                    scan.by_key.remove(&key);
                }
            }
            None => {}
        }
    }
}

/// A checkpoint read back (after a restart, say) proves its messages were handed out: the
/// group's pop offset must not be behind them, or they would be handed out again.
fn keep_pop_offset_past(ctx: &BrokerContext, ck: &CheckPoint) {
    let end = (0..ck.len()).map(|i| ck.offset_at(i)).max();
    let Some(end) = end.map(|e| e + 1) else {
        return;
    };
    let current = ctx.offsets.query(&ck.cid, &ck.topic, ck.queue_id);
    if current.is_none_or(|c| c < end) {
        ctx.offsets.commit(&ck.cid, &ck.topic, ck.queue_id, end);
    }
}

/// Puts the checkpoint's unacknowledged messages into the retry topic, then records them
/// as done. False when the store refused a put (tried again next round).
async fn revive(ctx: &Arc<BrokerContext>, q: i32, ck: &CheckPoint) -> bool {
    let normal = ck
        .topic
        .strip_prefix(&format!("{RETRY_PREFIX}{}_", ck.cid))
        .unwrap_or(&ck.topic)
        .to_string();
    if ctx.topics().get(&normal).is_none() || ctx.groups.get(&ck.cid).is_none() {
        tracing::warn!(topic = %ck.topic, group = %ck.cid, "topic or group gone; checkpoint dropped");
        return true;
    }
    let retry = if ck.topic.starts_with(RETRY_PREFIX) {
        ck.topic.clone()
    } else {
        retry_topic_v1(&ck.topic, &ck.cid)
    };
    let mut revived = Vec::new();
    for i in 0..ck.len() {
        if ck.is_acked(i) {
            continue;
        }
        let offset = ck.offset_at(i);
        let Some((_, bytes)) = ctx.store.unit_and_record(&ck.topic, ck.queue_id, offset) else {
            tracing::info!(topic = %ck.topic, queue = ck.queue_id, offset, "popped message no longer stored; not revived");
            revived.push(offset);
            continue;
        };
        let Ok(Decoded::Message(m)) = record::decode(&bytes, false) else {
            revived.push(offset);
            continue;
        };
        let mut props = Properties::parse(m.properties);
        if m.reconsume_times == 0 || props.get(FIRST_POP_TIME).is_none() {
            props.insert(FIRST_POP_TIME, &ck.pop_time.to_string());
        }
        let msg = MessageToStore {
            topic: retry.clone(),
            queue_id: 0,
            flag: m.flag,
            body: bytes.slice_ref(m.body),
            properties: props.encode_java_order(),
            sys_flag: m.sys_flag,
            born_timestamp: m.born_timestamp,
            born_host: ctx.store_host,
            reconsume_times: m.reconsume_times + 1,
            prepared_transaction_offset: 0,
        };
        ensure_retry_topic(ctx, &retry);
        let r = ctx.store.put(msg).await;
        if !matches!(r.status, PutStatus::PutOk | PutStatus::FlushDiskTimeout) {
            tracing::warn!(status = ?r.status, topic = %retry, "revive put failed; retrying next round");
            return false;
        }
        revived.push(offset);
    }
    if !revived.is_empty() {
        let done = AckMsg {
            ack_offset_list: revived,
            start_offset: ck.start_offset,
            consumer_group: ck.cid.clone(),
            topic: ck.topic.clone(),
            queue_id: ck.queue_id,
            pop_time: ck.pop_time,
            broker_name: ck.broker_name.clone(),
            ..Default::default()
        };
        let msg = ack_message(
            &ReviveTarget {
                topic: &ctx.pop.revive_topic,
                queue_id: q,
                store_host: ctx.store_host,
                now: now_ms(),
            },
            &done,
        );
        // Only guards against a second revive after a restart; a lost one means at most
        // one more delivery.
        let r = ctx.store.put(msg).await;
        if r.status != PutStatus::PutOk {
            tracing::warn!(status = ?r.status, "revive record not stored");
        }
    }
    true
}

/// `addRetryTopicIfNotExist`.
fn ensure_retry_topic(ctx: &Arc<BrokerContext>, topic: &str) {
    let created = ctx
        .topics()
        .create_system(topic, RETRY_QUEUES, perm::READ | perm::WRITE, 0, now_ms())
        .1;
    if created {
        ctx.persist_topics();
        ctx.register_soon();
    }
}
