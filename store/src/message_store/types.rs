//! The values the store's API takes and returns.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use bytes::Bytes;

use crate::file_queue::QueueLoadError;
use crate::index_file::IndexError;
use crate::mapped_file::FileError;

#[derive(Debug, Clone)]
pub struct MessageToStore {
    pub topic: String,
    pub queue_id: i32,
    pub flag: i32,
    pub body: Bytes,
    /// The stored properties string (`k\x01v\x02…`).
    pub properties: String,
    pub sys_flag: i32,
    pub born_timestamp: i64,
    pub born_host: std::net::SocketAddr,
    pub reconsume_times: i32,
    pub prepared_transaction_offset: i64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PutStatus {
    PutOk,
    FlushDiskTimeout,
    ServiceNotAvailable,
    MessageIllegal,
    PropertiesSizeExceeded,
    /// The writer has been stuck in one append longer than `os_page_cache_busy_timeout`.
    OsPageCacheBusy,
    /// `send_queue_capacity` appends are already waiting for the writer.
    QueueFull,
    /// The next CommitLog file could not be created (Java's CREATE_MAPEDFILE_FAILED).
    CreateMappedFileFailed,
    /// SYNC_MASTER: stored, but no slave acknowledged it within `slave_timeout`.
    FlushSlaveTimeout,
    /// SYNC_MASTER: stored, but no slave is connected or the slave is too far behind.
    SlaveNotAvailable,
    UnknownError,
}

impl PutStatus {
    /// The Java name (`PutMessageStatus.name()`), which some answers carry as remark.
    pub fn java_name(self) -> &'static str {
        match self {
            PutStatus::PutOk => "PUT_OK",
            PutStatus::FlushDiskTimeout => "FLUSH_DISK_TIMEOUT",
            PutStatus::ServiceNotAvailable => "SERVICE_NOT_AVAILABLE",
            PutStatus::MessageIllegal => "MESSAGE_ILLEGAL",
            PutStatus::PropertiesSizeExceeded => "PROPERTIES_SIZE_EXCEEDED",
            PutStatus::OsPageCacheBusy => "OS_PAGECACHE_BUSY",
            PutStatus::QueueFull => "OS_PAGECACHE_BUSY",
            PutStatus::CreateMappedFileFailed => "CREATE_MAPEDFILE_FAILED",
            PutStatus::FlushSlaveTimeout => "FLUSH_SLAVE_TIMEOUT",
            PutStatus::SlaveNotAvailable => "SLAVE_NOT_AVAILABLE",
            PutStatus::UnknownError => "UNKNOWN_ERROR",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutResult {
    pub status: PutStatus,
    /// offsetMsgId; comma-joined for a batch.
    pub msg_id: String,
    pub queue_id: i32,
    /// Queue offset of the (first) message.
    pub queue_offset: i64,
    pub phy_offset: i64,
    pub wrote_bytes: usize,
    pub store_timestamp: i64,
    pub count: usize,
}

impl PutResult {
    pub(crate) fn failed(status: PutStatus) -> Self {
        PutResult {
            status,
            msg_id: String::new(),
            queue_id: 0,
            queue_offset: 0,
            phy_offset: 0,
            wrote_bytes: 0,
            store_timestamp: 0,
            count: 0,
        }
    }
}

pub type PutFuture = Pin<Box<dyn Future<Output = PutResult> + Send>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum GetMessageStatus {
    Found,
    NoMatchedMessage,
    MessageWasRemoving,
    OffsetFoundNull,
    OffsetOverflowBadly,
    OffsetOverflowOne,
    OffsetTooSmall,
    NoMatchedLogicQueue,
    NoMessageInQueue,
}

#[derive(Debug, Clone)]
pub struct GetMessageResult {
    pub status: GetMessageStatus,
    pub next_begin_offset: i64,
    pub min_offset: i64,
    pub max_offset: i64,
    /// Stored records, each straight from the mapped CommitLog file.
    pub messages: Vec<Bytes>,
    /// The consumer is further behind the CommitLog end than
    /// `accessMessageInMemoryMaxRatio` of physical memory (Java's
    /// `isSuggestPullingFromSlave`).
    pub suggest_pulling_from_slave: bool,
}

#[derive(Debug, Clone, Default)]
pub struct QueryResult {
    pub records: Vec<Bytes>,
    pub index_last_update_timestamp: i64,
    pub index_last_update_phy_offset: i64,
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Queue(#[from] QueueLoadError),
    #[error(transparent)]
    File(#[from] FileError),
    #[error("index: {0}")]
    Index(#[from] IndexError),
    #[error("{0}: lock failed, the store is already in use by another broker")]
    Locked(std::path::PathBuf),
    #[error("recovery: {0}")]
    Recovery(String),
}

/// Why bytes replicated from a master could not be appended.
#[derive(Debug, thiserror::Error)]
pub enum ReplicaAppendError {
    #[error("master pushed offset {master} but the slave's commit log ends at {slave}")]
    OffsetMismatch { slave: i64, master: i64 },
    #[error("an empty commit log can only start at a file boundary, not at {0}")]
    Unaligned(i64),
    #[error("only a SLAVE store takes replicated bytes")]
    NotSlave,
    #[error("the store refuses writes ({0})")]
    Refused(&'static str),
    #[error("the master's stream is not a commit log: {0}")]
    Malformed(String),
    #[error(transparent)]
    File(#[from] FileError),
}

/// Where a slave's CommitLog stands after a replicated append.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplicatedEnd {
    /// One past the last whole record written: what the slave reports to its master.
    pub stored: i64,
    /// One past the last byte received (the start of a record still arriving is kept
    /// in memory): where the master's next transfer must start.
    pub received: i64,
}

/// Called with (topic, queue id, new max offset) after messages are dispatched.
pub type ArrivalListener = Arc<dyn Fn(&str, i32, i64) + Send + Sync>;

/// What opening found, for logs and the store CLI.
#[derive(Debug, Clone)]
pub struct RecoveryReport {
    pub abnormal: bool,
    pub commitlog_min: i64,
    pub commitlog_end: i64,
    pub redispatch_from: i64,
    pub stopped_by: Option<(i64, String)>,
    pub consume_queues: usize,
    pub commitlog_file_size: usize,
}
