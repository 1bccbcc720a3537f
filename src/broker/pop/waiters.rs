//! Long polling for pops (`PopLongPollingService`): a pop that found nothing waits for a
//! message to arrive in its topic (or its retry topic) or for its poll time to pass.
//!
//! No wake-up is lost: a pop registers and arms its wait before it looks at the queues
//! again, so a message dispatched after that look wakes it.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::Notify;

#[derive(Default)]
pub struct PopWaiters {
    topics: Mutex<HashMap<String, (Arc<Notify>, usize)>>,
    /// Lets the dispatcher skip the lock when nobody polls.
    count: AtomicUsize,
}

/// A registration; dropping it unregisters.
pub struct Waiting<'a> {
    owner: &'a PopWaiters,
    topics: Vec<String>,
    pub notify: Vec<Arc<Notify>>,
}

impl PopWaiters {
    pub fn register(&self, topics: &[String]) -> Waiting<'_> {
        let mut map = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        let notify = topics
            .iter()
            .map(|t| {
                let e = map
                    .entry(t.clone())
                    .or_insert_with(|| (Arc::new(Notify::new()), 0));
                e.1 += 1;
                e.0.clone()
            })
            .collect();
        self.count.fetch_add(1, Ordering::SeqCst);
        Waiting {
            owner: self,
            topics: topics.to_vec(),
            notify,
        }
    }

    /// A message arrived in `topic`, or a queue of it was unblocked.
    pub fn wake(&self, topic: &str) {
        if self.count.load(Ordering::SeqCst) == 0 {
            return;
        }
        let map = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((n, _)) = map.get(topic) {
            n.notify_waiters();
        }
    }

    /// Pops waiting on `topic` (POLLING_INFO).
    pub fn waiting_on(&self, topic: &str) -> usize {
        let map = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        map.get(topic).map(|(_, n)| *n).unwrap_or(0)
    }

    /// Shutdown: every poll answers now.
    pub fn wake_all(&self) {
        let map = self.topics.lock().unwrap_or_else(|p| p.into_inner());
        for (n, _) in map.values() {
            n.notify_waiters();
        }
    }
}

impl Drop for Waiting<'_> {
    fn drop(&mut self) {
        let mut map = self.owner.topics.lock().unwrap_or_else(|p| p.into_inner());
        for t in &self.topics {
            if let Some(e) = map.get_mut(t) {
                e.1 -= 1;
                if e.1 == 0 {
                    map.remove(t);
                }
            }
        }
        self.owner.count.fetch_sub(1, Ordering::SeqCst);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_arrival_after_arming_is_not_lost() {
        let w = PopWaiters::default();
        let reg = w.register(&["T".into(), "%RETRY%g_T".into()]);
        let n = reg.notify[1].clone();
        let armed = n.notified();
        tokio::pin!(armed);
        armed.as_mut().enable();
        w.wake("%RETRY%g_T");
        tokio::time::timeout(std::time::Duration::from_secs(1), armed)
            .await
            .expect("woken");
        drop(reg);
        assert_eq!(w.count.load(Ordering::SeqCst), 0);
        assert!(w.topics.lock().unwrap().is_empty());
        w.wake("T");
    }
}
