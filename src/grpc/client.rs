//! Client sessions (`ClientActivity`, `GrpcClientSettingsManager`): the settings each client
//! sends over its telemetry stream, merged with the broker's as the proxy merges them, its
//! heartbeats, and the server-to-client commands (transaction recovery, thread stacks,
//! message verification) sent over that stream.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::sync::{mpsc, oneshot};

use super::convert::duration;
use super::pb::{self, settings::PubSub, telemetry_command::Command};
use crate::broker::context::BrokerContext;

/// `ProxyConfig` defaults for what the proxy pushes back to clients.
const PRODUCER_MAX_ATTEMPTS: i32 = 3;
const PRODUCER_BACKOFF_INITIAL_MS: i64 = 10;
const PRODUCER_BACKOFF_MAX_MS: i64 = 1000;
const PRODUCER_BACKOFF_MULTIPLIER: f32 = 2.0;
pub const CONSUMER_BATCH_SIZE: i32 = 32;
pub const MAX_LONG_POLLING_MS: i64 = 20_000;
pub const MIN_LONG_POLLING_MS: i64 = 5_000;
pub const MAX_MESSAGE_SIZE: i32 = 4 * 1024 * 1024;
/// A client silent this long is forgotten (Java's channel expiry).
const CLIENT_EXPIRY: Duration = Duration::from_secs(120);
/// `ExponentialRetryPolicy` defaults.
const GROUP_EXPONENTIAL_INITIAL_MS: i64 = 5_000;
const GROUP_EXPONENTIAL_MAX_MS: i64 = 2 * 3600 * 1000;
const GROUP_EXPONENTIAL_MULTIPLIER: i64 = 2;
/// `CustomizedRetryPolicy` default: the 18 delay levels.
const CUSTOMIZED_NEXT_MS: [i64; 18] = [
    1_000, 5_000, 10_000, 30_000, 60_000, 120_000, 180_000, 240_000, 300_000, 360_000, 420_000,
    480_000, 540_000, 600_000, 1_200_000, 1_800_000, 3_600_000, 7_200_000,
];

struct Session {
    settings: Option<pb::Settings>,
    seen: Instant,
    commands: Option<mpsc::Sender<pb::TelemetryCommand>>,
}

#[derive(Default)]
pub struct GrpcClients {
    sessions: Mutex<HashMap<String, Session>>,
    pending: Mutex<HashMap<String, oneshot::Sender<Command>>>,
    nonce: AtomicU64,
}

impl GrpcClients {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Session>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn touch(&self, client_id: &str) {
        let mut s = self.lock();
        let e = s.entry(client_id.to_string()).or_insert_with(|| Session {
            settings: None,
            seen: Instant::now(),
            commands: None,
        });
        e.seen = Instant::now();
    }

    pub fn raw_settings(&self, client_id: &str) -> Option<pb::Settings> {
        self.lock().get(client_id).and_then(|s| s.settings.clone())
    }

    pub fn set_settings(&self, client_id: &str, settings: pb::Settings) {
        let mut s = self.lock();
        let e = s.entry(client_id.to_string()).or_insert_with(|| Session {
            settings: None,
            seen: Instant::now(),
            commands: None,
        });
        e.settings = Some(settings);
        e.seen = Instant::now();
    }

    pub fn set_stream(&self, client_id: &str, tx: mpsc::Sender<pb::TelemetryCommand>) {
        let mut s = self.lock();
        if let Some(e) = s.get_mut(client_id) {
            e.commands = Some(tx);
        } else {
            s.insert(
                client_id.to_string(),
                Session {
                    settings: None,
                    seen: Instant::now(),
                    commands: Some(tx),
                },
            );
        }
    }

    /// Whether the client has a telemetry stream to send commands on.
    pub fn is_connected(&self, client_id: &str) -> bool {
        self.lock()
            .get(client_id)
            .and_then(|s| s.commands.as_ref())
            .is_some_and(|tx| !tx.is_closed())
    }

    /// Sends a command the client answers (thread stack, verify message) and waits for
    /// the answer carrying the same nonce.
    pub async fn ask(
        &self,
        client_id: &str,
        make: impl FnOnce(String) -> Command,
        wait: Duration,
    ) -> Option<Command> {
        let tx = self
            .lock()
            .get(client_id)
            .and_then(|s| s.commands.clone())?;
        let nonce = format!("{:x}", self.nonce.fetch_add(1, Ordering::Relaxed) + 1);
        let (done, answer) = oneshot::channel();
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(nonce.clone(), done);
        let cmd = pb::TelemetryCommand {
            status: None,
            command: Some(make(nonce.clone())),
        };
        let got = if tx.send(cmd).await.is_ok() {
            tokio::time::timeout(wait, answer)
                .await
                .ok()
                .and_then(Result::ok)
        } else {
            None
        };
        self.pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&nonce);
        got
    }

    pub fn remove(&self, client_id: &str) -> bool {
        self.lock().remove(client_id).is_some()
    }

    /// Drops sessions silent for two minutes; returns their ids.
    pub fn expire(&self) -> Vec<String> {
        let mut s = self.lock();
        let gone: Vec<String> = s
            .iter()
            .filter(|(_, v)| v.seen.elapsed() > CLIENT_EXPIRY)
            .map(|(k, _)| k.clone())
            .collect();
        for k in &gone {
            s.remove(k);
        }
        gone
    }

    /// A client's answer (thread stack, verify result) to a command with `nonce`.
    pub fn answered(&self, nonce: &str, cmd: Command) {
        if let Some(tx) = self
            .pending
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(nonce)
        {
            let _ = tx.send(cmd);
        }
    }
}

fn exponential(initial_ms: i64, max_ms: i64, multiplier: f32) -> pb::retry_policy::Strategy {
    pb::retry_policy::Strategy::ExponentialBackoff(pb::ExponentialBackoff {
        initial: Some(duration(initial_ms)),
        max: Some(duration(max_ms)),
        multiplier,
    })
}

/// The backoff a group's consumers get (`mergeSubscriptionData`): the group's
/// `groupRetryPolicy` (5.x `SubscriptionGroupConfig`), EXPONENTIAL with its
/// `exponentialRetryPolicy` (Java's defaults 5 s, 2 h, ×2 for what is missing), otherwise
/// CUSTOMIZED with its `customizedRetryPolicy.next` or the 18 delay levels. Some clients
/// (Node 1.0.8) understand only the exponential one. A value of the wrong shape counts
/// as absent.
pub fn group_retry_strategy(policy: Option<&serde_json::Value>) -> pb::retry_policy::Strategy {
    let policy = policy.and_then(|p| p.as_object());
    let field = |name: &str| policy.and_then(|p| p.get(name)).and_then(|v| v.as_object());
    let exponential_type = policy
        .and_then(|p| p.get("type"))
        .and_then(|t| t.as_str())
        .is_some_and(|t| t == "EXPONENTIAL");
    if exponential_type {
        let e = field("exponentialRetryPolicy");
        let num = |name: &str, default: i64| {
            e.and_then(|e| e.get(name))
                .and_then(|v| v.as_i64())
                .filter(|v| *v >= 0)
                .unwrap_or(default)
        };
        return exponential(
            num("initial", GROUP_EXPONENTIAL_INITIAL_MS),
            num("max", GROUP_EXPONENTIAL_MAX_MS),
            num("multiplier", GROUP_EXPONENTIAL_MULTIPLIER) as f32,
        );
    }
    let next: Option<Vec<i64>> = field("customizedRetryPolicy")
        .and_then(|c| c.get("next"))
        .and_then(|n| n.as_array())
        .and_then(|n| n.iter().map(|v| v.as_i64().filter(|v| *v >= 0)).collect());
    let next = next.unwrap_or_else(|| CUSTOMIZED_NEXT_MS.to_vec());
    pb::retry_policy::Strategy::CustomizedBackoff(pb::CustomizedBackoff {
        next: next.into_iter().map(duration).collect(),
    })
}

/// Whether a subscription group consumes in order (5.x `consumeMessageOrderly`).
pub fn group_is_fifo(ctx: &BrokerContext, group: &str) -> bool {
    ctx.groups
        .get(group)
        .and_then(|g| {
            g.other
                .get("consumeMessageOrderly")
                .and_then(|v| v.as_bool())
        })
        .unwrap_or(false)
}

/// The group's delivery attempts (`retryMaxTimes + 1`).
pub fn group_max_attempts(ctx: &BrokerContext, group: &str) -> i32 {
    ctx.groups
        .get(group)
        .map(|g| g.retry_max_times + 1)
        .unwrap_or(17)
}

/// `getClientSettings`: the client's settings with what the server decides merged in.
pub fn merged(ctx: &BrokerContext, raw: &pb::Settings) -> pb::Settings {
    let mut s = raw.clone();
    match &mut s.pub_sub {
        Some(PubSub::Publishing(p)) => {
            s.backoff_policy = Some(pb::RetryPolicy {
                max_attempts: PRODUCER_MAX_ATTEMPTS,
                strategy: Some(exponential(
                    PRODUCER_BACKOFF_INITIAL_MS,
                    PRODUCER_BACKOFF_MAX_MS,
                    PRODUCER_BACKOFF_MULTIPLIER,
                )),
            });
            p.validate_message_type = true;
            p.max_body_size = MAX_MESSAGE_SIZE;
        }
        Some(PubSub::Subscription(sub)) => {
            let group = sub
                .group
                .as_ref()
                .map(|g| g.name.clone())
                .unwrap_or_default();
            sub.receive_batch_size = Some(CONSUMER_BATCH_SIZE);
            sub.long_polling_timeout = Some(duration(MAX_LONG_POLLING_MS));
            sub.fifo = Some(group_is_fifo(ctx, &group));
            let policy = ctx
                .groups
                .get(&group)
                .and_then(|g| g.other.get("groupRetryPolicy").cloned());
            s.backoff_policy = Some(pb::RetryPolicy {
                max_attempts: group_max_attempts(ctx, &group),
                strategy: Some(group_retry_strategy(policy.as_ref())),
            });
        }
        None => {}
    }
    s.metric = Some(pb::Metric {
        on: false,
        endpoints: None,
    });
    s
}

/// Registers a producer's telemetry stream for transaction checks of the topics it
/// publishes to (the proxy's producer group is the topic).
pub fn register_producer(
    ctx: &Arc<BrokerContext>,
    client_id: &str,
    settings: &pb::Settings,
    tx: &mpsc::Sender<pb::TelemetryCommand>,
) {
    let Some(PubSub::Publishing(p)) = &settings.pub_sub else {
        return;
    };
    for t in &p.topics {
        let (check_tx, mut check_rx) =
            mpsc::channel::<crate::broker::grpc_producers::OrphanCheck>(64);
        ctx.grpc_producers.register(&t.name, client_id, check_tx);
        let out = tx.clone();
        let topic = t.name.clone();
        tokio::spawn(async move {
            while let Some(check) = check_rx.recv().await {
                let Some(cmd) = super::produce::recovery_command(&topic, &check) else {
                    continue;
                };
                if out.send(cmd).await.is_err() {
                    return;
                }
            }
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use pb::retry_policy::Strategy;
    use serde_json::json;

    fn ms(s: &Strategy) -> (String, Vec<i64>, f32) {
        match s {
            Strategy::ExponentialBackoff(e) => (
                "exp".into(),
                [&e.initial, &e.max]
                    .iter()
                    .map(|d| {
                        d.as_ref()
                            .map(super::super::convert::duration_ms)
                            .unwrap_or(-1)
                    })
                    .collect(),
                e.multiplier,
            ),
            Strategy::CustomizedBackoff(c) => (
                "custom".into(),
                c.next
                    .iter()
                    .map(super::super::convert::duration_ms)
                    .collect(),
                0.0,
            ),
        }
    }

    #[test]
    fn a_group_without_a_policy_gets_the_delay_levels() {
        let (kind, next, _) = ms(&group_retry_strategy(None));
        assert_eq!(kind, "custom");
        assert_eq!(next, CUSTOMIZED_NEXT_MS.to_vec());
    }

    #[test]
    fn an_exponential_group_policy_reaches_the_client() {
        let p = json!({"type": "EXPONENTIAL",
            "exponentialRetryPolicy": {"initial": 1000, "max": 60000, "multiplier": 3}});
        assert_eq!(
            ms(&group_retry_strategy(Some(&p))),
            ("exp".into(), vec![1000, 60000], 3.0)
        );
        // Missing fields take ExponentialRetryPolicy's defaults.
        let p = json!({"type": "EXPONENTIAL"});
        assert_eq!(
            ms(&group_retry_strategy(Some(&p))),
            ("exp".into(), vec![5000, 7_200_000], 2.0)
        );
    }

    #[test]
    fn a_customized_group_policy_and_malformed_ones() {
        let p = json!({"type": "CUSTOMIZED", "customizedRetryPolicy": {"next": [100, 2000]}});
        assert_eq!(ms(&group_retry_strategy(Some(&p))).1, vec![100, 2000]);
        for bad in [
            json!("EXPONENTIAL"),
            json!({"type": 7}),
            json!({"type": "CUSTOMIZED", "customizedRetryPolicy": {"next": [1, "x"]}}),
            json!({"type": "CUSTOMIZED", "customizedRetryPolicy": {"next": [-5]}}),
        ] {
            assert_eq!(
                ms(&group_retry_strategy(Some(&bad))).1,
                CUSTOMIZED_NEXT_MS.to_vec(),
                "{bad}"
            );
        }
        let p =
            json!({"type": "EXPONENTIAL", "exponentialRetryPolicy": {"initial": -1, "max": "x"}});
        assert_eq!(
            ms(&group_retry_strategy(Some(&p))),
            ("exp".into(), vec![5000, 7_200_000], 2.0)
        );
    }
}
