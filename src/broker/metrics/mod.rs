//! The Prometheus endpoint (`metricsPort`, off unless set): the broker's statistics in
//! the Prometheus text format, under rocketmq-exporter's names where the exporter has the
//! same figure, encoded with the `prometheus-client` crate at each scrape.

pub mod families;
mod groups;
pub mod http;
pub mod http_head;
mod own;
mod runtime;
mod topics;

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::DescriptorEncoder;
use prometheus_client::registry::Registry;
use rmqd_remoting::CancellationToken;
use tokio::net::TcpListener;

use super::context::BrokerContext;

/// Reads the broker at each scrape.
struct BrokerCollector(Arc<BrokerContext>);

impl std::fmt::Debug for BrokerCollector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("BrokerCollector")
    }
}

impl Collector for BrokerCollector {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let (families, histograms) = families::collect(&self.0);
        for f in &families {
            f.encode(&mut encoder)?;
        }
        for h in &histograms {
            h.encode(&mut encoder)?;
        }
        Ok(())
    }
}

/// The page a scrape gets.
pub fn render(ctx: &Arc<BrokerContext>) -> String {
    let mut registry = Registry::default();
    registry.register_collector(Box::new(BrokerCollector(ctx.clone())));
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::prometheus_text::encode(&mut out, &registry) {
        tracing::error!(error = %e, "metrics encoding failed");
    }
    out
}

/// Binds the endpoint; the broker fails to start if the port is taken, as it does for
/// its own ports.
pub async fn bind(port: u16) -> std::io::Result<Arc<TcpListener>> {
    Ok(Arc::new(TcpListener::bind(("0.0.0.0", port)).await?))
}

/// Serves scrapes until `shutdown`; the page is built on a blocking thread (it reads
/// disk usage) so that scrapes never hold up a runtime worker.
pub async fn run(ctx: Arc<BrokerContext>, listener: Arc<TcpListener>, shutdown: CancellationToken) {
    let render_page = move || {
        let ctx = ctx.clone();
        async move {
            tokio::task::spawn_blocking(move || render(&ctx))
                .await
                .unwrap_or_default()
        }
    };
    http::serve(listener, render_page, shutdown).await;
}
