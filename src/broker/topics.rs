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

    pub fn get(&self, topic: &str) -> Option<&TopicConfig> {
        self.topics.get(topic)
    }

    pub fn names(&self) -> impl Iterator<Item = &String> {
        self.topics.keys()
    }

    /// Add topics loaded from `topics.json`, keeping the loaded data version.
    pub fn merge_loaded(
        &mut self,
        loaded: BTreeMap<String, TopicConfig>,
        version: Option<DataVersion>,
    ) {
        self.topics.extend(loaded);
        if let Some(v) = version {
            self.data_version = v;
        }
    }

    fn bump(&mut self, now_ms: i64) {
        self.data_version.counter += 1;
        self.data_version.timestamp = now_ms;
    }

    /// A new data version with no topic changed: name servers take the next registration
    /// in full (the broker's permission changed).
    pub fn next_version(&mut self, now_ms: i64) {
        self.bump(now_ms);
    }

    pub fn put(&mut self, tc: TopicConfig, now_ms: i64) {
        self.topics.insert(tc.topic_name.clone(), tc);
        self.bump(now_ms);
    }

    pub fn remove(&mut self, topic: &str, now_ms: i64) -> Option<TopicConfig> {
        let removed = self.topics.remove(topic);
        if removed.is_some() {
            self.bump(now_ms);
        }
        removed
    }

    /// Auto-create on send (`createTopicInSendMessageMethod`): only when the template topic
    /// exists and carries PERM_INHERIT. Returns the new config, or `None`.
    pub fn create_on_send(
        &mut self,
        topic: &str,
        template: &str,
        client_queue_nums: i32,
        topic_sys_flag: i32,
        now_ms: i64,
    ) -> Option<TopicConfig> {
        if let Some(tc) = self.topics.get(topic) {
            return Some(tc.clone());
        }
        let tpl = self.topics.get(template)?;
        if tpl.perm & perm::INHERIT == 0 {
            tracing::warn!(
                topic,
                template,
                "template topic has no inherit permission; not auto-creating"
            );
            return None;
        }
        let queues = client_queue_nums.min(tpl.write_queue_nums).max(1);
        let tc = TopicConfig {
            topic_name: topic.to_owned(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm: tpl.perm & !perm::INHERIT,
            topic_filter_type: tpl.topic_filter_type.clone(),
            topic_sys_flag,
            ..Default::default()
        };
        tracing::info!(topic, queues, "auto-created topic on send");
        self.put(tc.clone(), now_ms);
        Some(tc)
    }

    /// Retry, DLQ and system topics created by the broker itself
    /// (`createTopicInSendMessageBackMethod`). Returns the config and whether it is new.
    pub fn create_system(
        &mut self,
        topic: &str,
        queues: i32,
        perm: i32,
        topic_sys_flag: i32,
        now_ms: i64,
    ) -> (TopicConfig, bool) {
        if let Some(tc) = self.topics.get(topic) {
            return (tc.clone(), false);
        }
        let tc = TopicConfig {
            topic_name: topic.to_owned(),
            read_queue_nums: queues,
            write_queue_nums: queues,
            perm,
            topic_sys_flag,
            ..Default::default()
        };
        self.put(tc.clone(), now_ms);
        (tc, true)
    }

    /// A slave's copy of its master's table (`SlaveSynchronize.syncTopicConfig`): taken
    /// whole, with the master's data version, only when that version differs from ours.
    /// Returns whether it was taken.
    pub fn replace_from_master(&mut self, master: TopicConfigSerializeWrapper) -> bool {
        if master.data_version == self.data_version {
            return false;
        }
        self.data_version = master.data_version;
        self.topics = master.topic_config_table;
        true
    }

    /// What a registration carries.
    pub fn snapshot(&self) -> TopicConfigSerializeWrapper {
        TopicConfigSerializeWrapper {
            data_version: self.data_version.clone(),
            topic_config_table: self.topics.clone(),
        }
    }
}

/// `TopicValidator.validateTopic` (4.x rules) plus the cluster-name clash check.
pub fn validate_topic(topic: &str, cluster: &str) -> Result<(), super::context::Refusal> {
    use super::context::Refusal;
    if topic.trim().is_empty() {
        return Err(Refusal::system("The specified topic is blank."));
    }
    if !topic
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'%' | b'|' | b'_' | b'-'))
    {
        return Err(Refusal::system(
            "The specified topic contains illegal characters, allowing only ^[%|a-zA-Z0-9_-]+$",
        ));
    }
    if topic.len() > 127 {
        return Err(Refusal::system(
            "The specified topic is longer than topic max length.",
        ));
    }
    if topic == cluster {
        return Err(Refusal::system(format!(
            "The specified topic is conflict with brokerClusterName {cluster}."
        )));
    }
    Ok(())
}

/// Topics clients may not send to directly (`TopicValidator.NOT_ALLOWED_SEND_TOPIC_SET`).
pub fn send_forbidden(topic: &str) -> bool {
    matches!(
        topic,
        SCHEDULE_TOPIC
            | "RMQ_SYS_TRANS_HALF_TOPIC"
            | "RMQ_SYS_TRANS_OP_HALF_TOPIC"
            | TRANS_CHECK_MAX_TIME_TOPIC
            | SELF_TEST_TOPIC
            | OFFSET_MOVED_EVENT
    )
}

const TRANS_CHECK_MAX_TIME_TOPIC: &str = "TRANS_CHECK_MAX_TIME_TOPIC";

pub fn is_system_topic(topic: &str) -> bool {
    matches!(
        topic,
        AUTO_CREATE_TOPIC_KEY
            | SCHEDULE_TOPIC
            | SELF_TEST_TOPIC
            | BENCHMARK_TOPIC
            | OFFSET_MOVED_EVENT
            | "RMQ_SYS_TRANS_HALF_TOPIC"
            | "RMQ_SYS_TRANS_OP_HALF_TOPIC"
            | "RMQ_SYS_TRACE_TOPIC"
            | TRANS_CHECK_MAX_TIME_TOPIC
    ) || topic.starts_with("rmq_sys_")
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

    #[test]
    fn auto_create_follows_the_template() {
        let cfg = BrokerConfig::default();
        let mut t = TopicTable::with_system_topics(&cfg, 0);
        let tc = t
            .create_on_send("New", AUTO_CREATE_TOPIC_KEY, 4, 0, 1)
            .unwrap();
        assert_eq!(
            (tc.perm, tc.write_queue_nums, tc.read_queue_nums),
            (6, 4, 4)
        );
        // A template without inherit (a normal topic) cannot spawn topics.
        assert!(t.create_on_send("Other", "New", 4, 0, 1).is_none());
        assert_eq!(t.snapshot().data_version.counter, 1);
        let (r, fresh) = t.create_system("%RETRY%g", 1, 6, 0, 2);
        assert!(fresh && r.perm == 6);
        assert!(!t.create_system("%RETRY%g", 1, 6, 0, 2).1);
    }
}
