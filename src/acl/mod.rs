//! Plain ACL (`aclEnable=true`), as the Java broker's `PlainAccessValidator` does it: every
//! request is checked before it reaches the broker's processor, against the accounts in
//! `<rocketmqHome>/conf/plain_acl.yml` (and `conf/acl/*.yml`), reloaded when they change.
//!
//! The check is a layer around the processor that exists only when ACL is on, so a broker
//! without ACL pays nothing per request.

mod address;
pub mod admin;
mod file;
mod manager;
mod perm;
mod resource;

use std::sync::Arc;
use std::time::Duration;

use rmqd_remoting::codes::response;
use rmqd_remoting::{CancellationToken, ConnectionHandle, RemotingCommand, Reply, RequestHandler};

pub use manager::AclManager;

/// A refusal or a configuration error, worded as Java's `AclException` message.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AclError(pub String);

/// What `Throwable.toString()` gives for an `AclException`: the Java broker's remark
/// starts with it (followed there by the throwing stack frame, left out here).
const JAVA_EXCEPTION: &str = "org.apache.rocketmq.acl.common.AclException";

/// The ACL check in front of the broker's processor; also answers the ACL admin codes.
pub struct AclLayer {
    inner: Arc<dyn RequestHandler>,
    acl: Arc<AclManager>,
    me: admin::BrokerIdentity,
}

impl AclLayer {
    pub fn new(
        inner: Arc<dyn RequestHandler>,
        acl: Arc<AclManager>,
        me: admin::BrokerIdentity,
    ) -> Self {
        AclLayer { inner, acl, me }
    }
}

impl RequestHandler for AclLayer {
    fn handle(&self, conn: &ConnectionHandle, req: RemotingCommand) -> Reply {
        if let Err(e) = self.acl.validate(&req, conn.peer_addr().ip()) {
            tracing::info!(
                peer = %conn.peer_addr(),
                code = req.code,
                encoding = %req.serialize_type.name(),
                reason = %e,
                "request refused by ACL"
            );
            return Reply::Now(Some(RemotingCommand::error(
                &req,
                response::NO_PERMISSION,
                format!("{JAVA_EXCEPTION}: {}", e.0),
            )));
        }
        if admin::is_acl_code(req.code) {
            return Reply::Now(Some(admin::handle(&self.acl, &self.me, &req)));
        }
        self.inner.handle(conn, req)
    }

    fn on_connect(&self, conn: &ConnectionHandle) {
        self.inner.on_connect(conn)
    }

    fn on_disconnect(&self, conn: &ConnectionHandle) {
        self.inner.on_disconnect(conn)
    }
}

/// Looks for changed ACL files every `interval` (Java's `AclFileWatchService`, 5 s) and
/// reloads them; a file that does not parse leaves the rules in force unchanged.
pub async fn watch(acl: Arc<AclManager>, interval: Duration, shutdown: CancellationToken) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {
                let a = acl.clone();
                if let Ok(true) = tokio::task::spawn_blocking(move || a.reload_if_changed()).await {
                    tracing::info!("ACL files changed: rules reloaded");
                }
            }
        }
    }
}
