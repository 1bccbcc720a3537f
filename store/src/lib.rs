//! Storage engine, byte-compatible with the Apache RocketMQ 4.9 store directory:
//! CommitLog, ConsumeQueue, IndexFile, checkpoint, config JSON files, recovery.

pub mod checkpoint;
pub mod commitlog;
pub mod config;
pub mod config_file;
pub mod consume_queue;
pub mod dispatch;
pub mod fastjson;
pub mod file_queue;
pub mod index_check;
pub mod index_file;
pub mod java;
pub mod mapped_file;
pub mod message_store;
pub mod reader;
pub mod record;
pub mod timer;

pub use message_store::{
    ArrivalListener, GetMessageResult, GetMessageStatus, Health, HealthState, MessageStore,
    MessageToStore, OpenError, PutFuture, PutResult, PutStatus, QueryResult, RecoveryReport,
    ReplicaAppendError, ReplicaLink, ReplicatedEnd, StoreCounters, StoreStats,
};
