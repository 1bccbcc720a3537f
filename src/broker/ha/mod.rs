//! Master/slave replication as the Java 4.9 broker does it (`HAService`, `HAConnection`,
//! `SlaveSynchronize`), wire-compatible with Java masters and slaves:
//!
//! - [`master`]: the HA port; every connected slave is streamed the CommitLog from the
//!   offset it reports, and its acknowledgements release SYNC_MASTER sends;
//! - [`slave`]: a slave's HA client, appending what its master streams;
//! - [`sync`]: a slave's copy of the master's topics, groups and offsets, every 10 s;
//! - [`answers`]: what a master answers to that copy (GET_ALL_CONSUMER_OFFSET,
//!   GET_ALL_DELAY_OFFSET).
//!
//! The store owns the bytes (it never touches a socket); this module owns the sockets.

pub mod answers;
mod master;
mod slave;
mod sync;

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rmqd_remoting::CancellationToken;
use rmqd_store::config::BrokerRole;
use tokio::net::TcpListener;
use tokio::sync::watch;

use super::context::BrokerContext;
use super::supervise::{self, Restarts};
use crate::config::BrokerConfig;

/// The HA settings (Java's `MessageStoreConfig` keys).
#[derive(Debug, Clone)]
pub struct HaConfig {
    pub heartbeat_interval: Duration,
    pub housekeeping_interval: Duration,
    pub transfer_batch_size: usize,
}

impl HaConfig {
    pub fn from_broker(c: &BrokerConfig) -> Self {
        HaConfig {
            heartbeat_interval: Duration::from_millis(c.ha_send_heartbeat_interval.max(10)),
            housekeeping_interval: Duration::from_millis(c.ha_housekeeping_interval.max(100)),
            transfer_batch_size: (c.ha_transfer_batch_size as usize)
                .clamp(1, rmqd_remoting::ha::MAX_TRANSFER_BODY),
        }
    }
}

/// What a slave knows of its master, and what an operator may want to see of the link.
pub struct HaState {
    pub role: BrokerRole,
    /// The master's broker address from the last registration response (`masterAddr`);
    /// `SlaveSynchronize` talks to it.
    master_addr: Mutex<Option<String>>,
    /// Where the HA client dials: `haMasterAddress` when configured, else the
    /// `haServerAddr` of registration responses.
    ha_master: watch::Sender<Option<String>>,
    fixed_ha_master: bool,
    /// Slave: whether the HA client is connected now.
    connected: AtomicBool,
}

impl HaState {
    pub fn new(config: &BrokerConfig, role: BrokerRole) -> Self {
        // Java uses a configured address only if it is at least 6 characters long.
        let fixed = (role.is_slave() && config.ha_master_address.trim().len() >= 6)
            .then(|| config.ha_master_address.trim().to_string());
        HaState {
            role,
            master_addr: Mutex::new(None),
            fixed_ha_master: fixed.is_some(),
            ha_master: watch::channel(fixed).0,
            connected: Default::default(),
        }
    }

    /// `doRegisterBrokerAll`'s follow-up: the first successful registration's response
    /// names the master (and its HA address) to a slave; a response without them (the
    /// master is gone from the name server) stops the config copy until it returns, while
    /// the HA client keeps dialling the address it has.
    pub fn on_registered(&self, master_addr: Option<String>, ha_server_addr: Option<String>) {
        if !self.role.is_slave() {
            return;
        }
        let master_addr = master_addr.filter(|a| !a.is_empty());
        {
            let mut m = self.master_addr.lock().unwrap_or_else(|p| p.into_inner());
            if *m != master_addr {
                tracing::info!(old = ?*m, new = ?master_addr, "master address changed");
                *m = master_addr;
            }
        }
        if let Some(ha) = ha_server_addr.filter(|a| !a.is_empty()) {
            if !self.fixed_ha_master {
                self.ha_master.send_if_modified(|cur| {
                    let changed = cur.as_deref() != Some(ha.as_str());
                    if changed {
                        tracing::info!(old = ?cur, new = %ha, "update master HA address");
                        *cur = Some(ha);
                    }
                    changed
                });
            }
        }
    }

    pub fn master_addr(&self) -> Option<String> {
        self.master_addr
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    pub fn ha_master_addr(&self) -> Option<String> {
        self.ha_master.borrow().clone()
    }

    pub fn is_connected(&self) -> bool {
        self.connected.load(Ordering::Relaxed)
    }

    fn set_connected(&self, c: bool) {
        self.connected.store(c, Ordering::Relaxed);
    }
}

/// The HA listener, bound now or retried every 5 s until it can be (None at shutdown).
async fn bind_until_bound<'a>(
    cell: &'a tokio::sync::OnceCell<TcpListener>,
    port: u16,
    shutdown: &CancellationToken,
) -> Option<&'a TcpListener> {
    loop {
        if let Some(l) = cell.get() {
            return Some(l);
        }
        match TcpListener::bind(("0.0.0.0", port)).await {
            Ok(l) => {
                tracing::info!(port, "HA port listening");
                let _ = cell.set(l);
            }
            Err(e) => {
                tracing::debug!(port, error = %e, "HA port still unavailable");
                tokio::select! {
                    _ = shutdown.cancelled() => return None,
                    _ = tokio::time::sleep(Duration::from_secs(5)) => {}
                }
            }
        }
    }
}

/// Starts the HA services of this broker's role, each supervised: the HA port (every
/// role, as Java opens it; a slave restarted as master serves its slaves at once), and
/// for a slave the HA client and the config copy.
pub fn start(
    ctx: &Arc<BrokerContext>,
    listener: Option<TcpListener>,
    port: u16,
    shutdown: &CancellationToken,
    restarts: &Arc<Restarts>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let cfg = HaConfig::from_broker(&ctx.config);
    let pause = Duration::from_secs(1);
    let listener = Arc::new(tokio::sync::OnceCell::new_with(listener));
    let mut tasks = Vec::new();
    {
        let (store, cfg, s, l) = (
            ctx.store.clone(),
            cfg.clone(),
            shutdown.clone(),
            listener.clone(),
        );
        tasks.push(supervise::supervised(
            "ha-acceptor",
            shutdown.clone(),
            pause,
            restarts.clone(),
            move || {
                let (store, cfg, s, l) = (store.clone(), cfg.clone(), s.clone(), l.clone());
                async move {
                    let Some(listener) = bind_until_bound(&l, port, &s).await else {
                        return;
                    };
                    master::accept(store, listener, cfg, s).await
                }
            },
        ));
    }
    if ctx.ha.role.is_slave() {
        let (c, cfg, s) = (ctx.clone(), cfg.clone(), shutdown.clone());
        tasks.push(supervise::supervised(
            "ha-client",
            shutdown.clone(),
            pause,
            restarts.clone(),
            move || slave::run(c.clone(), cfg.clone(), s.clone()),
        ));
        let (c, s) = (ctx.clone(), shutdown.clone());
        tasks.push(supervise::supervised(
            "slave-synchronize",
            shutdown.clone(),
            pause,
            restarts.clone(),
            move || sync::run(c.clone(), s.clone()),
        ));
    }
    tasks
}
