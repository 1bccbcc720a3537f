//! 5.x gRPC producers reachable for transaction checks: each live telemetry stream of a
//! producer registers for the groups it publishes as (the gRPC layer uses the topic as the
//! producer group, as the Java proxy does). The checker hands them the half message.

use std::collections::HashMap;
use std::sync::Mutex;

use bytes::Bytes;
use tokio::sync::mpsc;

/// A half message to ask a producer about: the stored record with its real topic and
/// queue, as a remoting producer would get it in CHECK_TRANSACTION_STATE.
#[derive(Debug, Clone)]
pub struct OrphanCheck {
    pub record: Bytes,
    /// What the producer answers with in EndTransaction.
    pub transaction_id: String,
}

/// Per group: (client id, the client's check channel).
type Table = HashMap<String, Vec<(String, mpsc::Sender<OrphanCheck>)>>;

#[derive(Default)]
pub struct GrpcProducers {
    by_group: Mutex<Table>,
}

impl GrpcProducers {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.by_group.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn register(&self, group: &str, client_id: &str, tx: mpsc::Sender<OrphanCheck>) {
        let mut m = self.lock();
        let list = m.entry(group.to_string()).or_default();
        list.retain(|(c, s)| c != client_id && !s.is_closed());
        list.push((client_id.to_string(), tx));
    }

    pub fn unregister(&self, client_id: &str) {
        let mut m = self.lock();
        for list in m.values_mut() {
            list.retain(|(c, _)| c != client_id);
        }
        m.retain(|_, l| !l.is_empty());
    }

    /// Hands the check to one live producer of the group; false when there is none.
    pub fn ask(&self, group: &str, check: OrphanCheck) -> bool {
        let mut m = self.lock();
        let Some(list) = m.get_mut(group) else {
            return false;
        };
        list.retain(|(_, s)| !s.is_closed());
        list.iter().any(|(_, s)| s.try_send(check.clone()).is_ok())
    }
}
