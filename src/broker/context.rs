//! Everything the broker's processors share.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use rmqd_remoting::codes::response;

use rmqd_store::MessageStore;

use super::clients::Clients;
use super::consumer_filter::ConsumerFilters;
use super::groups::Groups;
use super::locks::QueueLocks;
use super::long_poll::ParkedPulls;
use super::offsets::ConsumerOffsets;
use super::persist::ConfigFiles;
use super::registration::Registrar;
use super::schedule::DelayOffsets;
use super::topics::TopicTable;
use crate::config::BrokerConfig;

pub struct BrokerContext {
    pub config: BrokerConfig,
    pub topics: Arc<Mutex<TopicTable>>,
    pub groups: Groups,
    pub clients: Clients,
    pub locks: QueueLocks,
    pub registrar: Arc<Registrar>,
    /// Address written into every stored record; offsetMsgIds encode it.
    pub store_host: SocketAddr,
    pub store: Arc<MessageStore>,
    pub offsets: ConsumerOffsets,
    pub parked: Arc<ParkedPulls>,
    pub files: ConfigFiles,
    pub delays: DelayOffsets,
    /// Timer messages (None when `timerWheelEnable` is false).
    pub timer: Option<Arc<super::timer::Timer>>,
    /// Restarts of the supervised timer tasks (runtime info).
    pub task_restarts: Arc<super::supervise::Restarts>,
    /// POP consumption (5.x).
    pub pop: super::pop::PopState,
    /// 5.x gRPC producers, asked about transactions over their telemetry streams.
    pub grpc_producers: super::grpc_producers::GrpcProducers,
    /// 5.x gRPC client sessions (settings, telemetry streams).
    pub grpc_clients: Arc<crate::grpc::GrpcClients>,
    /// The broker's role in its master/slave group and what a slave knows of its master.
    pub ha: Arc<super::ha::HaState>,
    /// Compiled SQL92 subscriptions of the consumer groups.
    pub filters: ConsumerFilters,
    /// Put/get statistics by topic and group, store rates, daily totals.
    pub stats: super::stats::BrokerStats,
    /// The broker settings as updated at run time (UPDATE_BROKER_CONFIG) and where they
    /// are saved.
    pub live_config: super::admin::broker_config::LiveConfig,
}

impl BrokerContext {
    pub fn topics(&self) -> MutexGuard<'_, TopicTable> {
        self.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Re-register at once (oneway, like Java after a topic auto-create) so that clients
    /// find new topics without waiting for the next period.
    pub fn register_soon(self: &Arc<Self>) {
        let registrar = self.registrar.clone();
        tokio::spawn(async move { registrar.register_all_oneway().await });
    }
}

impl BrokerContext {
    /// Marks dead the SQL92 filters of groups with no consumer left.
    pub fn sweep_filters(&self) {
        self.filters
            .sweep(|group| self.clients.with_group(group, |_| ()).is_some());
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

/// A request refused with a response code and remark.
#[derive(Debug)]
pub struct Refusal {
    pub code: i32,
    pub remark: String,
}

impl Refusal {
    pub fn new(code: i32, remark: impl Into<String>) -> Self {
        Refusal {
            code,
            remark: remark.into(),
        }
    }

    pub fn system(remark: impl Into<String>) -> Self {
        Self::new(response::SYSTEM_ERROR, remark)
    }
}

impl From<rmqd_remoting::HeaderError> for Refusal {
    fn from(e: rmqd_remoting::HeaderError) -> Self {
        Refusal::system(e.to_string())
    }
}

pub type Outcome<T> = Result<T, Refusal>;

impl BrokerContext {
    // The persist_* calls return once the file holds the table as it is now (Java's
    // processors answer after `persist()` too); the snapshot is taken inside the file's
    // writer lock so concurrent saves land newest-last.

    /// Writes `config/topics.json`.
    pub fn persist_topics(&self) {
        self.files.save_topics(|| self.topics().snapshot());
    }

    /// Writes `config/subscriptionGroup.json`.
    pub fn persist_groups(&self) {
        self.files
            .save_groups(|| (self.groups.data_version(), self.groups.snapshot()));
    }

    /// Creates a broker-internal topic on first use (perm 6). `persist` says whether it
    /// goes to topics.json (Java keeps the transaction op topic in memory only).
    pub fn ensure_topic(&self, topic: &str, queues: i32, persist: bool) {
        let created = self.topics().create_system(topic, queues, 6, 0, now_ms()).1;
        if created && persist {
            self.persist_topics();
        }
    }

    pub fn ensure_system_topic(&self, topic: &str, queues: i32) {
        self.ensure_topic(topic, queues, true);
    }

    /// Writes `config/delayOffset.json`.
    pub fn persist_delay_offsets(&self) {
        self.files.save_delay_offsets(|| self.delays.snapshot());
    }

    /// Writes `config/consumerOffset.json`.
    pub fn persist_offsets(&self) {
        self.files.save_offsets(|| self.offsets.snapshot());
    }
}
