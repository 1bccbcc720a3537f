//! What the dispatcher (Java's "reput") takes from each appended record to build the
//! consume queues and the index.

use crate::java;
use crate::record::{sys_flag, RecordView};

/// Topic of scheduled (delayed) messages; its tags code is the delivery time.
pub const SCHEDULE_TOPIC: &str = "SCHEDULE_TOPIC_XXXX";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DispatchRequest {
    pub topic: String,
    pub queue_id: i32,
    pub phy_offset: i64,
    pub size: i32,
    pub tags_code: i64,
    pub store_timestamp: i64,
    pub queue_offset: i64,
    pub keys: Option<String>,
    pub uniq_key: Option<String>,
    pub sys_flag: i32,
}

impl DispatchRequest {
    /// `delay_level_millis[i]` is the delay of level i+1.
    pub fn from_record(phy_offset: i64, m: &RecordView<'_>, delay_level_millis: &[i64]) -> Self {
        let scheduled = if m.topic == SCHEDULE_TOPIC {
            schedule_tags_code(m, delay_level_millis)
        } else {
            None
        };
        let tags_code = scheduled.unwrap_or_else(|| {
            m.property("TAGS")
                .map(|t| i64::from(java::string_hash(t)))
                .unwrap_or(0)
        });
        DispatchRequest {
            topic: m.topic.to_string(),
            queue_id: m.queue_id,
            phy_offset,
            size: m.total_size as i32,
            tags_code,
            store_timestamp: m.store_timestamp,
            queue_offset: m.queue_offset,
            keys: m.property("KEYS").map(str::to_string),
            uniq_key: m.property("UNIQ_KEY").map(str::to_string),
            sys_flag: m.sys_flag,
        }
    }

    /// Prepared and rolled-back transaction records never reach a consume queue.
    pub fn goes_to_consume_queue(&self) -> bool {
        matches!(
            sys_flag::transaction_type(self.sys_flag),
            sys_flag::TRANSACTION_NOT_TYPE | sys_flag::TRANSACTION_COMMIT
        )
    }

    pub fn goes_to_index(&self) -> bool {
        sys_flag::transaction_type(self.sys_flag) != sys_flag::TRANSACTION_ROLLBACK
    }
}

/// `computeDeliverTimestamp`: store time plus the level's delay (levels above the max
/// are clamped to it; an unknown level delivers after one second, as Java does).
fn schedule_tags_code(m: &RecordView<'_>, levels: &[i64]) -> Option<i64> {
    let level = m.property("DELAY")?.trim().parse::<i64>().ok()?;
    if level <= 0 {
        return None;
    }
    let level = level.min(levels.len() as i64);
    let delay = usize::try_from(level - 1)
        .ok()
        .and_then(|i| levels.get(i))
        .copied()
        .unwrap_or(1000);
    Some(m.store_timestamp + delay)
}
