//! POP consumption (RocketMQ 5.x): the broker hands messages out for an invisible time and
//! takes them back unless they are acknowledged in time. Shared by the 5.x remoting codes
//! (POP_MESSAGE, ACK_MESSAGE, CHANGE_MESSAGE_INVISIBLETIME, BATCH_ACK_MESSAGE, PEEK_MESSAGE,
//! POLLING_INFO) and the gRPC endpoint.
//!
//! State lives where a Java 5.x broker keeps it: a checkpoint record per popped batch and an
//! ack record per acknowledgement in the revive topic `rmq_sys_REVIVE_LOG_<cluster>`
//! (`reviveQueueNum` queues), the pop progress as the group's consumer offset of each
//! queue, and the revive progress as group `CID_RMQ_SYS_REVIVE_GROUP`'s offset of each
//! revive queue. Unacknowledged messages come back through `%RETRY%<group>_<topic>`.
//! FIFO (orderly) pops block their queue until the batch is acknowledged or its invisible
//! time passes.

pub mod ack;
pub mod batch_ack;
pub mod handle;
pub mod order;
pub mod receive;
pub mod records;
pub mod remoting;
pub mod revive;
pub mod waiters;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Mutex;

use crate::config::BrokerConfig;

pub use handle::{retry_topic_v1, ReceiptHandle, ORDER_REVIVE_QUEUE, RETRY_PREFIX};

/// `PopAckConstants.REVIVE_GROUP`.
pub const REVIVE_GROUP: &str = "CID_RMQ_SYS_REVIVE_GROUP";
/// `PopAckConstants.retryQueueNum`.
pub const RETRY_QUEUES: i32 = 1;

/// `PopAckConstants.buildClusterReviveTopic`.
pub fn revive_topic(cluster: &str) -> String {
    format!("rmq_sys_REVIVE_LOG_{cluster}")
}

/// POP state shared by every pop, ack and the revive service.
pub struct PopState {
    pub revive_topic: String,
    pub revive_queues: i32,
    ck_counter: AtomicU64,
    /// Queues a pop is reading right now (`QueueLockManager`), `topic@group@queue`.
    busy: Mutex<HashSet<String>>,
    pub order: order::OrderInfos,
    pub waiters: std::sync::Arc<waiters::PopWaiters>,
    closed: AtomicBool,
    revive_topic_made: AtomicBool,
}

impl PopState {
    pub fn new(cfg: &BrokerConfig) -> Self {
        PopState {
            revive_topic: revive_topic(&cfg.broker_cluster_name),
            revive_queues: cfg.revive_queue_num.clamp(1, 512),
            ck_counter: AtomicU64::new(0),
            busy: Mutex::default(),
            order: order::OrderInfos::default(),
            waiters: Default::default(),
            closed: AtomicBool::new(false),
            revive_topic_made: AtomicBool::new(false),
        }
    }

    /// Shutdown: polls answer now and no new one waits.
    pub fn close(&self) {
        self.closed.store(true, Ordering::SeqCst);
        self.waiters.wake_all();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::SeqCst)
    }

    /// The revive topic is created on first use (a broker nobody pops from keeps the
    /// topic table of a 4.x broker).
    pub fn ensure_revive_topic(&self, ctx: &crate::broker::context::BrokerContext) {
        if !self.revive_topic_made.swap(true, Ordering::Relaxed) {
            ctx.ensure_system_topic(&self.revive_topic, self.revive_queues);
        }
    }

    /// The revive queue the next checkpoint goes to (round robin, as Java).
    pub fn next_revive_qid(&self) -> i32 {
        (self.ck_counter.fetch_add(1, Ordering::Relaxed) % self.revive_queues as u64) as i32
    }

    /// Claims a queue for one pop; `None` when another pop is reading it.
    pub fn try_lock(&self, topic: &str, group: &str, queue_id: i32) -> Option<QueueGuard<'_>> {
        let key = format!("{topic}@{group}@{queue_id}");
        let mut busy = self.busy.lock().unwrap_or_else(|p| p.into_inner());
        if !busy.insert(key.clone()) {
            return None;
        }
        Some(QueueGuard { state: self, key })
    }
}

/// Releases a queue claimed by [`PopState::try_lock`], also when the pop is cancelled.
pub struct QueueGuard<'a> {
    state: &'a PopState,
    key: String,
}

impl Drop for QueueGuard<'_> {
    fn drop(&mut self) {
        self.state
            .busy
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.key);
    }
}
