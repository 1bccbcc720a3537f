use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::link::Link;
use crate::requests::{self, Pull, Seen};

#[derive(Default)]
pub struct Live {
    pub seen: Vec<Seen>,
    /// PULL_OFFSET_MOVED answers: the queue ended before an offset already read.
    pub moved: u64,
}

/// Reads `queue` as it grows until `stop`.
pub async fn follow(addr: String, queue: i32, stop: Arc<AtomicBool>) -> Live {
    let mut link = Link::new(&addr);
    let mut live = Live::default();
    let mut offset = 0;
    while !stop.load(Ordering::Relaxed) {
        match requests::pull(&mut link, queue, offset).await {
            Ok(Pull::Found { next, seen }) => {
                live.seen.extend(seen);
                offset = next.max(offset);
            }
            Ok(Pull::Moved { next }) => {
                live.moved += 1;
                offset = next;
            }
            Ok(Pull::NotFound) | Ok(Pull::Other { .. }) | Err(_) => {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
        }
    }
    link.close();
    live
}

/// Everything in `queue` from 0 to `max`; offsets that cannot be read are returned as
/// the second value.
pub async fn read_all(addr: &str, queue: i32, max: i64) -> (Vec<Seen>, i64) {
    let mut link = Link::new(addr);
    let mut out = Vec::new();
    let mut offset = 0;
    let mut stuck_since: Option<Instant> = None;
    while offset < max {
        match requests::pull(&mut link, queue, offset).await {
            Ok(Pull::Found { next, seen }) if next > offset => {
                out.extend(seen);
                offset = next;
                stuck_since = None;
            }
            other => {
                let since = *stuck_since.get_or_insert_with(Instant::now);
                if since.elapsed() > Duration::from_secs(5) {
                    let what = match other {
                        Ok(Pull::Moved { next }) => format!("offset moved to {next}"),
                        Ok(Pull::Other { code }) => format!("code {code}"),
                        Ok(_) => "nothing".into(),
                        Err(e) => e.to_string(),
                    };
                    eprintln!(
                        "rmqd-crash-check: queue {queue}: cannot read offsets {offset}..{max}: {what}"
                    );
                    link.close();
                    return (out, max - offset);
                }
                tokio::time::sleep(Duration::from_millis(20)).await;
            }
        }
    }
    link.close();
    (out, 0)
}
