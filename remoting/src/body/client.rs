//! Client-management bodies: heartbeats, consumer lists, queue locks.
//!
//! Heartbeats come from many client implementations; the C++ clients send enum ordinals
//! instead of names and `subVersion` as a string, and leave out fields Java always sends.
//! Every field here is therefore optional on input, and enums are read from either form
//! and kept as the Java name.

use std::collections::BTreeSet;
use std::fmt;

use serde::de::{self, Deserializer, Visitor};
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct HeartbeatData {
    #[serde(rename = "clientID")]
    pub client_id: String,
    pub consumer_data_set: Vec<ConsumerData>,
    pub producer_data_set: Vec<ProducerData>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProducerData {
    pub group_name: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsumerData {
    #[serde(deserialize_with = "consume_from_where")]
    pub consume_from_where: String,
    #[serde(deserialize_with = "consume_type")]
    pub consume_type: String,
    pub group_name: String,
    #[serde(deserialize_with = "message_model")]
    pub message_model: String,
    pub subscription_data_set: Vec<SubscriptionData>,
    pub unit_mode: bool,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct SubscriptionData {
    pub class_filter_mode: bool,
    pub code_set: BTreeSet<i32>,
    pub expression_type: String,
    pub sub_string: String,
    #[serde(deserialize_with = "lenient_i64")]
    pub sub_version: i64,
    pub tags_set: BTreeSet<String>,
    pub topic: String,
}

impl Default for SubscriptionData {
    fn default() -> Self {
        SubscriptionData {
            class_filter_mode: false,
            code_set: BTreeSet::new(),
            expression_type: "TAG".into(),
            sub_string: "*".into(),
            sub_version: 0,
            tags_set: BTreeSet::new(),
            topic: String::new(),
        }
    }
}

/// `{"consumerIdList":[...]}` (GET_CONSUMER_LIST_BY_GROUP).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsumerIdList {
    pub consumer_id_list: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MessageQueue {
    pub broker_name: String,
    pub queue_id: i32,
    pub topic: String,
}

/// CHECK_CLIENT_CONFIG (46) request: `CheckClientRequestBody`, one subscription a consumer
/// is about to use, sent before it starts so an unsupported filter fails it at once.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct CheckClientRequestBody {
    pub client_id: String,
    pub group: String,
    pub subscription_data: Option<SubscriptionData>,
}

/// LOCK_BATCH_MQ / UNLOCK_BATCH_MQ request; `onlyThisBroker` is 5.x only.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct LockBatchRequestBody {
    pub client_id: String,
    pub consumer_group: String,
    pub mq_set: BTreeSet<MessageQueue>,
    pub only_this_broker: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct LockBatchResponseBody {
    #[serde(rename = "lockOKMQSet")]
    pub lock_ok_mq_set: BTreeSet<MessageQueue>,
}

/// Java enum ordinals, in declaration order.
const CONSUME_FROM_WHERE: [&str; 6] = [
    "CONSUME_FROM_LAST_OFFSET",
    "CONSUME_FROM_LAST_OFFSET_AND_FROM_MIN_WHEN_BOOT_FIRST",
    "CONSUME_FROM_MIN_OFFSET",
    "CONSUME_FROM_MAX_OFFSET",
    "CONSUME_FROM_FIRST_OFFSET",
    "CONSUME_FROM_TIMESTAMP",
];
const CONSUME_TYPE: [&str; 3] = ["CONSUME_ACTIVELY", "CONSUME_PASSIVELY", "CONSUME_POP"];
const MESSAGE_MODEL: [&str; 2] = ["BROADCASTING", "CLUSTERING"];

struct EnumVisitor(&'static [&'static str]);

impl Visitor<'_> for EnumVisitor {
    type Value = String;
    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an enum name or ordinal")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<String, E> {
        // A numeric string is an ordinal too.
        match v.parse::<u64>() {
            Ok(n) => self.visit_u64(n),
            Err(_) => Ok(v.to_owned()),
        }
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<String, E> {
        Ok(usize::try_from(v)
            .ok()
            .and_then(|i| self.0.get(i))
            .map(|s| (*s).to_owned())
            .unwrap_or_else(|| v.to_string()))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }
    fn visit_unit<E: de::Error>(self) -> Result<String, E> {
        Ok(String::new())
    }
}

fn consume_from_where<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(EnumVisitor(&CONSUME_FROM_WHERE))
}
fn consume_type<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(EnumVisitor(&CONSUME_TYPE))
}
fn message_model<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(EnumVisitor(&MESSAGE_MODEL))
}

fn lenient_i64<'de, D: Deserializer<'de>>(d: D) -> Result<i64, D::Error> {
    struct V;
    impl Visitor<'_> for V {
        type Value = i64;
        fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
            f.write_str("an integer")
        }
        fn visit_i64<E: de::Error>(self, v: i64) -> Result<i64, E> {
            Ok(v)
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<i64, E> {
            Ok(i64::try_from(v).unwrap_or(i64::MAX))
        }
        fn visit_f64<E: de::Error>(self, v: f64) -> Result<i64, E> {
            Ok(v as i64)
        }
        fn visit_str<E: de::Error>(self, v: &str) -> Result<i64, E> {
            Ok(v.trim().parse().unwrap_or(0))
        }
        fn visit_unit<E: de::Error>(self) -> Result<i64, E> {
            Ok(0)
        }
    }
    d.deserialize_any(V)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpp_heartbeat_with_ordinals() {
        let body = br#"{"clientID":"127.0.0.1@1234","consumerDataSet":[{"consumeFromWhere":0,"consumeType":1,"groupName":"g","messageModel":1,"subscriptionDataSet":[{"codeSet":[],"subString":"*","subVersion":"1700000000000","tagsSet":[],"topic":"T"}]}],"producerDataSet":[{"groupName":"CLIENT_INNER_PRODUCER"}]}"#;
        let hb: HeartbeatData = serde_json::from_slice(body).unwrap();
        let c = &hb.consumer_data_set[0];
        assert_eq!(c.consume_from_where, "CONSUME_FROM_LAST_OFFSET");
        assert_eq!(c.consume_type, "CONSUME_PASSIVELY");
        assert_eq!(c.message_model, "CLUSTERING");
        assert_eq!(c.subscription_data_set[0].sub_version, 1_700_000_000_000);
        assert_eq!(c.subscription_data_set[0].expression_type, "TAG");
    }

    #[test]
    fn java_heartbeat_with_names() {
        let body = br#"{"clientID":"10.0.0.5@4711","consumerDataSet":[{"consumeFromWhere":"CONSUME_FROM_FIRST_OFFSET","consumeType":"CONSUME_PASSIVELY","groupName":"cg1","messageModel":"BROADCASTING","subscriptionDataSet":[{"classFilterMode":false,"codeSet":[2598969],"expressionType":"TAG","subString":"TagA","subVersion":1700000000000,"tagsSet":["TagA"],"topic":"T1"}],"unitMode":false}],"producerDataSet":[]}"#;
        let hb: HeartbeatData = serde_json::from_slice(body).unwrap();
        let c = &hb.consumer_data_set[0];
        assert_eq!(c.message_model, "BROADCASTING");
        assert!(c.subscription_data_set[0].code_set.contains(&2598969));
    }

    #[test]
    fn check_client_body_as_java_sends_it() {
        let body = br#"{"clientId":"127.0.0.1@1","group":"G","subscriptionData":{"classFilterMode":false,"codeSet":[],"expressionType":"SQL92","subString":"a > 1","subVersion":1700000000000,"tagsSet":[],"topic":"T"}}"#;
        let req: CheckClientRequestBody = serde_json::from_slice(body).unwrap();
        let sub = req.subscription_data.unwrap();
        assert_eq!(
            (sub.expression_type.as_str(), sub.sub_string.as_str()),
            ("SQL92", "a > 1")
        );
        let none: CheckClientRequestBody = serde_json::from_slice(br#"{"group":"G"}"#).unwrap();
        assert!(none.subscription_data.is_none());
    }

    #[test]
    fn lock_body_without_only_this_broker() {
        let body = br#"{"clientId":"c1","consumerGroup":"g","mqSet":[{"brokerName":"b","queueId":1,"topic":"T"}]}"#;
        let req: LockBatchRequestBody = serde_json::from_slice(body).unwrap();
        assert_eq!(req.mq_set.len(), 1);
        assert!(!req.only_this_broker);
        let resp = LockBatchResponseBody {
            lock_ok_mq_set: req.mq_set,
        };
        assert_eq!(
            serde_json::to_string(&resp).unwrap(),
            r#"{"lockOKMQSet":[{"brokerName":"b","queueId":1,"topic":"T"}]}"#
        );
    }
}
