//! Broker-wide families: the put and pull rates, and GET_BROKER_RUNTIME_INFO under the
//! exporter's `rocketmq_brokeruntime_*` names.

use super::families::{Family, Scope};
use crate::broker::context::BrokerContext;
use crate::broker::runtime_info::runtime_table;

pub fn families(ctx: &BrokerContext, scope: &Scope) -> Vec<Family> {
    let m = &ctx.stats.manager;
    let (cluster, broker, addr) = (&scope.cluster, &scope.broker, &scope.addr);
    // Broker-wide.
    let bl = || {
        vec![
            ("cluster", cluster.clone()),
            ("brokerIP", addr.clone()),
            ("broker", broker.clone()),
        ]
    };
    let (put_rate, get_rate) = m.broker_tps();
    let mut broker_tps = Family::gauge(
        "rocketmq_broker_tps",
        "Messages put per second, last minute",
    );
    broker_tps.add(bl(), put_rate);
    let mut broker_qps = Family::gauge(
        "rocketmq_broker_qps",
        "Messages pulled per second, last minute",
    );
    broker_qps.add(bl(), get_rate);

    let mut out = vec![broker_tps, broker_qps];
    out.extend(runtime_table_families(ctx, cluster, addr));
    out
}

/// GET_BROKER_RUNTIME_INFO as the exporter's `rocketmq_brokeruntime_*` gauges.
fn runtime_table_families(ctx: &BrokerContext, cluster: &str, addr: &str) -> Vec<Family> {
    let t = runtime_table(ctx).table;
    let get = |k: &str| t.get(k).cloned().unwrap_or_default();
    let num = |k: &str| get(k).trim().parse::<f64>().unwrap_or(0.0);
    // "a b c": the 10 s, 1 min and 10 min rates.
    let tps = |k: &str, i: usize| {
        get(k)
            .split(' ')
            .nth(i)
            .and_then(|v| v.trim().parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    let labels = vec![
        ("cluster", cluster.to_owned()),
        ("brokerIP", addr.to_owned()),
        ("brokerHost", String::new()),
        ("des", get("brokerVersionDesc")),
        ("boottime", get("bootTimestamp")),
        ("broker_version", get("brokerVersion")),
    ];
    let (total, free) = crate::broker::stats::disk::space(&ctx.store.config().root_dir)
        .map(|(t, _, u)| (t as f64, u as f64))
        .unwrap_or((0.0, 0.0));
    let unflushed = (ctx.store.commitlog_max_offset() - ctx.store.flushed_offset()).max(0) as f64;
    let mut values: Vec<(&'static str, &'static str, f64)> = vec![
        (
            "rocketmq_brokeruntime_msg_put_total_today_now",
            "msgPutTotalTodayNow",
            num("msgPutTotalTodayNow"),
        ),
        (
            "rocketmq_brokeruntime_msg_gettotal_today_now",
            "msgGetTotalTodayNow",
            num("msgGetTotalTodayNow"),
        ),
        (
            "rocketmq_brokeruntime_dispatch_behind_bytes",
            "dispatchBehindBytes",
            num("dispatchBehindBytes"),
        ),
        (
            "rocketmq_brokeruntime_put_message_size_total",
            "putMessageSizeTotal",
            num("putMessageSizeTotal"),
        ),
        (
            "rocketmq_brokeruntime_put_message_average_size",
            "putMessageAverageSize",
            num("putMessageAverageSize"),
        ),
        (
            "rocketmq_brokeruntime_query_threadpool_queue_capacity",
            "queryThreadPoolQueueCapacity",
            num("queryThreadPoolQueueCapacity"),
        ),
        (
            "rocketmq_brokeruntime_remain_transientstore_buffer_numbs",
            "remainTransientStoreBufferNumbs",
            num("remainTransientStoreBufferNumbs"),
        ),
        (
            "rocketmq_brokeruntime_earliest_message_timestamp",
            "earliestMessageTimeStamp",
            num("earliestMessageTimeStamp"),
        ),
        (
            "rocketmq_brokeruntime_putmessage_entire_time_max",
            "putMessageEntireTimeMax",
            num("putMessageEntireTimeMax"),
        ),
        (
            "rocketmq_brokeruntime_start_accept_sendrequest_time",
            "startAcceptSendRequestTimeStamp",
            num("startAcceptSendRequestTimeStamp"),
        ),
        (
            "rocketmq_brokeruntime_send_threadpool_queue_size",
            "sendThreadPoolQueueSize",
            num("sendThreadPoolQueueSize"),
        ),
        (
            "rocketmq_brokeruntime_putmessage_times_total",
            "putMessageTimesTotal",
            num("putMessageTimesTotal"),
        ),
        (
            "rocketmq_brokeruntime_getmessage_entire_time_max",
            "getMessageEntireTimeMax",
            num("getMessageEntireTimeMax"),
        ),
        (
            "rocketmq_brokeruntime_pagecache_lock_time_mills",
            "pageCacheLockTimeMills",
            num("pageCacheLockTimeMills"),
        ),
        (
            "rocketmq_brokeruntime_commitlog_disk_ratio",
            "commitLogDiskRatio",
            num("commitLogDiskRatio"),
        ),
        (
            "rocketmq_brokeruntime_consumequeue_disk_ratio",
            "consumeQueueDiskRatio",
            num("consumeQueueDiskRatio"),
        ),
        (
            "rocketmq_brokeruntime_getfound_tps600",
            "getFoundTps (10 min)",
            tps("getFoundTps", 2),
        ),
        (
            "rocketmq_brokeruntime_getfound_tps60",
            "getFoundTps (1 min)",
            tps("getFoundTps", 1),
        ),
        (
            "rocketmq_brokeruntime_getfound_tps10",
            "getFoundTps (10 s)",
            tps("getFoundTps", 0),
        ),
        (
            "rocketmq_brokeruntime_gettotal_tps600",
            "getTotalTps (10 min)",
            tps("getTotalTps", 2),
        ),
        (
            "rocketmq_brokeruntime_gettotal_tps60",
            "getTotalTps (1 min)",
            tps("getTotalTps", 1),
        ),
        (
            "rocketmq_brokeruntime_gettotal_tps10",
            "getTotalTps (10 s)",
            tps("getTotalTps", 0),
        ),
        (
            "rocketmq_brokeruntime_gettransfered_tps600",
            "getTransferedTps (10 min)",
            tps("getTransferedTps", 2),
        ),
        (
            "rocketmq_brokeruntime_gettransfered_tps60",
            "getTransferedTps (1 min)",
            tps("getTransferedTps", 1),
        ),
        (
            "rocketmq_brokeruntime_gettransfered_tps10",
            "getTransferedTps (10 s)",
            tps("getTransferedTps", 0),
        ),
        (
            "rocketmq_brokeruntime_getmiss_tps600",
            "getMissTps (10 min)",
            tps("getMissTps", 2),
        ),
        (
            "rocketmq_brokeruntime_getmiss_tps60",
            "getMissTps (1 min)",
            tps("getMissTps", 1),
        ),
        (
            "rocketmq_brokeruntime_getmiss_tps10",
            "getMissTps (10 s)",
            tps("getMissTps", 0),
        ),
        (
            "rocketmq_brokeruntime_put_tps600",
            "putTps (10 min)",
            tps("putTps", 2),
        ),
        (
            "rocketmq_brokeruntime_put_tps60",
            "putTps (1 min)",
            tps("putTps", 1),
        ),
        (
            "rocketmq_brokeruntime_put_tps10",
            "putTps (10 s)",
            tps("putTps", 0),
        ),
        (
            "rocketmq_brokeruntime_dispatch_maxbuffer",
            "dispatchMaxBuffer",
            num("dispatchMaxBuffer"),
        ),
        (
            "rocketmq_brokeruntime_pull_threadpoolqueue_capacity",
            "pullThreadPoolQueueCapacity",
            num("pullThreadPoolQueueCapacity"),
        ),
        (
            "rocketmq_brokeruntime_send_threadpoolqueue_capacity",
            "sendThreadPoolQueueCapacity",
            num("sendThreadPoolQueueCapacity"),
        ),
        (
            "rocketmq_brokeruntime_pull_threadpoolqueue_size",
            "pullThreadPoolQueueSize",
            num("pullThreadPoolQueueSize"),
        ),
        (
            "rocketmq_brokeruntime_query_threadpoolqueue_size",
            "queryThreadPoolQueueSize",
            num("queryThreadPoolQueueSize"),
        ),
        (
            "rocketmq_brokeruntime_pull_threadpoolqueue_headwait_timemills",
            "pullThreadPoolQueueHeadWaitTimeMills",
            num("pullThreadPoolQueueHeadWaitTimeMills"),
        ),
        (
            "rocketmq_brokeruntime_query_threadpoolqueue_headwait_timemills",
            "queryThreadPoolQueueHeadWaitTimeMills",
            num("queryThreadPoolQueueHeadWaitTimeMills"),
        ),
        (
            "rocketmq_brokeruntime_send_threadpoolqueue_headwait_timemills",
            "sendThreadPoolQueueHeadWaitTimeMills",
            num("sendThreadPoolQueueHeadWaitTimeMills"),
        ),
        (
            "rocketmq_brokeruntime_msg_gettotal_yesterdaymorning",
            "msgGetTotalYesterdayMorning",
            num("msgGetTotalYesterdayMorning"),
        ),
        (
            "rocketmq_brokeruntime_msg_puttotal_yesterdaymorning",
            "msgPutTotalYesterdayMorning",
            num("msgPutTotalYesterdayMorning"),
        ),
        (
            "rocketmq_brokeruntime_msg_gettotal_todaymorning",
            "msgGetTotalTodayMorning",
            num("msgGetTotalTodayMorning"),
        ),
        (
            "rocketmq_brokeruntime_msg_puttotal_todaymorning",
            "msgPutTotalTodayMorning",
            num("msgPutTotalTodayMorning"),
        ),
        (
            "rocketmq_brokeruntime_commitlogdir_capacity_free",
            "commitLogDirCapacity free bytes",
            free,
        ),
        (
            "rocketmq_brokeruntime_commitlogdir_capacity_total",
            "commitLogDirCapacity total bytes",
            total,
        ),
        (
            "rocketmq_brokeruntime_commitlog_maxoffset",
            "commitLogMaxOffset",
            num("commitLogMaxOffset"),
        ),
        (
            "rocketmq_brokeruntime_commitlog_minoffset",
            "commitLogMinOffset",
            num("commitLogMinOffset"),
        ),
        (
            "rocketmq_brokeruntime_remain_howmanydata_toflush",
            "remainHowManyDataToFlush (bytes)",
            unflushed,
        ),
        (
            "rocketmq_brokeruntime_put_latency_99",
            "putLatency99 (ms)",
            num("putLatency99"),
        ),
        (
            "rocketmq_brokeruntime_put_latency_999",
            "putLatency999 (ms)",
            num("putLatency999"),
        ),
    ];
    // The last minute's put time distribution, one family per range.
    const PMDT: [&str; 13] = [
        "rocketmq_brokeruntime_pmdt_0ms",
        "rocketmq_brokeruntime_pmdt_0to10ms",
        "rocketmq_brokeruntime_pmdt_10to50ms",
        "rocketmq_brokeruntime_pmdt_50to100ms",
        "rocketmq_brokeruntime_pmdt_100to200ms",
        "rocketmq_brokeruntime_pmdt_200to500ms",
        "rocketmq_brokeruntime_pmdt_500to1s",
        "rocketmq_brokeruntime_pmdt_1to2s",
        "rocketmq_brokeruntime_pmdt_2to3s",
        "rocketmq_brokeruntime_pmdt_3to4s",
        "rocketmq_brokeruntime_pmdt_4to5s",
        "rocketmq_brokeruntime_pmdt_5to10s",
        "rocketmq_brokeruntime_pmdt_10stomore",
    ];
    let dist = ctx
        .store
        .stats()
        .last_minute()
        .map(|m| m.distribution)
        .unwrap_or_else(|| vec![0; PMDT.len()]);
    for (name, n) in PMDT.iter().zip(dist) {
        values.push((name, "putMessageDistributeTime, last minute", n as f64));
    }
    values
        .into_iter()
        .map(|(name, help, v)| {
            let mut f = Family::gauge(name, help);
            f.add(labels.clone(), v);
            f
        })
        .collect()
}
