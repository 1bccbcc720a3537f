//! Who is connected: producer and consumer groups, their channels and subscriptions, fed
//! by heartbeats. Consumers are told to rebalance (NOTIFY_CONSUMER_IDS_CHANGED) whenever
//! their group's membership or subscriptions change, as the Java broker does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use rmqd_remoting::body::client::{ConsumerData, SubscriptionData};
use rmqd_remoting::codes::request;
use rmqd_remoting::headers::broker::ConsumerGroupHeader;
use rmqd_remoting::{ConnectionHandle, LanguageCode, RemotingCommand};

/// Channels silent for this long are dropped (`CHANNEL_EXPIRED_TIMEOUT`).
pub const CHANNEL_EXPIRY: Duration = Duration::from_secs(120);

#[derive(Clone)]
pub struct ClientChannel {
    pub conn: ConnectionHandle,
    pub client_id: String,
    pub language: LanguageCode,
    pub version: i32,
    pub last_update: Instant,
}

#[derive(Default)]
pub struct ConsumerGroup {
    pub channels: HashMap<u64, ClientChannel>,
    pub subscriptions: HashMap<String, SubscriptionData>,
    pub consume_type: String,
    pub message_model: String,
    pub consume_from_where: String,
}

#[derive(Default)]
pub struct Clients {
    consumers: Mutex<HashMap<String, ConsumerGroup>>,
    producers: Mutex<HashMap<String, HashMap<u64, ClientChannel>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl Clients {
    pub fn register_producer(&self, group: &str, channel: ClientChannel) {
        lock(&self.producers)
            .entry(group.to_owned())
            .or_default()
            .insert(channel.conn.id(), channel);
    }

    pub fn unregister_producer(&self, group: &str, conn: &ConnectionHandle) {
        let mut p = lock(&self.producers);
        if let Some(chs) = p.get_mut(group) {
            chs.remove(&conn.id());
            if chs.is_empty() {
                p.remove(group);
            }
        }
    }

    /// A live connection of a producer in `group` (transaction check-back goes there).
    pub fn producer_channel(&self, group: &str) -> Option<ConnectionHandle> {
        lock(&self.producers)
            .get(group)?
            .values()
            .find(|c| !c.conn.is_closed())
            .map(|c| c.conn.clone())
    }

    /// The live connection a producer with this client id heartbeats on
    /// (`ProducerManager.findChannel`): where replies to its requests are pushed.
    pub fn producer_connection_of_client(&self, client_id: &str) -> Option<ConnectionHandle> {
        lock(&self.producers)
            .values()
            .flat_map(|chs| chs.values())
            .filter(|c| c.client_id == client_id && !c.conn.is_closed())
            .max_by_key(|c| c.last_update)
            .map(|c| c.conn.clone())
    }

    /// Record a consumer's heartbeat. Returns true when the group must rebalance.
    pub fn register_consumer(&self, data: &ConsumerData, channel: ClientChannel) -> bool {
        let mut groups = lock(&self.consumers);
        let g = groups.entry(data.group_name.clone()).or_default();
        g.consume_type = data.consume_type.clone();
        g.message_model = data.message_model.clone();
        g.consume_from_where = data.consume_from_where.clone();
        let new_channel = g.channels.insert(channel.conn.id(), channel).is_none();
        let mut subs_changed = false;
        for sub in &data.subscription_data_set {
            match g.subscriptions.get(&sub.topic) {
                Some(old) if old.sub_version >= sub.sub_version => {}
                Some(old) => {
                    subs_changed |= old.sub_string != sub.sub_string;
                    g.subscriptions.insert(sub.topic.clone(), sub.clone());
                }
                None => {
                    subs_changed = true;
                    g.subscriptions.insert(sub.topic.clone(), sub.clone());
                }
            }
        }
        // Topics the group no longer subscribes to go away, as in `updateSubscription`.
        let before = g.subscriptions.len();
        g.subscriptions
            .retain(|topic, _| data.subscription_data_set.iter().any(|s| &s.topic == topic));
        subs_changed |= g.subscriptions.len() != before;
        new_channel || subs_changed
    }

    /// Returns true when a channel was removed and the group still has members.
    pub fn unregister_consumer(&self, group: &str, conn: &ConnectionHandle) -> bool {
        let mut groups = lock(&self.consumers);
        let Some(g) = groups.get_mut(group) else {
            return false;
        };
        let removed = g.channels.remove(&conn.id()).is_some();
        if g.channels.is_empty() {
            groups.remove(group);
            return false;
        }
        removed
    }

    /// A connection closed: forget it everywhere; returns the consumer groups to notify.
    pub fn connection_closed(&self, conn: &ConnectionHandle) -> Vec<String> {
        self.forget(|c| c.conn.id() == conn.id())
    }

    /// Drop channels silent past the expiry; returns the consumer groups to notify.
    pub fn expire(&self, now: Instant) -> Vec<String> {
        self.forget(|c| {
            let dead = now.saturating_duration_since(c.last_update) > CHANNEL_EXPIRY;
            if dead {
                tracing::warn!(client = %c.client_id, peer = %c.conn.peer_addr(), "client channel expired");
                c.conn.close();
            }
            dead
        })
    }

    fn forget(&self, mut gone: impl FnMut(&ClientChannel) -> bool) -> Vec<String> {
        for chs in lock(&self.producers).values_mut() {
            chs.retain(|_, c| !gone(c));
        }
        lock(&self.producers).retain(|_, chs| !chs.is_empty());
        let mut notify = Vec::new();
        let mut groups = lock(&self.consumers);
        groups.retain(|name, g| {
            let before = g.channels.len();
            g.channels.retain(|_, c| !gone(c));
            if g.channels.len() != before && !g.channels.is_empty() {
                notify.push(name.clone());
            }
            !g.channels.is_empty()
        });
        notify
    }

    /// Sorted client ids of a group's live consumers.
    pub fn consumer_ids(&self, group: &str) -> Option<Vec<String>> {
        let groups = lock(&self.consumers);
        let g = groups.get(group)?;
        let mut ids: Vec<String> = g.channels.values().map(|c| c.client_id.clone()).collect();
        ids.sort();
        ids.dedup();
        Some(ids)
    }

    pub fn subscription(&self, group: &str, topic: &str) -> Option<SubscriptionData> {
        lock(&self.consumers)
            .get(group)?
            .subscriptions
            .get(topic)
            .cloned()
    }

    /// Run `f` on a group, if it has consumers.
    pub fn with_group<R>(&self, group: &str, f: impl FnOnce(&ConsumerGroup) -> R) -> Option<R> {
        lock(&self.consumers).get(group).map(f)
    }

    /// Tell every consumer of `group` to rebalance.
    pub fn notify_ids_changed(&self, group: &str) {
        let conns: Vec<ConnectionHandle> = match lock(&self.consumers).get(group) {
            Some(g) => g.channels.values().map(|c| c.conn.clone()).collect(),
            None => return,
        };
        for conn in conns {
            let req = RemotingCommand::request(request::NOTIFY_CONSUMER_IDS_CHANGED).with_header(
                &ConsumerGroupHeader {
                    consumer_group: group.to_owned(),
                },
            );
            tokio::spawn(async move {
                if let Err(e) = conn.invoke_oneway(req).await {
                    tracing::debug!(error = %e, "cannot notify consumer");
                }
            });
        }
    }
}

/// Lookups for the admin codes.
impl Clients {
    /// The live channel of `client_id` in consumer group `group` (Java's `findChannel`).
    pub fn find_consumer_channel(&self, group: &str, client_id: &str) -> Option<ClientChannel> {
        lock(&self.consumers)
            .get(group)?
            .channels
            .values()
            .find(|c| c.client_id == client_id)
            .cloned()
    }

    /// Every channel of consumer group `group`.
    pub fn consumer_channels(&self, group: &str) -> Vec<ClientChannel> {
        lock(&self.consumers)
            .get(group)
            .map(|g| g.channels.values().cloned().collect())
            .unwrap_or_default()
    }

    /// How many topics the group's consumers subscribe to (`findSubscriptionDataCount`).
    pub fn subscription_count(&self, group: &str) -> usize {
        lock(&self.consumers)
            .get(group)
            .map_or(0, |g| g.subscriptions.len())
    }

    /// Groups whose consumers subscribe to `topic` (`queryTopicConsumeByWho`).
    pub fn groups_subscribing(&self, topic: &str) -> Vec<String> {
        lock(&self.consumers)
            .iter()
            .filter(|(_, g)| g.subscriptions.contains_key(topic))
            .map(|(name, _)| name.clone())
            .collect()
    }

    /// The channels of producer group `group`, if any registered.
    pub fn producer_channels(&self, group: &str) -> Option<Vec<ClientChannel>> {
        lock(&self.producers)
            .get(group)
            .map(|chs| chs.values().cloned().collect())
    }

    /// Every producer group and its channels.
    pub fn all_producers(&self) -> Vec<(String, Vec<ClientChannel>)> {
        lock(&self.producers)
            .iter()
            .map(|(g, chs)| (g.clone(), chs.values().cloned().collect()))
            .collect()
    }
}
