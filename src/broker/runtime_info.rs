//! GET_BROKER_RUNTIME_INFO (28): the broker's runtime figures as a `KVTable`, under every
//! key the Java 4.9.8 broker reports (mqadmin brokerStatus and clusterList print them,
//! rocketmq-exporter turns them into `rocketmq_brokeruntime_*`), plus the store's health.
//!
//! Thread-pool keys describe rmqd's equivalents: the send queue is the store writer's
//! queue; pulls, queries and transaction ends are answered on the connection, so their
//! queues are always empty.

use rmqd_remoting::body::topic::KvTable;
use rmqd_remoting::RemotingCommand;
use rmqd_store::message_store::DISTRIBUTION_NAMES;
use rmqd_store::record::{self, Decoded};

use super::context::{now_ms, BrokerContext, Outcome};
use super::stats::disk::{human_bytes, space, used_ratio};
use super::stats::store_rates::{java_double, Counter};

/// The Java release whose behaviour rmqd reproduces (`MQVersion.Version.V4_9_8`).
const BROKER_VERSION: i32 = 409;
const BROKER_VERSION_DESC: &str = "V4_9_8";
/// Java's defaults for the pools rmqd does not have (`BrokerConfig`).
const PULL_QUEUE_CAPACITY: u32 = 100_000;
const QUERY_QUEUE_CAPACITY: u32 = 20_000;
const END_TRANSACTION_QUEUE_CAPACITY: u32 = 100_000;

/// `[ 0 days, 0 hours, 0 minutes, 59 seconds ]`.
fn format_runtime(ms: i64) -> String {
    let s = ms.max(0) / 1000;
    format!(
        "[ {} days, {} hours, {} minutes, {} seconds ]",
        s / 86_400,
        s % 86_400 / 3600,
        s % 3600 / 60,
        s % 60
    )
}

/// `getEarliestMessageTime()`: the store time of the first CommitLog record, read as Java
/// reads it (a `2 × maxMessageSize` window that must lie within the first file, -1
/// otherwise).
fn earliest_message_time(ctx: &BrokerContext) -> i64 {
    let cfg = ctx.store.config();
    let min = ctx.store.commitlog_min_offset();
    let file = cfg.mapped_file_size_commitlog.max(1) as i64;
    let file_end = (min / file + 1) * file;
    let readable = ctx.store.commitlog_max_offset().min(file_end);
    if min + 2 * cfg.max_message_size as i64 > readable {
        return -1;
    }
    ctx.store
        .message_at(min)
        .and_then(|b| match record::decode(&b, false) {
            Ok(Decoded::Message(m)) => Some(m.store_timestamp),
            _ => None,
        })
        .unwrap_or(-1)
}

pub fn runtime_table(ctx: &BrokerContext) -> KvTable {
    let store = &ctx.store;
    let cfg = store.config();
    let counters = store.stats().counters();
    let rates = &ctx.stats.store_rates;
    let mut t = KvTable::default();
    let mut put = |k: &str, v: String| {
        t.table.insert(k.to_string(), v);
    };

    // StoreStatsService.getRuntimeInfo
    let put_times = counters.put_times_total.max(1);
    put("bootTimestamp", ctx.stats.boot_ms.to_string());
    put("runtime", format_runtime(now_ms() - ctx.stats.boot_ms));
    put(
        "putMessageEntireTimeMax",
        counters.put_entire_time_max.to_string(),
    );
    put("putMessageTimesTotal", put_times.to_string());
    put(
        "putMessageFailedTimes",
        counters.put_failed_times.to_string(),
    );
    put("putMessageSizeTotal", counters.put_size_total.to_string());
    put(
        "putMessageDistributeTime",
        match store.stats().last_minute() {
            None => "null".into(),
            Some(m) => DISTRIBUTION_NAMES
                .iter()
                .zip(&m.distribution)
                .map(|(n, c)| format!("{n}:{c} "))
                .collect(),
        },
    );
    put(
        "putMessageAverageSize",
        java_double(counters.put_size_total as f64 / put_times as f64),
    );
    put("dispatchMaxBuffer", "0".into());
    put(
        "getMessageEntireTimeMax",
        counters.get_entire_time_max.to_string(),
    );
    put("putTps", rates.tps_text(Counter::Put));
    put("getFoundTps", rates.tps_text(Counter::GetFound));
    put("getMissTps", rates.tps_text(Counter::GetMiss));
    put("getTotalTps", rates.total_get_tps_text());
    put("getTransferedTps", rates.tps_text(Counter::GetTransferred));
    put(
        "putLatency99",
        format!("{:.2}", store.stats().put_latency_percentile(0.99)),
    );
    put(
        "putLatency999",
        format!("{:.2}", store.stats().put_latency_percentile(0.999)),
    );

    // DefaultMessageStore.getRuntimeInfo
    let cl_path = cfg.commitlog_path();
    let cl_ratio = used_ratio(&cl_path);
    put(
        &format!("commitLogDiskRatio_{}", cl_path.display()),
        java_double(cl_ratio),
    );
    put("commitLogDiskRatio", java_double(cl_ratio));
    put(
        "consumeQueueDiskRatio",
        java_double(used_ratio(&cfg.consume_queue_path())),
    );
    for (level, offset) in ctx.delays.snapshot() {
        let max = store.max_offset_in_queue(rmqd_store::dispatch::SCHEDULE_TOPIC, level - 1);
        put(
            &format!("scheduleMessageOffset_{level}"),
            format!("{offset},{max}"),
        );
    }
    put(
        "commitLogMinOffset",
        store.commitlog_min_offset().to_string(),
    );
    put(
        "commitLogMaxOffset",
        store.commitlog_max_offset().to_string(),
    );

    // AdminBrokerProcessor.prepareRuntimeInfo
    put("brokerVersionDesc", BROKER_VERSION_DESC.into());
    put("brokerVersion", BROKER_VERSION.to_string());
    let (put_y, put_t, get_y, get_t) = ctx.stats.daily.get();
    put("msgPutTotalYesterdayMorning", put_y.to_string());
    put("msgPutTotalTodayMorning", put_t.to_string());
    put("msgPutTotalTodayNow", counters.put_times_total.to_string());
    put("msgGetTotalYesterdayMorning", get_y.to_string());
    put("msgGetTotalTodayMorning", get_t.to_string());
    put("msgGetTotalTodayNow", counters.get_transferred.to_string());
    let queued = store.queued_appends();
    put("sendThreadPoolQueueSize", queued.to_string());
    put(
        "sendThreadPoolQueueCapacity",
        cfg.send_queue_capacity.to_string(),
    );
    put("pullThreadPoolQueueSize", "0".into());
    put(
        "pullThreadPoolQueueCapacity",
        PULL_QUEUE_CAPACITY.to_string(),
    );
    put("queryThreadPoolQueueSize", "0".into());
    put(
        "queryThreadPoolQueueCapacity",
        QUERY_QUEUE_CAPACITY.to_string(),
    );
    put("EndTransactionQueueSize", "0".into());
    put(
        "EndTransactionThreadPoolQueueCapacity",
        END_TRANSACTION_QUEUE_CAPACITY.to_string(),
    );
    put(
        "dispatchBehindBytes",
        (store.commitlog_max_offset() - store.dispatched_offset())
            .max(0)
            .to_string(),
    );
    let stall = store.append_stall_ms();
    put("pageCacheLockTimeMills", stall.to_string());
    // The oldest queued send has waited at least as long as the append in progress.
    put(
        "sendThreadPoolQueueHeadWaitTimeMills",
        if queued > 0 { stall } else { 0 }.to_string(),
    );
    put("pullThreadPoolQueueHeadWaitTimeMills", "0".into());
    put("queryThreadPoolQueueHeadWaitTimeMills", "0".into());
    put(
        "earliestMessageTimeStamp",
        earliest_message_time(ctx).to_string(),
    );
    put("startAcceptSendRequestTimeStamp", "0".into());
    put("remainTransientStoreBufferNumbs", i32::MAX.to_string());
    put(
        "remainHowManyDataToFlush",
        human_bytes((store.commitlog_max_offset() - store.flushed_offset()).max(0)),
    );
    if let Some((total, _, usable)) = space(&cfg.root_dir) {
        put(
            "commitLogDirCapacity",
            format!(
                "Total : {}, Free : {}.",
                human_bytes(total as i64),
                human_bytes(usable as i64)
            ),
        );
    }

    // rmqd's own: RUNNING, DISK_FULL or POISONED, and why; timer tasks restarted after
    // a panic.
    let health = store.health();
    put("brokerTaskRestarts", ctx.task_restarts.get().to_string());
    put("storeHealth", health.state.as_str().into());
    put("storeHealthCause", health.cause.unwrap_or_default());
    if let Some(timer) = ctx.timer.as_deref() {
        for (k, v) in timer.figures(store) {
            put(k, v);
        }
    }
    // rmqd's replication view: the role, a master's slaves and how far they have the
    // CommitLog, a slave's master and whether its HA link is up.
    put("brokerRole", ctx.ha.role.as_str().into());
    if ctx.ha.role.is_slave() {
        put(
            "haMasterAddress",
            ctx.ha.ha_master_addr().unwrap_or_default(),
        );
        put("masterAddr", ctx.ha.master_addr().unwrap_or_default());
        put("haConnected", ctx.ha.is_connected().to_string());
    } else {
        let (slaves, acked) = store.replica_status();
        put("haSlaveConnections", slaves.to_string());
        put("haSlaveAckOffset", acked.to_string());
        put(
            "haSlaveFallBehind",
            if slaves > 0 {
                (store.commitlog_max_offset() - acked).max(0).to_string()
            } else {
                "-1".into()
            },
        );
    }
    t
}

pub fn runtime_info(ctx: &BrokerContext, req: &RemotingCommand) -> Outcome<RemotingCommand> {
    let t = runtime_table(ctx);
    Ok(RemotingCommand::success(req).with_body(serde_json::to_vec(&t).unwrap_or_default()))
}

#[cfg(test)]
mod tests {
    use super::format_runtime;

    #[test]
    fn runtime_as_java_prints_it() {
        assert_eq!(
            format_runtime(59_400),
            "[ 0 days, 0 hours, 0 minutes, 59 seconds ]"
        );
        assert_eq!(
            format_runtime(((2 * 24 + 3) * 3600 + 4 * 60 + 5) * 1000),
            "[ 2 days, 3 hours, 4 minutes, 5 seconds ]"
        );
    }
}
