//! HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP, CHECK_CLIENT_CONFIG and the
//! orderly-consumption locks.

use std::sync::Arc;
use std::time::Instant;

use rmqd_remoting::body::client::{
    CheckClientRequestBody, ConsumerIdList, HeartbeatData, LockBatchRequestBody,
    LockBatchResponseBody,
};
use rmqd_remoting::body::to_json;
use rmqd_remoting::body::topic::perm;
use rmqd_remoting::codes::response;
use rmqd_remoting::headers::broker::{ConsumerGroupHeader, UnregisterClientRequestHeader};
use rmqd_remoting::{ConnectionHandle, RemotingCommand};

use super::clients::ClientChannel;
use super::consumer_filter::{is_tag_type, BuildError};
use super::context::{now_ms, BrokerContext, Outcome, Refusal};

pub const RETRY_GROUP_TOPIC_PREFIX: &str = "%RETRY%";

fn channel(conn: &ConnectionHandle, req: &RemotingCommand, client_id: &str) -> ClientChannel {
    ClientChannel {
        conn: conn.clone(),
        client_id: client_id.to_owned(),
        language: req.language,
        version: req.version,
        last_update: Instant::now(),
    }
}

pub fn heartbeat(
    ctx: &Arc<BrokerContext>,
    conn: &ConnectionHandle,
    req: &RemotingCommand,
) -> Outcome<RemotingCommand> {
    let hb: HeartbeatData = serde_json::from_slice(&req.body)
        .map_err(|e| Refusal::system(format!("bad heartbeat body: {e}")))?;
    for data in &hb.consumer_data_set {
        let (group_cfg, created) = ctx.groups.find_or_create(&data.group_name);
        if created {
            ctx.persist_groups();
        }
        let mut notify_enabled = true;
        if let Some(g) = &group_cfg {
            notify_enabled = g.notify_consumer_ids_changed_enable;
            let sys_flag = if data.unit_mode { 0x2 } else { 0 };
            let retry = format!("{RETRY_GROUP_TOPIC_PREFIX}{}", data.group_name);
            let (_, fresh) = ctx.topics().create_system(
                &retry,
                g.retry_queue_nums,
                perm::READ | perm::WRITE,
                sys_flag,
                now_ms(),
            );
            if fresh {
                ctx.persist_topics();
                ctx.register_soon();
            }
        }
        let changed = ctx
            .clients
            .register_consumer(data, channel(conn, req, &hb.client_id));
        // Java's REGISTER event, on every heartbeat: SQL92 subscriptions (re)compiled
        // when their version moves.
        ctx.filters
            .register_group(&data.group_name, &data.subscription_data_set);
        if changed {
            tracing::info!(group = %data.group_name, client = %hb.client_id, "consumer group changed");
            if notify_enabled {
                ctx.clients.notify_ids_changed(&data.group_name);
            }
        }
    }
    for p in &hb.producer_data_set {
        ctx.clients
            .register_producer(&p.group_name, channel(conn, req, &hb.client_id));
    }
    Ok(RemotingCommand::success(req))
}

pub fn unregister_client(
    ctx: &Arc<BrokerContext>,
    conn: &ConnectionHandle,
    req: &RemotingCommand,
) -> Outcome<RemotingCommand> {
    let h: UnregisterClientRequestHeader = req.decode_header()?;
    if let Some(g) = h.producer_group.as_deref() {
        ctx.clients.unregister_producer(g, conn);
    }
    if let Some(g) = h.consumer_group.as_deref() {
        let notify = ctx
            .groups
            .get(g)
            .is_none_or(|c| c.notify_consumer_ids_changed_enable);
        if ctx.clients.unregister_consumer(g, conn) && notify {
            ctx.clients.notify_ids_changed(g);
        }
        ctx.sweep_filters();
    }
    let mut resp = RemotingCommand::success(req);
    resp.ext_mut();
    Ok(resp)
}

pub fn consumer_list(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: ConsumerGroupHeader = req.decode_header()?;
    match ctx.clients.consumer_ids(&h.consumer_group) {
        Some(ids) if !ids.is_empty() => {
            let mut resp = RemotingCommand::success(req).with_body(to_json(&ConsumerIdList {
                consumer_id_list: ids,
            }));
            resp.ext_mut();
            Ok(resp)
        }
        _ => {
            tracing::warn!(group = %h.consumer_group, "no consumer for group");
            Err(Refusal::system("no consumer for this group"))
        }
    }
}

pub fn lock_batch(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let body: LockBatchRequestBody = serde_json::from_slice(&req.body)
        .map_err(|e| Refusal::system(format!("bad lock body: {e}")))?;
    let locked = ctx.locks.try_lock(
        &body.consumer_group,
        &body.client_id,
        &body.mq_set,
        Instant::now(),
    );
    Ok(
        RemotingCommand::success(req).with_body(to_json(&LockBatchResponseBody {
            lock_ok_mq_set: locked,
        })),
    )
}

pub fn unlock_batch(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let body: LockBatchRequestBody = serde_json::from_slice(&req.body)
        .map_err(|e| Refusal::system(format!("bad unlock body: {e}")))?;
    ctx.locks
        .unlock(&body.consumer_group, &body.client_id, &body.mq_set);
    Ok(RemotingCommand::success(req))
}

/// CHECK_CLIENT_CONFIG (46), as `ClientManageProcessor.checkClientConfig`: a Java consumer
/// sends each non-tag subscription before it starts and fails to start unless it gets
/// SUCCESS. SQL92 needs `enablePropertyFilter`; an expression that does not compile is
/// SUBSCRIPTION_PARSE_FAILED with the parser's message.
pub fn check_client_config(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    // Java reads an empty body as no body (fastjson gives null), and that as SUCCESS.
    let body: CheckClientRequestBody = if req.body.is_empty() {
        CheckClientRequestBody::default()
    } else {
        serde_json::from_slice(&req.body)
            .map_err(|e| Refusal::system(format!("bad CHECK_CLIENT_CONFIG body: {e}")))?
    };
    let Some(sub) = body.subscription_data else {
        return Ok(RemotingCommand::success(req));
    };
    if is_tag_type(&sub.expression_type) {
        return Ok(RemotingCommand::success(req));
    }
    if !ctx.config.enable_property_filter {
        tracing::info!(client = %body.client_id, group = %body.group, expression_type = %sub.expression_type,
            "consumer refused: property filters are off (enablePropertyFilter=false)");
        return Err(Refusal::system(format!(
            "The broker does not support consumer to filter message by {}",
            sub.expression_type
        )));
    }
    match ctx.filters.compile(&sub.expression_type, &sub.sub_string) {
        Ok(_) => Ok(RemotingCommand::success(req)),
        Err(e) => {
            tracing::warn!(client = %body.client_id, group = %body.group, expression = %sub.sub_string, error = ?e,
                "client filters messages, but the expression does not compile");
            Ok(match e {
                BuildError::Compile(e) => {
                    RemotingCommand::error(req, response::SUBSCRIPTION_PARSE_FAILED, e.to_string())
                }
                // Java: FilterFactory has no such type, a NullPointerException whose
                // message (the remark) is null.
                BuildError::UnknownType => {
                    RemotingCommand::response_to(req, response::SUBSCRIPTION_PARSE_FAILED)
                }
            })
        }
    }
}
