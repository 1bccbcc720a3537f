//! Queue locks for orderly consumption (`RebalanceLockManager`): a queue belongs to one
//! client of a group until it unlocks or stops renewing for 60 s.

use std::collections::{BTreeSet, HashMap};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rmqd_remoting::body::client::MessageQueue;

/// `rocketmq.broker.rebalance.lockMaxLiveTime`.
pub const LOCK_MAX_LIVE: Duration = Duration::from_secs(60);

struct Lock {
    client_id: String,
    last_update: Instant,
}

#[derive(Default)]
pub struct QueueLocks {
    groups: Mutex<HashMap<String, HashMap<MessageQueue, Lock>>>,
}

impl QueueLocks {
    /// Lock what can be locked for `client_id`; returns the queues it now holds.
    pub fn try_lock(
        &self,
        group: &str,
        client_id: &str,
        mqs: &BTreeSet<MessageQueue>,
        now: Instant,
    ) -> BTreeSet<MessageQueue> {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        let table = groups.entry(group.to_owned()).or_default();
        let mut ok = BTreeSet::new();
        for mq in mqs {
            let free = match table.get(mq) {
                None => true,
                Some(l) => {
                    l.client_id == client_id
                        || now.saturating_duration_since(l.last_update) > LOCK_MAX_LIVE
                }
            };
            if free {
                table.insert(
                    mq.clone(),
                    Lock {
                        client_id: client_id.to_owned(),
                        last_update: now,
                    },
                );
                ok.insert(mq.clone());
            }
        }
        ok
    }

    pub fn unlock(&self, group: &str, client_id: &str, mqs: &BTreeSet<MessageQueue>) {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(table) = groups.get_mut(group) {
            for mq in mqs {
                if table.get(mq).is_some_and(|l| l.client_id == client_id) {
                    table.remove(mq);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mq(q: i32) -> MessageQueue {
        MessageQueue {
            broker_name: "b".into(),
            queue_id: q,
            topic: "T".into(),
        }
    }

    #[test]
    fn one_owner_until_unlock_or_expiry() {
        let locks = QueueLocks::default();
        let now = Instant::now();
        let all: BTreeSet<_> = [mq(0), mq(1)].into();
        assert_eq!(locks.try_lock("g", "c1", &all, now).len(), 2);
        assert!(locks.try_lock("g", "c2", &all, now).is_empty());
        assert_eq!(locks.try_lock("g", "c1", &all, now).len(), 2, "renewal");
        locks.unlock("g", "c1", &[mq(0)].into());
        assert_eq!(locks.try_lock("g", "c2", &all, now), [mq(0)].into());
        let later = now + LOCK_MAX_LIVE + Duration::from_secs(1);
        assert_eq!(locks.try_lock("g", "c2", &all, later).len(), 2);
        assert_eq!(locks.try_lock("other", "c3", &all, now).len(), 2);
    }
}
