//! A slave's HA client (`HAClient`): dials the master's HA port, reports how far its
//! CommitLog reaches, and appends what the master streams, verbatim, through the store.

use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use rmqd_remoting::ha::{self, TransferDecoder};
use rmqd_remoting::CancellationToken;
use rmqd_store::ReplicaAppendError;
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::codec::FramedRead;

use super::HaConfig;
use crate::broker::context::BrokerContext;

/// Java's pause before dialling again after a failed connect.
const RECONNECT_PAUSE: Duration = Duration::from_secs(5);
/// Java's connect timeout (`RemotingUtil.connect`).
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

enum End {
    /// Could not connect: wait [`RECONNECT_PAUSE`].
    NotConnected(String),
    /// The connection ended; dial again soon.
    Closed(String),
}

pub async fn run(ctx: Arc<BrokerContext>, cfg: HaConfig, shutdown: CancellationToken) {
    let mut addr_rx = ctx.ha.ha_master.subscribe();
    // Connections the master ended at once, in a row: each waits twice as long before
    // the next dial, up to the reconnect pause, so a master that refuses this slave (its
    // CommitLog is ahead) is not dialled five times a second.
    let mut short_sessions = 0u32;
    loop {
        let addr = addr_rx.borrow_and_update().clone();
        let Some(addr) = addr else {
            // No master known yet: the next registration response names it.
            tokio::select! {
                _ = shutdown.cancelled() => return,
                r = addr_rx.changed() => if r.is_err() { return },
            }
            continue;
        };
        let began = Instant::now();
        let end = tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = addr_rx.changed() => End::Closed("the master's HA address changed".into()),
            end = session(&ctx, &addr, &cfg) => end,
        };
        short_sessions = if began.elapsed() < Duration::from_secs(1) {
            short_sessions.saturating_add(1)
        } else {
            0
        };
        ctx.ha.set_connected(false);
        let pause = match end {
            End::NotConnected(why) => {
                tracing::debug!(master = %addr, reason = %why, "cannot connect to the master's HA port");
                RECONNECT_PAUSE
            }
            End::Closed(why) => {
                tracing::warn!(master = %addr, reason = %why, "HA connection to the master closed");
                // Java dials again at once; a short pause keeps a master that closes
                // every connection from turning this into a busy loop.
                (Duration::from_millis(200) * 2u32.saturating_pow(short_sessions.saturating_sub(1)))
                    .min(RECONNECT_PAUSE)
            }
        };
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = addr_rx.changed() => {}
            _ = tokio::time::sleep(pause) => {}
        }
    }
}

async fn report(wr: &mut OwnedWriteHalf, offset: i64, cfg: &HaConfig) -> Result<Instant, String> {
    match tokio::time::timeout(cfg.housekeeping_interval, wr.write_all(&ha::report(offset))).await {
        Ok(Ok(())) => Ok(Instant::now()),
        Ok(Err(e)) => Err(format!("report failed: {e}")),
        Err(_) => Err("report write stalled".into()),
    }
}

/// One connection: report at once (Java waits a heartbeat interval first; nothing is
/// gained by that), then on every heartbeat interval and whenever whole records were
/// appended.
async fn session(ctx: &BrokerContext, addr: &str, cfg: &HaConfig) -> End {
    let stream = match tokio::time::timeout(CONNECT_TIMEOUT, TcpStream::connect(addr)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => return End::NotConnected(e.to_string()),
        Err(_) => return End::NotConnected("connect timed out".into()),
    };
    let _ = stream.set_nodelay(true);
    let (rd, mut wr) = stream.into_split();
    let mut transfers = FramedRead::with_capacity(rd, TransferDecoder::default(), 64 * 1024);
    let mut reported = ctx.store.commitlog_max_offset();
    let mut last_write = match report(&mut wr, reported, cfg).await {
        Ok(t) => t,
        Err(e) => return End::Closed(e),
    };
    tracing::info!(master = %addr, offset = reported, "connected to the master's HA port");
    ctx.ha.set_connected(true);
    let mut last_read = Instant::now();
    loop {
        let heartbeat = last_write + cfg.heartbeat_interval;
        // rmqd's addition: a master sends at least a heartbeat every interval, so one
        // silent for the housekeeping interval is gone (a partition), even while the
        // kernel still accepts this side's reports.
        let silent = last_read + cfg.housekeeping_interval;
        let frame = tokio::select! {
            f = transfers.next() => f,
            _ = tokio::time::sleep_until(heartbeat) => {
                last_write = match report(&mut wr, reported, cfg).await {
                    Ok(t) => t,
                    Err(e) => return End::Closed(e),
                };
                continue;
            }
            _ = tokio::time::sleep_until(silent) => {
                return End::Closed(format!(
                    "nothing from the master for {} ms",
                    cfg.housekeeping_interval.as_millis()
                ));
            }
        };
        let t = match frame {
            None => return End::Closed("closed by the master".into()),
            Some(Err(e)) => return End::Closed(format!("bad HA stream: {e}")),
            Some(Ok(t)) => t,
        };
        last_read = Instant::now();
        let start = t.start;
        match ctx.store.append_replicated(start, t.body).await {
            Ok(end) => {
                if end.stored > reported {
                    reported = end.stored;
                    last_write = match report(&mut wr, reported, cfg).await {
                        Ok(t) => t,
                        Err(e) => return End::Closed(e),
                    };
                }
            }
            Err(ReplicaAppendError::OffsetMismatch { slave, master }) => {
                return End::Closed(format!(
                    "master pushed offset not equal the max phy offset in slave, SLAVE: \
                     {slave} MASTER: {master}"
                ));
            }
            Err(e) => {
                tracing::error!(offset = start, error = %e, "replicated append failed");
                return End::Closed(format!("replicated append at {start} failed: {e}"));
            }
        }
    }
}
