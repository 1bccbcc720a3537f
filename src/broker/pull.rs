//! PULL_MESSAGE (11) and LITE_PULL_MESSAGE (361), with long polling.

use std::sync::Arc;
use std::time::Duration;

use rmqd_remoting::body::client::SubscriptionData;
use rmqd_remoting::body::topic::perm;
use rmqd_remoting::codes::response;
use rmqd_remoting::headers::broker::{
    pull_flag, PullMessageRequestHeader, PullMessageResponseHeader,
};
use rmqd_remoting::{ConnectionHandle, RemotingCommand, Reply};
use rmqd_store::GetMessageStatus;

use rmqd_remoting::sql92::Selector;

use super::consumer_filter::is_tag_type;
use super::context::{BrokerContext, Outcome, Refusal};
use super::filter;
use super::message_filter::MessageFilter;

/// Broker id of a group's master.
const MASTER_ID: i64 = 0;

pub fn process(ctx: &Arc<BrokerContext>, conn: &ConnectionHandle, req: RemotingCommand) -> Reply {
    match execute(ctx, conn, &req, true) {
        Ok(Step::Answer(resp)) => Reply::Now(Some(resp)),
        Ok(Step::Park {
            topic,
            queue_id,
            offset,
            seen_max,
            wait,
        }) => {
            let ctx = ctx.clone();
            let conn = conn.clone();
            // Parked before the connection reads its next request, so anything answered
            // after this pull on the same connection finds it parked. Only the test hook,
            // which has to await an arrival first, parks later.
            let parked = ctx
                .parked
                .hook()
                .is_none()
                .then(|| ctx.parked.park(&topic, queue_id, offset));
            Reply::Later(Box::pin(async move {
                let woken = match (parked, ctx.parked.hook()) {
                    (Some(woken), _) => woken,
                    (None, hook) => {
                        if let Some(hook) = hook {
                            hook.pause(&topic, queue_id, offset).await;
                        }
                        ctx.parked.park(&topic, queue_id, offset)
                    }
                };
                // A message dispatched after the lookup but before the park found no waiter
                // to wake; the store already holds it, so answer now rather than sleep
                // through the whole suspend time. Compared with the max the lookup saw, so a
                // queue that had units it could not read does not turn into a busy loop.
                let now_max = ctx.store.max_offset_in_queue(&topic, queue_id);
                if now_max <= offset.max(seen_max) {
                    let _ = tokio::time::timeout(wait, woken).await;
                }
                // Re-run once, without parking again, and answer whatever it finds.
                Some(match execute(&ctx, &conn, &req, false) {
                    Ok(Step::Answer(resp)) => resp,
                    Ok(Step::Park { .. }) => {
                        RemotingCommand::error(&req, response::SYSTEM_ERROR, "pull parked twice")
                    }
                    Err(r) => RemotingCommand::error(&req, r.code, r.remark),
                })
            }))
        }
        Err(r) => Reply::Now(Some(RemotingCommand::error(&req, r.code, r.remark))),
    }
}

enum Step {
    Answer(RemotingCommand),
    Park {
        topic: String,
        queue_id: i32,
        offset: i64,
        /// The queue's max offset when the lookup ran.
        seen_max: i64,
        wait: Duration,
    },
}

/// The pull's subscription and, for SQL92, its compiled selector
/// (`PullMessageProcessor`: from the header when it carries one, else what the group's
/// heartbeats registered).
fn subscription(
    ctx: &BrokerContext,
    h: &PullMessageRequestHeader,
) -> Outcome<(SubscriptionData, Option<Arc<Selector>>)> {
    if h.sys_flag & pull_flag::SUBSCRIPTION != 0 {
        let expression_type = h.expression_type.as_deref().unwrap_or("TAG");
        let expression = h.subscription.as_deref().unwrap_or("");
        let sub = filter::build_subscription(&h.topic, expression, Some(expression_type));
        if is_tag_type(expression_type) {
            return Ok((sub, None));
        }
        // `FilterAPI.build` refuses an empty expression. Java then builds the filter
        // data and, if that fails too, pulls everything unfiltered; rmqd refuses with
        // the same code rather than deliver what the consumer asked to leave out.
        let parse_failed = || {
            Refusal::new(
                response::SUBSCRIPTION_PARSE_FAILED,
                "parse the consumer's subscription failed",
            )
        };
        if expression.is_empty() {
            return Err(parse_failed());
        }
        let selector = ctx.filters.compile(expression_type, expression).map_err(|e| {
            tracing::warn!(group = %h.consumer_group, expression, error = ?e, "parse the consumer's subscription failed");
            parse_failed()
        })?;
        return Ok((sub, Some(selector)));
    }
    let model = ctx
        .clients
        .with_group(&h.consumer_group, |g| g.message_model.clone())
        .ok_or_else(|| {
            Refusal::new(
                response::SUBSCRIPTION_NOT_EXIST,
                format!(
                    "the consumer's group info not exist http://rocketmq.apache.org/docs/faq/ group: {}",
                    h.consumer_group
                ),
            )
        })?;
    let group_cfg = ctx.groups.get(&h.consumer_group);
    if model == "BROADCASTING" && group_cfg.is_some_and(|g| !g.consume_broadcast_enable) {
        return Err(Refusal::new(
            response::NO_PERMISSION,
            format!(
                "the consumer group[{}] can not consume by broadcast way",
                h.consumer_group
            ),
        ));
    }
    let sub = ctx
        .clients
        .subscription(&h.consumer_group, &h.topic)
        .ok_or_else(|| {
            Refusal::new(
                response::SUBSCRIPTION_NOT_EXIST,
                "the consumer's subscription not exist http://rocketmq.apache.org/docs/faq/",
            )
        })?;
    if sub.sub_version < h.sub_version {
        return Err(Refusal::new(
            response::SUBSCRIPTION_NOT_LATEST,
            "the consumer's subscription not latest",
        ));
    }
    if is_tag_type(&sub.expression_type) {
        return Ok((sub, None));
    }
    let data = ctx
        .filters
        .get(&h.topic, &h.consumer_group)
        .ok_or_else(|| {
            Refusal::new(
                response::FILTER_DATA_NOT_EXIST,
                "The broker's consumer filter data is not exist!Your expression may be wrong!",
            )
        })?;
    if data.client_version < h.sub_version {
        tracing::warn!(group = %h.consumer_group, topic = %h.topic, server = data.client_version, client = h.sub_version, "consumer filter data not latest");
        return Err(Refusal::new(
            response::FILTER_DATA_NOT_LATEST,
            "the consumer's consumer filter data not latest",
        ));
    }
    Ok((sub, Some(data.selector)))
}

fn execute(
    ctx: &Arc<BrokerContext>,
    conn: &ConnectionHandle,
    req: &RemotingCommand,
    allow_suspend: bool,
) -> Outcome<Step> {
    let h: PullMessageRequestHeader = req.decode_header()?;
    if ctx.live_config.broker_permission() & perm::READ == 0 {
        return Err(Refusal::new(
            response::NO_PERMISSION,
            format!(
                "the broker[{}] pulling message is forbidden",
                ctx.config.broker_ip1
            ),
        ));
    }
    let (group_cfg, created) = ctx.groups.find_or_create(&h.consumer_group);
    if created {
        ctx.persist_groups();
    }
    let group_cfg = group_cfg.ok_or_else(|| {
        Refusal::new(
            response::SUBSCRIPTION_GROUP_NOT_EXIST,
            format!(
                "subscription group [{}] does not exist, http://rocketmq.apache.org/docs/faq/",
                h.consumer_group
            ),
        )
    })?;
    if !group_cfg.consume_enable {
        return Err(Refusal::new(
            response::NO_PERMISSION,
            format!("subscription group no permission, {}", h.consumer_group),
        ));
    }
    let tc = ctx.topics().get(&h.topic).cloned().ok_or_else(|| {
        Refusal::new(
            response::TOPIC_NOT_EXIST,
            format!(
                "topic[{}] not exist, apply first please! http://rocketmq.apache.org/docs/faq/",
                h.topic
            ),
        )
    })?;
    if tc.perm & perm::READ == 0 {
        return Err(Refusal::new(
            response::NO_PERMISSION,
            format!("the topic[{}] pulling message is forbidden", h.topic),
        ));
    }
    if h.queue_id < 0 || h.queue_id >= tc.read_queue_nums {
        return Err(Refusal::system(format!(
            "queueId[{}] is illegal, topic:[{}] topicConfig.readQueueNums:[{}] consumer:[{}]",
            h.queue_id,
            h.topic,
            tc.read_queue_nums,
            conn.peer_addr()
        )));
    }
    let (sub, selector) = subscription(ctx, &h)?;
    if !is_tag_type(&sub.expression_type) && !ctx.config.enable_property_filter {
        return Err(Refusal::system(format!(
            "The broker does not support consumer to filter message by {}",
            sub.expression_type
        )));
    }
    let message_filter =
        MessageFilter::new(sub, selector, &ctx.filters, ctx.config.filter_support_retry);

    let max = h.max_msg_nums.clamp(1, 32 * 1024);
    let found = ctx.store.get_messages_filtered(
        &h.topic,
        h.queue_id,
        h.queue_offset,
        max,
        &|tags_code| message_filter.by_tags_code(tags_code),
        &|record| message_filter.by_record(record),
    );
    let (code, remark) = match found.status {
        GetMessageStatus::Found => (response::SUCCESS, "FOUND"),
        GetMessageStatus::MessageWasRemoving => {
            (response::PULL_RETRY_IMMEDIATELY, "MESSAGE_WAS_REMOVING")
        }
        GetMessageStatus::NoMatchedLogicQueue | GetMessageStatus::NoMessageInQueue => {
            let remark = if found.status == GetMessageStatus::NoMessageInQueue {
                "NO_MESSAGE_IN_QUEUE"
            } else {
                "NO_MATCHED_LOGIC_QUEUE"
            };
            if h.queue_offset != 0 {
                (response::PULL_OFFSET_MOVED, remark)
            } else {
                (response::PULL_NOT_FOUND, remark)
            }
        }
        GetMessageStatus::NoMatchedMessage => {
            (response::PULL_RETRY_IMMEDIATELY, "NO_MATCHED_MESSAGE")
        }
        GetMessageStatus::OffsetFoundNull => (response::PULL_NOT_FOUND, "OFFSET_FOUND_NULL"),
        GetMessageStatus::OffsetOverflowBadly => {
            (response::PULL_OFFSET_MOVED, "OFFSET_OVERFLOW_BADLY")
        }
        GetMessageStatus::OffsetOverflowOne => (response::PULL_NOT_FOUND, "OFFSET_OVERFLOW_ONE"),
        GetMessageStatus::OffsetTooSmall => (response::PULL_OFFSET_MOVED, "OFFSET_TOO_SMALL"),
    };

    // `suggestWhichBrokerId`, as PullMessageProcessor settles it: with slave reads on,
    // a consumer that lags beyond what memory holds goes to the group's
    // `whichBrokerWhenConsumeSlowly`, otherwise (a caught-up one, also on a slave) to the
    // group's `brokerId`; with them off, always to the master.
    let mut suggest = if ctx.config.slave_read_enable {
        if found.suggest_pulling_from_slave {
            group_cfg.which_broker_when_consume_slowly
        } else {
            group_cfg.broker_id
        }
    } else {
        MASTER_ID
    };
    let slave = ctx.ha.role.is_slave();
    let mut code = code;
    // A slave does not correct a consumer's offset (`offsetCheckInSlave` off): it sends
    // it back to the group's broker to try again.
    if code == response::PULL_OFFSET_MOVED && slave && !ctx.config.offset_check_in_slave {
        code = response::PULL_RETRY_IMMEDIATELY;
        suggest = group_cfg.broker_id;
    }

    // A slave never stores offsets piggybacked on pulls; its copy comes from the master.
    let commit = allow_suspend && h.sys_flag & pull_flag::COMMIT_OFFSET != 0 && !slave;
    if commit {
        ctx.offsets
            .commit(&h.consumer_group, &h.topic, h.queue_id, h.commit_offset);
    }

    if code == response::PULL_NOT_FOUND && allow_suspend && h.sys_flag & pull_flag::SUSPEND != 0 {
        let wait = if ctx.config.long_polling_enable {
            Duration::from_millis(h.suspend_timeout_millis.max(0) as u64)
        } else {
            Duration::from_millis(ctx.config.short_polling_time_mills)
        };
        return Ok(Step::Park {
            topic: h.topic,
            queue_id: h.queue_id,
            offset: h.queue_offset,
            seen_max: found.max_offset,
            wait,
        });
    }

    let mut resp = RemotingCommand::response_to(req, code).with_remark(remark);
    resp.set_header(&PullMessageResponseHeader {
        suggest_which_broker_id: suggest,
        next_begin_offset: found.next_begin_offset,
        min_offset: found.min_offset,
        max_offset: found.max_offset,
    });
    if code == response::SUCCESS {
        let bytes: usize = found.messages.iter().map(|m| m.len()).sum();
        ctx.stats.manager.record_get(
            &h.consumer_group,
            &h.topic,
            found.messages.len() as u64,
            bytes as u64,
        );
        resp.body_parts = found.messages;
    }
    Ok(Step::Answer(resp))
}
