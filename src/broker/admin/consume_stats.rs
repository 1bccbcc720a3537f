//! Consumer progress: GET_CONSUME_STATS (208), GET_BROKER_CONSUME_STATS (317),
//! QUERY_CORRECTION_OFFSET (308) and CLONE_GROUP_OFFSET (314).

use std::collections::BTreeMap;

use rmqd_remoting::body::stats::{
    ConsumeStats, ConsumeStatsList, OffsetWrapper, QueryCorrectionOffsetBody,
};
use rmqd_remoting::headers::admin::{
    CloneGroupOffsetRequestHeader, GetConsumeStatsInBrokerHeader, QueryCorrectionOffsetHeader,
};
use rmqd_remoting::headers::broker::GetConsumeStatsRequestHeader;
use rmqd_remoting::RemotingCommand;

use super::topic_stats::{message_queue, store_time};
use crate::broker::context::{BrokerContext, Outcome};

/// Whether `group`'s consumers, if any are online, subscribe to `topic`: Java leaves a
/// topic out of a group's stats when they are online but do not.
fn subscribed_or_offline(ctx: &BrokerContext, group: &str, topic: &str) -> bool {
    ctx.clients.subscription(group, topic).is_some() || ctx.clients.subscription_count(group) == 0
}

/// One queue's progress for `group`.
fn offset_wrapper(ctx: &BrokerContext, group: &str, topic: &str, q: i32) -> OffsetWrapper {
    let broker_offset = ctx.store.max_offset_in_queue(topic, q).max(0);
    let consumer_offset = ctx.offsets.query(group, topic, q).unwrap_or(-1).max(0);
    let last = store_time(ctx, topic, q, consumer_offset - 1);
    OffsetWrapper {
        broker_offset,
        consumer_offset,
        last_timestamp: last.max(0),
    }
}

/// Stats of `group` over `topic`'s first `queues` queues, added to `stats`.
fn add_topic(ctx: &BrokerContext, stats: &mut ConsumeStats, group: &str, topic: &str, queues: i32) {
    for q in 0..queues {
        stats.offset_table.push((
            message_queue(ctx, topic, q),
            offset_wrapper(ctx, group, topic, q),
        ));
    }
    stats.consume_tps += ctx.stats.manager.group_get_tps(group, topic);
}

/// What GET_CONSUME_STATS answers for one topic of a group, `None` where it leaves the
/// topic out.
pub fn group_topic_stats(ctx: &BrokerContext, group: &str, topic: &str) -> Option<ConsumeStats> {
    let tc = ctx.topics().get(topic).cloned()?;
    if !subscribed_or_offline(ctx, group, topic) {
        return None;
    }
    let mut stats = ConsumeStats::default();
    add_topic(ctx, &mut stats, group, topic, tc.read_queue_nums);
    Some(stats)
}

pub fn consume_stats(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: GetConsumeStatsRequestHeader = req.decode_header()?;
    let topics = match h.topic.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() => vec![t.to_owned()],
        _ => ctx.offsets.topics_of_group(&h.consumer_group),
    };
    let mut stats = ConsumeStats::default();
    for topic in topics {
        let Some(tc) = ctx.topics().get(&topic).cloned() else {
            tracing::warn!(topic, "consumeStats, topic config not exist");
            continue;
        };
        if !subscribed_or_offline(ctx, &h.consumer_group, &topic) {
            continue;
        }
        add_topic(
            ctx,
            &mut stats,
            &h.consumer_group,
            &topic,
            tc.read_queue_nums,
        );
    }
    Ok(RemotingCommand::success(req).with_body(stats.encode()))
}

pub fn broker_consume_stats(
    ctx: &BrokerContext,
    req: &RemotingCommand,
) -> Outcome<RemotingCommand> {
    let h: GetConsumeStatsInBrokerHeader = req.decode_header()?;
    let mut list = ConsumeStatsList {
        broker_addr: ctx.config.broker_addr(),
        ..Default::default()
    };
    for group in ctx.groups.snapshot().into_keys() {
        let mut per_topic = Vec::new();
        for topic in ctx.offsets.topics_of_group(&group) {
            let Some(tc) = ctx.topics().get(&topic).cloned() else {
                continue;
            };
            if (h.is_order && !tc.order) || !subscribed_or_offline(ctx, &group, &topic) {
                continue;
            }
            let mut stats = ConsumeStats::default();
            add_topic(ctx, &mut stats, &group, &topic, tc.write_queue_nums);
            list.total_diff += stats.total_diff();
            per_topic.push(stats);
        }
        list.consume_stats_list.push((group, per_topic));
    }
    Ok(RemotingCommand::success(req).with_body(list.encode()))
}

pub fn correction_offset(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: QueryCorrectionOffsetHeader = req.decode_header()?;
    let filter: Vec<&str> = h
        .filter_groups
        .as_deref()
        .map(|f| f.split(',').filter(|g| !g.trim().is_empty()).collect())
        .unwrap_or_default();
    // `queryMinOffsetInAllGroup`: the smallest offset any other group holds per queue,
    // among offsets not below the queue's minimum. (Java also drops the filtered groups'
    // offsets from its table here; rmqd leaves them alone.)
    let mut min: BTreeMap<i32, i64> = BTreeMap::new();
    for offsets in ctx.offsets.offsets_of_topic(&h.topic, &filter) {
        for (q, o) in offsets {
            if o >= ctx.store.min_offset_in_queue(&h.topic, q) {
                let e = min.entry(q).or_insert(o);
                *e = (*e).min(o);
            }
        }
    }
    // Java looks the compare group up with group and topic swapped
    // (`queryOffset(topic, compareGroup)`), so it compares against the offsets of a
    // "topic" named after the group; rmqd answers the same.
    if let Some(compare) = ctx.offsets.queue_offsets(&h.topic, &h.compare_group) {
        for (q, o) in compare {
            if let Some(m) = min.get_mut(&q) {
                if *m > o {
                    *m = i64::MAX;
                }
            }
        }
    }
    let body = QueryCorrectionOffsetBody {
        correction_offsets: min,
    };
    Ok(RemotingCommand::success(req).with_body(body.encode()))
}

pub fn clone_group_offset(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: CloneGroupOffsetRequestHeader = req.decode_header()?;
    let topics = match h.topic.as_deref().map(str::trim) {
        Some(t) if !t.is_empty() => vec![t.to_owned()],
        _ => ctx.offsets.topics_of_group(&h.src_group),
    };
    for topic in topics {
        if ctx.topics().get(&topic).is_none() {
            tracing::warn!(topic, "[cloneGroupOffset], topic config not exist");
            continue;
        }
        if !h.offline && !subscribed_or_offline(ctx, &h.src_group, &topic) {
            continue;
        }
        ctx.offsets
            .clone_offsets(&h.src_group, &h.dest_group, &topic);
    }
    ctx.persist_offsets();
    Ok(RemotingCommand::success(req))
}
