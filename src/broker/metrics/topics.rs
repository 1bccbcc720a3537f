//! Per-topic families: put rates and totals, and the sum of each topic's queue offsets.

use super::families::{kind_of, Family, Scope};
use crate::broker::context::BrokerContext;
use crate::broker::retry::DLQ_PREFIX;
use crate::broker::stats::item::Window;

/// The broker's topics and their write queue counts.
pub fn topic_queues(ctx: &BrokerContext) -> Vec<(String, i32)> {
    let t = ctx.topics();
    t.names()
        .filter_map(|n| t.get(n).map(|c| (n.clone(), c.write_queue_nums)))
        .collect()
}

pub fn families(ctx: &BrokerContext, scope: &Scope) -> Vec<Family> {
    let m = &ctx.stats.manager;
    let cb = |extra| scope.labels(extra);
    // Topics: rates (exporter: TOPIC_PUT_NUMS / TOPIC_PUT_SIZE per minute) and totals.
    let mut put_tps = Family::gauge(
        "rocketmq_producer_tps",
        "Messages put per second into a topic, last minute",
    );
    let mut put_size = Family::gauge(
        "rocketmq_producer_message_size",
        "Bytes put per second into a topic, last minute",
    );
    let mut put_msgs = Family::counter("rmqd_topic_put_messages", "Messages put into a topic");
    let mut put_bytes = Family::counter("rmqd_topic_put_bytes", "Bytes put into a topic");
    for (topic, t) in m.topics() {
        let nums = t.put.nums.snapshot(Window::Minute);
        let size = t.put.size.snapshot(Window::Minute);
        if kind_of(&topic) == 0 {
            put_tps.add(cb(vec![("topic", topic.clone())]), nums.tps);
            put_size.add(cb(vec![("topic", topic.clone())]), size.tps);
        }
        put_msgs.add(vec![("topic", topic.clone())], t.put.nums.value() as f64);
        put_bytes.add(vec![("topic", topic)], t.put.size.value() as f64);
    }

    // Topic offsets: the sum of the queues' max offsets.
    let mut producer_offset = Family::gauge(
        "rocketmq_producer_offset",
        "Sum of a topic's queue max offsets",
    );
    let mut retry_offset = Family::gauge(
        "rocketmq_topic_retry_offset",
        "Sum of a retry topic's queue max offsets",
    );
    let mut dlq_offset = Family::gauge(
        "rocketmq_topic_dlq_offset",
        "Sum of a dead-letter topic's queue max offsets",
    );
    let topics = topic_queues(ctx);
    for (topic, queues) in &topics {
        let sum: i64 = (0..*queues)
            .map(|q| ctx.store.max_offset_in_queue(topic, q))
            .sum();
        match kind_of(topic) {
            0 => producer_offset.add(cb(vec![("topic", topic.clone())]), sum as f64),
            1 => retry_offset.add(cb(vec![("topic", topic.clone())]), sum as f64),
            _ => dlq_offset.add(
                cb(vec![(
                    "group",
                    topic.trim_start_matches(DLQ_PREFIX).to_owned(),
                )]),
                sum as f64,
            ),
        }
    }

    vec![
        put_tps,
        put_size,
        producer_offset,
        retry_offset,
        dlq_offset,
        put_msgs,
        put_bytes,
    ]
}
