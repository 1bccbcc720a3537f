//! Outbound connections: one per address, reconnected on demand.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use super::connection::{self, ConnectionHandle, InvokeError};
use super::handler::{Reply, RequestHandler};
use crate::command::RemotingCommand;
use crate::frame::DEFAULT_MAX_FRAME_LEN;

/// Connect to `addr`; requests the peer sends on this connection go to `handler`.
pub async fn connect(
    addr: &str,
    handler: Arc<dyn RequestHandler>,
    timeout: Duration,
    shutdown: CancellationToken,
) -> Result<ConnectionHandle, InvokeError> {
    let err = |source| InvokeError::Connect {
        addr: addr.to_owned(),
        source,
    };
    let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
        .await
        .map_err(|_| err(std::io::ErrorKind::TimedOut.into()))?
        .map_err(err)?;
    let _ = stream.set_nodelay(true);
    let peer = stream.peer_addr().map_err(err)?;
    let local = stream.local_addr().map_err(err)?;
    let (conn, read) = connection::start(stream, peer, local, DEFAULT_MAX_FRAME_LEN, shutdown);
    tokio::spawn(connection::read_loop(conn.clone(), read, handler, None));
    Ok(conn)
}

/// Answers every request from the peer with REQUEST_CODE_NOT_SUPPORTED.
pub struct RejectRequests;

impl RequestHandler for RejectRequests {
    fn handle(&self, _conn: &ConnectionHandle, request: RemotingCommand) -> Reply {
        Reply::Now(Some(RemotingCommand::not_supported(&request)))
    }
}

/// A set of connections keyed by address, as the Java `NettyRemotingClient` keeps them.
pub struct RemotingClient {
    conns: Mutex<HashMap<String, ConnectionHandle>>,
    handler: Arc<dyn RequestHandler>,
    connect_timeout: Duration,
    shutdown: CancellationToken,
}

impl RemotingClient {
    pub fn new(handler: Arc<dyn RequestHandler>, shutdown: CancellationToken) -> Self {
        RemotingClient {
            conns: Mutex::new(HashMap::new()),
            handler,
            connect_timeout: Duration::from_secs(3),
            shutdown,
        }
    }

    async fn connection(&self, addr: &str) -> Result<ConnectionHandle, InvokeError> {
        if let Some(c) = self.lock().get(addr).filter(|c| !c.is_closed()) {
            return Ok(c.clone());
        }
        let conn = connect(
            addr,
            self.handler.clone(),
            self.connect_timeout,
            self.shutdown.clone(),
        )
        .await?;
        self.lock().insert(addr.to_owned(), conn.clone());
        Ok(conn)
    }

    pub async fn invoke(
        &self,
        addr: &str,
        req: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, InvokeError> {
        let conn = self.connection(addr).await?;
        let result = conn.invoke(req, timeout).await;
        if result.is_err() && conn.is_closed() {
            self.lock().remove(addr);
        }
        result
    }

    pub async fn invoke_oneway(&self, addr: &str, req: RemotingCommand) -> Result<(), InvokeError> {
        self.connection(addr).await?.invoke_oneway(req).await
    }

    /// Close every connection.
    pub fn close_all(&self) {
        for (_, c) in self.lock().drain() {
            c.close();
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, ConnectionHandle>> {
        self.conns.lock().unwrap_or_else(|p| p.into_inner())
    }
}
