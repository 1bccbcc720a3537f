//! The broker role: serves clients on the main and VIP ports and keeps itself registered
//! with its name servers.

mod admin;
mod batch;
mod client_manage;
mod clients;
mod consumer_filter;
pub(crate) mod context;
pub(crate) mod filter;
mod groups;
pub mod grpc_producers;
mod ha;
mod locks;
mod long_poll;
mod message_filter;
mod metrics;
mod offset_requests;
mod offsets;
mod park_hook;
mod persist;
pub mod pop;
mod processor;
pub mod properties;
mod pull;
mod query;
mod registration;
mod reply;
pub(crate) mod retry;
mod runtime_info;
mod schedule;
pub(crate) mod send;
mod stats;
mod supervise;
pub(crate) mod timer;
pub(crate) mod topics;
pub(crate) mod transaction;

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rmqd_remoting::transport::client::{RejectRequests, RemotingClient};
use rmqd_remoting::transport::{serve, ServerConfig};
use rmqd_remoting::{CancellationToken, RequestHandler};
use tokio::net::TcpListener;

use rmqd_store::MessageStore;

use crate::config::BrokerConfig;
pub use admin::topic_stats::java_date;
pub use context::now_ms;
use context::BrokerContext;
use groups::Groups;
use long_poll::ParkedPulls;
use offsets::ConsumerOffsets;
use persist::ConfigFiles;
use processor::BrokerProcessor;
use registration::Registrar;
use topics::TopicTable;

pub struct Broker {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    ctx: Arc<BrokerContext>,
}

impl Broker {
    /// Starts the broker; `config_path` is the broker.conf it was started with, where
    /// UPDATE_BROKER_CONFIG saves changes (Java: `~/store/config/broker.properties`
    /// without `-c`).
    pub async fn start(
        config: BrokerConfig,
        config_path: Option<std::path::PathBuf>,
        shutdown: CancellationToken,
    ) -> std::io::Result<Self> {
        let main = TcpListener::bind(("0.0.0.0", config.listen_port))
            .await
            .map_err(|e| {
                std::io::Error::new(e.kind(), format!("listen port {}: {e}", config.listen_port))
            })?;
        let local_addr = main.local_addr()?;
        // Clients before 4.5.1 default to the VIP channel, listenPort - 2.
        let vip = match config.listen_port.checked_sub(2) {
            Some(p) if p > 0 => match TcpListener::bind(("0.0.0.0", p)).await {
                Ok(l) => Some(l),
                Err(e) => {
                    tracing::warn!(port = p, error = %e, "VIP channel port unavailable");
                    None
                }
            },
            _ => None,
        };

        let role = config
            .role()
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let ha_port = config.effective_ha_listen_port();
        let ha_listener = match TcpListener::bind(("0.0.0.0", ha_port)).await {
            Ok(l) => Some(l),
            // A SYNC_MASTER cannot acknowledge anything without its slaves: it does not
            // start, as a Java broker does not. Others serve on and keep trying the port
            // (a lone ASYNC_MASTER never needed it before it had slaves).
            Err(e) if role == rmqd_store::config::BrokerRole::SyncMaster => {
                return Err(std::io::Error::new(
                    e.kind(),
                    format!("HA port {ha_port}: {e}"),
                ))
            }
            Err(e) => {
                tracing::error!(port = ha_port, error = %e, "HA port unavailable; retrying in the background, no slave can connect meanwhile");
                None
            }
        };

        let store_host: SocketAddr = format!("{}:{}", config.broker_ip1, config.listen_port)
            .parse()
            .unwrap_or_else(|_| SocketAddr::from(([127, 0, 0, 1], config.listen_port)));
        let store_cfg = config
            .store_config(store_host)
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
        let files = ConfigFiles::new(&store_cfg.root_dir);
        let (mut store, report) =
            tokio::task::spawn_blocking(move || MessageStore::open(store_cfg))
                .await
                .map_err(std::io::Error::other)?
                .map_err(|e| std::io::Error::other(format!("cannot open the store: {e}")))?;
        if report.abnormal {
            tracing::warn!(
                end = report.commitlog_end,
                "last shutdown was not clean; recovered from the commit log"
            );
        }
        let timer = if config.timer_wheel_enable {
            let (cfg, s) = (config.clone(), store);
            let (t, s) = tokio::task::spawn_blocking(move || (timer::Timer::open(&cfg, &s), s))
                .await
                .map_err(std::io::Error::other)?;
            store = s;
            Some(Arc::new(t.map_err(|e| {
                std::io::Error::other(format!("cannot open the timer wheel: {e}"))
            })?))
        } else {
            None
        };
        let store = Arc::new(store);
        let parked = Arc::new(ParkedPulls::new(park_hook::ParkHook::from_env()));

        let mut topics = TopicTable::with_system_topics(&config, now_ms());
        if let Some(loaded) = files.load_topics() {
            topics.merge_loaded(loaded.topic_config_table, Some(loaded.data_version));
        }
        let (groups, groups_version) = files.load_groups_versioned();
        let offsets = ConsumerOffsets::from_table(files.load_offsets());
        let delays = schedule::DelayOffsets::from_table(files.load_delay_offsets());
        let client = Arc::new(RemotingClient::new(
            Arc::new(RejectRequests),
            // Outlives `shutdown` so that UNREGISTER_BROKER can still go out.
            CancellationToken::new(),
        ));
        let topics = Arc::new(Mutex::new(topics));
        let registrar = Arc::new(Registrar::new(config.clone(), topics.clone(), client));
        let ha = Arc::new(ha::HaState::new(&config, role));
        {
            let ha = ha.clone();
            registrar.set_on_registered(Arc::new(move |master, ha_addr| {
                ha.on_registered(master, ha_addr)
            }));
        }
        let ctx = Arc::new(BrokerContext {
            groups: Groups::with_version(
                config.auto_create_subscription_group,
                groups,
                groups_version,
            ),
            clients: Default::default(),
            locks: Default::default(),
            topics,
            registrar: registrar.clone(),
            store_host,
            config: config.clone(),
            store,
            offsets,
            parked,
            files,
            delays,
            timer,
            task_restarts: Default::default(),
            pop: pop::PopState::new(&config),
            grpc_producers: Default::default(),
            grpc_clients: Default::default(),
            ha,
            filters: Default::default(),
            stats: stats::BrokerStats::new(&config.broker_cluster_name),
            live_config: admin::broker_config::LiveConfig::new(
                config.clone(),
                config_path,
                registrar.permission_handle(),
            ),
        });
        ctx.persist_topics();
        ctx.persist_groups();
        {
            let (parked, pops) = (ctx.parked.clone(), ctx.pop.waiters.clone());
            ctx.store.set_arrival_listener(Arc::new(
                move |topic: &str, queue_id: i32, max: i64| {
                    parked.arrived(topic, queue_id, max);
                    pops.wake(topic);
                },
            ));
        }

        let server_config = ServerConfig {
            max_frame_len: config.max_frame_length as usize,
            idle_timeout: (config.server_channel_max_idle_time_seconds > 0).then(|| {
                std::time::Duration::from_secs(config.server_channel_max_idle_time_seconds)
            }),
            ..Default::default()
        };
        let mut processor: Arc<dyn RequestHandler> = Arc::new(BrokerProcessor::new(ctx.clone()));
        let acl = if config.acl_enable {
            let acl = Arc::new(open_acl(&config)?);
            processor = Arc::new(crate::acl::AclLayer::new(
                processor,
                acl.clone(),
                crate::acl::admin::BrokerIdentity {
                    broker_name: config.broker_name.clone(),
                    broker_addr: config.broker_addr(),
                    cluster_name: config.broker_cluster_name.clone(),
                },
            ));
            Some(acl)
        } else {
            None
        };
        let mut tasks = vec![tokio::spawn(serve(
            main,
            processor.clone(),
            server_config.clone(),
            shutdown.clone(),
        ))];
        if let Some(vip) = vip {
            tasks.push(tokio::spawn(serve(
                vip,
                processor,
                server_config,
                shutdown.clone(),
            )));
        }
        // Timer tasks keep their state in `ctx`: one that panics is restarted, not lost.
        let pause = Duration::from_secs(1);
        let restarts = ctx.task_restarts.clone();
        {
            let (r, s) = (registrar.clone(), shutdown.clone());
            tasks.push(supervise::supervised(
                "registrar",
                shutdown.clone(),
                pause,
                restarts.clone(),
                move || r.clone().run(s.clone()),
            ));
        }
        // Delay levels and the transaction checker run on a master only; a slave has
        // their progress from its master (SlaveSynchronize) and continues it once an
        // operator restarts it as the master.
        if !role.is_slave() {
            let (c, s) = (ctx.clone(), shutdown.clone());
            tasks.push(supervise::supervised(
                "delay-levels",
                shutdown.clone(),
                pause,
                restarts.clone(),
                move || schedule::run(c.clone(), s.clone()),
            ));
            let (c, s) = (ctx.clone(), shutdown.clone());
            tasks.push(supervise::supervised(
                "timer",
                shutdown.clone(),
                pause,
                restarts.clone(),
                move || timer::run(c.clone(), s.clone()),
            ));
        }
        {
            let (c, s) = (ctx.clone(), shutdown.clone());
            tasks.push(supervise::supervised(
                "transaction-checker",
                shutdown.clone(),
                pause,
                restarts.clone(),
                move || transaction::run_checker(c.clone(), s.clone()),
            ));
        }
        if let Some(acl) = acl {
            let (s, every) = (
                shutdown.clone(),
                Duration::from_millis(config.acl_file_watch_interval_mills.max(100)),
            );
            tasks.push(supervise::supervised(
                "acl-file-watch",
                shutdown.clone(),
                pause,
                restarts.clone(),
                move || crate::acl::watch(acl.clone(), every, s.clone()),
            ));
        }
        {
            let (c, s) = (ctx.clone(), shutdown.clone());
            tasks.push(supervise::supervised(
                "pop-revive",
                shutdown.clone(),
                pause,
                restarts.clone(),
                move || pop::revive::run(c.clone(), s.clone()),
            ));
        }
        if let Some(grpc) = crate::grpc::start(ctx.clone(), shutdown.clone()).await? {
            tasks.push(grpc);
        }
        tasks.extend(ha::start(&ctx, ha_listener, ha_port, &shutdown, &restarts));
        {
            let (c, s) = (ctx.clone(), shutdown.clone());
            tasks.push(supervise::supervised(
                "stats-sampler",
                shutdown.clone(),
                pause,
                restarts.clone(),
                move || stats::run(c.clone(), s.clone()),
            ));
        }
        {
            let (c, s) = (ctx.clone(), shutdown.clone());
            tasks.push(supervise::supervised(
                "housekeeping",
                shutdown.clone(),
                pause,
                restarts,
                move || housekeeping(c.clone(), s.clone()),
            ));
        }
        if config.metrics_port != 0 {
            let listener = metrics::bind(config.metrics_port).await.map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("metrics port {}: {e}", config.metrics_port),
                )
            })?;
            tracing::info!(port = config.metrics_port, "metrics endpoint listening");
            let (c, s) = (ctx.clone(), shutdown.clone());
            tasks.push(supervise::supervised(
                "metrics",
                shutdown.clone(),
                pause,
                ctx.task_restarts.clone(),
                move || metrics::run(c.clone(), listener.clone(), s.clone()),
            ));
        }
        tracing::info!(
            addr = %local_addr,
            role = role.as_str(),
            id = config.broker_id,
            ha_port,
            name = %config.broker_name,
            cluster = %config.broker_cluster_name,
            namesrv = %config.namesrv_addr,
            "broker listening"
        );
        Ok(Broker { tasks, ctx })
    }

    /// Waits for the servers to stop (after shutdown fired), unregisters, then saves the
    /// config files and shuts the store down cleanly.
    pub async fn stopped(self) {
        for t in self.tasks {
            let _ = t.await;
        }
        self.ctx.registrar.unregister_all().await;
        let ctx = self.ctx.clone();
        let _ = tokio::task::spawn_blocking(move || {
            ctx.persist_offsets();
            ctx.persist_delay_offsets();
            ctx.persist_topics();
            ctx.persist_groups();
            ctx.store.shutdown();
        })
        .await;
    }
}

/// The ACL rules for `aclEnable=true`; a broker with ACL on and no readable rules does not start.
fn open_acl(config: &BrokerConfig) -> std::io::Result<crate::acl::AclManager> {
    let bad = |m: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, m);
    if config.rocketmq_home.is_empty() {
        return Err(bad("aclEnable=true needs the RocketMQ home (ROCKETMQ_HOME, or rocketmqHome in broker.conf): the ACL file is <home>/conf/plain_acl.yml".into()));
    }
    let acl = crate::acl::AclManager::open(
        std::path::Path::new(&config.rocketmq_home),
        &config.acl_plain_file,
    )
    .map_err(|e| bad(format!("ACL: {e}")))?;
    tracing::info!(file = %acl.default_file().display(), "ACL enabled");
    Ok(acl)
}

/// Periodic chores: drop silent client channels (every 10 s), save consumer offsets
/// (`flushConsumerOffsetInterval`), re-check parked pulls against the store (every 5 s, or
/// `shortPollingTimeMills` without long polling, as Java's `PullRequestHoldService`).
async fn housekeeping(ctx: Arc<BrokerContext>, shutdown: CancellationToken) {
    let mut expiry = tokio::time::interval(Duration::from_secs(10));
    expiry.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut offsets = tokio::time::interval(Duration::from_millis(
        ctx.config.flush_consumer_offset_interval.max(100),
    ));
    offsets.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut held = tokio::time::interval(if ctx.config.long_polling_enable {
        Duration::from_secs(5)
    } else {
        Duration::from_millis(ctx.config.short_polling_time_mills.max(100))
    });
    held.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => {
                // Parked pulls answer now instead of outliving their connections.
                ctx.parked.wake_all();
                ctx.pop.close();
                return;
            }
            _ = expiry.tick() => {
                for group in ctx.clients.expire(Instant::now()) {
                    ctx.clients.notify_ids_changed(&group);
                }
                ctx.sweep_filters();
            }
            _ = held.tick() => {
                ctx.parked.check_held(|topic, queue_id| ctx.store.max_offset_in_queue(topic, queue_id));
            }
            _ = offsets.tick() => {
                let c = ctx.clone();
                let _ = tokio::task::spawn_blocking(move || c.persist_offsets()).await;
            }
        }
    }
}
