//! Admin codes the broker answers by asking its clients (Java's `Broker2Client`):
//! GET_CONSUMER_RUNNING_INFO (307) and CONSUME_MESSAGE_DIRECTLY (309) are relayed to one
//! consumer and its answer returned as it is; INVOKE_BROKER_TO_RESET_OFFSET (222) pushes
//! RESET_CONSUMER_CLIENT_OFFSET (220) to every consumer of the group;
//! INVOKE_BROKER_TO_GET_CONSUMER_STATUS (223) gathers GET_CONSUMER_STATUS_FROM_CLIENT
//! (221) answers.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rmqd_remoting::body::stats::{
    GetConsumerStatusBody, MessageQueueForC, ResetOffsetBody, ResetOffsetBodyForC,
};
use rmqd_remoting::body::to_json;
use rmqd_remoting::codes::{request, response};
use rmqd_remoting::headers::admin::{
    ConsumeMessageDirectlyRequestHeader, GetConsumerRunningInfoRequestHeader,
    GetConsumerStatusRequestHeader, ResetOffsetRequestHeader,
};
use rmqd_remoting::{InvokeError, LanguageCode, RemotingCommand, Reply};

use super::topic_stats::message_queue;
use crate::broker::context::{BrokerContext, Refusal};

/// `MQVersion.Version.V3_0_7_SNAPSHOT.ordinal()`: clients that take offset resets and
/// status queries.
const V3_0_7_SNAPSHOT: i32 = 28;
/// `V3_1_8_SNAPSHOT`: clients that answer running-info and consume-directly requests.
const V3_1_8_SNAPSHOT: i32 = 62;
/// `Broker2Client.callClient`'s wait.
const CALL_TIMEOUT: Duration = Duration::from_secs(10);
/// The wait for each GET_CONSUMER_STATUS_FROM_CLIENT answer.
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// The remark of a Java response nobody set one on (`createResponseCommand(null)`).
const DEFAULT_REMARK: &str = "not set any response code";

fn refused(req: &RemotingCommand, r: Refusal) -> Reply {
    Reply::Now(Some(RemotingCommand::error(req, r.code, r.remark)))
}

pub fn consumer_running_info(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    match req.decode_header::<GetConsumerRunningInfoRequestHeader>() {
        Ok(h) => call_consumer(
            ctx,
            request::GET_CONSUMER_RUNNING_INFO,
            req,
            &h.consumer_group,
            Some(h.client_id),
        ),
        Err(e) => refused(&req, e.into()),
    }
}

pub fn consume_message_directly(ctx: &Arc<BrokerContext>, mut req: RemotingCommand) -> Reply {
    let h = match req.decode_header::<ConsumeMessageDirectlyRequestHeader>() {
        Ok(h) => h,
        Err(e) => return refused(&req, e.into()),
    };
    req.ext_mut()
        .insert("brokerName", ctx.config.broker_name.as_str());
    // The message named by its offsetMsgId goes along as the body; an id that is not one
    // leaves the body as it came (Java ignores it too).
    if let Some((_, offset)) = h
        .msg_id
        .as_deref()
        .and_then(rmqd_store::record::decode_offset_msg_id)
    {
        match ctx.store.message_at(offset) {
            Some(record) => req.body = record,
            None => {
                return refused(
                    &req,
                    Refusal::system(format!("can not find message by the msgId {offset}")),
                )
            }
        }
    }
    call_consumer(
        ctx,
        request::CONSUME_MESSAGE_DIRECTLY,
        req,
        &h.consumer_group,
        h.client_id,
    )
}

/// `callConsumer`: the same request to the consumer's channel, its answer back.
fn call_consumer(
    ctx: &Arc<BrokerContext>,
    code: i32,
    req: RemotingCommand,
    group: &str,
    client_id: Option<String>,
) -> Reply {
    let id = client_id.unwrap_or_else(|| "null".into());
    let Some(channel) = ctx.clients.find_consumer_channel(group, &id) else {
        return refused(
            &req,
            Refusal::system(format!("The Consumer <{group}> <{id}> not online")),
        );
    };
    if channel.version < V3_1_8_SNAPSHOT {
        return refused(
            &req,
            Refusal::system(format!(
                "The Consumer <{id}> Version <{}> too low to finish, please upgrade it to V3_1_8_SNAPSHOT",
                channel.version
            )),
        );
    }
    let mut out = RemotingCommand::request(code);
    out.ext_fields = req.ext_fields.clone();
    out.body = req.body.clone();
    let group = group.to_owned();
    Reply::Later(Box::pin(async move {
        Some(match channel.conn.invoke(out, CALL_TIMEOUT).await {
            Ok(answer) => relayed(&req, answer),
            Err(e @ InvokeError::Timeout { .. }) => RemotingCommand::error(
                &req,
                response::CONSUME_MSG_TIMEOUT,
                format!("consumer <{group}> <{id}> Timeout: {e}"),
            ),
            Err(e) => RemotingCommand::error(
                &req,
                response::SYSTEM_ERROR,
                format!("invoke consumer <{group}> <{id}> Exception: {e}"),
            ),
        })
    }))
}

/// The client's answer as the answer to `req`: code, remark, header fields and body
/// unchanged, as the Java broker returns what `invokeSync` gave it.
fn relayed(req: &RemotingCommand, answer: RemotingCommand) -> RemotingCommand {
    let mut resp = RemotingCommand::response_to(req, answer.code);
    resp.language = answer.language;
    resp.version = answer.version;
    resp.remark = answer.remark;
    resp.ext_fields = answer.ext_fields;
    resp.body = answer.body;
    resp.body_parts = answer.body_parts;
    resp
}

pub fn reset_offset(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    let h: ResetOffsetRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return refused(&req, e.into()),
    };
    tracing::info!(topic = %h.topic, group = %h.group, timestamp = h.timestamp, force = h.is_force, "[reset-offset] reset offset started");
    let Some(tc) = ctx.topics().get(&h.topic).cloned() else {
        return refused(
            &req,
            Refusal::system(format!(
                "[reset-offset] reset offset failed, no topic in this broker. topic={}",
                h.topic
            )),
        );
    };
    let mut table = Vec::new();
    for q in 0..tc.write_queue_nums {
        let Some(consumer) = ctx.offsets.query(&h.group, &h.topic, q) else {
            return refused(
                &req,
                Refusal::system(format!("THe consumer group <{}> not exist", h.group)),
            );
        };
        let at = if h.timestamp == -1 {
            ctx.store.max_offset_in_queue(&h.topic, q)
        } else {
            ctx.store.offset_by_timestamp(&h.topic, q, h.timestamp)
        }
        .max(0);
        let offset = if h.is_force || at < consumer {
            at
        } else {
            consumer
        };
        table.push((message_queue(ctx, &h.topic, q), offset));
    }
    let channels = ctx.clients.consumer_channels(&h.group);
    if channels.is_empty() {
        return refused(
            &req,
            Refusal::new(
                response::CONSUMER_NOT_ONLINE,
                format!(
                    "Consumer not online, so can not reset offset, Group: {} Topic: {} Timestamp: {}",
                    h.group, h.topic, h.timestamp
                ),
            ),
        );
    }
    if let Some(old) = channels.iter().find(|c| c.version < V3_0_7_SNAPSHOT) {
        return refused(
            &req,
            Refusal::system(format!(
                "the client does not support this feature. version={}",
                old.version
            )),
        );
    }
    // What the consumers get: the C++ list form when the one asking speaks CPP, as Java
    // decides it.
    let push_body = if req.language == LanguageCode::Cpp {
        to_json(&ResetOffsetBodyForC {
            offset_table: table
                .iter()
                .map(|(mq, offset)| MessageQueueForC {
                    broker_name: mq.broker_name.clone(),
                    offset: *offset,
                    queue_id: mq.queue_id,
                    topic: mq.topic.clone(),
                })
                .collect(),
        })
    } else {
        ResetOffsetBody {
            offset_table: table.clone(),
        }
        .encode()
    };
    let push = RemotingCommand::request(request::RESET_CONSUMER_CLIENT_OFFSET)
        .with_header(&ResetOffsetRequestHeader {
            topic: h.topic.clone(),
            group: h.group.clone(),
            timestamp: h.timestamp,
            is_force: false,
        })
        .with_body(push_body);
    let body = ResetOffsetBody {
        offset_table: table,
    }
    .encode();
    Reply::Later(Box::pin(async move {
        for c in channels {
            match c.conn.invoke_oneway(push.clone()).await {
                Ok(()) => {
                    tracing::info!(topic = %h.topic, group = %h.group, client = %c.client_id, "[reset-offset] reset offset success")
                }
                Err(e) => {
                    tracing::error!(topic = %h.topic, group = %h.group, error = %e, "[reset-offset] reset offset exception")
                }
            }
        }
        Some(
            RemotingCommand::success(&req)
                .with_remark(DEFAULT_REMARK)
                .with_body(body),
        )
    }))
}

pub fn consumer_status(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    let h: GetConsumerStatusRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return refused(&req, e.into()),
    };
    tracing::info!(topic = %h.topic, group = %h.group, "[get-consumer-status] get consumer status");
    let channels = ctx.clients.consumer_channels(&h.group);
    if channels.is_empty() {
        return refused(
            &req,
            Refusal::system(format!(
                "No Any Consumer online in the consumer group: [{}]",
                h.group
            )),
        );
    }
    let only = h.client_addr.clone().filter(|a| !a.trim().is_empty());
    let ask = RemotingCommand::request(request::GET_CONSUMER_STATUS_FROM_CLIENT).with_header(
        &GetConsumerStatusRequestHeader {
            topic: h.topic.clone(),
            group: h.group.clone(),
            client_addr: None,
        },
    );
    Reply::Later(Box::pin(async move {
        let mut table = BTreeMap::new();
        for c in channels {
            if c.version < V3_0_7_SNAPSHOT {
                return Some(RemotingCommand::error(
                    &req,
                    response::SYSTEM_ERROR,
                    format!(
                        "the client does not support this feature. version={}",
                        c.version
                    ),
                ));
            }
            if only.as_ref().is_some_and(|id| *id != c.client_id) {
                continue;
            }
            match c.conn.invoke(ask.clone(), STATUS_TIMEOUT).await {
                Ok(a) if a.code == response::SUCCESS && !a.body.is_empty() => {
                    match GetConsumerStatusBody::decode(&a.body) {
                        Ok(b) => {
                            table.insert(c.client_id.clone(), b.message_queue_table);
                        }
                        Err(e) => {
                            tracing::error!(client = %c.client_id, error = %e, "[get-consumer-status] bad answer")
                        }
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::error!(topic = %h.topic, group = %h.group, error = %e, "[get-consumer-status] get consumer status exception")
                }
            }
            if only.is_some() {
                break;
            }
        }
        let body = GetConsumerStatusBody {
            consumer_table: table,
            message_queue_table: Vec::new(),
        };
        Some(
            RemotingCommand::success(&req)
                .with_remark(DEFAULT_REMARK)
                .with_body(body.encode()),
        )
    }))
}
