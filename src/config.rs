//! Configuration files and defaults shared by both roles: Java `.properties` parsing and
//! the broker's settings under their Java key names.

use std::path::PathBuf;
use std::time::Duration;

use rmqd_store::config::{parse_delay_levels, BrokerRole, FlushDiskType, StoreConfig};
use thiserror::Error;

pub fn home_dir() -> Option<PathBuf> {
    std::env::var_os("HOME").map(PathBuf::from)
}

/// Parse Java properties text: `key=value`, `key:value` or `key value` lines, `#`/`!`
/// comments, trailing-backslash continuations. Enough for every broker.conf in the wild.
pub fn parse_properties(text: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = raw.trim_start();
        if pending.is_empty() && (line.is_empty() || line.starts_with('#') || line.starts_with('!'))
        {
            continue;
        }
        if let Some(stripped) = line.strip_suffix('\\') {
            pending.push_str(stripped);
            continue;
        }
        pending.push_str(line);
        let entry = std::mem::take(&mut pending);
        // The separator may be a multi-byte whitespace: cut after the whole character.
        let split = entry
            .char_indices()
            .find(|(_, c)| matches!(c, '=' | ':'))
            .or_else(|| entry.char_indices().find(|(_, c)| c.is_whitespace()));
        let (k, v) = match split {
            Some((i, c)) => (
                entry.get(..i).unwrap_or_default(),
                entry.get(i + c.len_utf8()..).unwrap_or_default(),
            ),
            None => (entry.as_str(), ""),
        };
        let key = k.trim();
        if !key.is_empty() {
            out.push((key.to_owned(), v.trim().to_owned()));
        }
    }
    out
}

#[derive(Debug, Error)]
pub enum ConfigError {
    #[error("cannot read {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config key {key}: {value:?} is not a valid {kind}")]
    Invalid {
        key: String,
        value: String,
        kind: &'static str,
    },
}

trait ConfigValue: Sized {
    const KIND: &'static str;
    fn parse(s: &str) -> Option<Self>;
    fn render(&self) -> String;
}

impl ConfigValue for String {
    const KIND: &'static str = "string";
    fn parse(s: &str) -> Option<Self> {
        Some(s.to_owned())
    }
    fn render(&self) -> String {
        self.clone()
    }
}

impl ConfigValue for bool {
    const KIND: &'static str = "boolean";
    fn parse(s: &str) -> Option<Self> {
        match s.to_ascii_lowercase().as_str() {
            "true" => Some(true),
            "false" => Some(false),
            _ => None,
        }
    }
    fn render(&self) -> String {
        self.to_string()
    }
}

macro_rules! numeric_value {
    ($($t:ty),*) => {$(
        impl ConfigValue for $t {
            const KIND: &'static str = "number";
            fn parse(s: &str) -> Option<Self> {
                s.parse().ok()
            }
            fn render(&self) -> String {
                self.to_string()
            }
        }
    )*};
}
numeric_value!(i32, i64, u16, u64, f64);

macro_rules! broker_config {
    ($( $(#[$doc:meta])* $field:ident : $ty:ty = $default:expr => $key:literal ),* $(,)?) => {
        /// Broker settings. Field docs name the Java key; defaults are the Java broker's.
        #[derive(Debug, Clone)]
        pub struct BrokerConfig {
            $( $(#[$doc])* pub $field: $ty, )*
        }

        impl Default for BrokerConfig {
            fn default() -> Self {
                BrokerConfig { $( $field: $default, )* }
            }
        }

        impl BrokerConfig {
            /// Apply one `key=value`; `Ok(false)` for a key rmqd does not use.
            pub fn set(&mut self, key: &str, value: &str) -> Result<bool, ConfigError> {
                match key {
                    $( $key => {
                        self.$field = <$ty as ConfigValue>::parse(value).ok_or_else(|| ConfigError::Invalid {
                            key: key.to_owned(),
                            value: value.to_owned(),
                            kind: <$ty as ConfigValue>::KIND,
                        })?;
                        Ok(true)
                    } )*
                    _ => Ok(false),
                }
            }

            /// Every setting as `(javaKey, value)`, for `-p`.
            pub fn entries(&self) -> Vec<(&'static str, String)> {
                vec![ $( ($key, ConfigValue::render(&self.$field)), )* ]
            }
        }
    };
}

fn default_store_root() -> String {
    home_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("store")
        .display()
        .to_string()
}

fn default_hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|s| s.trim().to_owned())
        .ok()
        .filter(|s| !s.is_empty())
        .unwrap_or_else(|| "localhost".into())
}

broker_config! {
    /// `brokerClusterName`
    broker_cluster_name: String = "DefaultCluster".into() => "brokerClusterName",
    /// `brokerName` (Java: the host name)
    broker_name: String = default_hostname() => "brokerName",
    /// `brokerId`: 0 is the master
    broker_id: i64 = 0 => "brokerId",
    /// `brokerIP1`: the address registered with name servers
    broker_ip1: String = "127.0.0.1".into() => "brokerIP1",
    /// `brokerIP2`: the address of the HA port a master registers (empty: `brokerIP1`)
    broker_ip2: String = String::new() => "brokerIP2",
    /// `listenPort`; the VIP channel listens on `listenPort - 2`
    listen_port: u16 = 10911 => "listenPort",
    /// `haListenPort`: the replication port (0: `listenPort + 1`, which Java 4.9's
    /// BrokerStartup always uses)
    ha_listen_port: u16 = 0 => "haListenPort",
    /// `namesrvAddr`: `;`-separated `host:port` list
    namesrv_addr: String = std::env::var("NAMESRV_ADDR").unwrap_or_default() => "namesrvAddr",
    /// `storePathRootDir`
    store_path_root_dir: String = default_store_root() => "storePathRootDir",
    /// `storePathCommitLog` (empty: `<storePathRootDir>/commitlog`)
    store_path_commit_log: String = String::new() => "storePathCommitLog",
    /// `brokerRole`: ASYNC_MASTER, SYNC_MASTER or SLAVE
    broker_role: String = "ASYNC_MASTER".into() => "brokerRole",
    /// `flushDiskType`: ASYNC_FLUSH or SYNC_FLUSH
    flush_disk_type: String = "ASYNC_FLUSH".into() => "flushDiskType",
    /// `autoCreateTopicEnable`
    auto_create_topic_enable: bool = true => "autoCreateTopicEnable",
    /// `autoCreateSubscriptionGroup`
    auto_create_subscription_group: bool = true => "autoCreateSubscriptionGroup",
    /// `defaultTopicQueueNums`
    default_topic_queue_nums: i32 = 8 => "defaultTopicQueueNums",
    /// `brokerPermission`
    broker_permission: i32 = 6 => "brokerPermission",
    /// `registerNameServerPeriod` (ms, clamped to 10–60 s)
    register_name_server_period: u64 = 30_000 => "registerNameServerPeriod",
    /// `registerBrokerTimeoutMills`
    register_broker_timeout_mills: u64 = 6_000 => "registerBrokerTimeoutMills",
    /// `mappedFileSizeCommitLog`
    mapped_file_size_commit_log: u64 = 1_073_741_824 => "mappedFileSizeCommitLog",
    /// `mappedFileSizeConsumeQueue`
    mapped_file_size_consume_queue: u64 = 6_000_000 => "mappedFileSizeConsumeQueue",
    /// `maxHashSlotNum`
    max_hash_slot_num: i32 = 5_000_000 => "maxHashSlotNum",
    /// `maxIndexNum`
    max_index_num: i32 = 20_000_000 => "maxIndexNum",
    /// `maxMessageSize`
    max_message_size: i32 = 4 * 1024 * 1024 => "maxMessageSize",
    /// `messageDelayLevel`
    message_delay_level: String = "1s 5s 10s 30s 1m 2m 3m 4m 5m 6m 7m 8m 9m 10m 20m 30m 1h 2h".into() => "messageDelayLevel",
    /// `syncFlushTimeout` (ms)
    sync_flush_timeout: u64 = 5_000 => "syncFlushTimeout",
    /// `flushIntervalCommitLog` (ms)
    flush_interval_commit_log: u64 = 500 => "flushIntervalCommitLog",
    /// `fileReservedTime` (hours)
    file_reserved_time: u64 = 72 => "fileReservedTime",
    /// `deleteWhen`: hours of day, `;`-separated
    delete_when: String = "04".into() => "deleteWhen",
    /// `diskMaxUsedSpaceRatio` (percent)
    disk_max_used_space_ratio: i32 = 75 => "diskMaxUsedSpaceRatio",
    /// `cleanFileForciblyEnable`: above `diskSpaceCleanForciblyRatio`, delete CommitLog
    /// files whether expired or not
    clean_file_forcibly_enable: bool = true => "cleanFileForciblyEnable",
    /// `cleanResourceInterval` (ms): how often the cleaner looks at the disk
    clean_resource_interval: u64 = 10_000 => "cleanResourceInterval",
    /// Java's `-Drocketmq.broker.diskSpaceWarningLevelRatio` (a JVM property there):
    /// above this share of the disk in use, sends are refused
    disk_space_warning_level_ratio: f64 = 0.90 => "diskSpaceWarningLevelRatio",
    /// Java's `-Drocketmq.broker.diskSpaceCleanForciblyRatio`: above this share,
    /// unexpired files are deleted too
    disk_space_clean_forcibly_ratio: f64 = 0.85 => "diskSpaceCleanForciblyRatio",
    /// `messageIndexEnable`
    message_index_enable: bool = true => "messageIndexEnable",
    /// `checkCRCOnRecover`
    check_crc_on_recover: bool = true => "checkCRCOnRecover",
    /// `flushIntervalConsumeQueue` (ms)
    flush_interval_consume_queue: u64 = 1_000 => "flushIntervalConsumeQueue",
    /// `flushConsumerOffsetInterval` (ms)
    flush_consumer_offset_interval: u64 = 5_000 => "flushConsumerOffsetInterval",
    /// `flushDelayOffsetInterval` (ms): accepted; rmqd writes delay progress whenever it moves
    flush_delay_offset_interval: u64 = 10_000 => "flushDelayOffsetInterval",
    /// `maxTransferBytesOnMessageInMemory`
    max_transfer_bytes_on_message_in_memory: u64 = 256 * 1024 => "maxTransferBytesOnMessageInMemory",
    /// `maxTransferCountOnMessageInMemory`
    max_transfer_count_on_message_in_memory: u64 = 32 => "maxTransferCountOnMessageInMemory",
    /// `sendThreadPoolQueueCapacity`: appends waiting for the writer beyond this are
    /// answered SYSTEM_BUSY
    send_thread_pool_queue_capacity: u64 = 10_000 => "sendThreadPoolQueueCapacity",
    /// `osPageCacheBusyTimeOutMills` (ms): an append stalled this long makes new sends
    /// answer SYSTEM_BUSY
    os_page_cache_busy_time_out_mills: u64 = 1_000 => "osPageCacheBusyTimeOutMills",
    /// rmqd only: shifts the delay-level clock (ms), so tests can bring a 2 h delay due
    /// at once. Leave at 0 in production.
    schedule_clock_offset_millis: i64 = 0 => "scheduleClockOffsetMillis",
    /// `timerWheelEnable`: accept timer messages (properties TIMER_DELIVER_MS,
    /// TIMER_DELAY_SEC, TIMER_DELAY_MS); when false they are refused
    timer_wheel_enable: bool = true => "timerWheelEnable",
    /// `timerPrecisionMs`: delivery granularity, 100, 200, 500 or 1000 (other values are
    /// rounded down to one of these, as Java does)
    timer_precision_ms: i64 = 1_000 => "timerPrecisionMs",
    /// `timerMaxDelaySec`: timer messages due further ahead are refused
    timer_max_delay_sec: i64 = 3 * 24 * 3600 => "timerMaxDelaySec",
    /// `timerRollWindowSlot`: delays longer than this many slots are parked in steps
    timer_roll_window_slot: i64 = 2 * 24 * 3600 => "timerRollWindowSlot",
    /// `timerFlushIntervalMs`: how often the timer log, wheel and checkpoint are written
    timer_flush_interval_ms: u64 = 1_000 => "timerFlushIntervalMs",
    /// `mappedFileSizeTimerLog`
    mapped_file_size_timer_log: u64 = 100 * 1024 * 1024 => "mappedFileSizeTimerLog",
    /// `timerCongestNumEachSlot`: above this many messages in one slot, timer sends are
    /// refused at random, always at twice as many
    timer_congest_num_each_slot: i64 = i32::MAX as i64 => "timerCongestNumEachSlot",
    /// `timerStopEnqueue`: stop parking timer messages in the wheel
    timer_stop_enqueue: bool = false => "timerStopEnqueue",
    /// `timerStopDequeue`: stop delivering due timer messages
    timer_stop_dequeue: bool = false => "timerStopDequeue",
    /// `timerProgressLogIntervalMs`
    timer_progress_log_interval_ms: u64 = 10_000 => "timerProgressLogIntervalMs",
    /// rmqd only: shifts the timer wheel's clock (ms), so tests can bring a delay of
    /// hours or days due at once. Leave at 0 in production.
    timer_clock_offset_millis: i64 = 0 => "timerClockOffsetMillis",
    /// `rejectTransactionMessage`
    reject_transaction_message: bool = false => "rejectTransactionMessage",
    /// `transactionTimeOut` (ms)
    transaction_time_out: u64 = 6_000 => "transactionTimeOut",
    /// `transactionCheckMax`
    transaction_check_max: i32 = 15 => "transactionCheckMax",
    /// `transactionCheckInterval` (ms)
    transaction_check_interval: u64 = 60_000 => "transactionCheckInterval",
    /// `longPollingEnable`
    long_polling_enable: bool = true => "longPollingEnable",
    /// `shortPollingTimeMills`
    short_polling_time_mills: u64 = 1_000 => "shortPollingTimeMills",
    /// `traceTopicEnable`
    trace_topic_enable: bool = false => "traceTopicEnable",
    /// `msgTraceTopicName`
    msg_trace_topic_name: String = "RMQ_SYS_TRACE_TOPIC".into() => "msgTraceTopicName",
    /// `enablePropertyFilter`: evaluate SQL92 subscriptions (`MessageSelector.bySql`)
    enable_property_filter: bool = false => "enablePropertyFilter",
    /// `filterSupportRetry`: apply a group's SQL92 filter to its %RETRY% messages too
    filter_support_retry: bool = false => "filterSupportRetry",
    /// `storeReplyMessageEnable`: keep replies (SEND_REPLY_MESSAGE) in the reply topic as
    /// well as pushing them to the requester
    store_reply_message_enable: bool = true => "storeReplyMessageEnable",
    /// `compressedRegister`
    compressed_register: bool = false => "compressedRegister",
    /// `forceRegister`
    force_register: bool = true => "forceRegister",
    /// `clusterTopicEnable`: create a topic named after the cluster
    cluster_topic_enable: bool = true => "clusterTopicEnable",
    /// `brokerTopicEnable`: create a topic named after the broker
    broker_topic_enable: bool = true => "brokerTopicEnable",
    /// `serverChannelMaxIdleTimeSeconds`: connections with no complete frame for this
    /// long are closed (0 disables)
    server_channel_max_idle_time_seconds: u64 = 120 => "serverChannelMaxIdleTimeSeconds",
    /// `serverSocketMaxFrameLength` (rmqd name for `com.rocketmq.remoting.frameMaxLength`)
    max_frame_length: u64 = 16 * 1024 * 1024 => "serverSocketMaxFrameLength",
    /// `aclEnable`: check every request against the plain ACL files
    acl_enable: bool = false => "aclEnable",
    /// Java's `-Drocketmq.home.dir` / `ROCKETMQ_HOME`: the ACL files live in its `conf/`
    rocketmq_home: String = std::env::var("ROCKETMQ_HOME").unwrap_or_default() => "rocketmqHome",
    /// Java's `-Drocketmq.acl.plain.file`: the main ACL file, relative to `rocketmqHome`
    acl_plain_file: String = "conf/plain_acl.yml".into() => "aclPlainFile",
    /// rmqd only: how often the ACL files are checked for changes (Java: 5 s)
    acl_file_watch_interval_mills: u64 = 5_000 => "aclFileWatchIntervalMills",
    /// `grpcServerPort` (Java proxy): the 5.x gRPC endpoint; 0 turns it off
    grpc_server_port: u16 = 8081 => "grpcServerPort",
    /// `tlsCertPath` (Java proxy): with `tlsKeyPath`, the gRPC port speaks TLS only;
    /// empty: plain TCP
    tls_cert_path: String = String::new() => "tlsCertPath",
    /// `tlsKeyPath` (Java proxy): PEM private key for `tlsCertPath`
    tls_key_path: String = String::new() => "tlsKeyPath",
    /// `reviveQueueNum`: queues of the POP revive topic
    revive_queue_num: i32 = 8 => "reviveQueueNum",
    /// `reviveInterval` (ms): how often unacknowledged pops are looked at
    revive_interval: u64 = 1_000 => "reviveInterval",
    /// `popFromRetryProbability` (percent): pops that look at the retry topic first
    pop_from_retry_probability: i32 = 20 => "popFromRetryProbability",
    /// rmqd only: shifts the revive clock (ms), so tests can bring a long invisible time
    /// due at once. Leave at 0 in production.
    pop_clock_offset_millis: i64 = 0 => "popClockOffsetMillis",
    /// `haMasterAddress`: a slave's fixed `host:haPort` of its master; empty: the
    /// `haServerAddr` of each registration response
    ha_master_address: String = String::new() => "haMasterAddress",
    /// `haSendHeartbeatInterval` (ms): slave reports and master heartbeats when idle
    ha_send_heartbeat_interval: u64 = 5_000 => "haSendHeartbeatInterval",
    /// `haHousekeepingInterval` (ms): an HA connection silent this long is closed
    ha_housekeeping_interval: u64 = 20_000 => "haHousekeepingInterval",
    /// `haTransferBatchSize`: the most CommitLog bytes in one transfer
    ha_transfer_batch_size: u64 = 32_768 => "haTransferBatchSize",
    /// `haSlaveFallbehindMax`: a slave further behind is not available to SYNC_MASTER sends
    ha_slave_fallbehind_max: i64 = 268_435_456 => "haSlaveFallbehindMax",
    /// `slaveTimeout` (ms): how long a SYNC_MASTER send waits for its slave
    slave_timeout: u64 = 3_000 => "slaveTimeout",
    /// `slaveReadEnable`: masters send lagging consumers to a slave
    slave_read_enable: bool = false => "slaveReadEnable",
    /// `offsetCheckInSlave`: a slave corrects consumers' bad pull offsets
    offset_check_in_slave: bool = false => "offsetCheckInSlave",
    /// `accessMessageInMemoryMaxRatio` (percent of memory): lag beyond it suggests a slave
    access_message_in_memory_max_ratio: i32 = 40 => "accessMessageInMemoryMaxRatio",
    /// rmqd only: port of the Prometheus endpoint (`GET /metrics`); 0 turns it off
    metrics_port: u16 = 0 => "metricsPort",
}

impl BrokerConfig {
    /// Read a Java `broker.conf`; unknown keys are accepted and logged, bad values fail.
    pub fn load(path: &std::path::Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_owned(),
            source,
        })?;
        let mut cfg = BrokerConfig::default();
        cfg.apply(&text)?;
        Ok(cfg)
    }

    pub fn apply(&mut self, text: &str) -> Result<(), ConfigError> {
        for (k, v) in parse_properties(text) {
            if !self.set(&k, &v)? {
                tracing::warn!(key = %k, "broker.conf key is not used by rmqd; ignored");
            }
        }
        Ok(())
    }

    /// The store's settings from this config; `store_host` goes into every record.
    pub fn store_config(
        &self,
        store_host: std::net::SocketAddr,
    ) -> Result<StoreConfig, ConfigError> {
        let mut c = StoreConfig::new(PathBuf::from(&self.store_path_root_dir), store_host);
        if !self.store_path_commit_log.is_empty() {
            c.commitlog_dir = Some(PathBuf::from(&self.store_path_commit_log));
        }
        c.mapped_file_size_commitlog = self.mapped_file_size_commit_log as usize;
        c.mapped_file_size_consume_queue = self.mapped_file_size_consume_queue as usize;
        c.flush_disk_type = match self.flush_disk_type.as_str() {
            "SYNC_FLUSH" => FlushDiskType::Sync,
            "ASYNC_FLUSH" => FlushDiskType::Async,
            other => {
                return Err(ConfigError::Invalid {
                    key: "flushDiskType".into(),
                    value: other.into(),
                    kind: "ASYNC_FLUSH or SYNC_FLUSH",
                })
            }
        };
        c.flush_interval_commitlog = Duration::from_millis(self.flush_interval_commit_log.max(1));
        c.flush_interval_consume_queue =
            Duration::from_millis(self.flush_interval_consume_queue.max(1));
        c.sync_flush_timeout = Duration::from_millis(self.sync_flush_timeout);
        c.max_message_size = self.max_message_size.max(0) as usize;
        c.check_crc_on_recover = self.check_crc_on_recover;
        c.max_hash_slot_num = self.max_hash_slot_num.max(1) as u32;
        c.max_index_num = self.max_index_num.max(1) as u32;
        c.message_index_enable = self.message_index_enable;
        c.delay_level_millis =
            parse_delay_levels(&self.message_delay_level).map_err(|_| ConfigError::Invalid {
                key: "messageDelayLevel".into(),
                value: self.message_delay_level.clone(),
                kind: "list of delays like 1s 5m 2h",
            })?;
        c.file_reserved_hours = self.file_reserved_time;
        c.delete_when = self.delete_when.clone();
        c.disk_max_used_space_ratio = self.disk_max_used_space_ratio.clamp(10, 95) as u32;
        // A share of the disk; nonsense (NaN, ≤ 0, ≥ 1) would disable the guard or refuse
        // every write, so it is kept within [0.01, 0.99].
        let ratio = |r: f64| {
            if r.is_nan() {
                0.90
            } else {
                r.clamp(0.01, 0.99)
            }
        };
        c.disk_space_warning_ratio = ratio(self.disk_space_warning_level_ratio);
        c.disk_space_clean_forcibly_ratio = ratio(self.disk_space_clean_forcibly_ratio);
        c.clean_file_forcibly_enable = self.clean_file_forcibly_enable;
        c.clean_resource_interval = Duration::from_millis(self.clean_resource_interval.max(100));
        c.max_transfer_bytes_on_message_in_memory =
            self.max_transfer_bytes_on_message_in_memory as usize;
        c.max_transfer_count_on_message_in_memory =
            self.max_transfer_count_on_message_in_memory as usize;
        c.send_queue_capacity = self.send_thread_pool_queue_capacity as usize;
        c.os_page_cache_busy_timeout =
            Duration::from_millis(self.os_page_cache_busy_time_out_mills);
        c.broker_role = self.role()?;
        c.slave_timeout = Duration::from_millis(self.slave_timeout);
        c.ha_slave_fallbehind_max = self.ha_slave_fallbehind_max;
        c.offset_check_in_slave = self.offset_check_in_slave;
        c.access_message_in_memory_max_ratio =
            self.access_message_in_memory_max_ratio.clamp(0, 100) as u32;
        Ok(c)
    }

    /// `brokerRole` as the store knows it.
    pub fn role(&self) -> Result<BrokerRole, ConfigError> {
        BrokerRole::parse(&self.broker_role).ok_or_else(|| ConfigError::Invalid {
            key: "brokerRole".into(),
            value: self.broker_role.clone(),
            kind: "ASYNC_MASTER, SYNC_MASTER or SLAVE",
        })
    }

    /// What `BrokerStartup` settles before the broker starts: a master's id is 0, a
    /// slave's must be above 0.
    pub fn settle_role(&mut self) -> Result<(), ConfigError> {
        if self.role()?.is_slave() {
            if self.broker_id <= 0 {
                return Err(ConfigError::Invalid {
                    key: "brokerId".into(),
                    value: self.broker_id.to_string(),
                    kind: "id above 0 (Slave's brokerId must be > 0)",
                });
            }
        } else {
            self.broker_id = 0;
        }
        Ok(())
    }

    pub fn broker_addr(&self) -> String {
        format!("{}:{}", self.broker_ip1, self.listen_port)
    }

    pub fn ha_server_addr(&self) -> String {
        let ip = if self.broker_ip2.is_empty() {
            &self.broker_ip1
        } else {
            &self.broker_ip2
        };
        format!("{ip}:{}", self.effective_ha_listen_port())
    }

    pub fn effective_ha_listen_port(&self) -> u16 {
        match self.ha_listen_port {
            0 => self.listen_port.saturating_add(1),
            p => p,
        }
    }

    pub fn namesrv_addrs(&self) -> Vec<String> {
        self.namesrv_addr
            .split(';')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .map(str::to_owned)
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_broker_conf_is_read() {
        let text = "# comment\nbrokerClusterName = DefaultCluster\nbrokerName=broker-a\nbrokerId:0\n\
                    deleteWhen=04\nfileReservedTime=48\nbrokerRole=ASYNC_MASTER\nflushDiskType=SYNC_FLUSH\n\
                    listenPort 20911\nnamesrvAddr=127.0.0.1:9876;127.0.0.2:9876\nsomeJavaOnlyKey=1\n\
                    messageDelayLevel=1s 2s \\\n  3s\n";
        let mut cfg = BrokerConfig::default();
        cfg.apply(text).unwrap();
        assert_eq!(cfg.broker_name, "broker-a");
        assert_eq!(cfg.listen_port, 20911);
        assert_eq!(cfg.file_reserved_time, 48);
        assert_eq!(cfg.flush_disk_type, "SYNC_FLUSH");
        assert_eq!(cfg.namesrv_addrs().len(), 2);
        assert_eq!(cfg.message_delay_level, "1s 2s 3s");
        assert!(cfg
            .entries()
            .iter()
            .any(|(k, v)| *k == "listenPort" && v == "20911"));
    }

    #[test]
    fn roles_settle_as_java_settles_them() {
        let mut cfg = BrokerConfig::default();
        cfg.apply("brokerRole=SYNC_MASTER\nbrokerId=3\nlistenPort=20911")
            .unwrap();
        cfg.settle_role().unwrap();
        assert_eq!(cfg.broker_id, 0, "a master is broker 0");
        assert_eq!(cfg.effective_ha_listen_port(), 20912);
        assert_eq!(cfg.ha_server_addr(), "127.0.0.1:20912");
        let mut slave = BrokerConfig::default();
        slave.apply("brokerRole=SLAVE\nbrokerId=0").unwrap();
        assert!(slave.settle_role().is_err(), "Slave's brokerId must be > 0");
        slave
            .apply("brokerId=1\nhaListenPort=30912\nbrokerIP2=10.0.0.9")
            .unwrap();
        slave.settle_role().unwrap();
        assert_eq!(slave.ha_server_addr(), "10.0.0.9:30912");
        assert!(slave
            .store_config("127.0.0.1:1".parse().unwrap())
            .unwrap()
            .broker_role
            .is_slave());
        let mut bad = BrokerConfig::default();
        bad.apply("brokerRole=MASTER").unwrap();
        assert!(bad.settle_role().is_err());
    }

    #[test]
    fn a_multi_byte_separator_is_cut_whole() {
        // UPDATE_BROKER_CONFIG hands this parser text from the wire.
        assert_eq!(
            parse_properties("key\u{a0}value\nk2\u{3000}v2"),
            vec![("key".into(), "value".into()), ("k2".into(), "v2".into())]
        );
    }

    #[test]
    fn bad_values_are_errors() {
        let mut cfg = BrokerConfig::default();
        assert!(cfg.apply("listenPort=abc").is_err());
        assert!(cfg.apply("autoCreateTopicEnable=yes").is_err());
    }
}
