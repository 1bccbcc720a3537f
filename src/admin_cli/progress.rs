//! `consumerProgress` without a group: one line per consumer group.

use rmqd_remoting::admin::{queue_entries, AdminClient, AdminError};
use rmqd_remoting::codes::request;
use serde_json::{json, Value};

use super::render::{str_of, table};
use super::{out, req, Output};

/// `consumerProgress` without `-g`: every group with a `%RETRY%` topic, its consumers
/// (count, lowest version, type, model) and totals, as mqadmin prints them.
pub async fn all_groups(c: &AdminClient) -> Result<Output, AdminError> {
    let topics = c
        .namesrv_json(req(request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, &[]))
        .await?;
    let mut groups: Vec<String> = topics["topicList"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| t.as_str()?.strip_prefix("%RETRY%").map(str::to_owned))
        .collect();
    groups.sort();
    let mut rows = Vec::new();
    let mut list = Vec::new();
    for g in groups {
        let Ok(masters) = c.topic_masters(&format!("%RETRY%{g}")).await else {
            continue;
        };
        let (mut tps, mut diff) = (0f64, 0i64);
        let mut stats_ok = false;
        for (_, addr) in &masters {
            let Ok(v) = c
                .broker_json(
                    addr,
                    req(request::GET_CONSUME_STATS, &[("consumerGroup", g.clone())]),
                )
                .await
            else {
                continue;
            };
            stats_ok = true;
            tps += v["consumeTps"].as_f64().unwrap_or(0.0);
            for (_, o) in queue_entries(&v["offsetTable"]) {
                diff += o["brokerOffset"].as_i64().unwrap_or(0)
                    - o["consumerOffset"].as_i64().unwrap_or(0);
            }
        }
        if !stats_ok {
            continue;
        }
        let conns = c
            .broker_json(
                &masters[0].1,
                req(
                    request::GET_CONSUMER_CONNECTION_LIST,
                    &[("consumerGroup", g.clone())],
                ),
            )
            .await
            .unwrap_or(Value::Null);
        let set = conns["connectionSet"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let min_version = set.iter().filter_map(|x| x["version"].as_i64()).min();
        let kind = match conns["consumeType"].as_str() {
            Some("CONSUME_PASSIVELY") => "PUSH",
            Some("CONSUME_ACTIVELY") => "PULL",
            _ => "",
        };
        let version = min_version
            .map(|v| rmqd_remoting::command::version_desc(v as i32))
            .unwrap_or_else(|| "OFFLINE".into());
        rows.push(vec![
            g.clone(),
            set.len().to_string(),
            version.clone(),
            kind.to_owned(),
            str_of(&conns["messageModel"]),
            format!("{}", tps.round() as i64),
            diff.to_string(),
        ]);
        list.push(
            json!({"group": g, "count": set.len(), "version": version, "type": kind,
            "model": conns["messageModel"], "consumeTps": tps, "diffTotal": diff}),
        );
    }
    out(
        table(
            &[
                "Group",
                "Count",
                "Version",
                "Type",
                "Model",
                "TPS",
                "Diff Total",
            ],
            &rows,
        ),
        Value::Array(list),
    )
}
