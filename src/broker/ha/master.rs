//! The master side of the HA port (`AcceptSocketService`, `HAConnection`): one task per
//! connected slave, reading its reports and streaming the CommitLog to it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use rmqd_remoting::ha::{self, ReportDecoder};
use rmqd_remoting::CancellationToken;
use rmqd_store::{MessageStore, ReplicaLink};
use tokio::io::AsyncWriteExt;
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_util::codec::FramedRead;

use super::HaConfig;

/// Accepts slaves until shutdown; each connection lives in its own task.
pub async fn accept(
    store: Arc<MessageStore>,
    listener: &TcpListener,
    cfg: HaConfig,
    shutdown: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            _ = shutdown.cancelled() => return,
            a = listener.accept() => a,
        };
        match accepted {
            Ok((stream, peer)) => {
                tracing::info!(%peer, "HA connection from a slave");
                tokio::spawn(connection(
                    store.clone(),
                    stream,
                    peer,
                    cfg.clone(),
                    shutdown.clone(),
                ));
            }
            Err(e) => {
                // Out of descriptors, typically: give the process a moment, keep serving.
                tracing::warn!(error = %e, "HA accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

async fn connection(
    store: Arc<MessageStore>,
    stream: TcpStream,
    peer: SocketAddr,
    cfg: HaConfig,
    shutdown: CancellationToken,
) {
    let _ = stream.set_nodelay(true);
    // Counted from accept, before the first report, as Java counts it: a SYNC_MASTER
    // send waits for a slave that has connected but not reported yet.
    let link = store.replica_attach();
    let (rd, mut wr) = stream.into_split();
    let (request_tx, request_rx) = watch::channel(None);
    let why = tokio::select! {
        why = read_reports(&store, rd, &link, request_tx, &cfg) => why,
        why = write_transfers(&store, &mut wr, request_rx, &cfg) => why,
        _ = shutdown.cancelled() => "shutting down".to_string(),
    };
    tracing::info!(%peer, reason = %why, "HA connection to a slave closed");
}

/// `ReadSocketService`: the first report is where the slave wants data from, every report
/// acknowledges what it has. Silence for `haHousekeepingInterval` ends the connection.
async fn read_reports(
    store: &MessageStore,
    rd: OwnedReadHalf,
    link: &ReplicaLink,
    request: watch::Sender<Option<i64>>,
    cfg: &HaConfig,
) -> String {
    let mut reports = FramedRead::new(rd, ReportDecoder);
    loop {
        let offset = match tokio::time::timeout(cfg.housekeeping_interval, reports.next()).await {
            Err(_) => {
                return format!(
                    "housekeeping: no report for {} ms",
                    cfg.housekeeping_interval.as_millis()
                )
            }
            Ok(None) => return "closed by the slave".into(),
            Ok(Some(Err(e))) => return format!("read failed: {e}"),
            Ok(Some(Ok(offset))) => offset,
        };
        let max = store.commitlog_max_offset();
        // Java checks this for every report but the first; a first report past the end
        // means the slave's CommitLog diverged from this one (a master that lost its
        // unflushed tail), and streaming into it would corrupt it silently.
        if offset > max || offset < 0 {
            return format!(
                "the slave reports offset {offset}, beyond this CommitLog's end {max}: its \
                 CommitLog is not a copy of this one"
            );
        }
        if request.borrow().is_none() {
            tracing::info!(offset, "slave request offset");
            request.send_replace(Some(offset));
        }
        link.acked(offset);
    }
}

/// `WriteSocketService`: from the slave's request offset (or, for an empty slave, the
/// start of this master's last CommitLog file), transfers of at most
/// `haTransferBatchSize` bytes that never cross a file, pushed without waiting for
/// acknowledgements; a header-only heartbeat when nothing was written for
/// `haSendHeartbeatInterval`, and one before the first transfer.
async fn write_transfers(
    store: &MessageStore,
    wr: &mut OwnedWriteHalf,
    mut request: watch::Receiver<Option<i64>>,
    cfg: &HaConfig,
) -> String {
    let requested = loop {
        if let Some(r) = *request.borrow_and_update() {
            break r;
        }
        if request.changed().await.is_err() {
            return "closed before its first report".into();
        }
    };
    let mut next = if requested == 0 {
        let max = store.commitlog_max_offset();
        max - max % store.commitlog_file_size().max(1) as i64
    } else {
        requested
    };
    tracing::info!(from = next, requested, "master transfers data to the slave");
    let mut last_write: Option<Instant> = None;
    loop {
        if last_write.is_none_or(|t| t.elapsed() > cfg.heartbeat_interval) {
            if let Err(e) = wr.write_all(&ha::transfer_header(next, 0)).await {
                return format!("heartbeat write failed: {e}");
            }
            last_write = Some(Instant::now());
        }
        match store.commitlog_data(next, cfg.transfer_batch_size) {
            Some(data) => {
                // Header and body go out as two writes, the body straight from the
                // mapped file.
                let sent = async {
                    wr.write_all(&ha::transfer_header(next, data.len())).await?;
                    wr.write_all(&data).await
                };
                if let Err(e) = sent.await {
                    return format!("transfer write failed: {e}");
                }
                next += data.len() as i64;
                last_write = Some(Instant::now());
            }
            None => {
                let min = store.commitlog_min_offset();
                if next < min {
                    return format!(
                        "the slave needs offset {next}, below this CommitLog's first offset \
                         {min}: it cannot catch up from here"
                    );
                }
                if store.commitlog_max_offset() > next {
                    // Not readable yet though written (a file being rolled): Java's 100 ms.
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
                let until_heartbeat = last_write
                    .map(|t| cfg.heartbeat_interval.saturating_sub(t.elapsed()))
                    .unwrap_or_default();
                store
                    .wait_appended(next, until_heartbeat + Duration::from_millis(1))
                    .await;
            }
        }
    }
}
