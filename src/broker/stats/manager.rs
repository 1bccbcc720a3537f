//! The broker's statistics by topic, queue and group (Java's `BrokerStatsManager`), under
//! the names and keys VIEW_BROKER_STATS_DATA and rocketmq-exporter ask for.
//!
//! The send path bumps a topic's counters through a handle looked up once per request in a
//! sharded map: no lock is shared by all senders, and nothing is allocated once a topic
//! has been seen.

use std::sync::{Arc, OnceLock, RwLock};

use dashmap::DashMap;

use super::item::{StatsItem, Window};

/// Stats names (Java's `Stats` constants).
pub mod names {
    pub const TOPIC_PUT_NUMS: &str = "TOPIC_PUT_NUMS";
    pub const TOPIC_PUT_SIZE: &str = "TOPIC_PUT_SIZE";
    pub const QUEUE_PUT_NUMS: &str = "QUEUE_PUT_NUMS";
    pub const QUEUE_PUT_SIZE: &str = "QUEUE_PUT_SIZE";
    pub const GROUP_GET_NUMS: &str = "GROUP_GET_NUMS";
    pub const GROUP_GET_SIZE: &str = "GROUP_GET_SIZE";
    pub const SNDBCK_PUT_NUMS: &str = "SNDBCK_PUT_NUMS";
    pub const BROKER_PUT_NUMS: &str = "BROKER_PUT_NUMS";
    pub const BROKER_GET_NUMS: &str = "BROKER_GET_NUMS";
}

/// A count and a size kept side by side (messages and their bytes).
#[derive(Default)]
pub struct NumsAndSize {
    pub nums: StatsItem,
    pub size: StatsItem,
}

impl NumsAndSize {
    fn sample(&self, w: Window, now: i64) {
        self.nums.sample(w, now);
        self.size.sample(w, now);
    }
}

/// A topic's put statistics and its queues'.
#[derive(Default)]
pub struct TopicStats {
    pub put: NumsAndSize,
    queues: RwLock<Vec<Option<Arc<NumsAndSize>>>>,
}

/// More queues than any topic is allowed; keeps a hostile queue id from growing the table.
const MAX_QUEUE_STATS: usize = 65_536;

impl TopicStats {
    /// `messages` stored in `queue_id` with `bytes` written, as one put.
    pub fn record_put(&self, queue_id: i32, messages: u64, bytes: u64) {
        self.put.nums.add(messages, 1);
        self.put.size.add(bytes, 1);
        if let Some(q) = self.queue_or_create(queue_id) {
            q.nums.add(messages, 1);
            q.size.add(bytes, 1);
        }
    }

    pub fn queue(&self, queue_id: i32) -> Option<Arc<NumsAndSize>> {
        let i = usize::try_from(queue_id).ok()?;
        self.queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(i)?
            .clone()
    }

    fn queue_or_create(&self, queue_id: i32) -> Option<Arc<NumsAndSize>> {
        if let Some(q) = self.queue(queue_id) {
            return Some(q);
        }
        let i = usize::try_from(queue_id)
            .ok()
            .filter(|&i| i < MAX_QUEUE_STATS)?;
        let mut qs = self.queues.write().unwrap_or_else(|e| e.into_inner());
        if qs.len() <= i {
            qs.resize(i + 1, None);
        }
        Some(qs.get_mut(i)?.get_or_insert_with(Default::default).clone())
    }

    fn sample(&self, w: Window, now: i64) {
        self.put.sample(w, now);
        let qs: Vec<Arc<NumsAndSize>> = self
            .queues
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .flatten()
            .cloned()
            .collect();
        for q in qs {
            q.sample(w, now);
        }
    }
}

/// A stats item found by Java name and key.
pub struct ItemRef {
    holder: ItemHolder,
}

enum ItemHolder {
    Nums(Arc<NumsAndSize>),
    Size(Arc<NumsAndSize>),
    Topic(Arc<TopicStats>, bool),
    Item(Arc<StatsItem>),
    Broker(&'static str),
}

pub struct BrokerStatsManager {
    cluster: String,
    topics: DashMap<String, Arc<TopicStats>>,
    /// Keyed `topic@group`, as Java keys them.
    groups: DashMap<String, Arc<NumsAndSize>>,
    /// Keyed `topic@group`.
    send_back: DashMap<String, Arc<StatsItem>>,
    broker_put: OnceLock<Arc<StatsItem>>,
    broker_get: OnceLock<Arc<StatsItem>>,
}

impl BrokerStatsManager {
    pub fn new(cluster: &str) -> Self {
        BrokerStatsManager {
            cluster: cluster.to_owned(),
            topics: DashMap::new(),
            groups: DashMap::new(),
            send_back: DashMap::new(),
            broker_put: OnceLock::new(),
            broker_get: OnceLock::new(),
        }
    }

    /// The topic's handle, created on first use.
    pub fn topic(&self, topic: &str) -> Arc<TopicStats> {
        if let Some(t) = self.topics.get(topic) {
            return t.clone();
        }
        self.topics.entry(topic.to_owned()).or_default().clone()
    }

    /// A put of `messages` to `topic`/`queue_id` (`incTopicPutNums`, `incTopicPutSize`,
    /// `incQueuePut*`, `incBrokerPutNums`).
    pub fn record_put(&self, topic: &TopicStats, queue_id: i32, messages: u64, bytes: u64) {
        topic.record_put(queue_id, messages, bytes);
        self.broker_put().add(messages, 0);
    }

    /// A pull that returned `messages` (`incGroupGetNums`, `incGroupGetSize`,
    /// `incBrokerGetNums`).
    pub fn record_get(&self, group: &str, topic: &str, messages: u64, bytes: u64) {
        let key = format!("{topic}@{group}");
        let g = match self.groups.get(&key) {
            Some(g) => g.clone(),
            None => self.groups.entry(key).or_default().clone(),
        };
        g.nums.add(messages, 1);
        g.size.add(bytes, 1);
        self.broker_get().add(messages, 0);
    }

    /// A message handed back by a consumer (`incSendBackNums`).
    pub fn record_send_back(&self, group: &str, topic: &str) {
        let key = format!("{topic}@{group}");
        let item = match self.send_back.get(&key) {
            Some(i) => i.clone(),
            None => self.send_back.entry(key).or_default().clone(),
        };
        item.add(1, 1);
    }

    fn broker_put(&self) -> &StatsItem {
        self.broker_put.get_or_init(Default::default)
    }

    fn broker_get(&self) -> &StatsItem {
        self.broker_get.get_or_init(Default::default)
    }

    /// `tpsGroupGetNums`: messages per second the group pulled from the topic, last minute.
    pub fn group_get_tps(&self, group: &str, topic: &str) -> f64 {
        self.groups
            .get(&format!("{topic}@{group}"))
            .map(|g| g.nums.snapshot(Window::Minute).tps)
            .unwrap_or(0.0)
    }

    /// The item Java would find under `name`/`key`; `None` where Java's would not exist.
    pub fn find(&self, name: &str, key: &str) -> Option<ItemRef> {
        let holder = match name {
            names::TOPIC_PUT_NUMS => ItemHolder::Topic(self.topics.get(key)?.clone(), false),
            names::TOPIC_PUT_SIZE => ItemHolder::Topic(self.topics.get(key)?.clone(), true),
            names::QUEUE_PUT_NUMS | names::QUEUE_PUT_SIZE => {
                let (topic, q) = key.rsplit_once('@')?;
                let q = self.topics.get(topic)?.queue(q.parse().ok()?)?;
                if name == names::QUEUE_PUT_NUMS {
                    ItemHolder::Nums(q)
                } else {
                    ItemHolder::Size(q)
                }
            }
            names::GROUP_GET_NUMS => ItemHolder::Nums(self.groups.get(key)?.clone()),
            names::GROUP_GET_SIZE => ItemHolder::Size(self.groups.get(key)?.clone()),
            names::SNDBCK_PUT_NUMS => ItemHolder::Item(self.send_back.get(key)?.clone()),
            names::BROKER_PUT_NUMS if key == self.cluster => {
                self.broker_put.get()?;
                ItemHolder::Broker(names::BROKER_PUT_NUMS)
            }
            names::BROKER_GET_NUMS if key == self.cluster => {
                self.broker_get.get()?;
                ItemHolder::Broker(names::BROKER_GET_NUMS)
            }
            _ => return None,
        };
        Some(ItemRef { holder })
    }

    /// Runs `f` on the item behind `r`.
    pub fn with_item<R>(&self, r: &ItemRef, f: impl FnOnce(&StatsItem) -> R) -> Option<R> {
        Some(match &r.holder {
            ItemHolder::Nums(n) => f(&n.nums),
            ItemHolder::Size(n) => f(&n.size),
            ItemHolder::Topic(t, size) => f(if *size { &t.put.size } else { &t.put.nums }),
            ItemHolder::Item(i) => f(i),
            ItemHolder::Broker(n) if *n == names::BROKER_PUT_NUMS => f(self.broker_put.get()?),
            ItemHolder::Broker(_) => f(self.broker_get.get()?),
        })
    }

    /// Every topic with put statistics.
    pub fn topics(&self) -> Vec<(String, Arc<TopicStats>)> {
        let mut v: Vec<_> = self
            .topics
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Every `topic@group` with get statistics.
    pub fn groups(&self) -> Vec<(String, Arc<NumsAndSize>)> {
        let mut v: Vec<_> = self
            .groups
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Every `topic@group` with send-back statistics.
    pub fn send_backs(&self) -> Vec<(String, Arc<StatsItem>)> {
        let mut v: Vec<_> = self
            .send_back
            .iter()
            .map(|e| (e.key().clone(), e.value().clone()))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Broker-wide put and get rates over the last minute.
    pub fn broker_tps(&self) -> (f64, f64) {
        let tps =
            |i: &OnceLock<Arc<StatsItem>>| i.get().map_or(0.0, |i| i.snapshot(Window::Minute).tps);
        (tps(&self.broker_put), tps(&self.broker_get))
    }

    /// Samples every item for window `w`.
    pub fn sample(&self, w: Window, now: i64) {
        for t in self.topics.iter() {
            t.value().sample(w, now);
        }
        let groups: Vec<Arc<NumsAndSize>> = self.groups.iter().map(|e| e.value().clone()).collect();
        for g in groups {
            g.sample(w, now);
        }
        let backs: Vec<Arc<StatsItem>> = self.send_back.iter().map(|e| e.value().clone()).collect();
        for b in backs {
            b.sample(w, now);
        }
        for i in [&self.broker_put, &self.broker_get] {
            if let Some(i) = i.get() {
                i.sample(w, now);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn found_under_java_names_and_keys() {
        let m = BrokerStatsManager::new("DefaultCluster");
        assert!(m.find(names::BROKER_PUT_NUMS, "DefaultCluster").is_none());
        let t = m.topic("T");
        m.record_put(&t, 2, 3, 300);
        m.record_get("G", "T", 2, 200);
        m.record_send_back("G", "T");
        m.sample(Window::Minute, 10_000);
        let tps = |name: &str, key: &str| {
            let r = m.find(name, key).unwrap_or_else(|| panic!("{name} {key}"));
            m.with_item(&r, |i| i.snapshot(Window::Minute).sum).unwrap()
        };
        assert_eq!(tps(names::TOPIC_PUT_NUMS, "T"), 3);
        assert_eq!(tps(names::TOPIC_PUT_SIZE, "T"), 300);
        assert_eq!(tps(names::QUEUE_PUT_NUMS, "T@2"), 3);
        assert_eq!(tps(names::GROUP_GET_NUMS, "T@G"), 2);
        assert_eq!(tps(names::GROUP_GET_SIZE, "T@G"), 200);
        assert_eq!(tps(names::SNDBCK_PUT_NUMS, "T@G"), 1);
        assert_eq!(tps(names::BROKER_PUT_NUMS, "DefaultCluster"), 3);
        assert_eq!(tps(names::BROKER_GET_NUMS, "DefaultCluster"), 2);
        assert!(m.find(names::TOPIC_PUT_NUMS, "U").is_none());
        assert!(m.find(names::QUEUE_PUT_NUMS, "T@1").is_none());
        assert!(m.find(names::BROKER_PUT_NUMS, "Other").is_none());
        assert!(m.find("NO_SUCH", "T").is_none());
        // A hostile queue id does not grow the table.
        m.record_put(&t, i32::MAX, 1, 1);
        assert!(t.queue(i32::MAX).is_none());
        assert!((m.group_get_tps("G", "T") - 0.2).abs() < 1e-9);
    }
}
