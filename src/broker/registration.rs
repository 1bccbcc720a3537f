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
use rmqd_remoting::body::topic::{perm, TopicConfig, TopicConfigSerializeWrapper};

/// Told what a two-way registration's response says (`masterAddr`, `haServerAddr`).
pub type OnRegistered = Arc<dyn Fn(Option<String>, Option<String>) + Send + Sync>;

pub struct Registrar {
    config: BrokerConfig,
    topics: Arc<Mutex<TopicTable>>,
    client: Arc<RemotingClient>,
    on_registered: std::sync::OnceLock<OnRegistered>,
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
            on_registered: std::sync::OnceLock::new(),
        }
    }

    /// A slave learns its master from the registration responses.
    pub fn set_on_registered(&self, f: OnRegistered) {
        let _ = self.on_registered.set(f);
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
        // permission, as Java's `registerBrokerAll` does (UPDATE_BROKER_CONFIG changes it live).
        restrict_to_broker_permission(&mut wrapper, self.permission.load(Ordering::Relaxed));
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
        let mut first = true;
        for addr in self.config.namesrv_addrs() {
            let req = self.register_request();
            match self.client.invoke(&addr, req, timeout).await {
                Ok(resp) if resp.code == response::SUCCESS => {
                    tracing::debug!(namesrv = %addr, "registered");
                    // Java acts on the first result only.
                    if std::mem::take(&mut first) {
                        if let Some(f) = self.on_registered.get() {
                            f(
                                resp.ext("masterAddr").map(str::to_string),
                                resp.ext("haServerAddr").map(str::to_string),
                            );
                        }
                    }
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

/// `BrokerController.registerBrokerAll`: a broker whose `brokerPermission` is not both
/// readable and writable registers every topic with that permission instead (a fresh
/// `TopicConfig` of the same queue counts), so routes steer clients away.
fn restrict_to_broker_permission(wrapper: &mut TopicConfigSerializeWrapper, broker_perm: i32) {
    if broker_perm & perm::READ != 0 && broker_perm & perm::WRITE != 0 {
        return;
    }
    for tc in wrapper.topic_config_table.values_mut() {
        *tc = TopicConfig {
            topic_name: tc.topic_name.clone(),
            read_queue_nums: tc.read_queue_nums,
            write_queue_nums: tc.write_queue_nums,
            perm: broker_perm,
            ..Default::default()
        };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn routes_carry_the_broker_permission_when_restricted() {
        let mut w = TopicConfigSerializeWrapper::default();
        w.topic_config_table.insert(
            "T".into(),
            TopicConfig {
                topic_name: "T".into(),
                read_queue_nums: 4,
                write_queue_nums: 2,
                perm: 7,
                topic_sys_flag: 1,
                ..Default::default()
            },
        );
        let full = w.clone();
        restrict_to_broker_permission(&mut w, 6);
        assert_eq!(w, full);
        restrict_to_broker_permission(&mut w, 4);
        let t = &w.topic_config_table["T"];
        assert_eq!(
            (
                t.perm,
                t.read_queue_nums,
                t.write_queue_nums,
                t.topic_sys_flag
            ),
            (4, 4, 2, 0)
        );
    }
}
