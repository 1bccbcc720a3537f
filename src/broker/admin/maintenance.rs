//! Operators' housekeeping requests: CLEAN_EXPIRED_CONSUMEQUEUE (306),
//! CLEAN_UNUSED_TOPIC (316), DELETE_EXPIRED_COMMITLOG (329) and RESUME_CHECK_HALF_MESSAGE
//! (323).

use std::sync::Arc;

use rmqd_remoting::headers::admin::ResumeCheckHalfMessageRequestHeader;
use rmqd_remoting::{RemotingCommand, Reply};
use rmqd_store::dispatch::SCHEDULE_TOPIC;
use rmqd_store::record::{self, Decoded};
use rmqd_store::{MessageToStore, PutStatus};

use crate::broker::context::{BrokerContext, Outcome, Refusal};
use crate::broker::properties::{keys, Properties};
use crate::broker::transaction::{HALF_TOPIC, OP_HALF_TOPIC};

/// `cleanExpiredConsumerQueue`: consume queues whose last unit points before the
/// CommitLog's first byte hold nothing readable; they go. rmqd drops a topic's queues
/// when all of them are expired (Java drops them queue by queue).
pub fn clean_expired_consume_queue(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    tracing::warn!("invoke cleanExpiredConsumeQueue start.");
    let ctx = ctx.clone();
    Reply::Later(Box::pin(async move {
        let c = ctx.clone();
        let _ = tokio::task::spawn_blocking(move || {
            let min = c.store.commitlog_min_offset();
            for (topic, queues) in c.store.topics_on_disk() {
                if topic == SCHEDULE_TOPIC {
                    continue;
                }
                let expired = queues.iter().all(|&q| {
                    let max = c.store.max_offset_in_queue(&topic, q);
                    max > 0
                        && c.store
                            .queue_unit_raw(&topic, q, max - 1)
                            .is_some_and(|(phy, _, _)| phy < min)
                });
                if expired && !queues.is_empty() {
                    tracing::info!(topic, "consume queues hold only deleted messages; removed");
                    c.store.delete_topic(&topic);
                }
            }
        })
        .await;
        tracing::warn!("invoke cleanExpiredConsumeQueue end.");
        Some(RemotingCommand::success(&req))
    }))
}

/// `cleanUnusedTopic`: consume queues of topics the broker no longer has.
pub fn clean_unused_topic(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    tracing::warn!("invoke cleanUnusedTopic start.");
    let ctx = ctx.clone();
    Reply::Later(Box::pin(async move {
        let c = ctx.clone();
        let _ = tokio::task::spawn_blocking(move || {
            for (topic, _) in c.store.topics_on_disk() {
                let unused = topic != SCHEDULE_TOPIC
                    && topic != OP_HALF_TOPIC
                    && c.topics().get(&topic).is_none();
                if unused {
                    tracing::info!(topic, "consume queues of a deleted topic removed");
                    c.store.delete_topic(&topic);
                }
            }
        })
        .await;
        tracing::warn!("invoke cleanUnusedTopic end.");
        Some(RemotingCommand::success(&req))
    }))
}

/// `executeDeleteFilesManually`: the next cleaner passes delete expired CommitLog files
/// whatever the hour (`deleteWhen`), the first one now.
pub fn delete_expired_commitlog(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    tracing::warn!("invoke deleteExpiredCommitLog start.");
    let ctx = ctx.clone();
    Reply::Later(Box::pin(async move {
        let c = ctx.clone();
        let deleted = tokio::task::spawn_blocking(move || c.store.delete_expired_files_manually())
            .await
            .unwrap_or(0);
        tracing::warn!(deleted, "invoke deleteExpiredCommitLog end.");
        Some(RemotingCommand::success(&req))
    }))
}

const RESUME_FAILED: &str = "Put message back to RMQ_SYS_TRANS_HALF_TOPIC failed.";
const RESUME_EXCEPTION: &str =
    "Exception was thrown when putting message back to RMQ_SYS_TRANS_HALF_TOPIC.";

/// The half message named by `msg_id` (an offsetMsgId), as a new half message with its
/// check count reset (`toMessageExtBrokerInner`).
fn resumed_half(ctx: &BrokerContext, msg_id: &str) -> Outcome<MessageToStore> {
    let exception = || Refusal::system(RESUME_EXCEPTION);
    let (_, offset) = record::decode_offset_msg_id(msg_id).ok_or_else(exception)?;
    let bytes = ctx.store.message_at(offset).ok_or_else(exception)?;
    let Ok(Decoded::Message(m)) = record::decode(&bytes, false) else {
        return Err(exception());
    };
    let mut props = Properties::parse(m.properties);
    props.insert(keys::TRANSACTION_CHECK_TIMES, "0");
    Ok(MessageToStore {
        topic: HALF_TOPIC.to_string(),
        queue_id: 0,
        flag: m.flag,
        body: bytes.slice_ref(m.body),
        properties: props.encode_java_order(),
        sys_flag: m.sys_flag,
        born_timestamp: m.born_timestamp,
        born_host: m.born_host,
        reconsume_times: m.reconsume_times,
        prepared_transaction_offset: 0,
    })
}

pub fn resume_check_half_message(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    let msg = req
        .decode_header::<ResumeCheckHalfMessageRequestHeader>()
        .map_err(Refusal::from)
        .and_then(|h| resumed_half(ctx, h.msg_id.as_deref().unwrap_or("")));
    let msg = match msg {
        Ok(m) => m,
        Err(r) => {
            tracing::error!("{}", r.remark);
            return Reply::Now(Some(RemotingCommand::error(&req, r.code, r.remark)));
        }
    };
    ctx.ensure_system_topic(HALF_TOPIC, 1);
    let real = Properties::parse(&msg.properties)
        .get(keys::REAL_TOPIC)
        .map(str::to_owned);
    let pending = ctx.store.put(msg);
    Reply::Later(Box::pin(async move {
        let r = pending.await;
        Some(if r.status == PutStatus::PutOk {
            tracing::info!(real_topic = ?real, "Put message back to RMQ_SYS_TRANS_HALF_TOPIC.");
            RemotingCommand::success(&req)
        } else {
            tracing::error!(status = ?r.status, "{RESUME_FAILED}");
            RemotingCommand::error(
                &req,
                rmqd_remoting::codes::response::SYSTEM_ERROR,
                RESUME_FAILED,
            )
        })
    }))
}
