//! The name server's view of the cluster: which brokers are alive, which topics each one
//! serves, and the routes clients ask for. The rules follow the Java `RouteInfoManager`
//! so that mixed clusters of Java and rmqd nodes see the same routes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::time::{Duration, Instant};

use rmqd_remoting::body::cluster::ClusterInfo;
use rmqd_remoting::body::route::{BrokerData, QueueData, TopicRouteData};
use rmqd_remoting::body::topic::{perm, DataVersion, TopicConfigSerializeWrapper, TopicList};

/// Broker id of a master.
pub const MASTER_ID: i64 = 0;

/// `TopicSysFlag` bits.
const FLAG_UNIT: i32 = 0x1;
const FLAG_UNIT_SUB: i32 = 0x2;

struct LiveBroker {
    last_update: Instant,
    data_version: DataVersion,
    /// The connection the broker registered over; its close removes the broker at once.
    conn_id: u64,
    ha_server_addr: String,
}

/// One REGISTER_BROKER, already decoded.
pub struct Registration<'a> {
    pub cluster_name: &'a str,
    pub broker_addr: &'a str,
    pub broker_name: &'a str,
    pub broker_id: i64,
    pub ha_server_addr: &'a str,
    pub topics: Option<&'a TopicConfigSerializeWrapper>,
    pub filter_servers: &'a [String],
    pub conn_id: u64,
}

/// What a slave learns from registering: where its master is.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct RegisterResult {
    pub master_addr: Option<String>,
    pub ha_server_addr: Option<String>,
}

#[derive(Default)]
pub struct RouteTable {
    topic_queues: HashMap<String, BTreeMap<String, QueueData>>,
    brokers: BTreeMap<String, BrokerData>,
    clusters: BTreeMap<String, BTreeSet<String>>,
    live: HashMap<String, LiveBroker>,
    filter_servers: HashMap<String, Vec<String>>,
}

impl RouteTable {
    pub fn register(&mut self, reg: Registration<'_>, now: Instant) -> RegisterResult {
        self.clusters
            .entry(reg.cluster_name.to_owned())
            .or_default()
            .insert(reg.broker_name.to_owned());

        let mut first = !self.brokers.contains_key(reg.broker_name);
        let broker = self
            .brokers
            .entry(reg.broker_name.to_owned())
            .or_insert_with(|| BrokerData {
                broker_addrs: BTreeMap::new(),
                broker_name: reg.broker_name.to_owned(),
                cluster: reg.cluster_name.to_owned(),
                enable_acting_master: false,
            });
        // A slave promoted to master (or the reverse) re-registers the same address under
        // a new id; the old id must not keep pointing at it.
        broker
            .broker_addrs
            .retain(|id, addr| *id == reg.broker_id || addr != reg.broker_addr);
        let old = broker
            .broker_addrs
            .insert(reg.broker_id, reg.broker_addr.to_owned());
        first |= old.is_none();

        if let (Some(wrapper), MASTER_ID) = (reg.topics, reg.broker_id) {
            let changed = self
                .live
                .get(reg.broker_addr)
                .is_none_or(|l| l.data_version != wrapper.data_version);
            if changed || first {
                for tc in wrapper.topic_config_table.values() {
                    self.topic_queues
                        .entry(tc.topic_name.clone())
                        .or_default()
                        .insert(
                            reg.broker_name.to_owned(),
                            QueueData {
                                broker_name: reg.broker_name.to_owned(),
                                perm: tc.perm,
                                read_queue_nums: tc.read_queue_nums,
                                topic_sys_flag: tc.topic_sys_flag,
                                write_queue_nums: tc.write_queue_nums,
                            },
                        );
                }
            }
        }

        let data_version = reg
            .topics
            .map(|w| w.data_version.clone())
            .unwrap_or_default();
        if self
            .live
            .insert(
                reg.broker_addr.to_owned(),
                LiveBroker {
                    last_update: now,
                    data_version,
                    conn_id: reg.conn_id,
                    ha_server_addr: reg.ha_server_addr.to_owned(),
                },
            )
            .is_none()
        {
            tracing::info!(
                broker = reg.broker_name,
                addr = reg.broker_addr,
                id = reg.broker_id,
                "new broker registered"
            );
        }
        if reg.filter_servers.is_empty() {
            self.filter_servers.remove(reg.broker_addr);
        } else {
            self.filter_servers
                .insert(reg.broker_addr.to_owned(), reg.filter_servers.to_vec());
        }

        let mut result = RegisterResult::default();
        if reg.broker_id != MASTER_ID {
            let master = self
                .brokers
                .get(reg.broker_name)
                .and_then(|b| b.broker_addrs.get(&MASTER_ID));
            if let Some(master) = master {
                if let Some(live) = self.live.get(master) {
                    result.ha_server_addr = Some(live.ha_server_addr.clone());
                    result.master_addr = Some(master.clone());
                }
            }
        }
        result
    }

    pub fn unregister(&mut self, cluster: &str, addr: &str, name: &str, id: i64) {
        self.live.remove(addr);
        self.filter_servers.remove(addr);
        let mut broker_gone = false;
        if let Some(b) = self.brokers.get_mut(name) {
            b.broker_addrs.remove(&id);
            broker_gone = b.broker_addrs.is_empty();
        }
        if broker_gone {
            self.brokers.remove(name);
            if let Some(names) = self.clusters.get_mut(cluster) {
                names.remove(name);
                if names.is_empty() {
                    self.clusters.remove(cluster);
                }
            }
            self.remove_topics_of(name);
        }
        tracing::info!(broker = name, addr, id, "broker unregistered");
    }

    /// Drop every broker that registered over the connection `conn_id`.
    pub fn connection_closed(&mut self, conn_id: u64) {
        let addrs: Vec<String> = self
            .live
            .iter()
            .filter(|(_, l)| l.conn_id == conn_id)
            .map(|(a, _)| a.clone())
            .collect();
        for addr in addrs {
            tracing::info!(addr = %addr, "broker connection closed; removing its routes");
            self.remove_addr(&addr);
        }
    }

    /// Drop brokers silent for longer than `timeout`; returns their connection ids so the
    /// caller can close them.
    pub fn expire(&mut self, now: Instant, timeout: Duration) -> Vec<u64> {
        let dead: Vec<(String, u64)> = self
            .live
            .iter()
            .filter(|(_, l)| now.saturating_duration_since(l.last_update) > timeout)
            .map(|(a, l)| (a.clone(), l.conn_id))
            .collect();
        dead.into_iter()
            .map(|(addr, conn)| {
                tracing::warn!(addr = %addr, "broker expired after {}s without a heartbeat", timeout.as_secs());
                self.remove_addr(&addr);
                conn
            })
            .collect()
    }

    fn remove_addr(&mut self, addr: &str) {
        self.live.remove(addr);
        self.filter_servers.remove(addr);
        let mut emptied = Vec::new();
        for (name, b) in self.brokers.iter_mut() {
            b.broker_addrs.retain(|_, a| a != addr);
            if b.broker_addrs.is_empty() {
                emptied.push(name.clone());
            }
        }
        for name in emptied {
            self.brokers.remove(&name);
            self.clusters.retain(|_, names| {
                names.remove(&name);
                !names.is_empty()
            });
            self.remove_topics_of(&name);
        }
    }

    fn remove_topics_of(&mut self, broker_name: &str) {
        self.topic_queues.retain(|_, queues| {
            queues.remove(broker_name);
            !queues.is_empty()
        });
    }

    /// QUERY_DATA_VERSION: refresh the broker's liveness and say whether its topic data
    /// differs from what we hold. Returns our version, if the broker is known.
    pub fn query_data_version(
        &mut self,
        addr: &str,
        theirs: &DataVersion,
        now: Instant,
    ) -> (bool, Option<DataVersion>) {
        match self.live.get_mut(addr) {
            Some(l) => {
                l.last_update = now;
                (l.data_version != *theirs, Some(l.data_version.clone()))
            }
            None => (true, None),
        }
    }

    pub fn route(&self, topic: &str) -> Option<TopicRouteData> {
        let queues = self.topic_queues.get(topic)?;
        let queue_datas: Vec<QueueData> = queues.values().cloned().collect();
        let broker_datas: Vec<BrokerData> = queues
            .keys()
            .filter_map(|name| self.brokers.get(name).cloned())
            .collect();
        if broker_datas.is_empty() {
            return None;
        }
        let filter_server_table = broker_datas
            .iter()
            .flat_map(|b| b.broker_addrs.values())
            .filter_map(|a| self.filter_servers.get(a).map(|f| (a.clone(), f.clone())))
            .collect();
        Some(TopicRouteData {
            broker_datas,
            filter_server_table,
            order_topic_conf: None,
            queue_datas,
        })
    }

    pub fn cluster_info(&self) -> ClusterInfo {
        ClusterInfo {
            broker_addr_table: self.brokers.clone(),
            cluster_addr_table: self.clusters.clone(),
        }
    }

    pub fn all_topics(&self) -> TopicList {
        TopicList {
            broker_addr: None,
            topic_list: self.topic_queues.keys().cloned().collect(),
        }
    }

    pub fn topics_of_cluster(&self, cluster: &str) -> TopicList {
        let names = self.clusters.get(cluster);
        let topic_list = self
            .topic_queues
            .iter()
            .filter(|(_, q)| names.is_some_and(|n| q.keys().any(|b| n.contains(b))))
            .map(|(t, _)| t.clone())
            .collect();
        TopicList {
            broker_addr: None,
            topic_list,
        }
    }

    /// GET_SYSTEM_TOPIC_LIST_FROM_NS: cluster and broker names, which Java brokers also
    /// create as topics, plus one master address to ask about them.
    pub fn system_topics(&self) -> TopicList {
        let mut topics: BTreeSet<String> = self.clusters.keys().cloned().collect();
        topics.extend(self.clusters.values().flatten().cloned());
        let broker_addr = self
            .brokers
            .values()
            .find_map(|b| b.broker_addrs.get(&MASTER_ID).cloned());
        TopicList {
            broker_addr,
            topic_list: topics.into_iter().collect(),
        }
    }

    /// Topics whose queue data matches `pred` on its sys flag (the unit-topic lists).
    pub fn topics_by_flag(&self, pred: impl Fn(i32) -> bool) -> TopicList {
        TopicList {
            broker_addr: None,
            topic_list: self
                .topic_queues
                .iter()
                .filter(|(_, q)| q.values().any(|qd| pred(qd.topic_sys_flag)))
                .map(|(t, _)| t.clone())
                .collect(),
        }
    }

    pub fn unit_topics(&self) -> TopicList {
        self.topics_by_flag(|f| f & FLAG_UNIT != 0)
    }

    pub fn unit_sub_topics(&self) -> TopicList {
        self.topics_by_flag(|f| f & FLAG_UNIT_SUB != 0)
    }

    pub fn unit_sub_ununit_topics(&self) -> TopicList {
        self.topics_by_flag(|f| f & FLAG_UNIT == 0 && f & FLAG_UNIT_SUB != 0)
    }

    /// DELETE_TOPIC_IN_NAMESRV; with a cluster, only that cluster's brokers lose it.
    pub fn delete_topic(&mut self, topic: &str, cluster: Option<&str>) {
        match cluster.and_then(|c| self.clusters.get(c)) {
            Some(names) => {
                if let Some(queues) = self.topic_queues.get_mut(topic) {
                    queues.retain(|b, _| !names.contains(b));
                    if queues.is_empty() {
                        self.topic_queues.remove(topic);
                    }
                }
            }
            None => {
                self.topic_queues.remove(topic);
            }
        }
    }

    /// WIPE/ADD_WRITE_PERM_OF_BROKER: returns how many topics changed.
    pub fn set_write_perm(&mut self, broker_name: &str, writable: bool) -> i32 {
        let mut count = 0;
        for queues in self.topic_queues.values_mut() {
            if let Some(qd) = queues.get_mut(broker_name) {
                // `RouteInfoManager.operateWritePermOfBroker`: ADD sets read+write
                // outright (an inherit bit is not given back), WIPE clears write.
                qd.perm = if writable {
                    perm::READ | perm::WRITE
                } else {
                    qd.perm & !perm::WRITE
                };
                count += 1;
            }
        }
        count
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rmqd_remoting::body::topic::TopicConfig;

    fn wrapper(counter: i64, topics: &[&str]) -> TopicConfigSerializeWrapper {
        let mut w = TopicConfigSerializeWrapper::default();
        w.data_version.counter = counter;
        for t in topics {
            w.topic_config_table.insert(
                t.to_string(),
                TopicConfig {
                    topic_name: t.to_string(),
                    read_queue_nums: 4,
                    write_queue_nums: 4,
                    ..Default::default()
                },
            );
        }
        w
    }

    fn reg<'a>(
        name: &'a str,
        addr: &'a str,
        id: i64,
        w: &'a TopicConfigSerializeWrapper,
        conn: u64,
    ) -> Registration<'a> {
        Registration {
            cluster_name: "C",
            broker_addr: addr,
            broker_name: name,
            broker_id: id,
            ha_server_addr: "ha:1",
            topics: Some(w),
            filter_servers: &[],
            conn_id: conn,
        }
    }

    #[test]
    fn register_route_and_expire() {
        let mut t = RouteTable::default();
        let w = wrapper(1, &["T1", "T2"]);
        let now = Instant::now();
        t.register(reg("a", "1.1.1.1:10911", 0, &w, 1), now);
        t.register(reg("b", "2.2.2.2:10911", 0, &wrapper(1, &["T1"]), 2), now);
        let r = t.route("T1").unwrap();
        assert_eq!(r.broker_datas.len(), 2);
        assert_eq!(r.queue_datas.len(), 2);
        assert!(t.route("nope").is_none());

        let later = now + Duration::from_secs(60);
        t.register(reg("a", "1.1.1.1:10911", 0, &w, 1), later);
        let expired = t.expire(now + Duration::from_secs(121), Duration::from_secs(120));
        assert_eq!(expired, vec![2]);
        let r = t.route("T1").unwrap();
        assert_eq!(r.broker_datas.len(), 1);
        assert_eq!(r.broker_datas[0].broker_name, "a");
    }

    #[test]
    fn slave_learns_master_and_closed_connections_drop_routes() {
        let mut t = RouteTable::default();
        let w = wrapper(1, &["T"]);
        let now = Instant::now();
        t.register(reg("a", "m:1", 0, &w, 1), now);
        let res = t.register(reg("a", "s:1", 1, &w, 2), now);
        assert_eq!(res.master_addr.as_deref(), Some("m:1"));
        assert_eq!(t.route("T").unwrap().broker_datas[0].broker_addrs.len(), 2);
        t.connection_closed(1);
        assert_eq!(t.route("T").unwrap().broker_datas[0].broker_addrs.len(), 1);
        t.connection_closed(2);
        assert!(t.route("T").is_none());
        assert!(t.cluster_info().cluster_addr_table.is_empty());
    }

    #[test]
    fn write_perm_and_delete() {
        let mut t = RouteTable::default();
        let mut w = wrapper(1, &["T", "U"]);
        if let Some(tc) = w.topic_config_table.get_mut("T") {
            tc.perm = perm::READ | perm::WRITE | perm::INHERIT;
        }
        t.register(reg("a", "m:1", 0, &w, 1), Instant::now());
        assert_eq!(t.set_write_perm("a", false), 2);
        assert_eq!(
            t.route("T").unwrap().queue_datas[0].perm,
            perm::READ | perm::INHERIT
        );
        // Java's ADD sets PERM_READ | PERM_WRITE, dropping INHERIT.
        assert_eq!(t.set_write_perm("a", true), 2);
        assert_eq!(
            t.route("T").unwrap().queue_datas[0].perm,
            perm::READ | perm::WRITE
        );
        t.delete_topic("T", None);
        assert!(t.route("T").is_none());
        assert_eq!(t.all_topics().topic_list, vec!["U".to_string()]);
        assert_eq!(t.topics_of_cluster("C").topic_list, vec!["U".to_string()]);
    }
}
