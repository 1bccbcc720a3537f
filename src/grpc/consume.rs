//! ReceiveMessage, AckMessage, ChangeInvisibleDuration, ForwardMessageToDeadLetterQueue and
//! the offset RPCs (`ReceiveMessageActivity`, `AckMessageActivity`,
//! `ChangeInvisibleDurationActivity`, `ForwardMessageToDLQActivity`): the gRPC face of the
//! broker's POP consumption.

use std::sync::Arc;
use std::time::Duration;

use rmqd_remoting::headers::broker::ConsumerSendMsgBackRequestHeader;
use rmqd_store::record::{self, Decoded};
use rmqd_store::PutStatus;
use tokio::sync::mpsc;

use super::client::{self, GrpcClients};
use super::convert::{self, duration_ms, Delivery};
use super::pb::{self, receive_message_response::Content, settings::PubSub, Code};
use super::{status, validate};
use crate::broker::context::{now_ms, BrokerContext, Refusal};
use crate::broker::pop::receive::{self, PopRequest, Popped};
use crate::broker::pop::{ack, ReceiptHandle};
use crate::broker::{filter, retry};

/// `ProxyConfig` invisible-time limits and the default for auto-renewed receives.
const MIN_INVISIBLE_MS: i64 = 10_000;
const MAX_INVISIBLE_MS: i64 = 12 * 3600 * 1000;
const DEFAULT_INVISIBLE_MS: i64 = 60_000;
/// What a message that could not be written to the stream is made invisible for.
const NACK_INVISIBLE_MS: i64 = 1_000;
/// `longPollingReserveTimeInMillis`.
const POLLING_RESERVE_MS: i64 = 100;

fn resource_name(r: &Option<pb::Resource>) -> String {
    r.as_ref().map(|r| r.name.clone()).unwrap_or_default()
}

fn receive_status(code: Code, msg: impl Into<String>) -> pb::ReceiveMessageResponse {
    pb::ReceiveMessageResponse {
        content: Some(Content::Status(status::with(code, msg))),
    }
}

fn done() -> pb::ReceiveMessageResponse {
    pb::ReceiveMessageResponse {
        content: Some(Content::DeliveryTimestamp(convert::timestamp(now_ms()))),
    }
}

pub struct Receive {
    pub client_id: String,
    /// Time left before the client's deadline (`grpc-timeout`), if it sent one.
    pub remaining_ms: Option<i64>,
}

type Out = mpsc::Sender<Result<pb::ReceiveMessageResponse, tonic::Status>>;

async fn write_all(tx: &Out, items: Vec<pb::ReceiveMessageResponse>) {
    for i in items {
        if tx.send(Ok(i)).await.is_err() {
            return;
        }
    }
}

/// Runs one ReceiveMessage, writing its responses to `tx`.
pub async fn receive_message(
    ctx: Arc<BrokerContext>,
    clients: Arc<GrpcClients>,
    call: Receive,
    req: pb::ReceiveMessageRequest,
    tx: Out,
) {
    let settings = clients
        .raw_settings(&call.client_id)
        .map(|s| client::merged(&ctx, &s));
    let (fifo, max_attempts, request_timeout) = match &settings {
        Some(s) => {
            let fifo =
                matches!(&s.pub_sub, Some(PubSub::Subscription(sub)) if sub.fifo == Some(true));
            let attempts = s
                .backoff_policy
                .as_ref()
                .map(|b| b.max_attempts)
                .unwrap_or(17);
            let timeout = s.request_timeout.as_ref().map(duration_ms).unwrap_or(3000);
            (fifo, attempts, timeout)
        }
        None => (false, 17, 3000),
    };
    let remaining = call.remaining_ms.map(|r| r - POLLING_RESERVE_MS);
    let mut polling = match (&req.long_polling_timeout, remaining) {
        (Some(d), _) => duration_ms(d),
        (None, Some(r)) => r - request_timeout / 2,
        (None, None) => client::MAX_LONG_POLLING_MS,
    };
    polling = polling.clamp(client::MIN_LONG_POLLING_MS, client::MAX_LONG_POLLING_MS);
    if let Some(r) = remaining {
        if polling > r {
            if r >= client::MIN_LONG_POLLING_MS {
                polling = r;
            } else {
                write_all(
                    &tx,
                    vec![
                        receive_status(
                            Code::IllegalPollingTime,
                            "The deadline time remaining is not enough for polling, please check network condition",
                        ),
                        done(),
                    ],
                )
                .await;
                return;
            }
        }
    }
    let topic = req
        .message_queue
        .as_ref()
        .map(|q| resource_name(&q.topic))
        .unwrap_or_default();
    let group = resource_name(&req.group);
    let checked = validate::topic(&topic).and_then(|_| validate::group(&group));
    if let Err((code, msg)) = checked {
        write_all(&tx, vec![receive_status(code, msg), done()]).await;
        return;
    }
    let invisible = if req.auto_renew {
        DEFAULT_INVISIBLE_MS
    } else {
        req.invisible_duration
            .as_ref()
            .map(duration_ms)
            .unwrap_or(0)
    };
    if !req.auto_renew {
        let bad = if invisible < MIN_INVISIBLE_MS {
            Some(format!(
                "the invisibleTime is too small, min is {MIN_INVISIBLE_MS}"
            ))
        } else if invisible > MAX_INVISIBLE_MS {
            Some(format!(
                "the invisibleTime is too large, max is {MAX_INVISIBLE_MS}"
            ))
        } else {
            None
        };
        if let Some(msg) = bad {
            write_all(
                &tx,
                vec![receive_status(Code::IllegalInvisibleTime, msg), done()],
            )
            .await;
            return;
        }
    }
    let (exp, exp_type) = match &req.filter_expression {
        Some(f) if f.r#type == pb::FilterType::Sql as i32 => (f.expression.clone(), "SQL92"),
        Some(f) => (f.expression.clone(), "TAG"),
        None => ("*".to_string(), "TAG"),
    };
    if exp_type != "TAG" {
        write_all(
            &tx,
            vec![
                receive_status(
                    Code::IllegalFilterExpression,
                    "The broker does not support consumer to filter message by SQL92",
                ),
                done(),
            ],
        )
        .await;
        return;
    }
    let sub = filter::build_subscription(&topic, &exp, Some(exp_type));
    let pop = PopRequest {
        group: group.clone(),
        topic: topic.clone(),
        // The proxy picks the broker by the request's queue and pops all its queues
        // (`ReceiveMessageQueueSelector`: the broker's acting queue has id -1).
        queue_id: -1,
        max_msgs: usize::try_from(req.batch_size).unwrap_or(1).max(1),
        invisible_time: invisible,
        poll_time: Duration::from_millis(polling.max(0) as u64),
        init_min: false,
        sub: sub.clone(),
        order: fifo,
        attempt_id: req.attempt_id.clone(),
    };
    let found = tokio::select! {
        r = receive::pop(&ctx, &pop) => r,
        _ = tx.closed() => return,
    };
    let popped = match found {
        Ok(r) => r.messages,
        Err(r) => {
            write_all(
                &tx,
                vec![
                    pb::ReceiveMessageResponse {
                        content: Some(Content::Status(
                            status::from_refusal(&r).unwrap_or_default(),
                        )),
                    },
                    done(),
                ],
            )
            .await;
            return;
        }
    };
    let mut deliver = Vec::with_capacity(popped.len());
    for p in popped {
        match screen(&ctx, &group, &topic, &sub, max_attempts, &p).await {
            Screen::Deliver(m) => deliver.push((p, m)),
            Screen::Dropped => {}
        }
    }
    if deliver.is_empty() {
        write_all(
            &tx,
            vec![
                receive_status(Code::MessageNotFound, "no new message"),
                done(),
            ],
        )
        .await;
        return;
    }
    let mut items = vec![pb::ReceiveMessageResponse {
        content: Some(Content::Status(status::with(Code::Ok, "OK"))),
    }];
    items.extend(deliver.iter().map(|(_, m)| pb::ReceiveMessageResponse {
        content: Some(Content::Message((**m).clone())),
    }));
    items.push(done());
    let total = items.len();
    for (i, item) in items.into_iter().enumerate() {
        if tx.send(Ok(item)).await.is_err() {
            // `processThrowableWhenWriteMessage`: what did not reach the client comes back soon.
            for (p, _) in deliver.iter().skip(i.saturating_sub(1)) {
                let real = p.handle.real_topic(&topic, &group);
                let _ =
                    ack::change_invisible_time(&ctx, &group, &real, &p.handle, NACK_INVISIBLE_MS)
                        .await;
            }
            return;
        }
        let _ = total;
    }
}

enum Screen {
    Deliver(Box<pb::Message>),
    Dropped,
}

/// `PopMessageResultFilterImpl`: a message whose tag does not match is acknowledged, one
/// delivered `maxAttempts` times goes to the dead letter queue.
async fn screen(
    ctx: &Arc<BrokerContext>,
    group: &str,
    topic: &str,
    sub: &rmqd_remoting::body::client::SubscriptionData,
    max_attempts: i32,
    p: &Popped,
) -> Screen {
    let Ok(Decoded::Message(m)) = record::decode(&p.record, false) else {
        return Screen::Dropped;
    };
    let real = p.handle.real_topic(topic, group);
    let tag_ok =
        sub.tags_set.is_empty() || m.property("TAGS").is_some_and(|t| sub.tags_set.contains(t));
    if !tag_ok {
        let _ = ack::ack(ctx, group, &real, &p.handle).await;
        return Screen::Dropped;
    }
    if p.reconsume_times >= max_attempts {
        let id = m
            .property("UNIQ_KEY")
            .map(str::to_string)
            .unwrap_or_else(|| m.offset_msg_id());
        if let Err(r) = to_dlq(ctx, group, topic, &p.handle, &id).await {
            tracing::warn!(group, topic, remark = %r.remark, "could not move a message to the dead letter queue");
        }
        return Screen::Dropped;
    }
    Screen::Deliver(Box::new(convert::message(
        &p.record,
        &m,
        &Delivery {
            topic,
            receipt_handle: Some(p.handle.encode()),
            reconsume_times: p.reconsume_times,
            invisible_ms: Some(p.handle.invisible_time),
        },
    )))
}

/// `forwardMessageToDeadLetterQueue`: send-back with delay level -1, then ack.
async fn to_dlq(
    ctx: &Arc<BrokerContext>,
    group: &str,
    topic: &str,
    handle: &ReceiptHandle,
    message_id: &str,
) -> Result<(), Refusal> {
    if handle.commit_log_offset < 0 {
        return Err(Refusal::system("commit log offset is empty"));
    }
    let real = handle.real_topic(topic, group);
    let h = ConsumerSendMsgBackRequestHeader {
        offset: handle.commit_log_offset,
        group: group.to_string(),
        delay_level: -1,
        origin_msg_id: Some(message_id.to_string()),
        origin_topic: Some(real.clone()),
        unit_mode: false,
        max_reconsume_times: Some(0),
    };
    if let Some((msg, origin_topic)) = retry::send_back(ctx, &h, 0)? {
        let r = ctx.store.put(msg).await;
        if !matches!(r.status, PutStatus::PutOk | PutStatus::FlushDiskTimeout) {
            return Err(Refusal::system(format!("{:?}", r.status)));
        }
        ctx.stats.manager.record_send_back(group, &origin_topic);
    }
    ack::ack(ctx, group, &real, handle).await
}

/// Decodes a client's handle; expired ones are refused as the proxy refuses them.
fn handle_of(s: &str) -> Result<ReceiptHandle, pb::Status> {
    if s.trim().is_empty() {
        return Err(status::with(
            Code::InvalidReceiptHandle,
            "receipt handle cannot be empty",
        ));
    }
    let h = ReceiptHandle::decode(s)
        .map_err(|_| status::with(Code::InvalidReceiptHandle, "receipt handle is invalid"))?;
    if h.next_visible_time() <= now_ms() {
        return Err(status::with(
            Code::InvalidReceiptHandle,
            "receipt handle is expired",
        ));
    }
    Ok(h)
}

pub async fn ack_message(
    ctx: &Arc<BrokerContext>,
    req: pb::AckMessageRequest,
) -> pb::AckMessageResponse {
    let group = resource_name(&req.group);
    let topic = resource_name(&req.topic);
    if let Err((c, m)) = validate::topic(&topic).and_then(|_| validate::group(&group)) {
        return pb::AckMessageResponse {
            status: status::some(c, m),
            entries: Vec::new(),
        };
    }
    let mut entries = Vec::with_capacity(req.entries.len());
    for e in &req.entries {
        let st = match handle_of(&e.receipt_handle) {
            Err(s) => s,
            Ok(h) => {
                let real = h.real_topic(&topic, &group);
                match ack::ack(ctx, &group, &real, &h).await {
                    Ok(()) => status::with(Code::Ok, "OK"),
                    Err(r) => status::from_refusal(&r).unwrap_or_default(),
                }
            }
        };
        entries.push(pb::AckMessageResultEntry {
            message_id: e.message_id.clone(),
            receipt_handle: e.receipt_handle.clone(),
            status: Some(st),
        });
    }
    let mut codes: Vec<i32> = entries
        .iter()
        .filter_map(|e| e.status.as_ref().map(|s| s.code))
        .collect();
    codes.sort_unstable();
    codes.dedup();
    let status = match codes.as_slice() {
        [] => status::ok(),
        [one] => entries
            .iter()
            .find_map(|e| e.status.clone())
            .filter(|s| s.code == *one),
        _ => status::some(Code::MultipleResults, "MULTIPLE_RESULTS"),
    };
    pb::AckMessageResponse { status, entries }
}

pub async fn change_invisible_duration(
    ctx: &Arc<BrokerContext>,
    req: pb::ChangeInvisibleDurationRequest,
) -> pb::ChangeInvisibleDurationResponse {
    let fail = |s: pb::Status| pb::ChangeInvisibleDurationResponse {
        status: Some(s),
        receipt_handle: String::new(),
    };
    let group = resource_name(&req.group);
    let topic = resource_name(&req.topic);
    if let Err((c, m)) = validate::topic(&topic).and_then(|_| validate::group(&group)) {
        return fail(status::with(c, m));
    }
    let invisible = req
        .invisible_duration
        .as_ref()
        .map(duration_ms)
        .unwrap_or(0);
    if invisible > MAX_INVISIBLE_MS {
        return fail(status::with(
            Code::IllegalInvisibleTime,
            format!("the invisibleTime is too large, max is {MAX_INVISIBLE_MS}"),
        ));
    }
    let h = match handle_of(&req.receipt_handle) {
        Ok(h) => h,
        Err(s) => return fail(s),
    };
    let real = h.real_topic(&topic, &group);
    match ack::change_invisible_time(ctx, &group, &real, &h, invisible.max(0)).await {
        Ok(c) => {
            let renewed = ReceiptHandle {
                ck_offset: if h.is_order() { h.ck_offset } else { h.offset },
                pop_time: c.pop_time,
                invisible_time: c.invisible_time,
                revive_qid: c.revive_qid,
                ..h
            };
            pb::ChangeInvisibleDurationResponse {
                status: status::ok(),
                receipt_handle: renewed.encode(),
            }
        }
        Err(r) => fail(status::from_refusal(&r).unwrap_or_default()),
    }
}

pub async fn forward_to_dlq(
    ctx: &Arc<BrokerContext>,
    req: pb::ForwardMessageToDeadLetterQueueRequest,
) -> pb::ForwardMessageToDeadLetterQueueResponse {
    let group = resource_name(&req.group);
    let topic = resource_name(&req.topic);
    if let Err((c, m)) = validate::topic(&topic).and_then(|_| validate::group(&group)) {
        return pb::ForwardMessageToDeadLetterQueueResponse {
            status: status::some(c, m),
        };
    }
    let h = match ReceiptHandle::decode(&req.receipt_handle) {
        Ok(h) => h,
        Err(_) => {
            return pb::ForwardMessageToDeadLetterQueueResponse {
                status: status::some(Code::InvalidReceiptHandle, "receipt handle is invalid"),
            }
        }
    };
    match to_dlq(ctx, &group, &topic, &h, &req.message_id).await {
        Ok(()) => pb::ForwardMessageToDeadLetterQueueResponse {
            status: status::ok(),
        },
        Err(r) => pb::ForwardMessageToDeadLetterQueueResponse {
            status: status::from_refusal(&r),
        },
    }
}

fn queue_of(q: &Option<pb::MessageQueue>) -> (String, i32) {
    q.as_ref()
        .map(|q| (resource_name(&q.topic), q.id))
        .unwrap_or_default()
}

pub fn query_offset(ctx: &BrokerContext, req: pb::QueryOffsetRequest) -> pb::QueryOffsetResponse {
    let (topic, qid) = queue_of(&req.message_queue);
    let offset = match pb::QueryOffsetPolicy::try_from(req.query_offset_policy) {
        Ok(pb::QueryOffsetPolicy::End) => ctx.store.max_offset_in_queue(&topic, qid),
        Ok(pb::QueryOffsetPolicy::Timestamp) => {
            let ts = req.timestamp.as_ref().map(convert::millis_of).unwrap_or(0);
            ctx.store.offset_by_timestamp(&topic, qid, ts)
        }
        _ => ctx.store.min_offset_in_queue(&topic, qid),
    };
    pb::QueryOffsetResponse {
        status: status::ok(),
        offset,
    }
}

pub fn update_offset(
    ctx: &BrokerContext,
    req: pb::UpdateOffsetRequest,
) -> pb::UpdateOffsetResponse {
    let (topic, qid) = queue_of(&req.message_queue);
    let group = resource_name(&req.group);
    if let Err((c, m)) = validate::topic(&topic).and_then(|_| validate::group(&group)) {
        return pb::UpdateOffsetResponse {
            status: status::some(c, m),
        };
    }
    ctx.offsets.commit(&group, &topic, qid, req.offset);
    pb::UpdateOffsetResponse {
        status: status::ok(),
    }
}

pub fn get_offset(ctx: &BrokerContext, req: pb::GetOffsetRequest) -> pb::GetOffsetResponse {
    let (topic, qid) = queue_of(&req.message_queue);
    let group = resource_name(&req.group);
    match ctx.offsets.query(&group, &topic, qid) {
        Some(offset) => pb::GetOffsetResponse {
            status: status::ok(),
            offset,
        },
        None => pb::GetOffsetResponse {
            status: status::some(Code::OffsetNotFound, "offset not found"),
            offset: 0,
        },
    }
}
