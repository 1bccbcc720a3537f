//! What a connection hands its incoming requests to.

use futures::future::BoxFuture;

use super::connection::ConnectionHandle;
use crate::command::RemotingCommand;

/// A processor's answer: most requests are answered at once; those that wait (stores,
/// long polling) return a future that the connection runs on its own task.
pub enum Reply {
    /// Answer now; `None` sends nothing (oneway handling, or no answer due).
    Now(Option<RemotingCommand>),
    Later(BoxFuture<'static, Option<RemotingCommand>>),
}

impl From<RemotingCommand> for Reply {
    fn from(cmd: RemotingCommand) -> Self {
        Reply::Now(Some(cmd))
    }
}

/// Receives every request a peer sends.
///
/// `handle` runs on the connection's read loop, in arrival order, so whatever it does
/// before returning (for example queueing an append) keeps the order the peer sent in.
/// It must not block; slow work goes into [`Reply::Later`].
pub trait RequestHandler: Send + Sync + 'static {
    fn handle(&self, conn: &ConnectionHandle, request: RemotingCommand) -> Reply;

    fn on_connect(&self, _conn: &ConnectionHandle) {}

    fn on_disconnect(&self, _conn: &ConnectionHandle) {}
}
