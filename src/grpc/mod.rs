//! The RocketMQ 5.x gRPC endpoint (`apache.rocketmq.v2.MessagingService`) in the broker's
//! process, on `grpcServerPort`: what the Java proxy serves 5.x clients, answered from this
//! broker's store. Plain TCP, or TLS when `tlsCertPath` and `tlsKeyPath` are set.

pub mod admin;
mod client;
mod consume;
mod convert;
pub mod pb;
mod produce;
mod route;
mod service;
mod status;
mod validate;

use std::sync::Arc;
use std::time::Duration;

use rmqd_remoting::CancellationToken;
use tokio::net::TcpListener;
use tokio_stream::StreamExt as _;

pub use client::GrpcClients;

use crate::broker::context::BrokerContext;

/// How long open streams (telemetry, long polls) get to finish after shutdown.
const DRAIN: Duration = Duration::from_secs(2);

/// Starts the endpoint; `None` when `grpcServerPort` is 0.
pub async fn start(
    ctx: Arc<BrokerContext>,
    shutdown: CancellationToken,
) -> std::io::Result<Option<tokio::task::JoinHandle<()>>> {
    let port = ctx.config.grpc_server_port;
    if port == 0 {
        return Ok(None);
    }
    let listener = TcpListener::bind(("0.0.0.0", port)).await.map_err(|e| {
        std::io::Error::new(e.kind(), format!("gRPC port {port} (grpcServerPort): {e}"))
    })?;
    let addr = listener.local_addr()?;
    let incoming = tokio_stream::wrappers::TcpListenerStream::new(listener).map(|s| {
        if let Ok(s) = &s {
            let _ = s.set_nodelay(true);
        }
        s
    });
    let mut builder = tonic::transport::Server::builder();
    let tls = !ctx.config.tls_cert_path.is_empty() && !ctx.config.tls_key_path.is_empty();
    if tls {
        let cert = std::fs::read(&ctx.config.tls_cert_path)?;
        let key = std::fs::read(&ctx.config.tls_key_path)?;
        let identity = tonic::transport::Identity::from_pem(cert, key);
        builder = builder
            .tls_config(tonic::transport::ServerTlsConfig::new().identity(identity))
            .map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e.to_string()))?;
    }
    let clients = ctx.grpc_clients.clone();
    let svc = pb::messaging_service_server::MessagingServiceServer::new(service::Messaging::new(
        ctx.clone(),
        clients.clone(),
        shutdown.clone(),
    ))
    .max_decoding_message_size(client::MAX_MESSAGE_SIZE as usize + 64 * 1024);
    let router = builder.add_service(svc);
    let stop = shutdown.clone();
    let server = tokio::spawn(async move {
        if let Err(e) = router
            .serve_with_incoming_shutdown(incoming, stop.cancelled_owned())
            .await
        {
            tracing::error!(error = %e, "gRPC endpoint stopped");
        }
    });
    // Forget clients that stopped talking, as the proxy's channel manager does.
    let expiry = {
        let (clients, ctx, stop) = (clients.clone(), ctx.clone(), shutdown.clone());
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(10));
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tick.tick() => {
                        for id in clients.expire() {
                            ctx.grpc_producers.unregister(&id);
                        }
                    }
                }
            }
        })
    };
    tracing::info!(%addr, tls, "gRPC endpoint listening");
    Ok(Some(tokio::spawn(async move {
        let abort = server.abort_handle();
        tokio::select! {
            _ = server => {}
            _ = async { shutdown.cancelled().await; tokio::time::sleep(DRAIN).await } => abort.abort(),
        }
        let _ = expiry.await;
    })))
}
