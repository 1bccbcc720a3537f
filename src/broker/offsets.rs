//! Consumer offsets (`ConsumerOffsetManager`): the next message each group will consume
//! per queue, keyed `topic@group` as in `config/consumerOffset.json`.

use std::collections::{BTreeMap, HashMap};
use std::sync::Mutex;

pub const TOPIC_GROUP_SEPARATOR: char = '@';

#[derive(Default)]
pub struct ConsumerOffsets {
    table: Mutex<HashMap<String, BTreeMap<i32, i64>>>,
}

fn key(topic: &str, group: &str) -> String {
    format!("{topic}{TOPIC_GROUP_SEPARATOR}{group}")
}

impl ConsumerOffsets {
    pub fn from_table(table: BTreeMap<String, BTreeMap<i32, i64>>) -> Self {
        ConsumerOffsets {
            table: Mutex::new(table.into_iter().collect()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, BTreeMap<i32, i64>>> {
        self.table.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn commit(&self, group: &str, topic: &str, queue_id: i32, offset: i64) {
        let mut t = self.lock();
        let k = key(topic, group);
        match t.get_mut(&k) {
            Some(q) => {
                q.insert(queue_id, offset);
            }
            None => {
                t.insert(k, BTreeMap::from([(queue_id, offset)]));
            }
        }
    }

    pub fn query(&self, group: &str, topic: &str, queue_id: i32) -> Option<i64> {
        self.lock().get(&key(topic, group))?.get(&queue_id).copied()
    }

    /// Every stored offset, for persisting.
    pub fn snapshot(&self) -> BTreeMap<String, BTreeMap<i32, i64>> {
        self.lock()
            .iter()
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect()
    }

    /// A slave's copy of its master's offsets (`syncConsumerOffset`): every entry the
    /// master has replaces ours; entries only the slave has stay.
    pub fn put_all(&self, table: BTreeMap<String, BTreeMap<i32, i64>>) {
        self.lock().extend(table);
    }

    pub fn forget_topic(&self, topic: &str) {
        self.lock().retain(|k, _| {
            k.split_once(TOPIC_GROUP_SEPARATOR)
                .is_none_or(|(t, _)| t != topic)
        });
    }
}

/// Lookups for the admin codes.
impl ConsumerOffsets {
    /// Topics `group` has offsets for (`whichTopicByConsumer`).
    pub fn topics_of_group(&self, group: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .lock()
            .keys()
            .filter_map(|k| k.split_once(TOPIC_GROUP_SEPARATOR))
            .filter(|(_, g)| *g == group)
            .map(|(t, _)| t.to_owned())
            .collect();
        v.sort();
        v
    }

    /// Groups with offsets for `topic` (`whichGroupByTopic`).
    pub fn groups_of_topic(&self, topic: &str) -> Vec<String> {
        let mut v: Vec<String> = self
            .lock()
            .keys()
            .filter_map(|k| k.split_once(TOPIC_GROUP_SEPARATOR))
            .filter(|(t, _)| *t == topic)
            .map(|(_, g)| g.to_owned())
            .collect();
        v.sort();
        v
    }

    /// Every queue offset `group` has for `topic`.
    pub fn queue_offsets(&self, group: &str, topic: &str) -> Option<BTreeMap<i32, i64>> {
        self.lock().get(&key(topic, group)).cloned()
    }

    /// Every group's offsets for `topic` but those of `skip`.
    pub fn offsets_of_topic(&self, topic: &str, skip: &[&str]) -> Vec<BTreeMap<i32, i64>> {
        self.lock()
            .iter()
            .filter_map(|(k, v)| {
                let (t, g) = k.split_once(TOPIC_GROUP_SEPARATOR)?;
                (t == topic && !skip.contains(&g)).then(|| v.clone())
            })
            .collect()
    }

    /// `cloneOffset`: `dest` gets a copy of `src`'s offsets for `topic`.
    pub fn clone_offsets(&self, src: &str, dest: &str, topic: &str) {
        let mut t = self.lock();
        if let Some(o) = t.get(&key(topic, src)).cloned() {
            t.insert(key(topic, dest), o);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commit_and_query() {
        let o = ConsumerOffsets::default();
        assert_eq!(o.query("g", "T", 0), None);
        o.commit("g", "T", 0, 10);
        o.commit("g", "T", 1, 25);
        o.commit("g", "T", 0, 11);
        assert_eq!(o.query("g", "T", 0), Some(11));
        assert_eq!(o.snapshot()["T@g"].len(), 2);
        o.forget_topic("T");
        assert_eq!(o.query("g", "T", 1), None);
    }
}
