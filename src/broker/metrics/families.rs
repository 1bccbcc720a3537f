//! The metric families the endpoint reports, computed at scrape time from the broker's
//! statistics. Where rocketmq-exporter reports the same figure, the family has the
//! exporter's name and labels (so its Grafana dashboards work on rmqd as they are); rmqd's
//! own figures are named `rmqd_*`.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;

use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::metrics::MetricType;

use crate::broker::admin::consume_stats::group_topic_stats;
use crate::broker::context::{now_ms, BrokerContext};
use crate::broker::retry::{DLQ_PREFIX, RETRY_PREFIX};
use crate::broker::runtime_info::runtime_table;
use crate::broker::stats::item::Window;

/// One family: its samples as label sets and values.
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    pub kind: MetricType,
    pub samples: Vec<(Vec<(&'static str, String)>, f64)>,
}

impl Family {
    fn gauge(name: &'static str, help: &'static str) -> Self {
        Family {
            name,
            help,
            kind: MetricType::Gauge,
            samples: Vec::new(),
        }
    }

    fn counter(name: &'static str, help: &'static str) -> Self {
        Family {
            kind: MetricType::Counter,
            ..Family::gauge(name, help)
        }
    }

    fn add(&mut self, labels: Vec<(&'static str, String)>, v: f64) {
        self.samples.push((labels, v));
    }

    pub fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut m = encoder.encode_descriptor(self.name, self.help, None, self.kind)?;
        for (labels, v) in &self.samples {
            let mut f = m.encode_family(labels)?;
            match self.kind {
                MetricType::Counter => {
                    f.encode_counter::<prometheus_client::encoding::NoLabelSet, f64, f64>(v, None)?
                }
                _ => f.encode_gauge(v)?,
            }
        }
        Ok(())
    }
}

/// A histogram family without labels.
pub struct Histogram {
    pub name: &'static str,
    pub help: &'static str,
    pub sum: f64,
    pub count: u64,
    /// (upper bound, observations in this bucket alone).
    pub buckets: Vec<(f64, u64)>,
}

impl Histogram {
    pub fn encode(&self, encoder: &mut DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let mut m = encoder.encode_descriptor(self.name, self.help, None, MetricType::Histogram)?;
        m.encode_histogram::<prometheus_client::encoding::NoLabelSet>(
            self.sum,
            self.count,
            &self.buckets,
            None,
        )
    }
}

fn kind_of(topic: &str) -> u8 {
    if topic.starts_with(RETRY_PREFIX) {
        1
    } else if topic.starts_with(DLQ_PREFIX) {
        2
    } else {
        0
    }
}

/// Every family, in a stable order.
pub fn collect(ctx: &BrokerContext) -> (Vec<Family>, Vec<Histogram>) {
    let cluster = ctx.config.broker_cluster_name.clone();
    let broker = ctx.config.broker_name.clone();
    let addr = ctx.config.broker_addr();
    let m = &ctx.stats.manager;
    let cb = |extra: Vec<(&'static str, String)>| {
        let mut l = vec![("cluster", cluster.clone()), ("broker", broker.clone())];
        l.extend(extra);
        l
    };
    let mut out = Vec::new();

    // Topics: rates (exporter: TOPIC_PUT_NUMS / TOPIC_PUT_SIZE per minute) and totals.
    let mut put_tps = Family::gauge(
        "rocketmq_producer_tps",
        "Messages put per second into a topic, last minute",
    );
    let mut put_size = Family::gauge(
        "rocketmq_producer_message_size",
        "Bytes put per second into a topic, last minute",
    );
    let mut put_msgs = Family::counter("rmqd_topic_put_messages", "Messages put into a topic");
    let mut put_bytes = Family::counter("rmqd_topic_put_bytes", "Bytes put into a topic");
    for (topic, t) in m.topics() {
        let nums = t.put.nums.snapshot(Window::Minute);
        let size = t.put.size.snapshot(Window::Minute);
        if kind_of(&topic) == 0 {
            put_tps.add(cb(vec![("topic", topic.clone())]), nums.tps);
            put_size.add(cb(vec![("topic", topic.clone())]), size.tps);
        }
        put_msgs.add(vec![("topic", topic.clone())], t.put.nums.value() as f64);
        put_bytes.add(vec![("topic", topic)], t.put.size.value() as f64);
    }

    // Topic offsets: the sum of the queues' max offsets.
    let mut producer_offset = Family::gauge(
        "rocketmq_producer_offset",
        "Sum of a topic's queue max offsets",
    );
    let mut retry_offset = Family::gauge(
        "rocketmq_topic_retry_offset",
        "Sum of a retry topic's queue max offsets",
    );
    let mut dlq_offset = Family::gauge(
        "rocketmq_topic_dlq_offset",
        "Sum of a dead-letter topic's queue max offsets",
    );
    let topics: Vec<(String, i32)> = {
        let t = ctx.topics();
        t.names()
            .filter_map(|n| t.get(n).map(|c| (n.clone(), c.write_queue_nums)))
            .collect()
    };
    for (topic, queues) in &topics {
        let sum: i64 = (0..*queues)
            .map(|q| ctx.store.max_offset_in_queue(topic, q))
            .sum();
        match kind_of(topic) {
            0 => producer_offset.add(cb(vec![("topic", topic.clone())]), sum as f64),
            1 => retry_offset.add(cb(vec![("topic", topic.clone())]), sum as f64),
            _ => dlq_offset.add(
                cb(vec![(
                    "group",
                    topic.trim_start_matches(DLQ_PREFIX).to_owned(),
                )]),
                sum as f64,
            ),
        }
    }

    // Groups: get rates, send-backs, totals.
    let mut get_tps = Family::gauge(
        "rocketmq_consumer_tps",
        "Messages a group pulled per second from a topic, last minute",
    );
    let mut get_size = Family::gauge(
        "rocketmq_consumer_message_size",
        "Bytes a group pulled per second from a topic, last minute",
    );
    let mut get_msgs = Family::counter(
        "rmqd_group_get_messages",
        "Messages a group pulled from a topic",
    );
    let mut get_bytes =
        Family::counter("rmqd_group_get_bytes", "Bytes a group pulled from a topic");
    for (key, g) in m.groups() {
        let Some((topic, group)) = key.split_once('@') else {
            continue;
        };
        let tg = || vec![("topic", topic.to_owned()), ("group", group.to_owned())];
        get_tps.add(cb(tg()), g.nums.snapshot(Window::Minute).tps);
        get_size.add(cb(tg()), g.size.snapshot(Window::Minute).tps);
        get_msgs.add(tg(), g.nums.value() as f64);
        get_bytes.add(tg(), g.size.value() as f64);
    }
    let mut send_back = Family::gauge(
        "rocketmq_send_back_nums",
        "Messages a group handed back, last minute",
    );
    for (key, item) in m.send_backs() {
        if let Some((topic, group)) = key.split_once('@') {
            send_back.add(
                cb(vec![
                    ("topic", topic.to_owned()),
                    ("group", group.to_owned()),
                ]),
                item.snapshot(Window::Minute).sum as f64,
            );
        }
    }

    // Consumer progress per group and topic: what consumeProgress shows.
    let mut pairs: BTreeSet<(String, String)> = BTreeSet::new();
    for (topic, _) in &topics {
        if kind_of(topic) == 2 {
            continue;
        }
        for g in ctx.offsets.groups_of_topic(topic) {
            pairs.insert((g, topic.clone()));
        }
        for g in ctx.clients.groups_subscribing(topic) {
            pairs.insert((g, topic.clone()));
        }
    }
    let mut diff = Family::gauge(
        "rocketmq_group_diff",
        "Messages a clustering group has not consumed yet",
    );
    let mut retry_diff = Family::gauge(
        "rocketmq_group_retrydiff",
        "Messages of a group's retry topic not consumed yet",
    );
    let mut dlq_diff = Family::gauge(
        "rocketmq_group_dlqdiff",
        "Messages of a group's dead-letter topic not consumed yet",
    );
    let mut consumer_offset = Family::gauge(
        "rocketmq_consumer_offset",
        "Sum of a group's consumer offsets over a topic's queues",
    );
    let mut latency = Family::gauge(
        "rocketmq_group_get_latency_by_storetime",
        "How long (ms) the oldest message a group has not consumed has waited",
    );
    let mut lag = Family::gauge("rmqd_consumer_lag", "Messages not consumed yet, per queue");
    let now = now_ms();
    for (group, topic) in &pairs {
        let Some(stats) = group_topic_stats(ctx, group, topic) else {
            continue;
        };
        let channels = ctx.clients.consumer_channels(group);
        let model = ctx
            .clients
            .with_group(group, |g| g.message_model.clone())
            .unwrap_or_default();
        let clustering = model != "BROADCASTING";
        let consumer_sum: i64 = stats
            .offset_table
            .iter()
            .map(|(_, o)| o.consumer_offset)
            .sum();
        consumer_offset.add(
            cb(vec![("topic", topic.clone()), ("group", group.clone())]),
            consumer_sum as f64,
        );
        let mut oldest = 0i64;
        for (mq, o) in &stats.offset_table {
            let behind = o.broker_offset - o.consumer_offset;
            lag.add(
                vec![
                    ("group", group.clone()),
                    ("topic", topic.clone()),
                    ("queueId", mq.queue_id.to_string()),
                ],
                behind as f64,
            );
            if behind > 0 {
                if let Some(t) = ctx
                    .store
                    .store_time_at(topic, mq.queue_id, o.consumer_offset)
                {
                    oldest = oldest.max(now - t);
                }
            }
        }
        if clustering {
            let labels = vec![
                ("group", group.clone()),
                ("topic", topic.clone()),
                ("countOfOnlineConsumers", channels.len().to_string()),
                // MessageModel.CLUSTERING.ordinal()
                ("msgModel", "1".to_owned()),
            ];
            let fam = match kind_of(topic) {
                0 => &mut diff,
                1 => &mut retry_diff,
                _ => &mut dlq_diff,
            };
            fam.add(labels, stats.total_diff() as f64);
            latency.add(
                cb(vec![("topic", topic.clone()), ("group", group.clone())]),
                oldest as f64,
            );
        }
    }

    // Online clients.
    let mut group_count = Family::gauge("rocketmq_group_count", "Consumers online in a group");
    let groups_online: BTreeMap<String, Vec<_>> = pairs
        .iter()
        .map(|(g, _)| (g.clone(), ctx.clients.consumer_channels(g)))
        .collect();
    for (group, chs) in groups_online {
        let join = |f: &dyn Fn(&crate::broker::clients::ClientChannel) -> String| {
            chs.iter().map(f).collect::<Vec<_>>().join(",")
        };
        group_count.add(
            vec![
                ("caddr", join(&|c| c.conn.peer_addr().to_string())),
                ("localaddr", join(&|c| c.client_id.clone())),
                ("group", group),
            ],
            chs.len() as f64,
        );
    }
    let mut producer_count =
        Family::gauge("rocketmq_producer_count", "Producers online in a group");
    for (group, chs) in ctx.clients.all_producers() {
        producer_count.add(cb(vec![("group", group)]), chs.len() as f64);
    }

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

    out.extend([
        put_tps,
        put_size,
        producer_offset,
        retry_offset,
        dlq_offset,
        get_tps,
        get_size,
        send_back,
        consumer_offset,
        diff,
        retry_diff,
        dlq_diff,
        latency,
        group_count,
        producer_count,
        broker_tps,
        broker_qps,
    ]);
    out.extend(runtime_families(ctx, &cluster, &addr));
    out.extend([put_msgs, put_bytes, get_msgs, get_bytes, lag]);
    out.extend(own_families(ctx));
    (out, vec![flush_histogram(ctx)])
}

/// GET_BROKER_RUNTIME_INFO as the exporter's `rocketmq_brokeruntime_*` gauges.
fn runtime_families(ctx: &BrokerContext, cluster: &str, addr: &str) -> Vec<Family> {
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

/// rmqd's own broker-wide figures.
fn own_families(ctx: &BrokerContext) -> Vec<Family> {
    let s = &ctx.stats;
    let mut connections = Family::gauge(
        "rmqd_connections",
        "Client connections open on the broker ports",
    );
    connections.add(vec![], s.connections.load(Ordering::Relaxed) as f64);
    let mut busy = Family::counter(
        "rmqd_system_busy",
        "Sends answered SYSTEM_BUSY (flow control)",
    );
    busy.add(vec![], s.system_busy.load(Ordering::Relaxed) as f64);
    let c = ctx.store.stats().counters();
    let mut put = Family::counter(
        "rmqd_store_put_messages",
        "Messages appended to the CommitLog",
    );
    put.add(vec![], c.put_times_total as f64);
    let mut put_failed = Family::counter(
        "rmqd_store_put_failures",
        "Appends the store refused or failed",
    );
    put_failed.add(vec![], c.put_failed_times as f64);
    let mut get = Family::counter("rmqd_store_get_messages", "Messages read for pulls");
    get.add(vec![], c.get_transferred as f64);
    let health = ctx.store.health();
    let mut state = Family::gauge(
        "rmqd_store_health",
        "1 for the store's current health state",
    );
    for st in ["RUNNING", "DISK_FULL", "POISONED"] {
        state.add(
            vec![("state", st.to_owned())],
            f64::from(u8::from(health.state.as_str() == st)),
        );
    }
    let mut restarts = Family::counter(
        "rmqd_broker_task_restarts",
        "Broker timer tasks restarted after a panic",
    );
    restarts.add(vec![], ctx.task_restarts.get() as f64);
    vec![connections, busy, put, put_failed, get, state, restarts]
}

fn flush_histogram(ctx: &BrokerContext) -> Histogram {
    let f = ctx.store.stats().flush_latency();
    let mut prev = 0;
    let buckets = rmqd_store::message_store::FLUSH_BUCKETS
        .iter()
        .zip(&f.buckets)
        .map(|(&b, &cum)| {
            let n = cum - prev;
            prev = cum;
            (b, n)
        })
        .collect();
    Histogram {
        name: "rmqd_commitlog_flush_latency_seconds",
        help: "Time of each CommitLog flush that wrote data",
        sum: f.total_us as f64 / 1e6,
        count: f.count,
        buckets,
    }
}
