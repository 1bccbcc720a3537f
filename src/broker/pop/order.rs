//! FIFO pops (`ConsumerOrderInfoManager`): a queue handed out in order stays blocked until
//! every message of its batch is acknowledged or its invisible time passes; then the same
//! messages are handed out again, counted as another attempt. Progress is the group's
//! consumer offset, moved as the batch's head is acknowledged.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

#[derive(Debug, Default, Clone)]
struct OrderInfo {
    pop_time: i64,
    invisible_time: i64,
    attempt_id: Option<String>,
    /// Queue offsets of the batch handed out last, in order.
    offsets: Vec<i64>,
    /// How many times each offset was handed out before this batch.
    counts: HashMap<i64, i32>,
    /// Per-offset visibility set by CHANGE_MESSAGE_INVISIBLETIME.
    next_visible: HashMap<i64, i64>,
    acked: HashSet<i64>,
}

impl OrderInfo {
    fn visible_at(&self, offset: i64) -> i64 {
        self.next_visible
            .get(&offset)
            .copied()
            .unwrap_or(self.pop_time.saturating_add(self.invisible_time))
    }

    fn next_offset(&self) -> Option<i64> {
        let first_unacked = self.offsets.iter().find(|o| !self.acked.contains(o));
        match first_unacked {
            Some(o) => Some(*o),
            None => self.offsets.last().map(|o| o + 1),
        }
    }
}

#[derive(Default)]
pub struct OrderInfos {
    map: Mutex<HashMap<String, OrderInfo>>,
}

pub fn key(topic: &str, group: &str, queue_id: i32) -> String {
    format!("{topic}@{group}@{queue_id}")
}

/// What an orderly ack changed.
#[derive(Debug, PartialEq, Eq)]
pub enum OrderAck {
    /// The consumer offset moves here.
    Advance(i64),
    /// Acknowledged, but an earlier message of the batch is still out.
    Held,
    /// No batch holds this offset (already acknowledged, or from before a restart).
    Unknown,
}

impl OrderInfos {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, OrderInfo>> {
        self.map.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// `checkBlock`: an unacknowledged message of the last batch is still invisible. A
    /// retry of the same attempt is let through to get the same messages.
    pub fn blocked(&self, key: &str, attempt_id: Option<&str>, now: i64) -> bool {
        let map = self.lock();
        let Some(info) = map.get(key) else {
            return false;
        };
        if attempt_id.is_some() && info.attempt_id.as_deref() == attempt_id {
            return false;
        }
        info.offsets
            .iter()
            .any(|o| !info.acked.contains(o) && info.visible_at(*o) > now)
    }

    /// Records a batch handed out and returns each message's earlier attempts.
    pub fn update(
        &self,
        key: &str,
        attempt_id: Option<&str>,
        pop_time: i64,
        invisible_time: i64,
        offsets: &[i64],
    ) -> Vec<i32> {
        let mut map = self.lock();
        let prev = map.remove(key).unwrap_or_default();
        let mut counts = HashMap::new();
        let out = offsets
            .iter()
            .map(|o| {
                let before = if prev.offsets.contains(o) && !prev.acked.contains(o) {
                    prev.counts.get(o).copied().unwrap_or(0) + 1
                } else {
                    0
                };
                counts.insert(*o, before);
                before
            })
            .collect();
        map.insert(
            key.to_string(),
            OrderInfo {
                pop_time,
                invisible_time,
                attempt_id: attempt_id.map(str::to_string),
                offsets: offsets.to_vec(),
                counts,
                next_visible: HashMap::new(),
                acked: HashSet::new(),
            },
        );
        out
    }

    /// `commitAndNext`. `commit` moves the group's offset when the head advances; it runs
    /// under the lock that [`OrderInfos::blocked`] takes, so a pop that finds the queue
    /// unblocked also finds the offset moved. (Committing after the lock was released
    /// let a concurrent pop hand the batch's last message out a second time.)
    pub fn ack(&self, key: &str, offset: i64, pop_time: i64, commit: impl FnOnce(i64)) -> OrderAck {
        let mut map = self.lock();
        let Some(info) = map.get_mut(key) else {
            return OrderAck::Unknown;
        };
        if info.pop_time != pop_time || !info.offsets.contains(&offset) {
            return OrderAck::Unknown;
        }
        let before = info.next_offset();
        info.acked.insert(offset);
        let after = info.next_offset();
        let done = info.offsets.iter().all(|o| info.acked.contains(o));
        if done {
            map.remove(key);
        }
        match after {
            Some(n) if Some(n) != before || done => {
                commit(n);
                OrderAck::Advance(n)
            }
            _ => OrderAck::Held,
        }
    }

    /// `updateNextVisibleTime`; false when the batch is gone.
    pub fn change_invisible(
        &self,
        key: &str,
        offset: i64,
        pop_time: i64,
        next_visible: i64,
    ) -> bool {
        let mut map = self.lock();
        match map.get_mut(key) {
            Some(info) if info.pop_time == pop_time && info.offsets.contains(&offset) => {
                info.next_visible.insert(offset, next_visible);
                true
            }
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_blocks_until_acked_or_expired_and_counts_attempts() {
        let o = OrderInfos::default();
        let k = key("T", "g", 0);
        assert!(!o.blocked(&k, None, 0));
        assert_eq!(o.update(&k, None, 1000, 100, &[5, 6, 7]), vec![0, 0, 0]);
        assert!(o.blocked(&k, None, 1050));
        assert!(!o.blocked(&k, None, 1100));
        assert_eq!(o.ack(&k, 6, 1000, |_| {}), OrderAck::Held);
        assert_eq!(o.ack(&k, 5, 1000, |_| {}), OrderAck::Advance(7));
        // Expired: 7 comes again, now on its second attempt.
        assert_eq!(o.update(&k, None, 2000, 100, &[7, 8]), vec![1, 0]);
        assert!(o.change_invisible(&k, 7, 2000, 5000));
        assert!(o.blocked(&k, None, 3000));
        assert_eq!(o.ack(&k, 7, 1, |_| {}), OrderAck::Unknown);
        assert_eq!(o.ack(&k, 7, 2000, |_| {}), OrderAck::Advance(8));
        assert_eq!(o.ack(&k, 8, 2000, |_| {}), OrderAck::Advance(9));
        assert!(!o.blocked(&k, None, 2001));
    }

    /// The last ack of a batch and a concurrent pop: the pop may find the queue unblocked
    /// only once the offset has moved. The commit is slowed on purpose; were it made after
    /// the lock was released, the pop would see the queue free and the offset still on
    /// the acknowledged message, and hand it out again.
    #[test]
    fn a_pop_never_sees_the_queue_free_before_the_offset_moved() {
        use std::sync::atomic::{AtomicI64, Ordering};
        use std::sync::{mpsc, Arc};
        let o = Arc::new(OrderInfos::default());
        let committed = Arc::new(AtomicI64::new(28));
        let k = key("T", "g", 1);
        o.update(&k, None, 1000, 60_000, &[28]);
        let (in_commit, wait_commit) = mpsc::channel();
        let acker = {
            let (o, c, k) = (o.clone(), committed.clone(), k.clone());
            std::thread::spawn(move || {
                o.ack(&k, 28, 1000, |n| {
                    in_commit.send(()).unwrap();
                    std::thread::sleep(std::time::Duration::from_millis(100));
                    c.store(n, Ordering::SeqCst);
                })
            })
        };
        wait_commit.recv().unwrap();
        assert!(!o.blocked(&k, None, 2000));
        assert_eq!(committed.load(Ordering::SeqCst), 29);
        assert_eq!(acker.join().unwrap(), OrderAck::Advance(29));
    }
}
