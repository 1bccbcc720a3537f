//! Messages: queries by id, key and offset, decoded from stored records.

use rmqd_remoting::admin::{AdminClient, AdminError};
use rmqd_remoting::codes::request;
use serde_json::{json, Value};

use super::render::str_of;
use super::{out, req, s, Output};

/// Stored messages (33/12/11 bodies) as JSON.
pub fn messages(body: &[u8]) -> Vec<Value> {
    rmqd_store::record::decode_all(body)
        .iter()
        .map(|m| {
            let props: serde_json::Map<String, Value> = rmqd_store::record::properties(m.properties)
                .into_iter()
                .map(|(k, v)| (k.to_owned(), Value::String(v.to_owned())))
                .collect();
            let body = rmqd_store::record::inflate_body(m.sys_flag, m.body).unwrap_or_else(|| m.body.to_vec());
            json!({
                "topic": m.topic, "queueId": m.queue_id, "queueOffset": m.queue_offset,
                "offsetMsgId": m.offset_msg_id(), "msgId": props.get("UNIQ_KEY").cloned().unwrap_or(Value::Null),
                "tags": props.get("TAGS").cloned().unwrap_or(Value::Null),
                "keys": props.get("KEYS").cloned().unwrap_or(Value::Null),
                "bornTimestamp": m.born_timestamp, "storeTimestamp": m.store_timestamp,
                "bornHost": m.born_host.to_string(), "storeHost": m.store_host.to_string(),
                "reconsumeTimes": m.reconsume_times, "sysFlag": m.sys_flag,
                "body": String::from_utf8_lossy(&body), "properties": props,
            })
        })
        .collect()
}

pub fn messages_text(list: &[Value]) -> String {
    let mut t = String::new();
    for m in list {
        for k in [
            "topic",
            "msgId",
            "offsetMsgId",
            "tags",
            "keys",
            "queueId",
            "queueOffset",
            "storeHost",
            "bornHost",
            "bornTimestamp",
            "storeTimestamp",
            "reconsumeTimes",
            "body",
        ] {
            t += &format!("{:<18}{}\n", format!("{k}:"), str_of(&m[k]));
        }
        t += "\n";
    }
    if list.is_empty() {
        t += "no message found\n";
    }
    t
}

/// A client message id shaped like Java's `MessageClientIDSetter` (ip, pid, a per-process
/// value, time, counter: 16 bytes in hex), so brokers index it as a unique key.
pub fn unique_id() -> String {
    let now = crate::broker::now_ms();
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    format!(
        "7F000001{:04X}{:08X}{:08X}{:04X}",
        std::process::id() as u16,
        seed,
        now as u32,
        0u16
    )
}

pub async fn query(
    c: &AdminClient,
    topic: String,
    key: String,
    unique: bool,
) -> Result<Output, AdminError> {
    let mut list = Vec::new();
    for (_, addr) in c.topic_masters(&topic).await? {
        let ext = [
            ("topic", topic.clone()),
            ("key", key.clone()),
            ("maxNum", s("64")),
            ("beginTimestamp", s("0")),
            ("endTimestamp", i64::MAX.to_string()),
            (rmqd_remoting::acl::UNIQUE_KEY_QUERY, unique.to_string()),
        ];
        let r = c.call(&addr, req(request::QUERY_MESSAGE, &ext)).await?;
        if r.code == 0 {
            list.extend(messages(&r.body));
        }
    }
    out(messages_text(&list), Value::Array(list))
}
