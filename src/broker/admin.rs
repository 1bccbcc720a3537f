//! Admin codes (mqadmin, dashboards, and ali-ons, which creates its topics first).
//! Topic and group management here; the rest by area in `admin/`.

pub mod broker_config;
pub mod consume_stats;
pub mod maintenance;
pub mod producers;
pub mod relay;
pub mod topic_stats;

use std::sync::Arc;

use rmqd_remoting::body::to_json;
use rmqd_remoting::body::topic::{TopicConfig, TopicList};
use rmqd_remoting::codes::response;
use rmqd_remoting::headers::broker::{
    CreateTopicRequestHeader, DeleteSubscriptionGroupRequestHeader, TopicOnlyHeader,
};
use rmqd_remoting::RemotingCommand;
use serde::Serialize;

use super::context::{now_ms, BrokerContext, Outcome, Refusal};
use super::groups::GroupConfig;
use super::topics::validate_topic;

/// `validateSlave`: topics and groups are changed on the master, which the slaves copy.
fn refuse_on_slave(ctx: &BrokerContext) -> Outcome<()> {
    if ctx.ha.role.is_slave() {
        return Err(Refusal::system(
            "Can't modify topic or subscription group from slave broker, please execute it from master broker.",
        ));
    }
    Ok(())
}

pub fn update_and_create_topic(
    ctx: &Arc<BrokerContext>,
    req: &RemotingCommand,
) -> Outcome<RemotingCommand> {
    refuse_on_slave(ctx)?;
    let h: CreateTopicRequestHeader = req.decode_header()?;
    validate_topic(&h.topic, &ctx.config.broker_cluster_name)?;
    if super::topics::is_system_topic(&h.topic) {
        return Err(Refusal::system(format!(
            "The topic[{}] is conflict with system topic.",
            h.topic
        )));
    }
    let attributes = topic_attributes(
        ctx.topics()
            .get(&h.topic)
            .and_then(|t| t.attributes.clone()),
        req.ext("attributes"),
    )?;
    let tc = TopicConfig {
        attributes,
        topic_name: h.topic.clone(),
        read_queue_nums: h.read_queue_nums,
        write_queue_nums: h.write_queue_nums,
        perm: h.perm,
        topic_filter_type: h.topic_filter_type,
        topic_sys_flag: h.topic_sys_flag.unwrap_or(0),
        order: h.order,
    };
    tracing::info!(topic = %h.topic, read = tc.read_queue_nums, write = tc.write_queue_nums, perm = tc.perm, "topic created or updated by admin");
    ctx.topics().put(tc, now_ms());
    ctx.persist_topics();
    ctx.register_soon();
    // Java never clears the default remark of this response.
    Ok(RemotingCommand::success(req).with_remark("not set any response code"))
}

/// 5.x topic attributes (`+message.type=FIFO,-key`, `AttributeParser.parseToMap`) applied
/// to the topic's current ones; stored without the sign, as Java stores them.
fn topic_attributes(
    current: Option<std::collections::BTreeMap<String, String>>,
    change: Option<&str>,
) -> Outcome<Option<std::collections::BTreeMap<String, String>>> {
    let Some(change) = change.filter(|c| !c.trim().is_empty()) else {
        return Ok(current);
    };
    let mut attrs = current.unwrap_or_default();
    for kv in change.split(',') {
        if let Some((k, v)) = kv.split_once('=') {
            let Some(k) = k.strip_prefix('+') else {
                return Err(Refusal::system(format!(
                    "add/alter attribute format is wrong: {k}"
                )));
            };
            attrs.insert(k.to_string(), v.to_string());
        } else if let Some(k) = kv.strip_prefix('-') {
            attrs.remove(k);
        } else {
            return Err(Refusal::system(format!(
                "delete attribute format is wrong: {kv}"
            )));
        }
    }
    Ok(Some(attrs))
}

pub fn delete_topic(ctx: &Arc<BrokerContext>, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    refuse_on_slave(ctx)?;
    let h: TopicOnlyHeader = req.decode_header()?;
    ctx.topics().remove(&h.topic, now_ms());
    ctx.persist_topics();
    // Java drops the topic's queues and offsets with it (`cleanUnusedTopic`,
    // `cleanOffsetByTopic`); the CommitLog keeps the records until retention.
    ctx.store.delete_topic(&h.topic);
    ctx.offsets.forget_topic(&h.topic);
    ctx.persist_offsets();
    ctx.register_soon();
    Ok(RemotingCommand::success(req))
}

pub fn all_topic_config(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let body = to_json(&ctx.topics().snapshot());
    Ok(RemotingCommand::success(req).with_body(body))
}

pub fn system_topic_list(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let topics = ctx.topics();
    let list = TopicList {
        broker_addr: None,
        topic_list: topics
            .names()
            .filter(|t| super::topics::is_system_topic(t))
            .cloned()
            .collect(),
    };
    Ok(RemotingCommand::success(req).with_body(to_json(&list)))
}

pub fn update_group(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    refuse_on_slave(ctx)?;
    let cfg: GroupConfig = serde_json::from_slice(&req.body)
        .map_err(|e| Refusal::system(format!("bad subscription group body: {e}")))?;
    if cfg.group_name.is_empty() {
        return Err(Refusal::system("subscription group name is empty"));
    }
    ctx.groups.update(cfg);
    ctx.persist_groups();
    Ok(RemotingCommand::success(req))
}

pub fn delete_group(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    refuse_on_slave(ctx)?;
    let h: DeleteSubscriptionGroupRequestHeader = req.decode_header()?;
    ctx.groups.delete(&h.group_name);
    ctx.persist_groups();
    Ok(RemotingCommand::success(req))
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct GroupWrapper {
    data_version: rmqd_remoting::body::topic::DataVersion,
    subscription_group_table: std::collections::BTreeMap<String, GroupConfig>,
}

pub fn all_groups(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let body = to_json(&GroupWrapper {
        data_version: ctx.groups.data_version(),
        subscription_group_table: ctx.groups.snapshot(),
    });
    Ok(RemotingCommand::success(req).with_body(body))
}

pub fn consumer_connections(
    ctx: &BrokerContext,
    req: &RemotingCommand,
) -> Outcome<RemotingCommand> {
    use rmqd_remoting::headers::broker::ConsumerGroupHeader;
    let h: ConsumerGroupHeader = req.decode_header()?;
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct Connection {
        client_addr: String,
        client_id: String,
        language: String,
        version: i32,
    }
    #[derive(Serialize)]
    #[serde(rename_all = "camelCase")]
    struct ConsumerConnection {
        connection_set: Vec<Connection>,
        consume_from_where: String,
        consume_type: String,
        message_model: String,
        subscription_table:
            std::collections::BTreeMap<String, rmqd_remoting::body::client::SubscriptionData>,
    }
    let body = ctx.clients.with_group(&h.consumer_group, |g| {
        to_json(&ConsumerConnection {
            connection_set: g
                .channels
                .values()
                .map(|c| Connection {
                    client_addr: c.conn.peer_addr().to_string(),
                    client_id: c.client_id.clone(),
                    language: c.language.name().to_owned(),
                    version: c.version,
                })
                .collect(),
            consume_from_where: g.consume_from_where.clone(),
            consume_type: g.consume_type.clone(),
            message_model: g.message_model.clone(),
            subscription_table: g
                .subscriptions
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        })
    });
    match body {
        Some(b) => Ok(RemotingCommand::success(req).with_body(b)),
        None => Err(Refusal::new(
            response::CONSUMER_NOT_ONLINE,
            format!("the consumer group[{}] not online", h.consumer_group),
        )),
    }
}
