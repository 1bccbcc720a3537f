//! The admin tools' statistics bodies, in the shapes Java's fastjson writes (properties in
//! alphabetical order, `MessageQueue`-keyed maps with object keys).
//!
//! Bodies with MessageQueue-keyed maps are written by hand through [`super::fastjson`]:
//! serde cannot put an object where a map key goes, and Java tools accept nothing else.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::client::MessageQueue;
use super::fastjson::{self, write_mq_map, write_str, write_value, FastJsonError};

/// `TopicOffset` (GET_TOPIC_STATS_INFO).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicOffset {
    pub last_update_timestamp: i64,
    pub max_offset: i64,
    pub min_offset: i64,
}

/// `TopicStatsTable`: every queue of a topic on this broker.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TopicStatsTable {
    pub offset_table: Vec<(MessageQueue, TopicOffset)>,
}

impl TopicStatsTable {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::from("{\"offsetTable\":");
        write_mq_map(&mut out, self.offset_table.iter().map(|(m, v)| (m, v)));
        out.push('}');
        out.into_bytes()
    }
}

/// `OffsetWrapper` (4.9: no `pullOffset`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct OffsetWrapper {
    pub broker_offset: i64,
    pub consumer_offset: i64,
    pub last_timestamp: i64,
}

/// `ConsumeStats`: a group's progress per queue (GET_CONSUME_STATS).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumeStats {
    pub consume_tps: f64,
    pub offset_table: Vec<(MessageQueue, OffsetWrapper)>,
}

impl ConsumeStats {
    /// `computeTotalDiff`: messages not consumed yet, over all queues.
    pub fn total_diff(&self) -> i64 {
        self.offset_table
            .iter()
            .map(|(_, o)| o.broker_offset - o.consumer_offset)
            .sum()
    }

    pub fn write(&self, out: &mut String) {
        out.push_str("{\"consumeTps\":");
        write_value(out, &self.consume_tps);
        out.push_str(",\"offsetTable\":");
        write_mq_map(out, self.offset_table.iter().map(|(m, v)| (m, v)));
        out.push('}');
    }

    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::new();
        self.write(&mut out);
        out.into_bytes()
    }
}

/// `ConsumeStatsList` (GET_BROKER_CONSUME_STATS): per group, the stats of each topic.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ConsumeStatsList {
    pub broker_addr: String,
    pub consume_stats_list: Vec<(String, Vec<ConsumeStats>)>,
    pub total_diff: i64,
}

impl ConsumeStatsList {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::from("{\"brokerAddr\":");
        write_str(&mut out, &self.broker_addr);
        out.push_str(",\"consumeStatsList\":[");
        for (n, (group, stats)) in self.consume_stats_list.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push('{');
            write_str(&mut out, group);
            out.push_str(":[");
            for (i, s) in stats.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                s.write(&mut out);
            }
            out.push_str("]}");
        }
        out.push_str("],\"totalDiff\":");
        out.push_str(&self.total_diff.to_string());
        out.push('}');
        out.into_bytes()
    }
}

/// `ResetOffsetBody`: the offsets INVOKE_BROKER_TO_RESET_OFFSET computed, also pushed to
/// the consumers in RESET_CONSUMER_CLIENT_OFFSET.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ResetOffsetBody {
    pub offset_table: Vec<(MessageQueue, i64)>,
}

impl ResetOffsetBody {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::from("{\"offsetTable\":");
        write_mq_map(&mut out, self.offset_table.iter().map(|(m, v)| (m, v)));
        out.push('}');
        out.into_bytes()
    }

    pub fn decode(body: &[u8]) -> Result<Self, FastJsonError> {
        let v = fastjson::parse(body)?;
        Ok(ResetOffsetBody {
            offset_table: fastjson::mq_long_map(v.get("offsetTable")),
        })
    }
}

/// `MessageQueueForC`: a queue and its offset, the list form the C++ clients read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct MessageQueueForC {
    pub broker_name: String,
    pub offset: i64,
    pub queue_id: i32,
    pub topic: String,
}

/// `ResetOffsetBodyForC`: what a CPP-language client gets in RESET_CONSUMER_CLIENT_OFFSET.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ResetOffsetBodyForC {
    pub offset_table: Vec<MessageQueueForC>,
}

/// `GetConsumerStatusBody`: a client's answer to GET_CONSUMER_STATUS_FROM_CLIENT
/// (`messageQueueTable`), and the broker's merged answer to
/// INVOKE_BROKER_TO_GET_CONSUMER_STATUS (`consumerTable`, per client id).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GetConsumerStatusBody {
    pub consumer_table: BTreeMap<String, Vec<(MessageQueue, i64)>>,
    pub message_queue_table: Vec<(MessageQueue, i64)>,
}

impl GetConsumerStatusBody {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::from("{\"consumerTable\":{");
        for (n, (client, table)) in self.consumer_table.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            write_str(&mut out, client);
            out.push(':');
            write_mq_map(&mut out, table.iter().map(|(m, v)| (m, v)));
        }
        out.push_str("},\"messageQueueTable\":");
        write_mq_map(
            &mut out,
            self.message_queue_table.iter().map(|(m, v)| (m, v)),
        );
        out.push('}');
        out.into_bytes()
    }

    /// Reads a client's answer; queues it cannot read are skipped, as is a client table
    /// that is not an object.
    pub fn decode(body: &[u8]) -> Result<Self, FastJsonError> {
        let v = fastjson::parse(body)?;
        let consumer_table = v
            .get("consumerTable")
            .and_then(Value::as_object)
            .map(|m| {
                m.iter()
                    .map(|(k, t)| (k.clone(), fastjson::mq_long_map(Some(t))))
                    .collect()
            })
            .unwrap_or_default();
        Ok(GetConsumerStatusBody {
            consumer_table,
            message_queue_table: fastjson::mq_long_map(v.get("messageQueueTable")),
        })
    }
}

/// `QueueTimeSpan` (QUERY_CONSUME_TIME_SPAN), with the three formatted times its getters
/// add (`yyyy-MM-dd#HH:mm:ss:SSS`).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct QueueTimeSpan {
    pub consume_time_stamp: i64,
    pub consume_time_stamp_str: String,
    pub delay_time: i64,
    pub max_time_stamp: i64,
    pub max_time_stamp_str: String,
    pub message_queue: MessageQueue,
    pub min_time_stamp: i64,
    pub min_time_stamp_str: String,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct QueryConsumeTimeSpanBody {
    pub consume_time_span_set: Vec<QueueTimeSpan>,
}

/// `GroupList` (QUERY_TOPIC_CONSUME_BY_WHO).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct GroupList {
    pub group_list: Vec<String>,
}

/// `Connection`: one client channel of a group.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct Connection {
    pub client_addr: String,
    pub client_id: String,
    pub language: String,
    pub version: i32,
}

/// `ProducerConnection` (GET_PRODUCER_CONNECTION_LIST).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProducerConnection {
    pub connection_set: Vec<Connection>,
}

/// `ProducerInfo` of `ProducerTableInfo` (GET_ALL_PRODUCER_INFO).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ProducerInfo {
    pub client_id: String,
    pub language: String,
    pub last_update_timestamp: i64,
    #[serde(rename = "remoteIP")]
    pub remote_ip: String,
    pub version: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct ProducerTableInfo {
    pub data: BTreeMap<String, Vec<ProducerInfo>>,
}

/// `BrokerStatsItem`: one window of a statistic (VIEW_BROKER_STATS_DATA).
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct BrokerStatsItem {
    pub avgpt: f64,
    pub sum: i64,
    pub tps: f64,
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BrokerStatsData {
    pub stats_day: BrokerStatsItem,
    pub stats_hour: BrokerStatsItem,
    pub stats_minute: BrokerStatsItem,
}

/// `QueryCorrectionOffsetBody`: queue id → offset, the ids written bare as fastjson does.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct QueryCorrectionOffsetBody {
    pub correction_offsets: BTreeMap<i32, i64>,
}

impl QueryCorrectionOffsetBody {
    pub fn encode(&self) -> Vec<u8> {
        let mut out = String::from("{\"correctionOffsets\":{");
        for (n, (q, o)) in self.correction_offsets.iter().enumerate() {
            if n > 0 {
                out.push(',');
            }
            out.push_str(&format!("{q}:{o}"));
        }
        out.push_str("}}");
        out.into_bytes()
    }
}

/// `ConsumeQueueData`: one consume-queue unit (QUERY_CONSUME_QUEUE).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ConsumeQueueData {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bit_map: Option<String>,
    pub eval: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub extend_data_json: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub msg: Option<String>,
    pub physic_offset: i64,
    pub physic_size: i32,
    pub tags_code: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct QueryConsumeQueueResponseBody {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub filter_data: Option<String>,
    pub max_queue_index: i64,
    pub min_queue_index: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub queue_data: Option<Vec<ConsumeQueueData>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub subscription_data: Option<super::client::SubscriptionData>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mq(q: i32) -> MessageQueue {
        MessageQueue {
            broker_name: "broker-a".into(),
            queue_id: q,
            topic: "AdmTopic".into(),
        }
    }

    #[test]
    fn consume_stats_as_the_java_broker_writes_it() {
        let s = ConsumeStats {
            consume_tps: 0.0,
            offset_table: vec![(
                mq(2),
                OffsetWrapper {
                    broker_offset: 25,
                    consumer_offset: 12,
                    last_timestamp: 1796310245923,
                },
            )],
        };
        assert_eq!(
            String::from_utf8(s.encode()).unwrap(),
            r#"{"consumeTps":0.0,"offsetTable":{{"brokerName":"broker-a","queueId":2,"topic":"AdmTopic"}:{"brokerOffset":25,"consumerOffset":12,"lastTimestamp":1796310245923}}}"#
        );
        assert_eq!(s.total_diff(), 13);
    }

    #[test]
    fn stats_list_and_correction_offsets() {
        let l = ConsumeStatsList {
            broker_addr: "127.0.0.1:10911".into(),
            consume_stats_list: vec![("G".into(), vec![]), ("H".into(), vec![])],
            total_diff: 0,
        };
        assert_eq!(
            String::from_utf8(l.encode()).unwrap(),
            r#"{"brokerAddr":"127.0.0.1:10911","consumeStatsList":[{"G":[]},{"H":[]}],"totalDiff":0}"#
        );
        let c = QueryCorrectionOffsetBody {
            correction_offsets: BTreeMap::from([(0, 3), (1, i64::MAX)]),
        };
        assert_eq!(
            String::from_utf8(c.encode()).unwrap(),
            r#"{"correctionOffsets":{0:3,1:9223372036854775807}}"#
        );
    }

    #[test]
    fn consumer_status_round_trips() {
        let b = GetConsumerStatusBody {
            consumer_table: BTreeMap::from([("c1".into(), vec![(mq(0), 4)])]),
            message_queue_table: vec![(mq(1), 7)],
        };
        assert_eq!(GetConsumerStatusBody::decode(&b.encode()).unwrap(), b);
        let r = ResetOffsetBody {
            offset_table: vec![(mq(3), 11)],
        };
        assert_eq!(ResetOffsetBody::decode(&r.encode()).unwrap(), r);
        let stats = BrokerStatsData::default();
        assert_eq!(
            serde_json::to_string(&stats).unwrap(),
            r#"{"statsDay":{"avgpt":0.0,"sum":0,"tps":0.0},"statsHour":{"avgpt":0.0,"sum":0,"tps":0.0},"statsMinute":{"avgpt":0.0,"sum":0,"tps":0.0}}"#
        );
    }
}
