//! The name server: brokers register their topics here, clients look routes up.

mod kv_config;
mod processor;
mod route_table;

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use rmqd_remoting::transport::{serve, ServerConfig};
use rmqd_remoting::CancellationToken;
use tokio::net::TcpListener;

use processor::NamesrvProcessor;

/// Name-server settings, with the Java `NamesrvConfig` key names where one exists.
#[derive(Debug, Clone)]
pub struct NamesrvConfig {
    pub listen: SocketAddr,
    /// `kvConfigPath`: where KV config persists (`$HOME/namesrv/kvConfig.json`).
    pub kv_config_path: Option<PathBuf>,
    /// `orderMessageEnable`: fill routes' `orderTopicConf` from the KV config.
    pub order_message_enable: bool,
    /// How long a broker may stay silent before its routes are dropped.
    pub broker_expiry: Duration,
    pub scan_interval: Duration,
    pub server: ServerConfig,
}

impl Default for NamesrvConfig {
    fn default() -> Self {
        NamesrvConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 9876)),
            kv_config_path: crate::config::home_dir()
                .map(|h| h.join("namesrv").join("kvConfig.json")),
            order_message_enable: false,
            broker_expiry: Duration::from_secs(120),
            scan_interval: Duration::from_secs(10),
            server: ServerConfig::default(),
        }
    }
}

impl NamesrvConfig {
    /// GET_NAMESRV_CONFIG body: Java properties text.
    fn to_properties(&self) -> String {
        let mut s = String::new();
        s.push_str(&format!("listenPort={}\n", self.listen.port()));
        if let Some(p) = &self.kv_config_path {
            s.push_str(&format!("kvConfigPath={}\n", p.display()));
        }
        s.push_str(&format!(
            "orderMessageEnable={}\n",
            self.order_message_enable
        ));
        s
    }

    /// UPDATE_NAMESRV_CONFIG: apply the keys that can change at run time.
    fn update_from_properties(&mut self, text: &str) {
        for (k, v) in crate::config::parse_properties(text) {
            match k.as_str() {
                "orderMessageEnable" => self.order_message_enable = v.eq_ignore_ascii_case("true"),
                "kvConfigPath" => self.kv_config_path = Some(PathBuf::from(v)),
                other => tracing::warn!(
                    key = other,
                    "name server config key not applied at run time"
                ),
            }
        }
    }
}

/// A running name server.
pub struct NameServer {
    pub local_addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl NameServer {
    /// Bind and start serving; returns once the port accepts connections.
    pub async fn start(
        config: NamesrvConfig,
        shutdown: CancellationToken,
    ) -> std::io::Result<Self> {
        let listener = TcpListener::bind(config.listen).await?;
        let local_addr = listener.local_addr()?;
        let processor = NamesrvProcessor::new(config.clone());
        tokio::spawn(expiry_loop(
            processor.clone(),
            config.scan_interval,
            config.broker_expiry,
            shutdown.clone(),
        ));
        let server_config = config.server.clone();
        let task = tokio::spawn(serve(listener, processor, server_config, shutdown));
        tracing::info!(addr = %local_addr, "name server listening");
        Ok(NameServer { local_addr, task })
    }

    /// Wait until the server has stopped (after the shutdown token fired).
    pub async fn stopped(self) {
        let _ = self.task.await;
    }
}

async fn expiry_loop(
    processor: Arc<NamesrvProcessor>,
    every: Duration,
    expiry: Duration,
    shutdown: CancellationToken,
) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let dead = processor.expire(expiry);
        if dead > 0 {
            tracing::info!(count = dead, "expired silent brokers");
        }
    }
}
