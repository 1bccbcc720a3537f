//! The 5.x remoting POP codes, for Java 5.x remoting clients (`DefaultMQPushConsumer` in
//! POP mode, `DefaultMQAdminExt`): frames → typed headers → the shared POP behaviour.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use rmqd_remoting::codes::response;
use rmqd_remoting::headers::pop::{
    AckMessageRequestHeader, ChangeInvisibleTimeRequestHeader, ChangeInvisibleTimeResponseHeader,
    PeekMessageRequestHeader, PollingInfoRequestHeader, PollingInfoResponseHeader,
    PopMessageRequestHeader, PopMessageResponseHeader,
};
use rmqd_remoting::{RemotingCommand, Reply};
use rmqd_store::record::{self, Decoded, RecordFields};

use super::handle::ReceiptHandle;
use super::receive::{self, PopRequest, PopResult, Popped};
use crate::broker::context::{BrokerContext, Outcome, Refusal};
use crate::broker::filter;
use crate::broker::properties::Properties;

/// `PROPERTY_POP_CK`.
const POP_CK: &str = "POP_CK";
/// 5.x `ResponseCode.POLLING_TIMEOUT` (the number 4.x used for an ACL code).
const POLLING_TIMEOUT: i32 = 210;
/// `ConsumeInitMode.MIN`.
const INIT_MODE_MIN: i32 = 1;

fn later(
    req: RemotingCommand,
    f: impl std::future::Future<Output = Outcome<RemotingCommand>> + Send + 'static,
) -> Reply {
    Reply::Later(Box::pin(async move {
        Some(f.await.unwrap_or_else(|r| {
            tracing::debug!(code = req.code, resp = r.code, remark = %r.remark, "pop request refused");
            RemotingCommand::error(&req, r.code, r.remark)
        }))
    }))
}

fn refused(req: &RemotingCommand, r: Refusal) -> Reply {
    Reply::Now(Some(RemotingCommand::error(req, r.code, r.remark)))
}

/// POP_MESSAGE (200050).
pub fn pop_message(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    let h: PopMessageRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return refused(&req, e.into()),
    };
    let exp = h.exp.clone().unwrap_or_else(|| "*".into());
    let pop = PopRequest {
        group: h.consumer_group.clone(),
        topic: h.topic.clone(),
        queue_id: h.queue_id,
        max_msgs: usize::try_from(h.max_msg_nums).unwrap_or(1),
        invisible_time: h.invisible_time,
        poll_time: Duration::from_millis(h.poll_time.clamp(0, 60_000) as u64),
        init_min: h.init_mode == INIT_MODE_MIN,
        sub: filter::build_subscription(&h.topic, &exp, h.exp_type.as_deref()),
        order: h.order,
        attempt_id: h.attempt_id.clone(),
    };
    let ctx = ctx.clone();
    let r = req.clone();
    later(req, async move {
        let found = receive::pop(&ctx, &pop).await?;
        Ok(pop_response(&r, &pop, found))
    })
}

fn pop_response(req: &RemotingCommand, pop: &PopRequest, found: PopResult) -> RemotingCommand {
    let code = if found.messages.is_empty() {
        POLLING_TIMEOUT
    } else {
        response::SUCCESS
    };
    let remark = if found.messages.is_empty() {
        "NO_MESSAGE_IN_QUEUE"
    } else {
        "FOUND"
    };
    let mut resp = RemotingCommand::response_to(req, code).with_remark(remark);
    let some = |s: String| (!s.is_empty()).then_some(s);
    resp.set_header(&PopMessageResponseHeader {
        pop_time: found.pop_time,
        invisible_time: pop.invisible_time,
        revive_qid: found.revive_qid,
        rest_num: found.rest_num,
        start_offset_info: some(found.start_offset_info),
        msg_offset_info: some(found.msg_offset_info),
        order_count_info: pop.order.then_some(found.order_count_info).and_then(some),
    });
    resp.body_parts = found
        .messages
        .iter()
        .map(|m| as_delivered(m, &pop.topic))
        .collect();
    resp
}

/// A message from the retry topic goes out under the topic the consumer asked for, with
/// its checkpoint info in POP_CK (`popResponseReturnActualRetryTopic` off, Java's default).
fn as_delivered(m: &Popped, topic: &str) -> Bytes {
    if !m.handle.is_retry() {
        return m.record.clone();
    }
    let Ok(Decoded::Message(r)) = record::decode(&m.record, false) else {
        return m.record.clone();
    };
    let mut props = Properties::parse(r.properties);
    if props.get(POP_CK).is_none() {
        props.insert(POP_CK, &m.handle.extra_info());
    }
    let properties = props.encode_java_order();
    Bytes::from(
        RecordFields {
            queue_id: r.queue_id,
            flag: r.flag,
            queue_offset: r.queue_offset,
            physical_offset: r.physical_offset,
            sys_flag: r.sys_flag,
            born_timestamp: r.born_timestamp,
            born_host: r.born_host,
            store_timestamp: r.store_timestamp,
            store_host: r.store_host,
            reconsume_times: r.reconsume_times,
            prepared_transaction_offset: r.prepared_transaction_offset,
            body: r.body,
            topic,
            properties: &properties,
        }
        .encode(),
    )
}

fn handle_of(extra_info: &str, offset: i64, queue_id: i32) -> Outcome<ReceiptHandle> {
    let mut h = ReceiptHandle::decode(extra_info)
        .map_err(|e| Refusal::new(response::MESSAGE_ILLEGAL, e.to_string()))?;
    // The header's offset and queue name the message; the extra info names its checkpoint.
    h.offset = offset;
    h.queue_id = queue_id;
    Ok(h)
}

/// ACK_MESSAGE (200051).
pub fn ack_message(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    let h: AckMessageRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return refused(&req, e.into()),
    };
    let handle = match handle_of(&h.extra_info, h.offset, h.queue_id) {
        Ok(x) => x,
        Err(r) => return refused(&req, r),
    };
    let ctx = ctx.clone();
    let r = req.clone();
    later(req, async move {
        super::ack::ack(&ctx, &h.consumer_group, &h.topic, &handle).await?;
        Ok(RemotingCommand::success(&r))
    })
}

/// BATCH_ACK_MESSAGE (200151): acks of several checkpoints, each as a bit set.
pub fn batch_ack_message(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    let body = match super::batch_ack::decode(&req.body) {
        Ok(b) if !b.acks.is_empty() => b,
        Ok(_) => return refused(&req, Refusal::new(response::NO_MESSAGE, "no ack")),
        Err(e) => return refused(&req, Refusal::new(response::MESSAGE_ILLEGAL, e.to_string())),
    };
    let ctx = ctx.clone();
    let r = req.clone();
    later(req, async move {
        let broker = body
            .broker_name
            .clone()
            .unwrap_or_else(|| ctx.config.broker_name.clone());
        for a in &body.acks {
            let offsets = a
                .offsets()
                .map_err(|e| Refusal::new(response::MESSAGE_ILLEGAL, e.to_string()))?;
            let handle = ReceiptHandle {
                ck_offset: a.start_offset,
                pop_time: a.pop_time,
                invisible_time: a.invisible_time,
                revive_qid: a.revive_queue_id,
                topic_type: a.retry.clone(),
                broker_name: broker.clone(),
                queue_id: a.queue_id,
                offset: a.start_offset,
                commit_log_offset: -1,
            };
            let topic = handle.real_topic(&a.topic, &a.consumer_group);
            if ctx.topics().get(&topic).is_none() {
                continue;
            }
            super::ack::ack_offsets(&ctx, &a.consumer_group, &topic, &handle, offsets).await?;
        }
        Ok(RemotingCommand::success(&r))
    })
}

/// CHANGE_MESSAGE_INVISIBLETIME (200053).
pub fn change_invisible_time(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    let h: ChangeInvisibleTimeRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return refused(&req, e.into()),
    };
    let handle = match handle_of(&h.extra_info, h.offset, h.queue_id) {
        Ok(x) => x,
        Err(r) => return refused(&req, r),
    };
    let ctx = ctx.clone();
    let r = req.clone();
    later(req, async move {
        let c = super::ack::change_invisible_time(
            &ctx,
            &h.consumer_group,
            &h.topic,
            &handle,
            h.invisible_time,
        )
        .await?;
        let mut resp = RemotingCommand::success(&r);
        resp.set_header(&ChangeInvisibleTimeResponseHeader {
            pop_time: c.pop_time,
            invisible_time: c.invisible_time,
            revive_qid: c.revive_qid,
        });
        Ok(resp)
    })
}

/// PEEK_MESSAGE (200052): the group's next messages, handed out to nobody.
pub fn peek_message(ctx: &Arc<BrokerContext>, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: PeekMessageRequestHeader = req.decode_header()?;
    let pop = PopRequest {
        group: h.consumer_group.clone(),
        topic: h.topic.clone(),
        queue_id: h.queue_id,
        max_msgs: usize::try_from(h.max_msg_nums).unwrap_or(1),
        invisible_time: 0,
        poll_time: Duration::ZERO,
        init_min: false,
        sub: Default::default(),
        order: false,
        attempt_id: None,
    };
    receive::check(ctx, &pop)?;
    let queues = match ctx.topics().get(&h.topic) {
        Some(t) if h.queue_id < 0 => (0..t.read_queue_nums).collect::<Vec<_>>(),
        _ => vec![h.queue_id],
    };
    let max = pop.max_msgs.clamp(1, receive::MAX_POP_NUMS);
    let mut parts = Vec::new();
    let mut rest = 0;
    for q in queues {
        let offset = ctx
            .offsets
            .query(&h.consumer_group, &h.topic, q)
            .unwrap_or_else(|| ctx.store.min_offset_in_queue(&h.topic, q));
        let want = (max - parts.len()) as i32;
        if want > 0 {
            let found = ctx.store.get_messages(&h.topic, q, offset, want, &|_| true);
            parts.extend(found.messages);
            rest += found.max_offset - found.next_begin_offset;
        } else {
            rest += ctx.store.max_offset_in_queue(&h.topic, q) - offset;
        }
    }
    let code = if parts.is_empty() {
        POLLING_TIMEOUT
    } else {
        response::SUCCESS
    };
    let mut resp = RemotingCommand::response_to(req, code);
    resp.set_header(&PopMessageResponseHeader {
        pop_time: crate::broker::context::now_ms(),
        invisible_time: 0,
        revive_qid: 0,
        rest_num: rest,
        ..Default::default()
    });
    resp.body_parts = parts;
    Ok(resp)
}

/// POLLING_INFO (200055): how many pops wait on the topic.
pub fn polling_info(ctx: &Arc<BrokerContext>, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: PollingInfoRequestHeader = req.decode_header()?;
    if ctx.topics().get(&h.topic).is_none() {
        return Err(Refusal::new(
            response::TOPIC_NOT_EXIST,
            format!(
                "topic[{}] not exist, apply first please! http://rocketmq.apache.org/docs/faq/",
                h.topic
            ),
        ));
    }
    let mut resp = RemotingCommand::success(req);
    resp.set_header(&PollingInfoResponseHeader {
        polling_num: ctx.pop.waiters.waiting_on(&h.topic) as i32,
    });
    Ok(resp)
}
