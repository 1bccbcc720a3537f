//! One TCP connection, either side: a read loop that dispatches requests and completes
//! pending invocations, and a handle to send on it.

use std::collections::HashMap;
use std::future::Future;
use std::net::SocketAddr;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicI32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use futures::stream::FuturesUnordered;
use futures::{FutureExt, StreamExt};
use thiserror::Error;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_util::codec::FramedRead;
use tokio_util::sync::CancellationToken;

use super::handler::{Reply, RequestHandler};
use super::writer;
use crate::codes::response;
use crate::command::RemotingCommand;
use crate::frame::{CommandCodec, FrameError};

/// Outbound frames queued per connection before senders wait.
const OUTBOUND_QUEUE: usize = 4096;

/// Every request this process starts takes the next opaque, as Java's global counter does.
static NEXT_OPAQUE: AtomicI32 = AtomicI32::new(0);
static NEXT_CONN_ID: AtomicU64 = AtomicU64::new(1);

#[derive(Debug, Error)]
pub enum InvokeError {
    #[error("connection to {0} is closed")]
    Closed(SocketAddr),
    #[error("no response from {addr} within {timeout:?}")]
    Timeout { addr: SocketAddr, timeout: Duration },
    #[error("cannot connect to {addr}: {source}")]
    Connect {
        addr: String,
        source: std::io::Error,
    },
}

type Pending = Mutex<HashMap<i32, oneshot::Sender<RemotingCommand>>>;

struct Shared {
    id: u64,
    peer: SocketAddr,
    local: SocketAddr,
    tx: mpsc::Sender<RemotingCommand>,
    pending: Pending,
    closed: AtomicBool,
    cancel: CancellationToken,
}

/// A cheap, cloneable handle to a live connection.
#[derive(Clone)]
pub struct ConnectionHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for ConnectionHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("id", &self.shared.id)
            .field("peer", &self.shared.peer)
            .finish()
    }
}

impl PartialEq for ConnectionHandle {
    fn eq(&self, other: &Self) -> bool {
        self.shared.id == other.shared.id
    }
}
impl Eq for ConnectionHandle {}
impl std::hash::Hash for ConnectionHandle {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.shared.id.hash(state)
    }
}

impl ConnectionHandle {
    /// Process-unique id of this connection.
    pub fn id(&self) -> u64 {
        self.shared.id
    }

    pub fn peer_addr(&self) -> SocketAddr {
        self.shared.peer
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local
    }

    pub fn is_closed(&self) -> bool {
        self.shared.closed.load(Ordering::Acquire)
    }

    /// Ask the connection to close; the read loop ends and the peer sees EOF.
    pub fn close(&self) {
        self.shared.cancel.cancel();
    }

    /// Queue a command (a response, or a oneway request that already has its opaque).
    pub async fn send(&self, cmd: RemotingCommand) -> Result<(), InvokeError> {
        self.shared
            .tx
            .send(cmd)
            .await
            .map_err(|_| InvokeError::Closed(self.shared.peer))
    }

    /// Send a request and wait for its response.
    pub async fn invoke(
        &self,
        mut req: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, InvokeError> {
        let opaque = NEXT_OPAQUE.fetch_add(1, Ordering::Relaxed);
        req.opaque = opaque;
        req.flag &= !crate::command::FLAG_RESPONSE;
        let (tx, rx) = oneshot::channel();
        self.pending().insert(opaque, tx);
        if self.is_closed() {
            self.pending().remove(&opaque);
            return Err(InvokeError::Closed(self.shared.peer));
        }
        if let Err(e) = self.send(req).await {
            self.pending().remove(&opaque);
            return Err(e);
        }
        match tokio::time::timeout(timeout, rx).await {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(_)) => Err(InvokeError::Closed(self.shared.peer)),
            Err(_) => {
                self.pending().remove(&opaque);
                Err(InvokeError::Timeout {
                    addr: self.shared.peer,
                    timeout,
                })
            }
        }
    }

    /// Send a request that expects no response.
    pub async fn invoke_oneway(&self, mut req: RemotingCommand) -> Result<(), InvokeError> {
        req.opaque = NEXT_OPAQUE.fetch_add(1, Ordering::Relaxed);
        req.flag = (req.flag & !crate::command::FLAG_RESPONSE) | crate::command::FLAG_ONEWAY;
        self.send(req).await
    }

    fn pending(&self) -> std::sync::MutexGuard<'_, HashMap<i32, oneshot::Sender<RemotingCommand>>> {
        // A poisoned map only means another task panicked mid-insert; the map itself is fine.
        self.shared
            .pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Run a connection until the peer closes it, a frame is malformed, or `shutdown` fires.
pub(crate) async fn run<S>(
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    handler: Arc<dyn RequestHandler>,
    max_frame_len: usize,
    idle_timeout: Option<Duration>,
    shutdown: CancellationToken,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (conn, read) = start(stream, peer, local, max_frame_len, shutdown);
    read_loop(conn, read, handler, idle_timeout).await
}

type Reader<S> = FramedRead<tokio::io::ReadHalf<S>, CommandCodec>;

/// Set up both halves; the caller drives the returned read half with [`read_loop`].
pub(crate) fn start<S>(
    stream: S,
    peer: SocketAddr,
    local: SocketAddr,
    max_frame_len: usize,
    shutdown: CancellationToken,
) -> (ConnectionHandle, Reader<S>)
where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    let (r, w) = tokio::io::split(stream);
    let (tx, rx) = mpsc::channel(OUTBOUND_QUEUE);
    tokio::spawn(writer::run(w, rx));
    let conn = ConnectionHandle {
        shared: Arc::new(Shared {
            id: NEXT_CONN_ID.fetch_add(1, Ordering::Relaxed),
            peer,
            local,
            tx,
            pending: Mutex::new(HashMap::new()),
            closed: AtomicBool::new(false),
            cancel: shutdown.child_token(),
        }),
    };
    (conn, FramedRead::new(r, CommandCodec::new(max_frame_len)))
}

pub(crate) async fn read_loop<S>(
    conn: ConnectionHandle,
    mut read: Reader<S>,
    handler: Arc<dyn RequestHandler>,
    idle_timeout: Option<Duration>,
) where
    S: AsyncRead + AsyncWrite + Send + 'static,
{
    handler.on_connect(&conn);
    let cancel = conn.shared.cancel.clone();
    // Far enough away to never fire when there is no idle limit.
    let idle = idle_timeout.unwrap_or(Duration::from_secs(100 * 365 * 24 * 3600));
    let idle_deadline = tokio::time::sleep(idle);
    tokio::pin!(idle_deadline);
    // Answers still being worked on (appends, long polls) run here, on the connection's
    // own task, rather than one spawned task each: a spawn per send costs an allocation
    // and a trip through the scheduler for every message.
    let mut later = FuturesUnordered::new();
    loop {
        let next = tokio::select! {
            _ = cancel.cancelled() => break,
            Some(resp) = later.next(), if !later.is_empty() => {
                if let Some(resp) = resp {
                    let _ = conn.send(resp).await;
                }
                continue;
            }
            _ = &mut idle_deadline => {
                tracing::info!(peer = %conn.peer_addr(), idle_secs = idle.as_secs(), "closing a connection idle for too long");
                break;
            }
            next = read.next() => next,
        };
        idle_deadline
            .as_mut()
            .reset(tokio::time::Instant::now() + idle);
        match next {
            None => break,
            Some(Err(FrameError::Io(e))) => {
                tracing::debug!(peer = %conn.peer_addr(), error = %e, "connection read failed");
                break;
            }
            Some(Err(e)) => {
                tracing::warn!(peer = %conn.peer_addr(), error = %e, "closing connection after a malformed frame");
                break;
            }
            Some(Ok(cmd)) if cmd.is_response() => {
                let waiter = conn.pending().remove(&cmd.opaque);
                match waiter {
                    Some(w) => {
                        let _ = w.send(cmd);
                    }
                    None => tracing::debug!(
                        peer = %conn.peer_addr(),
                        opaque = cmd.opaque,
                        code = cmd.code,
                        "dropping a response nobody waits for"
                    ),
                }
            }
            Some(Ok(req)) => {
                if let Some(fut) = dispatch(&conn, &handler, req).await {
                    later.push(fut);
                }
            }
        }
    }
    conn.shared.closed.store(true, Ordering::Release);
    // Fail every invocation still waiting on this connection.
    conn.pending().clear();
    handler.on_disconnect(&conn);
    // Work already handed to the store finishes (its answer cannot be delivered any more,
    // but an append must not be abandoned halfway through its bookkeeping).
    if !later.is_empty() {
        tokio::spawn(async move { while later.next().await.is_some() {} });
    }
}

/// Hands a request to the processor. An answer that is ready is queued for writing; one
/// that is not comes back as a future for the read loop to drive.
async fn dispatch(
    conn: &ConnectionHandle,
    handler: &Arc<dyn RequestHandler>,
    req: RemotingCommand,
) -> Option<impl Future<Output = Option<RemotingCommand>> + Send + 'static> {
    let oneway = req.is_oneway();
    let failure = Failure {
        opaque: req.opaque,
        code: req.code,
        serialize_type: req.serialize_type,
    };
    let reply = std::panic::catch_unwind(AssertUnwindSafe(|| handler.handle(conn, req)));
    match reply {
        Ok(Reply::Now(resp)) => {
            if let (Some(resp), false) = (resp, oneway) {
                let _ = conn.send(resp).await;
            }
            None
        }
        Ok(Reply::Later(fut)) => Some(finish_later(fut, oneway, failure)),
        Err(_) => {
            if !oneway {
                let _ = conn.send(failure.response()).await;
            }
            None
        }
    }
}

/// Drives an answer that was not ready: its response, none for a oneway request, and a
/// SYSTEM_ERROR if the processor panicked on the way.
async fn finish_later(
    fut: BoxFuture<'static, Option<RemotingCommand>>,
    oneway: bool,
    failure: Failure,
) -> Option<RemotingCommand> {
    let resp = match AssertUnwindSafe(fut).catch_unwind().await {
        Ok(resp) => resp,
        Err(_) => Some(failure.response()),
    };
    if oneway {
        None
    } else {
        resp
    }
}

/// What is needed to answer a request whose processor panicked.
struct Failure {
    opaque: i32,
    code: i32,
    serialize_type: crate::command::SerializeType,
}

impl Failure {
    fn response(&self) -> RemotingCommand {
        tracing::error!(code = self.code, "request processor panicked");
        RemotingCommand {
            code: response::SYSTEM_ERROR,
            opaque: self.opaque,
            flag: crate::command::FLAG_RESPONSE,
            serialize_type: self.serialize_type,
            version: crate::command::RMQD_VERSION,
            remark: Some(format!(
                "internal error while processing request code {}",
                self.code
            )),
            ..Default::default()
        }
    }
}
