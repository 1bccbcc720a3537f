//! Parked pulls (`PullRequestHoldService`): a pull that finds nothing waits here until
//! the dispatcher reports new messages in its queue, or its suspend time runs out.
//!
//! No wake-up may be lost: a pull parks first and then reads the queue's max offset again
//! (see `pull.rs`), so a message dispatched between its lookup and its park is seen by that
//! read, and one dispatched after the park finds the waiter. The SeqCst fences in `park` and
//! `wake_ready` keep that true across the relaxed waiter count: without them the dispatcher
//! could read a count of 0 while the pull still reads the old max offset.

use std::collections::HashMap;
use std::sync::atomic::{fence, AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;

use tokio::sync::oneshot;

use super::park_hook::ParkHook;

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
    /// Set by `wake_all`: a pull parking after shutdown answers at once.
    closed: AtomicBool,
    /// Test-only pause between a pull's lookup and its park; `None` in production.
    hook: Option<ParkHook>,
}

impl ParkedPulls {
    pub fn new(hook: Option<ParkHook>) -> ParkedPulls {
        ParkedPulls {
            hook,
            ..ParkedPulls::default()
        }
    }

    pub fn hook(&self) -> Option<&ParkHook> {
        self.hook.as_ref()
    }

    /// Park a pull for `offset` of a queue; the receiver fires when it may find messages.
    pub fn park(&self, topic: &str, queue_id: i32, offset: i64) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let mut w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
        if self.closed.load(Ordering::Relaxed) {
            let _ = tx.send(());
            return rx;
        }
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
        drop(w);
        // Pairs with the fence in `wake_ready`: either the dispatcher sees this waiter
        // counted, or the caller's next read of the max offset sees the dispatched message.
        fence(Ordering::SeqCst);
        rx
    }

    /// The dispatcher made the queue's max offset `max_offset`: wake pulls that can now
    /// find something.
    pub fn arrived(&self, topic: &str, queue_id: i32, max_offset: i64) {
        self.wake_ready(topic, queue_id, max_offset);
        if let Some(hook) = &self.hook {
            hook.arrived(topic, queue_id, max_offset);
        }
    }

    /// Java's periodic `checkHoldRequest`: compare every queue with parked pulls against
    /// the store's max offset. Arrivals already wake pulls at once; this is the safety net
    /// for any path that grows a queue without the dispatcher's notice, and it drops waiters
    /// whose pulls timed out so idle queues do not keep the dispatcher on the locked path.
    pub fn check_held(&self, max_offset: impl Fn(&str, i32) -> i64) {
        if self.count.load(Ordering::Relaxed) == 0 {
            return;
        }
        let held: Vec<(String, i32)> = {
            let w = self.waiters.lock().unwrap_or_else(|p| p.into_inner());
            w.iter()
                .flat_map(|(topic, queues)| queues.keys().map(move |&q| (topic.clone(), q)))
                .collect()
        };
        // The store is read without the waiter lock so the dispatcher is never held up.
        for (topic, queue_id) in held {
            let max = max_offset(&topic, queue_id);
            self.wake_ready(&topic, queue_id, max);
        }
    }

    fn wake_ready(&self, topic: &str, queue_id: i32, max_offset: i64) {
        fence(Ordering::SeqCst);
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
        // Under the lock, so a pull parks either before (woken here) or after (sees it).
        self.closed.store(true, Ordering::Relaxed);
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

    #[tokio::test]
    async fn the_periodic_check_wakes_from_the_store_and_drops_ended_pulls() {
        let p = ParkedPulls::default();
        let mut moved = p.park("T", 0, 3);
        let mut still = p.park("T", 1, 3);
        drop(p.park("T", 2, 0));
        assert_eq!(p.count.load(Ordering::Relaxed), 3);
        p.check_held(|_, q| if q == 0 { 4 } else { 3 });
        assert!(moved.try_recv().is_ok());
        assert!(still.try_recv().is_err());
        assert_eq!(p.count.load(Ordering::Relaxed), 1);
    }

    #[tokio::test]
    async fn a_pull_parking_after_shutdown_is_answered_at_once() {
        let p = ParkedPulls::default();
        let mut before = p.park("T", 0, 0);
        p.wake_all();
        assert!(before.try_recv().is_ok());
        let mut after = p.park("T", 0, 0);
        assert!(after.try_recv().is_ok());
        assert_eq!(p.count.load(Ordering::Relaxed), 0);
    }
}
