use std::sync::Arc;
use std::time::Duration;

use rmqd_remoting::transport::client::{connect, RejectRequests};
use rmqd_remoting::{CancellationToken, ConnectionHandle, InvokeError, RemotingCommand};

pub struct Link {
    addr: String,
    conn: Option<ConnectionHandle>,
}

impl Link {
    pub fn new(addr: &str) -> Link {
        Link {
            addr: addr.to_string(),
            conn: None,
        }
    }

    pub async fn invoke(
        &mut self,
        req: RemotingCommand,
        timeout: Duration,
    ) -> Result<RemotingCommand, InvokeError> {
        let conn = match self.conn.as_ref().filter(|c| !c.is_closed()) {
            Some(c) => c.clone(),
            None => {
                let c = connect(
                    &self.addr,
                    Arc::new(RejectRequests),
                    Duration::from_secs(1),
                    CancellationToken::new(),
                )
                .await?;
                self.conn = Some(c.clone());
                c
            }
        };
        let r = conn.invoke(req, timeout).await;
        if r.is_err() {
            conn.close();
            self.conn = None;
        }
        r
    }

    pub fn close(&mut self) {
        if let Some(c) = self.conn.take() {
            c.close();
        }
    }
}
