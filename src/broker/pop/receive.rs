//! Popping messages (`PopMessageProcessor`): read a group's next messages from a topic's
//! queues (and, now and then first, from its retry topic), write a checkpoint for them to
//! the revive topic and move the group's pop offset past them; FIFO pops instead block
//! the queue until the batch is acknowledged. A pop that finds nothing waits for an
//! arrival up to its poll time.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rmqd_remoting::body::client::SubscriptionData;
use rmqd_remoting::body::topic::perm;
use rmqd_remoting::codes::response;
use rmqd_store::record::{self, Decoded};
use rmqd_store::{GetMessageStatus, PutStatus};

use super::handle::{topic_type, ReceiptHandle};
use super::records::{ck_message, CheckPoint, ReviveTarget};
use super::{order, retry_topic_v1, ORDER_REVIVE_QUEUE};
use crate::broker::context::{now_ms, BrokerContext, Outcome, Refusal};
use crate::broker::filter;

/// Java caps what one pop may ask for.
pub const MAX_POP_NUMS: usize = 32;

#[derive(Debug, Clone)]
pub struct PopRequest {
    pub group: String,
    pub topic: String,
    /// -1: every queue.
    pub queue_id: i32,
    pub max_msgs: usize,
    pub invisible_time: i64,
    pub poll_time: Duration,
    /// `ConsumeInitMode.MIN` (else MAX: a group new to a queue starts at its last message).
    pub init_min: bool,
    pub sub: SubscriptionData,
    pub order: bool,
    pub attempt_id: Option<String>,
}

/// A message handed out.
#[derive(Debug, Clone)]
pub struct Popped {
    /// The stored record (from the retry topic for a message popped again).
    pub record: Bytes,
    pub handle: ReceiptHandle,
    /// Earlier attempts: the record's reconsume times, or a FIFO message's pop count.
    pub reconsume_times: i32,
}

#[derive(Debug, Default)]
pub struct PopResult {
    pub messages: Vec<Popped>,
    pub pop_time: i64,
    pub revive_qid: i32,
    /// Messages left in the queues looked at.
    pub rest_num: i64,
    pub start_offset_info: String,
    pub msg_offset_info: String,
    pub order_count_info: String,
}

/// Checks the request as `PopMessageProcessor.processRequest` does, with its codes and
/// remarks.
pub fn check(ctx: &BrokerContext, req: &PopRequest) -> Outcome<()> {
    if ctx.config.broker_permission & perm::READ == 0 {
        return Err(Refusal::new(
            response::NO_PERMISSION,
            format!(
                "the broker[{}] popping message is forbidden",
                ctx.config.broker_ip1
            ),
        ));
    }
    let tc = ctx.topics().get(&req.topic).cloned().ok_or_else(|| {
        Refusal::new(
            response::TOPIC_NOT_EXIST,
            format!(
                "topic[{}] not exist, apply first please! http://rocketmq.apache.org/docs/faq/",
                req.topic
            ),
        )
    })?;
    if tc.perm & perm::READ == 0 {
        return Err(Refusal::new(
            response::NO_PERMISSION,
            format!("the topic[{}] peeking message is forbidden", req.topic),
        ));
    }
    if req.queue_id >= tc.read_queue_nums {
        return Err(Refusal::system(format!(
            "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}] consumer:[{}]",
            req.queue_id, req.topic, tc.read_queue_nums, req.group
        )));
    }
    let (group, created) = ctx.groups.find_or_create(&req.group);
    if created {
        ctx.persist_groups();
    }
    let group = group.ok_or_else(|| {
        Refusal::new(
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!(
                "subscription group [{}] does not exist, http://rocketmq.apache.org/docs/faq/",
                req.group
            ),
        )
    })?;
    if !group.consume_enable {
        return Err(Refusal::new(
            response::NO_PERMISSION,
            format!("subscription group no permission, {}", req.group),
        ));
    }
    let et = &req.sub.expression_type;
    if !et.is_empty() && et != "TAG" {
        return Err(Refusal::new(
            response::SUBSCRIPTION_PARSE_FAILED,
            format!("The broker does not support consumer to filter message by {et}"),
        ));
    }
    Ok(())
}

/// Pops, waiting up to the poll time for something to arrive.
pub async fn pop(ctx: &Arc<BrokerContext>, req: &PopRequest) -> Outcome<PopResult> {
    check(ctx, req)?;
    let deadline = tokio::time::Instant::now() + req.poll_time;
    let watched = [req.topic.clone(), retry_topic_v1(&req.topic, &req.group)];
    loop {
        let waiting = ctx.pop.waiters.register(&watched);
        let mut armed: Vec<_> = waiting
            .notify
            .iter()
            .map(|n| Box::pin(n.notified()))
            .collect();
        for a in &mut armed {
            a.as_mut().enable();
        }
        let found = pop_once(ctx, req).await?;
        if !found.messages.is_empty() || tokio::time::Instant::now() >= deadline {
            return Ok(found);
        }
        if ctx.pop.is_closed() {
            return Ok(found);
        }
        let _ = tokio::time::timeout_at(deadline, futures::future::select_all(armed)).await;
    }
}

/// Pops once, without waiting.
pub async fn pop_once(ctx: &Arc<BrokerContext>, req: &PopRequest) -> Outcome<PopResult> {
    let max = req.max_msgs.clamp(1, MAX_POP_NUMS);
    let random_q = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
        / 1000
        % 100) as i32;
    let mut acc = PopResult {
        pop_time: now_ms(),
        revive_qid: if req.order {
            ORDER_REVIVE_QUEUE
        } else {
            ctx.pop.next_revive_qid()
        },
        ..Default::default()
    };
    let retry = retry_topic_v1(&req.topic, &req.group);
    let need_retry = random_q < ctx.config.pop_from_retry_probability;
    if need_retry && !req.order {
        pop_topic(ctx, req, &retry, max, random_q, &mut acc).await?;
    }
    if req.queue_id < 0 {
        pop_topic(ctx, req, &req.topic, max, random_q, &mut acc).await?;
    } else {
        pop_queue(ctx, req, &req.topic, req.queue_id, max, &mut acc).await?;
    }
    if !need_retry && acc.messages.len() < max && !req.order {
        pop_topic(ctx, req, &retry, max, random_q, &mut acc).await?;
    }
    Ok(acc)
}

async fn pop_topic(
    ctx: &Arc<BrokerContext>,
    req: &PopRequest,
    topic: &str,
    max: usize,
    random_q: i32,
    acc: &mut PopResult,
) -> Outcome<()> {
    let Some(queues) = ctx.topics().get(topic).map(|t| t.read_queue_nums) else {
        return Ok(());
    };
    for i in 0..queues.max(0) {
        let queue_id = (random_q + i) % queues;
        pop_queue(ctx, req, topic, queue_id, max, acc).await?;
    }
    Ok(())
}

/// The group's next offset in a queue; a group new to the queue starts at Java's initial
/// offset, committed at once.
pub fn pop_offset(
    ctx: &BrokerContext,
    group: &str,
    topic: &str,
    queue_id: i32,
    init_min: bool,
) -> i64 {
    if let Some(o) = ctx.offsets.query(group, topic, queue_id) {
        if o >= 0 {
            return o;
        }
    }
    let offset = if init_min || topic.starts_with(super::RETRY_PREFIX) {
        ctx.store.min_offset_in_queue(topic, queue_id)
    } else {
        // "pop last one, then commit offset"
        (ctx.store.max_offset_in_queue(topic, queue_id) - 1).max(0)
    };
    ctx.offsets.commit(group, topic, queue_id, offset);
    offset
}

fn info_sep(s: &mut String) {
    if !s.is_empty() {
        s.push(';');
    }
}

async fn pop_queue(
    ctx: &Arc<BrokerContext>,
    req: &PopRequest,
    topic: &str,
    queue_id: i32,
    max: usize,
    acc: &mut PopResult,
) -> Outcome<()> {
    let group = req.group.as_str();
    let mut offset = pop_offset(ctx, group, topic, queue_id, req.init_min);
    let Some(_claimed) = ctx.pop.try_lock(topic, group, queue_id) else {
        if !req.order {
            acc.rest_num += ctx.store.max_offset_in_queue(topic, queue_id) - offset;
        }
        return Ok(());
    };
    let order_key = order::key(topic, group, queue_id);
    if req.order
        && ctx
            .pop
            .order
            .blocked(&order_key, req.attempt_id.as_deref(), now_ms())
    {
        return Ok(());
    }
    // Read again under the claim: the pop that held it may have moved it. For FIFO this
    // comes after the block check, because the ack that unblocks a queue moves its offset
    // under the same lock.
    offset = pop_offset(ctx, group, topic, queue_id, req.init_min);
    if acc.messages.len() >= max {
        acc.rest_num += ctx.store.max_offset_in_queue(topic, queue_id) - offset;
        return Ok(());
    }
    let want = (max - acc.messages.len()) as i32;
    let matches = |code: i64| filter::matches(&req.sub, code);
    let mut found = ctx
        .store
        .get_messages(topic, queue_id, offset, want, &matches);
    if matches!(
        found.status,
        GetMessageStatus::OffsetTooSmall
            | GetMessageStatus::OffsetOverflowBadly
            | GetMessageStatus::OffsetFoundNull
    ) {
        tracing::warn!(
            topic,
            group,
            queue_id,
            from = offset,
            to = found.next_begin_offset,
            "pop offset corrected"
        );
        offset = found.next_begin_offset;
        ctx.offsets.commit(group, topic, queue_id, offset);
        found = ctx
            .store
            .get_messages(topic, queue_id, offset, want, &matches);
    }
    acc.rest_num += found.max_offset - found.next_begin_offset;
    tracing::debug!(topic, group, queue_id, offset, status = ?found.status, n = found.messages.len(), next = found.next_begin_offset, "pop read");
    if found.messages.is_empty() {
        if found.next_begin_offset > offset
            && matches!(
                found.status,
                GetMessageStatus::NoMatchedMessage
                    | GetMessageStatus::MessageWasRemoving
                    | GetMessageStatus::NoMatchedLogicQueue
                    | GetMessageStatus::OffsetFoundNull
            )
        {
            ctx.offsets
                .commit(group, topic, queue_id, found.next_begin_offset);
        }
        return Ok(());
    }
    let mut decoded = Vec::with_capacity(found.messages.len());
    for bytes in found.messages {
        if let Ok(Decoded::Message(m)) = record::decode(&bytes, false) {
            let (qo, phy, rt) = (m.queue_offset, m.physical_offset, m.reconsume_times);
            decoded.push((bytes, qo, phy, rt));
        }
    }
    let offsets: Vec<i64> = decoded.iter().map(|d| d.1).collect();
    let attempts = if req.order {
        let counts = ctx.pop.order.update(
            &order_key,
            req.attempt_id.as_deref(),
            acc.pop_time,
            req.invisible_time,
            &offsets,
        );
        ctx.offsets.commit(group, topic, queue_id, offset);
        Some(counts)
    } else {
        write_checkpoint(
            ctx,
            req,
            topic,
            queue_id,
            offset,
            &offsets,
            found.next_begin_offset,
            acc,
        )
        .await?;
        None
    };
    let mark = topic_type(topic);
    info_sep(&mut acc.start_offset_info);
    acc.start_offset_info
        .push_str(&format!("{mark} {queue_id} {offset}"));
    info_sep(&mut acc.msg_offset_info);
    let list: Vec<String> = offsets.iter().map(i64::to_string).collect();
    acc.msg_offset_info
        .push_str(&format!("{mark} {queue_id} {}", list.join(",")));
    if let Some(counts) = &attempts {
        for (o, c) in offsets.iter().zip(counts) {
            info_sep(&mut acc.order_count_info);
            acc.order_count_info
                .push_str(&format!("{mark} qo{queue_id}%{o} {c}"));
        }
        let least = counts.iter().copied().min().unwrap_or(0);
        info_sep(&mut acc.order_count_info);
        acc.order_count_info
            .push_str(&format!("{mark} {queue_id} {least}"));
    }
    for (i, (bytes, qo, phy, rt)) in decoded.into_iter().enumerate() {
        let reconsume = attempts.as_ref().map(|c| c[i]).unwrap_or(rt);
        acc.messages.push(Popped {
            record: bytes,
            handle: ReceiptHandle {
                ck_offset: offset,
                pop_time: acc.pop_time,
                invisible_time: req.invisible_time,
                revive_qid: acc.revive_qid,
                topic_type: mark.to_string(),
                broker_name: ctx.config.broker_name.clone(),
                queue_id,
                offset: qo,
                commit_log_offset: phy,
            },
            reconsume_times: reconsume,
        });
    }
    Ok(())
}

/// Writes the batch's checkpoint and moves the pop offset past it. The offset moves first,
/// so any saved offsets that carry the revive progress past this checkpoint carry this pop
/// too; it moves back if the checkpoint cannot be stored (nothing is handed out then).
#[allow(clippy::too_many_arguments)]
async fn write_checkpoint(
    ctx: &Arc<BrokerContext>,
    req: &PopRequest,
    topic: &str,
    queue_id: i32,
    offset: i64,
    offsets: &[i64],
    next_begin: i64,
    acc: &PopResult,
) -> Outcome<()> {
    let ck = CheckPoint {
        bit_map: 0,
        num: offsets.len() as i8,
        pop_time: acc.pop_time,
        invisible_time: req.invisible_time,
        start_offset: offset,
        cid: req.group.clone(),
        topic: topic.to_string(),
        queue_id,
        broker_name: Some(ctx.config.broker_name.clone()),
        queue_offset_diff: offsets.iter().map(|o| (o - offset) as i32).collect(),
        ..Default::default()
    };
    ctx.offsets.commit(&req.group, topic, queue_id, next_begin);
    let msg = ck_message(
        &ReviveTarget {
            topic: &ctx.pop.revive_topic,
            queue_id: acc.revive_qid,
            store_host: ctx.store_host,
            now: acc.pop_time,
        },
        &ck,
    );
    ctx.pop.ensure_revive_topic(ctx);
    let r = ctx.store.put(msg).await;
    if !matches!(r.status, PutStatus::PutOk | PutStatus::FlushDiskTimeout) {
        ctx.offsets.commit(&req.group, topic, queue_id, offset);
        tracing::warn!(status = ?r.status, topic, queue_id, "pop checkpoint not stored; nothing handed out");
        return Err(Refusal::system(format!(
            "pop checkpoint not stored: {:?}",
            r.status
        )));
    }
    Ok(())
}
