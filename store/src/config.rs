//! What the store needs from the broker's configuration (`MessageStoreConfig` keys).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlushDiskType {
    /// Acknowledge after the append; a flusher writes back every `flush_interval`.
    Async,
    /// Acknowledge after the bytes are on disk (group commit).
    Sync,
}

/// `brokerRole`: what the store does with its CommitLog in a master/slave group.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BrokerRole {
    /// Acknowledges sends without waiting for a slave.
    AsyncMaster,
    /// Acknowledges a send once a slave has it (or says why not).
    SyncMaster,
    /// Refuses sends; its CommitLog grows only by bytes replicated from the master.
    Slave,
}

impl BrokerRole {
    /// The Java name (`BrokerRole.name()`).
    pub fn as_str(self) -> &'static str {
        match self {
            BrokerRole::AsyncMaster => "ASYNC_MASTER",
            BrokerRole::SyncMaster => "SYNC_MASTER",
            BrokerRole::Slave => "SLAVE",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s.trim() {
            "ASYNC_MASTER" => Some(BrokerRole::AsyncMaster),
            "SYNC_MASTER" => Some(BrokerRole::SyncMaster),
            "SLAVE" => Some(BrokerRole::Slave),
            _ => None,
        }
    }

    pub fn is_slave(self) -> bool {
        self == BrokerRole::Slave
    }
}

#[derive(Debug, Clone)]
pub struct StoreConfig {
    pub root_dir: PathBuf,
    /// `storePathCommitLog`; `<root>/commitlog` when None.
    pub commitlog_dir: Option<PathBuf>,
    pub mapped_file_size_commitlog: usize,
    pub mapped_file_size_consume_queue: usize,
    pub flush_disk_type: FlushDiskType,
    pub flush_interval_commitlog: Duration,
    pub flush_interval_consume_queue: Duration,
    pub sync_flush_timeout: Duration,
    pub max_message_size: usize,
    pub check_crc_on_recover: bool,
    pub max_hash_slot_num: u32,
    pub max_index_num: u32,
    pub message_index_enable: bool,
    /// Broker address written into every record as STOREHOST.
    pub store_host: SocketAddr,
    /// Milliseconds per delay level (level 1 first): the SCHEDULE_TOPIC_XXXX tags code is
    /// the delivery time.
    pub delay_level_millis: Vec<i64>,
    pub file_reserved_hours: u64,
    pub delete_when: String,
    pub disk_max_used_space_ratio: u32,
    pub max_transfer_bytes_on_message_in_memory: usize,
    pub max_transfer_count_on_message_in_memory: usize,
    /// Above this share of the disk in use, appends are refused (Java's
    /// `diskSpaceWarningLevelRatio`, 0.90).
    pub disk_space_warning_ratio: f64,
    /// Above this share, files are deleted whether expired or not, when
    /// `clean_file_forcibly_enable` (Java's `diskSpaceCleanForciblyRatio`, 0.85).
    pub disk_space_clean_forcibly_ratio: f64,
    /// `cleanFileForciblyEnable` (true).
    pub clean_file_forcibly_enable: bool,
    /// Files deleted per cleaner pass at most (Java's `DELETE_FILES_BATCH_MAX`, 10).
    pub delete_files_batch_max: usize,
    /// How often the cleaner looks at the disk (`cleanResourceInterval`, 10 s).
    pub clean_resource_interval: Duration,
    /// A record whose consume-queue unit or index entry cannot be written is retried this
    /// many times before the store is poisoned (Java retries a consume-queue write 30 times).
    pub dispatch_retry_times: u32,
    /// Pause between those retries (Java: 1 s).
    pub dispatch_retry_interval: Duration,
    /// Appends waiting for the writer beyond this many are refused (Java's
    /// `sendThreadPoolQueueCapacity`, 10000): memory stays bounded under a flood.
    pub send_queue_capacity: usize,
    /// An append taking longer than this means the page cache is stalling the writer;
    /// new appends are refused until it recovers (Java's `osPageCacheBusyTimeOutMills`).
    pub os_page_cache_busy_timeout: Duration,
    /// `brokerRole`.
    pub broker_role: BrokerRole,
    /// How long a SYNC_MASTER send waits for a slave to have it before it is answered
    /// FLUSH_SLAVE_TIMEOUT (Java's `slaveTimeout`, 3 s, in `CommitLog.submitReplicaRequest`).
    pub slave_timeout: Duration,
    /// A slave further behind than this many bytes does not count as available: SYNC_MASTER
    /// sends are answered SLAVE_NOT_AVAILABLE at once (`haSlaveFallbehindMax`, 256 MiB).
    pub ha_slave_fallbehind_max: i64,
    /// `offsetCheckInSlave`: whether a slave corrects a consumer's bad pull offset (Java
    /// leaves it to the master by default).
    pub offset_check_in_slave: bool,
    /// `accessMessageInMemoryMaxRatio` (percent of physical memory): a consumer further
    /// behind than this share is told to pull from a slave.
    pub access_message_in_memory_max_ratio: u32,
}

impl StoreConfig {
    pub fn new(root_dir: PathBuf, store_host: SocketAddr) -> Self {
        StoreConfig {
            root_dir,
            commitlog_dir: None,
            mapped_file_size_commitlog: 1024 * 1024 * 1024,
            mapped_file_size_consume_queue: 300_000 * 20,
            flush_disk_type: FlushDiskType::Async,
            flush_interval_commitlog: Duration::from_millis(500),
            flush_interval_consume_queue: Duration::from_millis(1000),
            sync_flush_timeout: Duration::from_millis(5000),
            max_message_size: 1024 * 1024 * 4,
            check_crc_on_recover: true,
            max_hash_slot_num: 5_000_000,
            max_index_num: 5_000_000 * 4,
            message_index_enable: true,
            store_host,
            delay_level_millis: parse_delay_levels(DEFAULT_DELAY_LEVELS).unwrap_or_default(),
            file_reserved_hours: 72,
            delete_when: "04".to_string(),
            disk_max_used_space_ratio: 75,
            max_transfer_bytes_on_message_in_memory: 256 * 1024,
            max_transfer_count_on_message_in_memory: 32,
            disk_space_warning_ratio: 0.90,
            disk_space_clean_forcibly_ratio: 0.85,
            clean_file_forcibly_enable: true,
            delete_files_batch_max: 10,
            clean_resource_interval: Duration::from_secs(10),
            dispatch_retry_times: 30,
            dispatch_retry_interval: Duration::from_secs(1),
            send_queue_capacity: 10_000,
            os_page_cache_busy_timeout: Duration::from_millis(1000),
            broker_role: BrokerRole::AsyncMaster,
            slave_timeout: Duration::from_millis(3000),
            ha_slave_fallbehind_max: 256 * 1024 * 1024,
            offset_check_in_slave: false,
            access_message_in_memory_max_ratio: 40,
        }
    }

    pub fn commitlog_path(&self) -> PathBuf {
        self.commitlog_dir
            .clone()
            .unwrap_or_else(|| self.root_dir.join("commitlog"))
    }
    pub fn consume_queue_path(&self) -> PathBuf {
        self.root_dir.join("consumequeue")
    }
    pub fn index_path(&self) -> PathBuf {
        self.root_dir.join("index")
    }
    pub fn checkpoint_path(&self) -> PathBuf {
        self.root_dir.join("checkpoint")
    }
    pub fn abort_path(&self) -> PathBuf {
        self.root_dir.join("abort")
    }
    pub fn lock_path(&self) -> PathBuf {
        self.root_dir.join("lock")
    }
    pub fn config_dir(&self) -> PathBuf {
        self.root_dir.join("config")
    }
}

/// The Java broker's default `messageDelayLevel`.
pub const DEFAULT_DELAY_LEVELS: &str = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h";

/// Parses `messageDelayLevel` ("1s 5s 1m 2h 1d") into milliseconds per level.
pub fn parse_delay_levels(s: &str) -> Result<Vec<i64>, String> {
    s.split_whitespace()
        .map(|tok| {
            let (num, unit) = tok.split_at(tok.len().saturating_sub(1));
            let mult = match unit {
                "s" => 1000,
                "m" => 60_000,
                "h" => 3_600_000,
                "d" => 86_400_000,
                _ => {
                    return Err(format!(
                        "bad delay level {tok:?}: unit must be s, m, h or d"
                    ))
                }
            };
            num.parse::<i64>()
                .map(|n| n * mult)
                .map_err(|_| format!("bad delay level {tok:?}"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_delay_levels() {
        let v = parse_delay_levels(DEFAULT_DELAY_LEVELS).expect("parse");
        assert_eq!(v.len(), 18);
        assert_eq!(v[0], 1000);
        assert_eq!(v[17], 7_200_000);
        assert!(parse_delay_levels("1x").is_err());
    }
}
