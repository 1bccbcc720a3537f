//! `TopicRouteData`, the answer to GET_ROUTEINFO_BY_TOPIC.
//!
//! Broker ids are written as quoted keys (`{"0":"host:port"}`), the strict JSON a 4.9.4+
//! name server sends. fastjson reads them fine, and so do the C++, Go and Node clients,
//! which would otherwise have to repair the unquoted form.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct QueueData {
    pub broker_name: String,
    pub perm: i32,
    pub read_queue_nums: i32,
    pub topic_sys_flag: i32,
    pub write_queue_nums: i32,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct BrokerData {
    /// Broker id → address; id 0 is the master.
    pub broker_addrs: BTreeMap<i64, String>,
    pub broker_name: String,
    pub cluster: String,
    /// A 5.x field. A 4.9 name server omits it; rmqd sends it (false) because clients
    /// built on the 5.x protocol model (rocketmq-client-rust 1.0) refuse route data
    /// without it, and 4.x clients ignore unknown fields.
    pub enable_acting_master: bool,
}

#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct TopicRouteData {
    pub broker_datas: Vec<BrokerData>,
    pub filter_server_table: BTreeMap<String, Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub order_topic_conf: Option<String>,
    pub queue_datas: Vec<QueueData>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_the_java_name_server_bytes() {
        // As sent by the 4.9.8 name server in the wire fixtures.
        let java = r#"{"brokerDatas":[{"brokerAddrs":{"0":"127.0.0.1:10911"},"brokerName":"broker-a","cluster":"DefaultCluster"}],"filterServerTable":{},"queueDatas":[{"brokerName":"broker-a","perm":7,"readQueueNums":8,"topicSysFlag":0,"writeQueueNums":8}]}"#;
        let route: TopicRouteData = serde_json::from_str(java).unwrap();
        assert_eq!(route.broker_datas[0].broker_addrs[&0], "127.0.0.1:10911");
        // Byte for byte the Java name server's answer, plus the 5.x flag.
        let ours = serde_json::to_string(&route).unwrap();
        assert_eq!(
            ours,
            java.replace(
                r#""cluster":"DefaultCluster"}"#,
                r#""cluster":"DefaultCluster","enableActingMaster":false}"#
            )
        );
    }
}
