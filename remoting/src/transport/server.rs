//! Accept loop with a connection limit and graceful shutdown.

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::connection;
use super::handler::RequestHandler;
use crate::frame::DEFAULT_MAX_FRAME_LEN;

#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Largest frame accepted, length word included (`com.rocketmq.remoting.frameMaxLength`).
    pub max_frame_len: usize,
    /// Connections served at once; further ones are closed as soon as they are accepted
    /// (logged at most every 10 s).
    pub max_connections: usize,
    /// A connection that delivers no complete frame for this long is closed
    /// (`serverChannelMaxIdleTimeSeconds`, 120 s): clients heartbeat every 30 s, and a
    /// peer that stalls mid-frame must not hold its buffer and its permit forever.
    pub idle_timeout: Option<std::time::Duration>,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            max_frame_len: DEFAULT_MAX_FRAME_LEN,
            max_connections: 10_000,
            idle_timeout: Some(std::time::Duration::from_secs(120)),
        }
    }
}

/// Serve `listener` until `shutdown` is cancelled, then close every connection and return
/// once their tasks have ended.
pub async fn serve(
    listener: TcpListener,
    handler: Arc<dyn RequestHandler>,
    config: ServerConfig,
    shutdown: CancellationToken,
) {
    let limit = Arc::new(Semaphore::new(config.max_connections));
    let tracker = TaskTracker::new();
    let local = listener.local_addr().ok();
    let mut last_refusal_log: Option<std::time::Instant> = None;
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => break,
            a = listener.accept() => a,
        };
        let (stream, peer) = match accepted {
            Ok(a) => a,
            Err(e) => {
                // Usually EMFILE or a reset during accept; back off instead of spinning.
                tracing::warn!(error = %e, "accept failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        // Over the limit a connection is closed at once, so its client fails over to
        // another broker instead of waiting unseen in the backlog until someone leaves.
        let Ok(permit) = limit.clone().try_acquire_owned() else {
            let now = std::time::Instant::now();
            if last_refusal_log.is_none_or(|t| now.duration_since(t).as_secs() >= 10) {
                tracing::warn!(
                    %peer,
                    limit = config.max_connections,
                    "connection limit reached: refusing new connections"
                );
                last_refusal_log = Some(now);
            }
            drop(stream);
            continue;
        };
        let _ = stream.set_nodelay(true);
        let local_addr = stream.local_addr().ok().or(local);
        let Some(local_addr) = local_addr else {
            continue;
        };
        let handler = handler.clone();
        let shutdown = shutdown.clone();
        let max = config.max_frame_len;
        let idle = config.idle_timeout;
        tracker.spawn(async move {
            connection::run(stream, peer, local_addr, handler, max, idle, shutdown).await;
            drop(permit);
        });
    }
    tracker.close();
    tracker.wait().await;
}
