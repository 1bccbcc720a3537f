//! Acknowledging popped messages (`AckMessageProcessor`) and changing how long they stay
//! invisible (`ChangeInvisibleTimeProcessor`). An ack is answered once its record is in
//! the revive topic (or, for FIFO, once the group's offset moved), so an acknowledged
//! message does not come back after a crash.

use std::sync::Arc;

use rmqd_remoting::codes::response;
use rmqd_store::PutStatus;

use super::handle::ReceiptHandle;
use super::order::{self, OrderAck};
use super::records::{ack_message, ck_message, AckMsg, CheckPoint, ReviveTarget};
use crate::broker::context::{now_ms, BrokerContext, Outcome, Refusal};

/// Java answers an ack or change of an offset outside the queue with NO_MESSAGE (208).
const NO_MESSAGE: i32 = 208;

/// Checks `topic` / `queue_id` / `offset` as both processors do.
fn check_target(ctx: &BrokerContext, topic: &str, queue_id: i32, offset: i64) -> Outcome<()> {
    let Some(read_queues) = ctx.topics().get(topic).map(|t| t.read_queue_nums) else {
        return Err(Refusal::new(
            response::TOPIC_NOT_EXIST,
            format!(
                "topic[{topic}] not exist, apply first please! http://rocketmq.apache.org/docs/faq/"
            ),
        ));
    };
    if queue_id < 0 || queue_id >= read_queues {
        return Err(Refusal::new(
            response::MESSAGE_ILLEGAL,
            format!(
                "queueId[{queue_id}] is illegal, topic:[{topic}] topicConfig.readQueueNums:[{read_queues}] consumer:[]"
            ),
        ));
    }
    let min = ctx.store.min_offset_in_queue(topic, queue_id);
    let max = ctx.store.max_offset_in_queue(topic, queue_id);
    if offset < min || offset >= max {
        return Err(Refusal::new(
            NO_MESSAGE,
            format!(
                "offset is illegal, key:{topic}@{queue_id}, commit:{offset}, store:{min},{max}"
            ),
        ));
    }
    Ok(())
}

fn stored(status: PutStatus) -> bool {
    matches!(status, PutStatus::PutOk | PutStatus::FlushDiskTimeout)
}

/// Acknowledges the message `handle` names; `topic` is where it was popped from (the
/// retry topic for a message popped again).
pub async fn ack(
    ctx: &Arc<BrokerContext>,
    group: &str,
    topic: &str,
    handle: &ReceiptHandle,
) -> Outcome<()> {
    check_target(ctx, topic, handle.queue_id, handle.offset)?;
    if handle.is_order() {
        return ack_orderly(ctx, group, topic, handle).await;
    }
    let ack = AckMsg {
        ack_offset: handle.offset,
        start_offset: handle.ck_offset,
        consumer_group: group.to_string(),
        topic: topic.to_string(),
        queue_id: handle.queue_id,
        pop_time: handle.pop_time,
        broker_name: Some(handle.broker_name.clone()),
        ..Default::default()
    };
    put_ack(ctx, handle.revive_qid, &ack).await
}

/// Several acks of one checkpoint in one record (BATCH_ACK_MESSAGE's `bAck`); FIFO
/// handles are acknowledged one by one.
pub async fn ack_offsets(
    ctx: &Arc<BrokerContext>,
    group: &str,
    topic: &str,
    first: &ReceiptHandle,
    offsets: Vec<i64>,
) -> Outcome<()> {
    let min = ctx.store.min_offset_in_queue(topic, first.queue_id);
    let max = ctx.store.max_offset_in_queue(topic, first.queue_id);
    let offsets: Vec<i64> = offsets
        .into_iter()
        .filter(|o| (min..=max).contains(o))
        .collect();
    if first.is_order() {
        for o in offsets {
            let h = ReceiptHandle {
                offset: o,
                ..first.clone()
            };
            ack_orderly(ctx, group, topic, &h).await?;
        }
        return Ok(());
    }
    if offsets.is_empty() {
        return Ok(());
    }
    let ack = AckMsg {
        ack_offset: -1,
        ack_offset_list: offsets,
        start_offset: first.ck_offset,
        consumer_group: group.to_string(),
        topic: topic.to_string(),
        queue_id: first.queue_id,
        pop_time: first.pop_time,
        broker_name: Some(first.broker_name.clone()),
    };
    put_ack(ctx, first.revive_qid, &ack).await
}

async fn put_ack(ctx: &Arc<BrokerContext>, revive_qid: i32, ack: &AckMsg) -> Outcome<()> {
    if revive_qid < 0 || revive_qid >= ctx.pop.revive_queues {
        return Err(Refusal::new(
            response::MESSAGE_ILLEGAL,
            format!("revive queue id [{revive_qid}] is illegal"),
        ));
    }
    ctx.pop.ensure_revive_topic(ctx);
    let msg = ack_message(
        &ReviveTarget {
            topic: &ctx.pop.revive_topic,
            queue_id: revive_qid,
            store_host: ctx.store_host,
            now: now_ms(),
        },
        ack,
    );
    let r = ctx.store.put(msg).await;
    if !stored(r.status) {
        tracing::warn!(status = ?r.status, "ack record not stored");
        return Err(Refusal::system(format!("put ack msg fail: {:?}", r.status)));
    }
    Ok(())
}

/// `ackOrderly`: the group's offset moves past the acknowledged head of the batch.
async fn ack_orderly(
    ctx: &Arc<BrokerContext>,
    group: &str,
    topic: &str,
    handle: &ReceiptHandle,
) -> Outcome<()> {
    let qid = handle.queue_id;
    let committed = ctx.offsets.query(group, topic, qid).unwrap_or(0);
    if handle.offset < committed {
        return Ok(());
    }
    let key = order::key(topic, group, qid);
    let outcome = ctx
        .pop
        .order
        .ack(&key, handle.offset, handle.pop_time, |n| {
            ctx.offsets.commit(group, topic, qid, n)
        });
    let moved = match outcome {
        OrderAck::Advance(_) => true,
        OrderAck::Held => false,
        // The batch is not known (a restart lost it): the head of the queue may still be
        // acknowledged, so it is not handed out again.
        OrderAck::Unknown if handle.offset == committed => {
            ctx.offsets.commit(group, topic, qid, committed + 1);
            true
        }
        OrderAck::Unknown => false,
    };
    if moved {
        let c = ctx.clone();
        let _ = tokio::task::spawn_blocking(move || c.persist_offsets()).await;
        ctx.pop.waiters.wake(topic);
    }
    Ok(())
}

/// What a change of invisible time answers: the handle's new pop time and invisible time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Changed {
    pub pop_time: i64,
    pub invisible_time: i64,
    pub revive_qid: i32,
}

/// `ChangeInvisibleTimeProcessor`: a new checkpoint for the one message, then an ack of the
/// old one. Returns the new handle's fields.
pub async fn change_invisible_time(
    ctx: &Arc<BrokerContext>,
    group: &str,
    topic: &str,
    handle: &ReceiptHandle,
    invisible_time: i64,
) -> Outcome<Changed> {
    check_target(ctx, topic, handle.queue_id, handle.offset)?;
    if handle.is_order() {
        let qid = handle.queue_id;
        let committed = ctx.offsets.query(group, topic, qid).unwrap_or(0);
        let next_visible = now_ms() + invisible_time;
        if handle.offset >= committed {
            ctx.pop.order.change_invisible(
                &order::key(topic, group, qid),
                handle.offset,
                handle.pop_time,
                next_visible,
            );
        }
        return Ok(Changed {
            pop_time: handle.pop_time,
            invisible_time: next_visible - handle.pop_time,
            revive_qid: handle.revive_qid,
        });
    }
    if handle.revive_qid < 0 || handle.revive_qid >= ctx.pop.revive_queues {
        return Err(Refusal::new(
            response::MESSAGE_ILLEGAL,
            format!("revive queue id [{}] is illegal", handle.revive_qid),
        ));
    }
    let now = now_ms();
    let ck = CheckPoint {
        bit_map: 0,
        num: 1,
        pop_time: now,
        invisible_time,
        start_offset: handle.offset,
        cid: group.to_string(),
        topic: topic.to_string(),
        queue_id: handle.queue_id,
        queue_offset_diff: vec![0],
        broker_name: Some(handle.broker_name.clone()),
        ..Default::default()
    };
    ctx.pop.ensure_revive_topic(ctx);
    let msg = ck_message(
        &ReviveTarget {
            topic: &ctx.pop.revive_topic,
            queue_id: handle.revive_qid,
            store_host: ctx.store_host,
            now,
        },
        &ck,
    );
    let r = ctx.store.put(msg).await;
    if !stored(r.status) {
        return Err(Refusal::system(format!(
            "change invisible time: checkpoint not stored: {:?}",
            r.status
        )));
    }
    let ack = AckMsg {
        ack_offset: handle.offset,
        start_offset: handle.ck_offset,
        consumer_group: group.to_string(),
        topic: topic.to_string(),
        queue_id: handle.queue_id,
        pop_time: handle.pop_time,
        broker_name: Some(handle.broker_name.clone()),
        ..Default::default()
    };
    put_ack(ctx, handle.revive_qid, &ack).await?;
    Ok(Changed {
        pop_time: now,
        invisible_time,
        revive_qid: handle.revive_qid,
    })
}
