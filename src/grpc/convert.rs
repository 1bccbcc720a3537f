//! Stored records → `apache.rocketmq.v2.Message`, as the proxy's `GrpcConverter` builds
//! them: user properties are those outside Java's system key set, the message id is the
//! producer's UNIQ_KEY, the body digest is the MD5 of the stored body.

use std::collections::HashMap;

use bytes::Bytes;
use md5::{Digest as _, Md5};
use rmqd_store::record::{sys_flag, RecordView};

use super::pb;
use crate::broker::properties::Properties;

/// `MessageConst.STRING_HASH_SET`: property names the broker and clients reserve.
const SYSTEM_KEYS: &[&str] = &[
    "TRACE_ON",
    "MSG_REGION",
    "KEYS",
    "TAGS",
    "WAIT",
    "DELAY",
    "RETRY_TOPIC",
    "REAL_TOPIC",
    "REAL_QID",
    "TRAN_MSG",
    "PGROUP",
    "MIN_OFFSET",
    "MAX_OFFSET",
    "BUYER_ID",
    "ORIGIN_MESSAGE_ID",
    "TRANSFER_FLAG",
    "CORRECTION_FLAG",
    "MQ2_FLAG",
    "RECONSUME_TIME",
    "UNIQ_KEY",
    "MAX_RECONSUME_TIMES",
    "CONSUME_START_TIME",
    "POP_CK",
    "POP_CK_OFFSET",
    "1ST_POP_TIME",
    "TRAN_PREPARED_QUEUE_OFFSET",
    "DUP_INFO",
    "EXTEND_UNIQ_INFO",
    "INSTANCE_ID",
    "CORRELATION_ID",
    "REPLY_TO_CLIENT",
    "TTL",
    "ARRIVE_TIME",
    "PUSH_REPLY_TIME",
    "CLUSTER",
    "MSG_TYPE",
    "INNER_MULTI_QUEUE_OFFSET",
    "_TIMER_ROLL_TIMES",
    "TIMER_OUT_MS",
    "TIMER_ENQUEUE_MS",
    "TIMER_DEQUEUE_MS",
    "TIMER_ROLL_TIMES",
    "TIMER_DELIVER_MS",
    "TIMER_DELAY_SEC",
    "TIMER_DELAY_MS",
    "TIMER_DEL_UNIQKEY",
    "TIMER_DELAY_LEVEL",
    "TRANSACTION_CHECK_TIMES",
    "CHECK_IMMUNITY_TIME_IN_SECONDS",
    "INNER_NUM",
    "INNER_BASE",
    "__SHARDINGKEY",
    "__transactionId__",
    "__BORNHOST",
    "BORN_TIMESTAMP",
    "TRACE_CONTEXT",
    "DLQ_ORIGIN_TOPIC",
    "DLQ_ORIGIN_MESSAGE_ID",
    "PROPERTY_FORWARD_QUEUE_ID",
    "REDIRECT",
    "INNER_MULTI_DISPATCH",
    "__CRC32#",
    "WAIT_STORE_MSG_OK",
];

pub fn is_system_key(k: &str) -> bool {
    SYSTEM_KEYS.contains(&k)
}

pub fn timestamp(ms: i64) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: ms.div_euclid(1000),
        nanos: (ms.rem_euclid(1000) * 1_000_000) as i32,
    }
}

pub fn millis_of(t: &prost_types::Timestamp) -> i64 {
    t.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(t.nanos) / 1_000_000)
}

pub fn duration_ms(d: &prost_types::Duration) -> i64 {
    d.seconds
        .saturating_mul(1000)
        .saturating_add(i64::from(d.nanos) / 1_000_000)
}

pub fn duration(ms: i64) -> prost_types::Duration {
    prost_types::Duration {
        seconds: ms / 1000,
        nanos: ((ms % 1000) * 1_000_000) as i32,
    }
}

pub fn resource(name: &str) -> pb::Resource {
    pb::Resource {
        resource_namespace: String::new(),
        name: name.to_string(),
    }
}

fn md5_upper(body: &[u8]) -> String {
    let d = Md5::digest(body);
    d.iter().map(|b| format!("{b:02X}")).collect()
}

/// Everything a delivery adds to the stored message.
pub struct Delivery<'a> {
    /// The topic the consumer knows (a message from the retry topic goes out under it).
    pub topic: &'a str,
    pub receipt_handle: Option<String>,
    pub reconsume_times: i32,
    pub invisible_ms: Option<i64>,
}

/// `GrpcConverter.buildMessage`; `record` is the stored record `m` was decoded from.
pub fn message(record: &Bytes, m: &RecordView<'_>, d: &Delivery<'_>) -> pb::Message {
    let props = Properties::parse(m.properties);
    let get = |k: &str| props.get(k).map(str::to_string);
    let mut user = HashMap::new();
    for (k, v) in rmqd_store::record::properties(m.properties) {
        if !is_system_key(k) {
            user.insert(k.to_string(), v.to_string());
        }
    }
    let message_type = if get("TRAN_MSG").as_deref() == Some("true") {
        pb::MessageType::Transaction
    } else if get("DELAY").is_some()
        || get("TIMER_DELIVER_MS").is_some()
        || get("TIMER_DELAY_SEC").is_some()
    {
        pb::MessageType::Delay
    } else if get("__SHARDINGKEY").is_some() {
        pb::MessageType::Fifo
    } else {
        pb::MessageType::Normal
    };
    let delivery_timestamp = match get("TIMER_DELAY_SEC").and_then(|s| s.parse::<i64>().ok()) {
        Some(sec) => Some(timestamp(crate::broker::context::now_ms() + sec * 1000)),
        None => get("TIMER_DELIVER_MS")
            .and_then(|s| s.parse::<i64>().ok())
            .map(timestamp),
    };
    let body = record.slice_ref(m.body);
    let compressed = m.sys_flag & sys_flag::COMPRESSED != 0;
    let dlq = match (get("DLQ_ORIGIN_TOPIC"), get("DLQ_ORIGIN_MESSAGE_ID")) {
        (Some(topic), Some(message_id)) => Some(pb::DeadLetterQueue { topic, message_id }),
        _ => None,
    };
    let born_host = get("__BORNHOST").unwrap_or_else(|| m.born_host.to_string());
    pb::Message {
        topic: Some(resource(d.topic)),
        user_properties: user,
        system_properties: Some(pb::SystemProperties {
            tag: get("TAGS"),
            keys: get("KEYS")
                .map(|k| k.split(' ').map(str::to_string).collect())
                .unwrap_or_default(),
            message_id: get("UNIQ_KEY").unwrap_or_else(|| m.offset_msg_id()),
            body_digest: Some(pb::Digest {
                r#type: pb::DigestType::Md5 as i32,
                checksum: md5_upper(&body),
            }),
            body_encoding: if compressed {
                pb::Encoding::Gzip as i32
            } else {
                pb::Encoding::Identity as i32
            },
            message_type: message_type as i32,
            born_timestamp: Some(timestamp(m.born_timestamp)),
            born_host,
            store_timestamp: Some(timestamp(m.store_timestamp)),
            store_host: m.store_host.to_string(),
            delivery_timestamp,
            receipt_handle: d.receipt_handle.clone(),
            queue_id: m.queue_id,
            queue_offset: Some(m.queue_offset),
            invisible_duration: d.invisible_ms.map(duration),
            delivery_attempt: Some(d.reconsume_times + 1),
            message_group: get("__SHARDINGKEY"),
            trace_context: get("TRACE_CONTEXT"),
            dead_letter_queue: dlq,
            ..Default::default()
        }),
        body,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn md5_matches_the_clients_check() {
        // hashlib.md5(b"hello").hexdigest().upper()
        assert_eq!(md5_upper(b"hello"), "5D41402ABC4B2A76B9719D911017C592");
        assert_eq!(millis_of(&timestamp(1_700_000_000_123)), 1_700_000_000_123);
        assert_eq!(duration_ms(&duration(30_500)), 30_500);
    }
}
