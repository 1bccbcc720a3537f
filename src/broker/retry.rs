//! CONSUMER_SEND_MSG_BACK (36): a consumer hands back a message it failed to consume. The
//! broker re-sends it to `%RETRY%<group>` through the delay levels, or to `%DLQ%<group>`
//! once it was retried `maxReconsumeTimes` times.

use std::sync::Arc;

use rmqd_remoting::body::topic::perm;
use rmqd_remoting::codes::response;
use rmqd_remoting::headers::broker::ConsumerSendMsgBackRequestHeader;
use rmqd_remoting::{RemotingCommand, Reply};
use rmqd_store::record::{self, Decoded};
use rmqd_store::{MessageToStore, PutStatus};

use super::context::{now_ms, BrokerContext, Outcome, Refusal};
use super::properties::{keys, Properties};
use super::send::schedule_if_delayed;

pub const RETRY_PREFIX: &str = "%RETRY%";
pub const DLQ_PREFIX: &str = "%DLQ%";
/// `MixAll.DLQ_NUMS_PER_GROUP`.
const DLQ_QUEUES: i32 = 1;
/// Request version from which the header's maxReconsumeTimes counts (`V3_4_9`).
const V3_4_9: i32 = 105;

pub fn retry_topic(group: &str) -> String {
    format!("{RETRY_PREFIX}{group}")
}

pub fn dlq_topic(group: &str) -> String {
    format!("{DLQ_PREFIX}{group}")
}

pub fn process(ctx: &Arc<BrokerContext>, req: RemotingCommand) -> Reply {
    match prepare(ctx, &req) {
        Ok(None) => Reply::Now(Some(RemotingCommand::success(&req))),
        Ok(Some((msg, origin_topic))) => {
            let pending = ctx.store.put(msg);
            let ctx = ctx.clone();
            Reply::Later(Box::pin(async move {
                let result = pending.await;
                Some(match result.status {
                    PutStatus::PutOk | PutStatus::FlushDiskTimeout => {
                        if let Some(group) = req.ext("group") {
                            ctx.stats.manager.record_send_back(group, &origin_topic);
                        }
                        RemotingCommand::success(&req)
                    }
                    // Java answers with the store status's name (a slave: SERVICE_NOT_AVAILABLE).
                    other => {
                        RemotingCommand::error(&req, response::SYSTEM_ERROR, other.java_name())
                    }
                })
            }))
        }
        Err(r) => Reply::Now(Some(RemotingCommand::error(&req, r.code, r.remark))),
    }
}

/// The message to store and the topic it was consumed from (statistics count send-backs
/// under it).
fn prepare(
    ctx: &Arc<BrokerContext>,
    req: &RemotingCommand,
) -> Outcome<Option<(MessageToStore, String)>> {
    let h: ConsumerSendMsgBackRequestHeader = req.decode_header()?;
    send_back(ctx, &h, req.version)
}

/// The message CONSUMER_SEND_MSG_BACK stores (retry or dead letter), for any front end;
/// `None` when the group retries nothing.
pub fn send_back(
    ctx: &Arc<BrokerContext>,
    h: &ConsumerSendMsgBackRequestHeader,
    version: i32,
) -> Outcome<Option<(MessageToStore, String)>> {
    let (group, created) = ctx.groups.find_or_create(&h.group);
    if created {
        ctx.persist_groups();
    }
    let group = group.ok_or_else(|| {
        Refusal::new(
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!(
                "subscription group not exist, {} http://rocketmq.apache.org/docs/faq/",
                h.group
            ),
        )
    })?;
    if ctx.live_config.broker_permission() & perm::WRITE == 0 {
        return Err(Refusal::new(
            response::NO_PERMISSION,
            format!(
                "the broker[{}] sending message is forbidden",
                ctx.config.broker_ip1
            ),
        ));
    }
    if group.retry_queue_nums <= 0 {
        return Ok(None);
    }
    let mut topic = retry_topic(&h.group);
    let mut queue_id = (now_ms().rem_euclid(i64::from(group.retry_queue_nums))) as i32;
    let retry_cfg = ctx.topics().create_system(
        &topic,
        group.retry_queue_nums,
        perm::READ | perm::WRITE,
        0,
        now_ms(),
    );
    if retry_cfg.1 {
        ctx.persist_topics();
        ctx.register_soon();
    }
    if retry_cfg.0.perm & perm::WRITE == 0 {
        return Err(Refusal::new(
            response::NO_PERMISSION,
            format!("the topic[{topic}] sending message is forbidden"),
        ));
    }
    let bytes = ctx
        .store
        .message_at(h.offset)
        .ok_or_else(|| Refusal::system(format!("look message by offset failed, {}", h.offset)))?;
    let Ok(Decoded::Message(orig)) = record::decode(&bytes, false) else {
        return Err(Refusal::system(format!(
            "look message by offset failed, {}",
            h.offset
        )));
    };
    let mut props = Properties::parse(orig.properties);
    if props.get(keys::RETRY_TOPIC).is_none() {
        props.insert(keys::RETRY_TOPIC, orig.topic);
    }
    props.insert(keys::WAIT, "false");
    let mut delay_level = h.delay_level;
    let mut max_times = group.retry_max_times;
    if version >= V3_4_9 {
        if let Some(m) = h.max_reconsume_times {
            max_times = m;
        }
    }
    if orig.reconsume_times >= max_times || delay_level < 0 {
        topic = dlq_topic(&h.group);
        queue_id = 0;
        let (_, created) =
            ctx.topics()
                .create_system(&topic, DLQ_QUEUES, perm::READ | perm::WRITE, 0, now_ms());
        if created {
            ctx.persist_topics();
            ctx.register_soon();
        }
        props.insert(keys::DELAY, "0");
        tracing::info!(group = %h.group, offset = h.offset, "message moved to the dead letter queue");
    } else {
        if delay_level == 0 {
            delay_level = 3 + orig.reconsume_times;
        }
        props.insert(keys::DELAY, &delay_level.to_string());
    }
    if props.get(keys::ORIGIN_MESSAGE_ID).is_none_or(str::is_empty) {
        props.insert(keys::ORIGIN_MESSAGE_ID, &orig.offset_msg_id());
    }
    let mut msg = MessageToStore {
        topic,
        queue_id,
        flag: orig.flag,
        body: bytes.slice_ref(orig.body),
        properties: props.encode_java_order(),
        sys_flag: orig.sys_flag,
        born_timestamp: orig.born_timestamp,
        born_host: orig.born_host,
        reconsume_times: orig.reconsume_times + 1,
        prepared_transaction_offset: 0,
    };
    let origin_topic = orig.topic.to_owned();
    if let Some(p) = super::timer::put::apply(ctx, &mut msg, &mut props, true)? {
        msg.properties = p;
    }
    if let Some(p) = schedule_if_delayed(ctx, &mut msg, &mut props) {
        msg.properties = p;
    }
    Ok(Some((msg, origin_topic)))
}
