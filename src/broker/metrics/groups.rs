//! Per-group families: pull rates and totals, send-backs, consumer progress and lag, and
//! who is online.

use std::collections::{BTreeMap, BTreeSet};

use super::families::{kind_of, Family, Scope};
use super::topics::topic_queues;
use crate::broker::admin::consume_stats::group_topic_stats;
use crate::broker::context::{now_ms, BrokerContext};
use crate::broker::stats::item::Window;

pub fn families(ctx: &BrokerContext, scope: &Scope) -> Vec<Family> {
    let m = &ctx.stats.manager;
    let cb = |extra| scope.labels(extra);
    let topics = topic_queues(ctx);
    // Groups: get rates, send-backs, totals.
    let mut get_tps = Family::gauge(
        "rocketmq_consumer_tps",
        "Messages a group pulled per second from a topic, last minute",
    );
    let mut get_size = Family::gauge(
        "rocketmq_consumer_message_size",
        "Bytes a group pulled per second from a topic, last minute",
    );
    let mut get_msgs = Family::counter(
        "rmqd_group_get_messages",
        "Messages a group pulled from a topic",
    );
    let mut get_bytes =
        Family::counter("rmqd_group_get_bytes", "Bytes a group pulled from a topic");
    for (key, g) in m.groups() {
        let Some((topic, group)) = key.split_once('@') else {
            continue;
        };
        let tg = || vec![("topic", topic.to_owned()), ("group", group.to_owned())];
        get_tps.add(cb(tg()), g.nums.snapshot(Window::Minute).tps);
        get_size.add(cb(tg()), g.size.snapshot(Window::Minute).tps);
        get_msgs.add(tg(), g.nums.value() as f64);
        get_bytes.add(tg(), g.size.value() as f64);
    }
    let mut send_back = Family::gauge(
        "rocketmq_send_back_nums",
        "Messages a group handed back, last minute",
    );
    for (key, item) in m.send_backs() {
        if let Some((topic, group)) = key.split_once('@') {
            send_back.add(
                cb(vec![
                    ("topic", topic.to_owned()),
                    ("group", group.to_owned()),
                ]),
                item.snapshot(Window::Minute).sum as f64,
            );
        }
    }

    // Consumer progress per group and topic: what consumeProgress shows.
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    for (topic, _) in &topics {
        if kind_of(topic) == 2 {
            continue;
        }
        for g in ctx.offsets.groups_of_topic(topic) {
            pairs.insert((g, topic.clone()));
        }
        for g in ctx.clients.groups_subscribing(topic) {
            pairs.insert((g, topic.clone()));
        }
    }
    let mut diff = Family::gauge(
        "rocketmq_group_diff",
        "Messages a clustering group has not consumed yet",
    );
    let mut retry_diff = Family::gauge(
        "rocketmq_group_retrydiff",
        "Messages of a group's retry topic not consumed yet",
    );
    let mut dlq_diff = Family::gauge(
        "rocketmq_group_dlqdiff",
        "Messages of a group's dead-letter topic not consumed yet",
    );
    let mut consumer_offset = Family::gauge(
        "rocketmq_consumer_offset",
        "Sum of a group's consumer offsets over a topic's queues",
    );
    let mut latency = Family::gauge(
        "rocketmq_group_get_latency_by_storetime",
        "How long (ms) the oldest message a group has not consumed has waited",
    );
    let mut lag = Family::gauge("rmqd_consumer_lag", "Messages not consumed yet, per queue");
    let now = now_ms();
    for (group, topic) in &pairs {
        let Some(stats) = group_topic_stats(ctx, group, topic) else {
            continue;
        };
        let channels = ctx.clients.consumer_channels(group);
        let model = ctx
            .clients
            .with_group(group, |g| g.message_model.clone())
            .unwrap_or_default();
        let clustering = model != "BROADCASTING";
        let consumer_sum: i64 = stats
            .offset_table
            .iter()
            .map(|(_, o)| o.consumer_offset)
            .sum();
        consumer_offset.add(
            cb(vec![("topic", topic.clone()), ("group", group.clone())]),
            consumer_sum as f64,
        );
        let mut oldest = 0i64;
        for (mq, o) in &stats.offset_table {
            let behind = o.broker_offset - o.consumer_offset;
            lag.add(
                vec![
                    ("group", group.clone()),
                    ("topic", topic.clone()),
                    ("queueId", mq.queue_id.to_string()),
                ],
                behind as f64,
            );
            if behind > 0 {
                if let Some(t) = ctx
                    .store
                    .store_time_at(topic, mq.queue_id, o.consumer_offset)
                {
                    oldest = oldest.max(now - t);
                }
            }
        }
        if clustering {
            let labels = vec![
                ("group", group.clone()),
                ("topic", topic.clone()),
                ("countOfOnlineConsumers", channels.len().to_string()),
                // MessageModel.CLUSTERING.ordinal()
                ("msgModel", "1".to_owned()),
            ];
            let fam = match kind_of(topic) {
                0 => &mut diff,
                1 => &mut retry_diff,
                _ => &mut dlq_diff,
            };
            fam.add(labels, stats.total_diff() as f64);
            latency.add(
                cb(vec![("topic", topic.clone()), ("group", group.clone())]),
                oldest as f64,
            );
        }
    }

    // Online clients.
    let mut group_count = Family::gauge("rocketmq_group_count", "Consumers online in a group");
    let groups_online: BTreeMap<String, Vec<_>> = pairs
        .iter()
        .map(|(g, _)| (g.clone(), ctx.clients.consumer_channels(g)))
        .collect();
    for (group, chs) in groups_online {
        let join = |f: &dyn Fn(&crate::broker::clients::ClientChannel) -> String| {
            chs.iter().map(f).collect::<Vec<_>>().join(",")
        };
        group_count.add(
            vec![
                ("caddr", join(&|c| c.conn.peer_addr().to_string())),
                ("localaddr", join(&|c| c.client_id.clone())),
                ("group", group),
            ],
            chs.len() as f64,
        );
    }
    let mut producer_count =
        Family::gauge("rocketmq_producer_count", "Producers online in a group");
    for (group, chs) in ctx.clients.all_producers() {
        producer_count.add(cb(vec![("group", group)]), chs.len() as f64);
    }

    vec![
        get_tps,
        get_size,
        send_back,
        consumer_offset,
        diff,
        retry_diff,
        dlq_diff,
        latency,
        group_count,
        producer_count,
        get_msgs,
        get_bytes,
        lag,
    ]
}
