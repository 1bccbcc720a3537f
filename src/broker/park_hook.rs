//! A test hook that forces the race between a pull's lookup and its park: with
//! `RMQD_TEST_HOOK_PULL_PARK=<dir>` in the environment at broker start, a pull that found
//! nothing and is about to park first creates `<dir>/<queueId>@<topic>.paused`, then waits
//! until the store's arrival listener has reported a message past the pull's offset for its
//! queue (at most [`MAX_PAUSE`]), and only then parks. The arrival has then already come and
//! gone with nobody parked, which is exactly the interleaving a lost wake-up needs.
//!
//! It is a rendezvous rather than a delay so the interleaving does not depend on how fast
//! the machine is. Unset (production), the variable is read once at start and the hook costs
//! one branch on an `Option` per parked pull and per arrival.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::Notify;

pub const ENV: &str = "RMQD_TEST_HOOK_PULL_PARK";

/// A test that forgets to send the message must not hang the pull forever.
const MAX_PAUSE: Duration = Duration::from_secs(10);

pub struct ParkHook {
    dir: PathBuf,
    /// Highest max offset each (topic, queue) was reported with by the arrival listener.
    seen: Mutex<HashMap<(String, i32), i64>>,
    arrivals: Notify,
}

impl ParkHook {
    pub fn from_env() -> Option<ParkHook> {
        let dir = std::env::var_os(ENV).filter(|v| !v.is_empty())?;
        tracing::warn!(
            dir = ?dir,
            "{ENV} is set: parking pulls pause for a message first (test hook)"
        );
        Some(ParkHook {
            dir: PathBuf::from(dir),
            seen: Mutex::new(HashMap::new()),
            arrivals: Notify::new(),
        })
    }

    /// The arrival listener reported `max_offset` for a queue (after waking parked pulls).
    pub fn arrived(&self, topic: &str, queue_id: i32, max_offset: i64) {
        {
            let mut seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
            let entry = seen.entry((topic.to_owned(), queue_id)).or_insert(0);
            *entry = (*entry).max(max_offset);
        }
        self.arrivals.notify_waiters();
    }

    /// Tells the test the pull is between lookup and park, then waits for an arrival
    /// past `offset` in the pull's queue.
    pub async fn pause(&self, topic: &str, queue_id: i32, offset: i64) {
        // Topic names come from the request: keep them from naming another directory.
        let safe: String = topic
            .chars()
            .map(|c| {
                if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                    c
                } else {
                    '_'
                }
            })
            .collect();
        let marker = self.dir.join(format!("{queue_id}@{safe}.paused"));
        if let Err(e) = std::fs::write(&marker, offset.to_string()) {
            tracing::warn!(path = %marker.display(), error = %e, "cannot write the park hook marker");
        }
        let waited = tokio::time::timeout(MAX_PAUSE, async {
            loop {
                let next = self.arrivals.notified();
                tokio::pin!(next);
                // Registered before the check, so an arrival between the two is not missed.
                next.as_mut().enable();
                if self.seen_past(topic, queue_id, offset) {
                    return;
                }
                next.await;
            }
        })
        .await;
        if waited.is_err() {
            tracing::warn!(
                topic,
                queue_id,
                offset,
                "park hook saw no arrival; parking anyway"
            );
        }
    }

    fn seen_past(&self, topic: &str, queue_id: i32, offset: i64) -> bool {
        let seen = self.seen.lock().unwrap_or_else(|p| p.into_inner());
        seen.get(&(topic.to_owned(), queue_id))
            .is_some_and(|&max| max > offset)
    }
}
