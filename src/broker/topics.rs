//! The broker's topic table and the system topics every Java broker creates at start.

use std::collections::BTreeMap;

use rmqd_remoting::body::topic::{perm, DataVersion, TopicConfig, TopicConfigSerializeWrapper};

use crate::config::BrokerConfig;

/// Template topic clients name when they send to a topic that does not exist yet.
pub const AUTO_CREATE_TOPIC_KEY: &str = "TBW102";
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";
pub const SELF_TEST_TOPIC: &str = "SELF_TEST_TOPIC";
pub const BENCHMARK_TOPIC: &str = "BenchmarkTest";
pub const OFFSET_MOVED_EVENT: &str = "OFFSET_MOVED_EVENT";
/// Number of delay levels, hence queues of the schedule topic, in the default table.
const DELAY_LEVELS: i32 = 18;

pub struct TopicTable {
    topics: BTreeMap<String, TopicConfig>,
    data_version: DataVersion,
}

fn system_topic(name: &str, queues: i32, perm: i32) -> TopicConfig {
    TopicConfig {
        topic_name: name.to_owned(),
        read_queue_nums: queues,
        write_queue_nums: queues,
        perm,
        ..Default::default()
    }
}

impl TopicTable {
    /// The topics a Java 4.9 broker registers on a fresh store, with the same queue counts
    /// and permissions (`TopicConfigManager`).
    pub fn with_system_topics(cfg: &BrokerConfig, now_ms: i64) -> Self {
        let rw = perm::READ | perm::WRITE;
        let mut list = vec![
            system_topic(SELF_TEST_TOPIC, 1, rw),
            system_topic(BENCHMARK_TOPIC, 1024, rw),
            system_topic(OFFSET_MOVED_EVENT, 1, rw),
            system_topic(SCHEDULE_TOPIC, DELAY_LEVELS, rw),
            system_topic(&format!("{}_REPLY_TOPIC", cfg.broker_cluster_name), 1, rw),
        ];
        if cfg.auto_create_topic_enable {
            list.push(system_topic(
                AUTO_CREATE_TOPIC_KEY,
                cfg.default_topic_queue_nums,
                rw | perm::INHERIT,
            ));
        }
        if cfg.cluster_topic_enable {
            list.push(system_topic(
                &cfg.broker_cluster_name,
                16,
                cfg.broker_permission | perm::INHERIT,
            ));
        }
        if cfg.broker_topic_enable {
            list.push(system_topic(
                &cfg.broker_name,
                1,
                cfg.broker_permission | perm::INHERIT,
            ));
        }
        if cfg.trace_topic_enable {
            list.push(system_topic(&cfg.msg_trace_topic_name, 1, rw));
        }
        TopicTable {
            topics: list
                .into_iter()
                .map(|t| (t.topic_name.clone(), t))
                .collect(),
            data_version: DataVersion {
                counter: 0,
                state_version: None,
                timestamp: now_ms,
            },
        }
    }

    /// What a registration carries.
    pub fn snapshot(&self) -> TopicConfigSerializeWrapper {
        TopicConfigSerializeWrapper {
            data_version: self.data_version.clone(),
            topic_config_table: self.topics.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresh_broker_topics_match_java() {
        let cfg = BrokerConfig {
            broker_name: "broker-a".into(),
            ..Default::default()
        };
        let t = TopicTable::with_system_topics(&cfg, 0)
            .snapshot()
            .topic_config_table;
        let tbw = &t[AUTO_CREATE_TOPIC_KEY];
        assert_eq!((tbw.perm, tbw.write_queue_nums), (7, 8));
        assert_eq!(t["DefaultCluster"].perm, 7);
        assert_eq!(t["broker-a"].read_queue_nums, 1);
        assert_eq!(t[SCHEDULE_TOPIC].read_queue_nums, 18);
        assert_eq!(t["DefaultCluster_REPLY_TOPIC"].perm, 6);
        assert_eq!(t.len(), 8);
    }
}
