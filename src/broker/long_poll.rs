//! Parked pulls (`PullRequestHoldService`): a pull that finds nothing waits here until
//! the dispatcher reports new messages in its queue, or its suspend time runs out.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::oneshot;

struct Waiter {
    /// The offset the pull asked for; any max offset beyond it wakes the pull.
    offset: i64,
    wake: oneshot::Sender<()>,
}

#[derive(Default)]
pub struct ParkedPulls {
    waiters: Mutex<HashMap<String, HashMap<i32, Vec<Waiter>>>>,
    /// Lets the dispatcher skip the lock on the common path where nobody waits.
    count: AtomicUsize,
}

impl ParkedPulls {
    /// Park a pull for `offset` of a queue; the receiver fires when it may find messages.
    pub fn park(&self, topic: &str, queue_id: i32, offset: i64) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        // Drop waiters whose pulls already ended (timed out) so the lists stay short.
        let list = w
            .entry(topic.to_owned())
            .or_default()
            .entry(queue_id)
            .or_default();
        let before = list.len();
        list.retain(|x| !x.wake.is_closed());
        list.push(Waiter { offset, wake: tx });
        let now = list.len();
        if now > before {
            self.count.fetch_add(now - before, Ordering::Relaxed);
        } else {
            self.count.fetch_sub(before - now, Ordering::Relaxed);
        }
        rx
    }

    /// New messages made the queue's max offset `max_offset`: wake pulls that can now find
    /// something.
    pub fn arrived(&self, topic: &str, queue_id: i32, max_offset: i64) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        let Some(queues) = w.get_mut(topic) else {
            return;
        };
        let Some(list) = queues.get_mut(&queue_id) else {
            return;
        };
        let before = list.len();
        let mut kept = Vec::with_capacity(list.len());
        for waiter in list.drain(..) {
            if max_offset > waiter.offset {
                let _ = waiter.wake.send(());
            } else if !waiter.wake.is_closed() {
                kept.push(waiter);
            }
        }
        let removed = before - kept.len();
        *list = kept;
        if list.is_empty() {
            queues.remove(&queue_id);
            if queues.is_empty() {
                w.remove(topic);
            }
        }
        self.count.fetch_sub(removed, Ordering::Relaxed);
    }

    /// Wake everything (shutdown), so parked pulls answer instead of hanging.
    pub fn wake_all(&self) {
        let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        for (_, queues) in w.drain() {
            for (_, list) in queues {
                for waiter in list {
                    let _ = waiter.wake.send(());
                }
            }
        }
        self.count.store(0, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn wakes_only_pulls_that_can_find_messages() {
        let p = ParkedPulls::default();
        let mut a = p.park("T", 0, 5);
        let mut b = p.park("T", 0, 7);
        let mut c = p.park("T", 1, 0);
        p.arrived("T", 0, 6);
        assert!(a.try_recv().is_ok());
        assert!(b.try_recv().is_err());
        assert!(c.try_recv().is_err());
        p.arrived("T", 0, 8);
        assert!(b.try_recv().is_ok());
        drop(c);
        p.arrived("T", 1, 1);
        assert_eq!(p.count.load(Ordering::Relaxed), 0);
        p.arrived("Other", 0, 1);
    }
}
