//! The broker role. This first cut serves the protocol on the main and VIP ports, keeps
//! the broker registered with its name servers, and answers data-plane codes with
//! REQUEST_CODE_NOT_SUPPORTED until their processors exist.

mod registration;
mod topics;

use std::sync::{Arc, Mutex};

use rmqd_remoting::transport::client::{RejectRequests, RemotingClient};
use rmqd_remoting::transport::{serve, ServerConfig};
use rmqd_remoting::{CancellationToken, ConnectionHandle, RemotingCommand, Reply, RequestHandler};
use tokio::net::TcpListener;

use crate::config::BrokerConfig;
use registration::Registrar;
use topics::TopicTable;

struct BrokerProcessor;

impl RequestHandler for BrokerProcessor {
    fn handle(&self, _conn: &ConnectionHandle, req: RemotingCommand) -> Reply {
        Reply::Now(Some(RemotingCommand::not_supported(&req)))
    }
}

pub struct Broker {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    registrar: Arc<Registrar>,
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Broker {
    pub async fn start(config: BrokerConfig, shutdown: CancellationToken) -> std::io::Result<Self> {
        let main = TcpListener::bind(("0.0.0.0", config.listen_port)).await?;
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
        let server_config = ServerConfig {
            max_frame_len: config.max_frame_length as usize,
            ..Default::default()
        };
        let processor: Arc<dyn RequestHandler> = Arc::new(BrokerProcessor);
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

        let topics = Arc::new(Mutex::new(TopicTable::with_system_topics(
            &config,
            now_ms(),
        )));
        // The registration client lives past `shutdown` so that UNREGISTER can still go out.
        let client = Arc::new(RemotingClient::new(
            Arc::new(RejectRequests),
            CancellationToken::new(),
        ));
        let registrar = Arc::new(Registrar::new(config.clone(), topics, client));
        tasks.push(tokio::spawn(registrar.clone().run(shutdown)));
        tracing::info!(
            addr = %local_addr,
            name = %config.broker_name,
            cluster = %config.broker_cluster_name,
            namesrv = %config.namesrv_addr,
            "broker listening"
        );
        Ok(Broker { tasks, registrar })
    }

    /// Wait for the servers to stop (after shutdown fired), then unregister.
    pub async fn stopped(self) {
        for t in self.tasks {
            let _ = t.await;
        }
        self.registrar.unregister_all().await;
    }
}
