//! HEART_BEAT, UNREGISTER_CLIENT, GET_CONSUMER_LIST_BY_GROUP, CHECK_CLIENT_CONFIG and the
//! orderly-consumption locks.

use std::sync::Arc;
use std::time::Instant;

use rmqd_remoting::body::client::{
    ConsumerIdList, HeartbeatData, LockBatchRequestBody, LockBatchResponseBody,
};
use rmqd_remoting::body::to_json;
use rmqd_remoting::body::topic::perm;
use rmqd_remoting::headers::broker::{ConsumerGroupHeader, UnregisterClientRequestHeader};
use rmqd_remoting::{ConnectionHandle, RemotingCommand};

use super::clients::ClientChannel;
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
