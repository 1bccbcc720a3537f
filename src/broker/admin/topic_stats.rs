//! What the tools ask about a topic: GET_TOPIC_STATS_INFO (202),
//! QUERY_TOPIC_CONSUME_BY_WHO (300), QUERY_CONSUME_TIME_SPAN (303), QUERY_CONSUME_QUEUE
//! (321) and VIEW_BROKER_STATS_DATA (315).

use rmqd_remoting::body::client::MessageQueue;
use rmqd_remoting::body::stats::{
    BrokerStatsData, ConsumeQueueData, GroupList, QueryConsumeQueueResponseBody,
    QueryConsumeTimeSpanBody, QueueTimeSpan, TopicOffset, TopicStatsTable,
};
use rmqd_remoting::body::to_json;
use rmqd_remoting::codes::response;
use rmqd_remoting::headers::admin::{
    QueryConsumeQueueRequestHeader, QueryConsumeTimeSpanRequestHeader,
    ViewBrokerStatsDataRequestHeader,
};
use rmqd_remoting::headers::broker::TopicOnlyHeader;
use rmqd_remoting::RemotingCommand;

use crate::broker::context::{now_ms, BrokerContext, Outcome, Refusal};
use crate::broker::stats::item::Window;

pub fn message_queue(ctx: &BrokerContext, topic: &str, queue_id: i32) -> MessageQueue {
    MessageQueue {
        broker_name: ctx.config.broker_name.clone(),
        queue_id,
        topic: topic.to_owned(),
    }
}

fn topic_not_exist(topic: &str) -> Refusal {
    Refusal::new(
        response::TOPIC_NOT_EXIST,
        format!("topic[{topic}] not exist"),
    )
}

/// `getMessageStoreTimeStamp`: -1 where there is no message.
pub fn store_time(ctx: &BrokerContext, topic: &str, queue_id: i32, offset: i64) -> i64 {
    if offset < 0 {
        return -1;
    }
    ctx.store
        .store_time_at(topic, queue_id, offset)
        .unwrap_or(-1)
}

pub fn topic_stats(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: TopicOnlyHeader = req.decode_header()?;
    let tc = ctx
        .topics()
        .get(&h.topic)
        .cloned()
        .ok_or_else(|| topic_not_exist(&h.topic))?;
    let table = TopicStatsTable {
        offset_table: (0..tc.write_queue_nums)
            .map(|q| {
                let min = ctx.store.min_offset_in_queue(&h.topic, q).max(0);
                let max = ctx.store.max_offset_in_queue(&h.topic, q).max(0);
                let last = if max > 0 {
                    store_time(ctx, &h.topic, q, max - 1)
                } else {
                    0
                };
                (
                    message_queue(ctx, &h.topic, q),
                    TopicOffset {
                        last_update_timestamp: last,
                        max_offset: max,
                        min_offset: min,
                    },
                )
            })
            .collect(),
    };
    Ok(RemotingCommand::success(req).with_body(table.encode()))
}

pub fn consume_by_who(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: TopicOnlyHeader = req.decode_header()?;
    let mut groups = ctx.clients.groups_subscribing(&h.topic);
    groups.extend(ctx.offsets.groups_of_topic(&h.topic));
    groups.sort();
    groups.dedup();
    Ok(RemotingCommand::success(req).with_body(to_json(&GroupList { group_list: groups })))
}

/// `UtilAll.formatDate(date, "yyyy-MM-dd#HH:mm:ss:SSS")`, in UTC (the time zone rmqd
/// uses everywhere, having no zone database).
pub fn java_date(ms: i64) -> String {
    let days = ms.div_euclid(86_400_000);
    let rem = ms.rem_euclid(86_400_000);
    // Civil date from days since 1970-01-01 (Howard Hinnant's algorithm).
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{year:04}-{month:02}-{day:02}#{:02}:{:02}:{:02}:{:03}",
        rem / 3_600_000,
        rem / 60_000 % 60,
        rem / 1000 % 60,
        rem % 1000
    )
}

pub fn consume_time_span(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: QueryConsumeTimeSpanRequestHeader = req.decode_header()?;
    let tc = ctx
        .topics()
        .get(&h.topic)
        .cloned()
        .ok_or_else(|| topic_not_exist(&h.topic))?;
    let now = now_ms();
    let spans = (0..tc.write_queue_nums)
        .map(|q| {
            let min_time = ctx.store.earliest_message_time(&h.topic, q);
            let max = ctx.store.max_offset_in_queue(&h.topic, q);
            let max_time = store_time(ctx, &h.topic, q, max - 1);
            let consumer_offset = ctx.offsets.query(&h.group, &h.topic, q).unwrap_or(-1);
            let consume_time = if consumer_offset > 0 {
                store_time(ctx, &h.topic, q, consumer_offset - 1)
            } else {
                min_time
            };
            let delay_time = if consumer_offset < max {
                now - store_time(ctx, &h.topic, q, consumer_offset)
            } else {
                0
            };
            QueueTimeSpan {
                consume_time_stamp: consume_time,
                consume_time_stamp_str: java_date(consume_time),
                delay_time,
                max_time_stamp: max_time,
                max_time_stamp_str: java_date(max_time),
                message_queue: message_queue(ctx, &h.topic, q),
                min_time_stamp: min_time,
                min_time_stamp_str: java_date(min_time),
            }
        })
        .collect();
    let body = QueryConsumeTimeSpanBody {
        consume_time_span_set: spans,
    };
    Ok(RemotingCommand::success(req).with_body(to_json(&body)))
}

/// Units listed at most per request, whatever `count` asks (Java stops at the end of the
/// mapped file, 300 000 units).
const MAX_UNITS: i64 = 300_000;

pub fn consume_queue(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: QueryConsumeQueueRequestHeader = req.decode_header()?;
    let topic = h.topic.unwrap_or_default();
    if !ctx.store.has_queue(&topic, h.queue_id) {
        return Err(Refusal::system(format!(
            "{}@{} is not exist!",
            h.queue_id, topic
        )));
    }
    let min = ctx.store.min_offset_in_queue(&topic, h.queue_id);
    let max = ctx.store.max_offset_in_queue(&topic, h.queue_id);
    let mut body = QueryConsumeQueueResponseBody {
        max_queue_index: max,
        min_queue_index: min,
        ..Default::default()
    };
    if let Some(group) = &h.consumer_group {
        body.subscription_data = ctx.clients.subscription(group, &topic);
        body.filter_data = Some(match &body.subscription_data {
            None => format!("{group}@{topic} is not online!"),
            // Tag subscriptions have no filter data; Java prints the null it finds.
            Some(_) => "null".into(),
        });
    }
    // Java never clears the default remark of this answer.
    let mut resp = RemotingCommand::success(req).with_remark("not set any response code");
    if h.index < min || h.index >= max {
        return Ok(resp.with_remark(format!(
            "Index {} of {}@{} is not exist!",
            h.index, h.queue_id, topic
        )));
    }
    let end = max.min(
        h.index
            .saturating_add(i64::from(h.count.max(0)).min(MAX_UNITS)),
    );
    body.queue_data = Some(
        (h.index..end)
            .filter_map(|i| ctx.store.queue_unit_raw(&topic, h.queue_id, i))
            .map(|(phy, size, tags)| ConsumeQueueData {
                physic_offset: phy,
                physic_size: size,
                tags_code: tags,
                ..Default::default()
            })
            .collect(),
    );
    resp.body = to_json(&body).into();
    Ok(resp)
}

pub fn view_stats_data(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let h: ViewBrokerStatsDataRequestHeader = req.decode_header()?;
    let m = &ctx.stats.manager;
    let data = m
        .find(&h.stats_name, &h.stats_key)
        .and_then(|r| {
            m.with_item(&r, |i| BrokerStatsData {
                stats_day: i.snapshot(Window::Day).into(),
                stats_hour: i.snapshot(Window::Hour).into(),
                stats_minute: i.snapshot(Window::Minute).into(),
            })
        })
        .ok_or_else(|| {
            Refusal::system(format!(
                "The stats <{}> <{}> not exist",
                h.stats_name, h.stats_key
            ))
        })?;
    Ok(RemotingCommand::success(req).with_body(to_json(&data)))
}

#[cfg(test)]
mod tests {
    use super::java_date;

    #[test]
    fn dates_as_java_formats_them_in_utc() {
        assert_eq!(java_date(0), "1970-01-01#00:00:00:000");
        assert_eq!(java_date(-1), "1969-12-31#23:59:59:999");
        assert_eq!(java_date(1_796_310_245_923), "2026-12-03#15:04:05:923");
        assert_eq!(java_date(951_782_400_000), "2000-02-29#00:00:00:000");
    }
}
