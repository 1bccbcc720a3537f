//! Keeping the broker registered with every configured name server.

use std::sync::atomic::{AtomicI32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmqd_remoting::body::register::RegisterBrokerBody;
use rmqd_remoting::body::to_json;
use rmqd_remoting::codes::{request, response};
use rmqd_remoting::headers::namesrv::{BrokerIdentityHeader, RegisterBrokerRequestHeader};
use rmqd_remoting::transport::client::RemotingClient;
use rmqd_remoting::{CancellationToken, RemotingCommand};

use super::topics::TopicTable;
use crate::config::BrokerConfig;

pub struct Registrar {
    config: BrokerConfig,
    topics: Arc<Mutex<TopicTable>>,
    client: Arc<RemotingClient>,
    /// `brokerPermission` as it is now (UPDATE_BROKER_CONFIG changes it).
    permission: Arc<AtomicI32>,
}

impl Registrar {
    pub fn new(
        config: BrokerConfig,
        topics: Arc<Mutex<TopicTable>>,
        client: Arc<RemotingClient>,
    ) -> Self {
        Registrar {
            permission: Arc::new(AtomicI32::new(config.broker_permission)),
            config,
            topics,
            client,
        }
    }

    /// The permission the registrar announces; the broker's live config writes it.
    pub fn permission_handle(&self) -> Arc<AtomicI32> {
        self.permission.clone()
    }

    fn identity(&self) -> (String, String, String, i64) {
        (
            self.config.broker_name.clone(),
            self.config.broker_addr(),
            self.config.broker_cluster_name.clone(),
            self.config.broker_id,
        )
    }

    fn register_request(&self) -> RemotingCommand {
        let mut wrapper = self
            .topics
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .snapshot();
        // A broker made read-only or write-only announces every topic with its own
        // permission, as Java's `registerBrokerAll` does.
        let perm = self.permission.load(Ordering::Relaxed);
        if perm & rmqd_remoting::body::topic::perm::WRITE == 0
            || perm & rmqd_remoting::body::topic::perm::READ == 0
        {
            for tc in wrapper.topic_config_table.values_mut() {
                tc.perm = perm;
            }
        }
        let body = to_json(&RegisterBrokerBody {
            filter_server_list: Vec::new(),
            topic_config_serialize_wrapper: wrapper,
        });
        let (broker_name, broker_addr, cluster_name, broker_id) = self.identity();
        let header = RegisterBrokerRequestHeader {
            broker_name,
            broker_addr,
            cluster_name,
            ha_server_addr: self.config.ha_server_addr(),
            broker_id,
            compressed: false,
            body_crc32: (crc32fast::hash(&body) & 0x7FFF_FFFF) as i32,
            heartbeat_timeout_millis: None,
        };
        RemotingCommand::request(request::REGISTER_BROKER)
            .with_header(&header)
            .with_body(body)
    }

    /// Register with every name server once; failures are logged, not fatal, so one dead
    /// name server does not keep the broker from the others.
    pub async fn register_all(&self) {
        let timeout = Duration::from_millis(self.config.register_broker_timeout_mills);
        for addr in self.config.namesrv_addrs() {
            let req = self.register_request();
            match self.client.invoke(&addr, req, timeout).await {
                Ok(resp) if resp.code == response::SUCCESS => {
                    tracing::debug!(namesrv = %addr, "registered");
                }
                Ok(resp) => {
                    tracing::warn!(namesrv = %addr, code = resp.code, remark = ?resp.remark, "registration refused")
                }
                Err(e) => tracing::warn!(namesrv = %addr, error = %e, "registration failed"),
            }
        }
    }

    /// Register without waiting for answers, as Java does right after a topic is created.
    pub async fn register_all_oneway(&self) {
        for addr in self.config.namesrv_addrs() {
            let req = self.register_request();
            if let Err(e) = self.client.invoke_oneway(&addr, req).await {
                tracing::warn!(namesrv = %addr, error = %e, "oneway registration failed");
            }
        }
    }

    pub async fn unregister_all(&self) {
        let (broker_name, broker_addr, cluster_name, broker_id) = self.identity();
        let header = BrokerIdentityHeader {
            broker_name,
            broker_addr,
            cluster_name,
            broker_id,
        };
        for addr in self.config.namesrv_addrs() {
            let req = RemotingCommand::request(request::UNREGISTER_BROKER).with_header(&header);
            if let Err(e) = self.client.invoke(&addr, req, Duration::from_secs(3)).await {
                tracing::warn!(namesrv = %addr, error = %e, "unregister failed");
            }
        }
    }

    /// Register now, then every `registerNameServerPeriod` until shutdown.
    pub async fn run(self: Arc<Self>, shutdown: CancellationToken) {
        let period = Duration::from_millis(
            self.config
                .register_name_server_period
                .clamp(10_000, 60_000),
        );
        // A test hook (the `fail` crate, armed through RMQD_FAILPOINTS when the build has
        // fault points): a registrar that dies here must come back, not drop the routes.
        fail::fail_point!("registrar-loop");
        self.register_all().await;
        let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tick.tick() => self.register_all().await,
            }
        }
    }
}
