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
