//! What each command asks and prints.

use rmqd_remoting::admin::{queue_entries, AdminClient, AdminError};
use rmqd_remoting::codes::request;
use serde_json::{json, Value};

use super::messages::{messages, messages_text, query, unique_id};
use super::render::{human_time, str_of, table};
use super::{out, req, s, AdminCommand, Output};

/// The masters a write goes to: one broker (`-b`) or every master of a cluster (`-c`).
async fn targets(
    c: &AdminClient,
    broker: Option<String>,
    cluster: Option<String>,
) -> Result<Vec<String>, AdminError> {
    if let Some(b) = broker {
        return Ok(vec![b]);
    }
    let brokers = c.brokers(cluster.as_deref()).await?;
    let masters: Vec<String> = brokers
        .into_iter()
        .filter(|b| b.id == 0)
        .map(|b| b.addr)
        .collect();
    if masters.is_empty() {
        return Err(AdminError::NotFound(match cluster {
            Some(c) => format!("no master broker in cluster {c}"),
            None => "no master broker registered".into(),
        }));
    }
    Ok(masters)
}

/// A `clusterList` row as mqadmin's `ClusterListSubCommand` prints it: the 10 s TPS (the
/// first of the runtime table's three figures) with the send/pull queue load, the page
/// cache lock wait, hours since the earliest stored message and the disk ratio.
fn cluster_row(b: &rmqd_remoting::admin::BrokerEntry, table: &Value) -> Vec<String> {
    let f = |k: &str| str_of(&table[k]);
    let first = |k: &str| -> f64 {
        f(k).split(' ')
            .next()
            .and_then(|v| v.parse().ok())
            .unwrap_or(0.0)
    };
    // As Java: from an absent timestamp (-1) too, which makes a large figure.
    let hour = f("earliestMessageTimeStamp")
        .parse::<i64>()
        .map(|t| (crate::broker::now_ms() - t) as f64 / 1000.0 / 60.0 / 60.0)
        .unwrap_or(0.0);
    let space = f("commitLogDiskRatio").parse::<f64>().unwrap_or(0.0);
    vec![
        b.cluster.clone(),
        b.name.clone(),
        b.id.to_string(),
        b.addr.clone(),
        f("brokerVersionDesc"),
        format!(
            "{:.2}({},{}ms)",
            first("putTps"),
            f("sendThreadPoolQueueSize"),
            f("sendThreadPoolQueueHeadWaitTimeMills")
        ),
        format!(
            "{:.2}({},{}ms)",
            first("getTransferedTps"),
            f("pullThreadPoolQueueSize"),
            f("pullThreadPoolQueueHeadWaitTimeMills")
        ),
        f("pageCacheLockTimeMills"),
        format!("{hour:.2}"),
        format!("{space:.4}"),
    ]
}

pub async fn execute(c: &AdminClient, cmd: AdminCommand) -> Result<Output, AdminError> {
    use AdminCommand::*;
    match cmd {
        clusterList => {
            let mut rows = Vec::new();
            let mut list = Vec::new();
            for b in c.brokers(None).await? {
                let info = c
                    .broker_json(&b.addr, req(request::GET_BROKER_RUNTIME_INFO, &[]))
                    .await;
                let table = info
                    .as_ref()
                    .map(|v| v["table"].clone())
                    .unwrap_or(Value::Null);
                rows.push(cluster_row(&b, &table));
                list.push(json!({"cluster": b.cluster, "brokerName": b.name, "brokerId": b.id, "addr": b.addr, "runtime": table,
                    "error": info.err().map(|e| e.to_string())}));
            }
            out(
                table(
                    &[
                        "Cluster Name",
                        "Broker Name",
                        "BID",
                        "Addr",
                        "Version",
                        "InTPS(LOAD)",
                        "OutTPS(LOAD)",
                        "PCWait(ms)",
                        "Hour",
                        "SPACE",
                    ],
                    &rows,
                ),
                Value::Array(list),
            )
        }
        brokerStatus { broker } => {
            let v = c
                .broker_json(&broker, req(request::GET_BROKER_RUNTIME_INFO, &[]))
                .await?;
            let mut t = String::new();
            let mut kv: Vec<(&String, &Value)> =
                v["table"].as_object().into_iter().flatten().collect();
            kv.sort_by(|a, b| a.0.cmp(b.0));
            for (k, v) in kv {
                t += &format!("{k:<40}: {}\n", str_of(v));
            }
            out(t, v["table"].clone())
        }
        getBrokerConfig { broker } => {
            let r = c
                .call_ok(&broker, req(request::GET_BROKER_CONFIG, &[]))
                .await?;
            let text = String::from_utf8_lossy(&r.body).to_string();
            let mut map = serde_json::Map::new();
            let mut t = String::new();
            let mut lines: Vec<(&str, &str)> =
                text.lines().filter_map(|l| l.split_once('=')).collect();
            lines.sort();
            for (k, v) in lines {
                t += &format!("{k:<50}=  {v}\n");
                map.insert(k.to_owned(), Value::String(v.to_owned()));
            }
            out(t, Value::Object(map))
        }
        updateBrokerConfig { broker, key, value } => {
            let body = format!("{key}={value}\n").into_bytes();
            c.call_ok(
                &broker,
                AdminClient::request(request::UPDATE_BROKER_CONFIG, &[], body),
            )
            .await?;
            out(
                format!("update broker config success, {broker}\n"),
                json!({"broker": broker, key: value}),
            )
        }
        topicList => {
            let v = c
                .namesrv_json(req(request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER, &[]))
                .await?;
            let mut topics: Vec<String> = v["topicList"]
                .as_array()
                .into_iter()
                .flatten()
                .map(str_of)
                .collect();
            topics.sort();
            out(
                topics.iter().map(|t| format!("{t}\n")).collect(),
                json!(topics),
            )
        }
        topicRoute { topic } => {
            let v = c.route(&topic).await?;
            out(
                serde_json::to_string_pretty(&v).unwrap_or_default() + "\n",
                v,
            )
        }
        topicStatus { topic } => {
            let mut rows = Vec::new();
            let mut list = Vec::new();
            for (_, addr) in c.topic_masters(&topic).await? {
                let v = c
                    .broker_json(
                        &addr,
                        req(request::GET_TOPIC_STATS_INFO, &[("topic", topic.clone())]),
                    )
                    .await?;
                for ((broker, qid, _), o) in queue_entries(&v["offsetTable"]) {
                    rows.push(vec![
                        broker.clone(),
                        qid.to_string(),
                        str_of(&o["minOffset"]),
                        str_of(&o["maxOffset"]),
                        human_time(&o["lastUpdateTimestamp"], true),
                    ]);
                    list.push(json!({"brokerName": broker, "queueId": qid, "minOffset": o["minOffset"], "maxOffset": o["maxOffset"], "lastUpdateTimestamp": o["lastUpdateTimestamp"]}));
                }
            }
            out(
                table(
                    &[
                        "Broker Name",
                        "QID",
                        "Min Offset",
                        "Max Offset",
                        "Last Updated",
                    ],
                    &rows,
                ),
                Value::Array(list),
            )
        }
        updateTopic {
            topic,
            broker,
            cluster,
            read_queues,
            write_queues,
            perm,
        } => {
            let mut done = Vec::new();
            for addr in targets(c, broker, cluster).await? {
                let ext = [
                    ("topic", topic.clone()),
                    ("defaultTopic", s("TBW102")),
                    ("readQueueNums", read_queues.to_string()),
                    ("writeQueueNums", write_queues.to_string()),
                    ("perm", perm.to_string()),
                    ("topicFilterType", s("SINGLE_TAG")),
                    ("topicSysFlag", s("0")),
                    ("order", s("false")),
                ];
                c.call_ok(&addr, req(request::UPDATE_AND_CREATE_TOPIC, &ext))
                    .await?;
                done.push(addr);
            }
            let text = done
                .iter()
                .map(|a| format!("create topic to {a} success.\n"))
                .collect();
            out(text, json!({"topic": topic, "brokers": done}))
        }
        deleteTopic { topic, cluster } => {
            let masters = targets(c, None, Some(cluster.clone())).await?;
            for addr in &masters {
                c.call_ok(
                    addr,
                    req(request::DELETE_TOPIC_IN_BROKER, &[("topic", topic.clone())]),
                )
                .await?;
            }
            c.namesrv_call(req(
                request::DELETE_TOPIC_IN_NAMESRV,
                &[("topic", topic.clone()), ("clusterName", cluster.clone())],
            ))
            .await?;
            out(
                format!("delete topic [{topic}] from cluster [{cluster}] success.\n"),
                json!({"topic": topic, "brokers": masters}),
            )
        }
        updateSubGroup {
            group,
            broker,
            cluster,
        } => {
            let body = json!({"brokerId":0,"consumeBroadcastEnable":false,"consumeEnable":true,"consumeFromMinEnable":false,
                "groupName": group,"notifyConsumerIdsChangedEnable":true,"retryMaxTimes":16,"retryQueueNums":1,"whichBrokerWhenConsumeSlowly":1});
            let mut done = Vec::new();
            for addr in targets(c, broker, cluster).await? {
                let r = AdminClient::request(
                    request::UPDATE_AND_CREATE_SUBSCRIPTIONGROUP,
                    &[],
                    body.to_string().into_bytes(),
                );
                c.call_ok(&addr, r).await?;
                done.push(addr);
            }
            let text = done
                .iter()
                .map(|a| format!("create subscription group to {a} success.\n"))
                .collect();
            out(text, json!({"group": group, "brokers": done}))
        }
        deleteSubGroup {
            group,
            broker,
            cluster,
        } => {
            let addrs = targets(c, broker, cluster.clone()).await?;
            for addr in &addrs {
                c.call_ok(
                    addr,
                    req(
                        request::DELETE_SUBSCRIPTIONGROUP,
                        &[("groupName", group.clone()), ("removeOffset", s("false"))],
                    ),
                )
                .await?;
                // As mqadmin: the group's retry and dead-letter topics go too.
                for t in [format!("%RETRY%{group}"), format!("%DLQ%{group}")] {
                    c.call_ok(
                        addr,
                        req(request::DELETE_TOPIC_IN_BROKER, &[("topic", t.clone())]),
                    )
                    .await?;
                    let mut ext = vec![("topic", t)];
                    if let Some(cl) = &cluster {
                        ext.push(("clusterName", cl.clone()));
                    }
                    c.namesrv_call(req(request::DELETE_TOPIC_IN_NAMESRV, &ext))
                        .await?;
                }
            }
            let text = addrs
                .iter()
                .map(|a| {
                    format!("delete subscription group [{group}] from broker [{a}] success.\n")
                })
                .collect();
            out(text, json!({"group": group, "brokers": addrs}))
        }
        groupList { broker, cluster } => {
            let mut groups = std::collections::BTreeSet::new();
            for addr in targets(c, broker, cluster).await? {
                let v = c
                    .broker_json(&addr, req(request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG, &[]))
                    .await?;
                groups.extend(
                    v["subscriptionGroupTable"]
                        .as_object()
                        .into_iter()
                        .flatten()
                        .map(|(k, _)| k.clone()),
                );
            }
            out(
                groups.iter().map(|g| format!("{g}\n")).collect(),
                json!(groups),
            )
        }
        consumerProgress { group: None } => super::progress::all_groups(c).await,
        acl @ (updateAclConfig { .. }
        | deleteAclConfig { .. }
        | clusterAclConfigVersion { .. }
        | updateGlobalWhiteAddr { .. }) => super::acl::execute(c, acl).await,
        consumerProgress { group: Some(group) } => {
            let mut rows = Vec::new();
            let mut list = Vec::new();
            let mut diff_total = 0i64;
            let mut tps = 0f64;
            for (_, addr) in c.topic_masters(&format!("%RETRY%{group}")).await? {
                let v = c
                    .broker_json(
                        &addr,
                        req(
                            request::GET_CONSUME_STATS,
                            &[("consumerGroup", group.clone())],
                        ),
                    )
                    .await?;
                tps += v["consumeTps"].as_f64().unwrap_or(0.0);
                for ((broker, qid, topic), o) in queue_entries(&v["offsetTable"]) {
                    let (b, co) = (
                        o["brokerOffset"].as_i64().unwrap_or(0),
                        o["consumerOffset"].as_i64().unwrap_or(0),
                    );
                    diff_total += b - co;
                    rows.push(vec![
                        topic.clone(),
                        broker.clone(),
                        qid.to_string(),
                        b.to_string(),
                        co.to_string(),
                        (b - co).to_string(),
                        human_time(&o["lastTimestamp"], false),
                    ]);
                    list.push(json!({"topic": topic, "brokerName": broker, "queueId": qid, "brokerOffset": b, "consumerOffset": co, "diff": b - co, "lastTimestamp": o["lastTimestamp"]}));
                }
            }
            let text = table(
                &[
                    "Topic",
                    "Broker Name",
                    "QID",
                    "Broker Offset",
                    "Consumer Offset",
                    "Diff",
                    "LastTime",
                ],
                &rows,
            ) + &format!("\nConsume TPS: {tps:.2}\nDiff Total: {diff_total}\n");
            out(
                text,
                json!({"group": group, "consumeTps": tps, "diffTotal": diff_total, "queues": list}),
            )
        }
        consumerConnection { group } => {
            let (_, addr) = c.topic_masters(&format!("%RETRY%{group}")).await?.remove(0);
            let v = c
                .broker_json(
                    &addr,
                    req(
                        request::GET_CONSUMER_CONNECTION_LIST,
                        &[("consumerGroup", group.clone())],
                    ),
                )
                .await?;
            let rows: Vec<Vec<String>> = v["connectionSet"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, x)| {
                    vec![
                        (i + 1).to_string(),
                        str_of(&x["clientId"]),
                        str_of(&x["clientAddr"]),
                        str_of(&x["language"]),
                        rmqd_remoting::command::version_desc(
                            x["version"].as_i64().unwrap_or(0) as i32
                        ),
                    ]
                })
                .collect();
            let mut text = table(
                &["", "ClientId", "ClientAddr", "Language", "Version"],
                &rows,
            );
            text += &format!(
                "\nConsumeType: {}\nMessageModel: {}\nConsumeFromWhere: {}\n",
                str_of(&v["consumeType"]),
                str_of(&v["messageModel"]),
                str_of(&v["consumeFromWhere"])
            );
            out(text, v)
        }
        producerConnection { group, topic } => {
            let (_, addr) = c.topic_masters(&topic).await?.remove(0);
            let v = c
                .broker_json(
                    &addr,
                    req(
                        request::GET_PRODUCER_CONNECTION_LIST,
                        &[("producerGroup", group.clone())],
                    ),
                )
                .await?;
            let rows: Vec<Vec<String>> = v["connectionSet"]
                .as_array()
                .into_iter()
                .flatten()
                .enumerate()
                .map(|(i, x)| {
                    vec![
                        (i + 1).to_string(),
                        str_of(&x["clientId"]),
                        str_of(&x["clientAddr"]),
                        str_of(&x["language"]),
                        rmqd_remoting::command::version_desc(
                            x["version"].as_i64().unwrap_or(0) as i32
                        ),
                    ]
                })
                .collect();
            out(
                table(
                    &["", "ClientId", "ClientAddr", "Language", "Version"],
                    &rows,
                ),
                v,
            )
        }
        queryMsgById { id } => {
            let (host, offset) = rmqd_store::record::decode_offset_msg_id(&id)
                .ok_or_else(|| AdminError::NotFound(format!("{id} is not an offsetMsgId")))?;
            let r = c
                .call_ok(
                    &host.to_string(),
                    req(
                        request::VIEW_MESSAGE_BY_ID,
                        &[("offset", offset.to_string())],
                    ),
                )
                .await?;
            let list = messages(&r.body);
            out(messages_text(&list), Value::Array(list))
        }
        queryMsgByKey { topic, key } => query(c, topic, key, false).await,
        queryMsgByUniqueKey { topic, id } => query(c, topic, id, true).await,
        queryMsgByOffset {
            topic,
            broker_name,
            queue,
            offset,
        } => {
            let addr = c
                .topic_masters(&topic)
                .await?
                .into_iter()
                .find(|(n, _)| *n == broker_name)
                .map(|(_, a)| a)
                .ok_or_else(|| {
                    AdminError::NotFound(format!("broker {broker_name} does not serve {topic}"))
                })?;
            let ext = [
                ("consumerGroup", s("TOOLS_CONSUMER")),
                ("topic", topic.clone()),
                ("queueId", queue.to_string()),
                ("queueOffset", offset.to_string()),
                ("maxMsgNums", s("1")),
                // FLAG_SUBSCRIPTION: the filter travels with the pull, as DefaultMQPullConsumer's.
                ("sysFlag", s("4")),
                ("commitOffset", s("0")),
                ("suspendTimeoutMillis", s("20000")),
                ("bname", broker_name.clone()),
                ("subscription", s("*")),
                ("subVersion", s("0")),
                ("expressionType", s("TAG")),
            ];
            let r = c.call(&addr, req(request::PULL_MESSAGE, &ext)).await?;
            // PULL_NOT_FOUND (19), PULL_RETRY_IMMEDIATELY (20), PULL_OFFSET_MOVED (21): nothing there.
            if !matches!(r.code, 0 | 19 | 20 | 21) {
                return Err(AdminError::Refused {
                    addr,
                    code: r.code,
                    remark: r.remark.unwrap_or_default(),
                });
            }
            let list = if r.code == 0 {
                messages(&r.body)
            } else {
                Vec::new()
            };
            out(messages_text(&list), Value::Array(list))
        }
        resetOffsetByTime {
            group,
            topic,
            timestamp,
            force,
        } => super::reset::reset_offset_by_time(c, group, topic, timestamp, force).await,
        sendMessage {
            topic,
            body,
            keys,
            tags,
        } => {
            let (broker, addr) = c.topic_masters(&topic).await?.remove(0);
            let mut props = format!("UNIQ_KEY\u{1}{}\u{2}WAIT\u{1}true\u{2}", unique_id());
            for (k, v) in [("KEYS", keys), ("TAGS", tags)] {
                if let Some(v) = v {
                    props += &format!("{k}\u{1}{v}\u{2}");
                }
            }
            let ext = [
                ("a", s("rmqd-admin")),
                ("b", topic.clone()),
                ("c", s("TBW102")),
                ("d", s("4")),
                ("e", s("0")),
                ("f", s("0")),
                ("g", crate::broker::now_ms().to_string()),
                ("h", s("0")),
                ("i", props),
                ("j", s("0")),
                ("k", s("false")),
            ];
            let r = c
                .call_ok(
                    &addr,
                    AdminClient::request(request::SEND_MESSAGE_V2, &ext, body.into_bytes()),
                )
                .await?;
            let f = |k: &str| r.ext(k).unwrap_or_default().to_owned();
            let v = json!({"brokerName": broker, "queueId": f("queueId").parse::<i64>().unwrap_or(-1), "msgId": f("msgId"),
                "queueOffset": f("queueOffset").parse::<i64>().unwrap_or(-1), "sendResult": "SEND_OK"});
            let text = table(
                &["Broker Name", "QID", "Send Result", "MsgId"],
                &[vec![broker, f("queueId"), s("SEND_OK"), f("msgId")]],
            );
            out(text, v)
        }
    }
}
