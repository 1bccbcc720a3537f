//! `resetOffsetByTime`: INVOKE_BROKER_TO_RESET_OFFSET (222), which the broker pushes to the
//! group's online consumers; when none is online (CONSUMER_NOT_ONLINE), the group's
//! committed offsets are moved directly with UPDATE_CONSUMER_OFFSET (15), as mqadmin's
//! `ResetOffsetByTimeCommand` falls back to `ResetOffsetByTimeOldCommand`.

use rmqd_remoting::admin::{queue_entries, AdminClient, AdminError};
use rmqd_remoting::codes::{request, response};
use serde_json::{json, Value};

use super::render::{str_of, table};
use super::{out, req, Output};

/// `-s`: ms since the epoch, or `now` (-1: each queue's end, as Java sends it).
fn parse_timestamp(text: &str) -> Result<i64, AdminError> {
    if text == "now" {
        return Ok(-1);
    }
    text.parse::<i64>().map_err(|_| {
        AdminError::NotFound(format!("-s {text}: a time in ms since the epoch, or now"))
    })
}

pub async fn reset_offset_by_time(
    c: &AdminClient,
    group: String,
    topic: String,
    timestamp: String,
    force: bool,
) -> Result<Output, AdminError> {
    let ts = parse_timestamp(&timestamp)?;
    let mut rows = Vec::new();
    let mut list = Vec::new();
    for (_, addr) in c.topic_masters(&topic).await? {
        let ext = [
            ("topic", topic.clone()),
            ("group", group.clone()),
            ("timestamp", ts.to_string()),
            ("isForce", force.to_string()),
        ];
        let v = match c
            .broker_json(&addr, req(request::INVOKE_BROKER_TO_RESET_OFFSET, &ext))
            .await
        {
            Ok(v) => v,
            Err(AdminError::Refused { code, .. }) if code == response::CONSUMER_NOT_ONLINE => {
                return reset_offline(c, &group, &topic, ts, &timestamp, force).await;
            }
            Err(e) => return Err(e),
        };
        for ((broker, qid, _), o) in queue_entries(&v["offsetTable"]) {
            rows.push(vec![broker.clone(), qid.to_string(), str_of(&o)]);
            list.push(json!({"brokerName": broker, "queueId": qid, "offset": o}));
        }
    }
    let head = format!(
        "rollback consumer offset by specified group[{group}], topic[{topic}], force[{force}], timestamp(string)[{timestamp}], timestamp(long)[{ts}]\n"
    );
    out(
        head + &table(&["brokerName", "queueId", "offset"], &rows),
        Value::Array(list),
    )
}

/// A header field of an answer as a number.
fn ext_i64(r: &rmqd_remoting::RemotingCommand, key: &str) -> i64 {
    r.ext(key).and_then(|v| v.parse().ok()).unwrap_or(-1)
}

/// `DefaultMQAdminExtImpl.resetOffsetByTimestampOld`: per queue of the topic the group has
/// offsets for (every readable queue if none), the offset at `ts` (SEARCH_OFFSET_BY_TIMESTAMP,
/// or GET_MAX_OFFSET for `now`), committed when forced or when it rolls back.
async fn reset_offline(
    c: &AdminClient,
    group: &str,
    topic: &str,
    ts: i64,
    ts_text: &str,
    force: bool,
) -> Result<Output, AdminError> {
    let route = c.route(topic).await?;
    let mut rows = Vec::new();
    let mut list = Vec::new();
    for (broker, addr) in c.topic_masters(topic).await? {
        let stats = c
            .broker_json(
                &addr,
                req(
                    request::GET_CONSUME_STATS,
                    &[("consumerGroup", group.to_owned())],
                ),
            )
            .await?;
        // (queueId, brokerOffset, consumerOffset)
        let mut queues: Vec<(i64, i64, i64)> = queue_entries(&stats["offsetTable"])
            .into_iter()
            .filter(|((_, _, t), _)| t == topic)
            .map(|((_, q, _), o)| {
                let f = |k: &str| o[k].as_i64().unwrap_or(0);
                (q, f("brokerOffset"), f("consumerOffset"))
            })
            .collect();
        if queues.is_empty() {
            let read_queues = route["queueDatas"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|q| q["brokerName"] == broker.as_str())
                .and_then(|q| q["readQueueNums"].as_i64())
                .unwrap_or(0);
            let status = c
                .broker_json(
                    &addr,
                    req(
                        request::GET_TOPIC_STATS_INFO,
                        &[("topic", topic.to_owned())],
                    ),
                )
                .await?;
            let offsets = queue_entries(&status["offsetTable"]);
            for q in 0..read_queues {
                let o = offsets
                    .iter()
                    .find(|((_, id, _), _)| *id == q)
                    .map(|(_, o)| o.clone())
                    .unwrap_or(Value::Null);
                let f = |k: &str| o[k].as_i64().unwrap_or(0);
                queues.push((q, f("maxOffset"), f("minOffset")));
            }
        }
        for (q, broker_offset, consumer_offset) in queues {
            let mut ext = vec![("topic", topic.to_owned()), ("queueId", q.to_string())];
            let code = if ts == -1 {
                request::GET_MAX_OFFSET
            } else {
                ext.push(("timestamp", ts.to_string()));
                request::SEARCH_OFFSET_BY_TIMESTAMP
            };
            let at = ext_i64(&c.call_ok(&addr, req(code, &ext)).await?, "offset");
            let mut rollback = consumer_offset;
            if force || at <= consumer_offset {
                rollback = at;
                c.call_ok(
                    &addr,
                    req(
                        request::UPDATE_CONSUMER_OFFSET,
                        &[
                            ("consumerGroup", group.to_owned()),
                            ("topic", topic.to_owned()),
                            ("queueId", q.to_string()),
                            ("commitOffset", at.to_string()),
                        ],
                    ),
                )
                .await?;
            }
            rows.push(vec![
                broker.clone(),
                q.to_string(),
                broker_offset.to_string(),
                consumer_offset.to_string(),
                at.to_string(),
                rollback.to_string(),
            ]);
            list.push(json!({"brokerName": broker, "queueId": q, "brokerOffset": broker_offset,
                "consumerOffset": consumer_offset, "timestampOffset": at, "rollbackOffset": rollback,
                "offset": rollback}));
        }
    }
    let head = format!(
        "rollback consumer offset by specified consumerGroup[{group}], topic[{topic}], force[{force}], timestamp(string)[{ts_text}], timestamp(long)[{ts}]\n"
    );
    let text = table(
        &[
            "brokerName",
            "queueId",
            "brokerOffset",
            "consumerOffset",
            "timestampOffset",
            "rollbackOffset",
        ],
        &rows,
    );
    out(head + &text, Value::Array(list))
}
