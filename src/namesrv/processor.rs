//! Name-server request handling: one function per code, all of them synchronous.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use rmqd_remoting::body::register::RegisterBrokerBody;
use rmqd_remoting::body::to_json;
use rmqd_remoting::body::topic::{DataVersion, KvTable, TopicList};
use rmqd_remoting::codes::{request, response};
use rmqd_remoting::headers::namesrv::*;
use rmqd_remoting::{CommandHeader, ConnectionHandle, RemotingCommand, Reply, RequestHandler};

use super::kv_config::KvConfig;
use super::route_table::{Registration, RouteTable};
use super::NamesrvConfig;

/// KV namespace holding `brokerName:queueNum;…` for order topics (`NamesrvUtil`).
const ORDER_TOPIC_NAMESPACE: &str = "ORDER_TOPIC_CONFIG";

pub struct NamesrvProcessor {
    routes: Mutex<RouteTable>,
    /// Connections brokers registered over, so that expiry can close them as Java does.
    broker_conns: Mutex<HashMap<u64, ConnectionHandle>>,
    kv: Mutex<KvConfig>,
    config: Mutex<NamesrvConfig>,
}

/// A request refused with a response code and remark.
pub struct Refusal {
    code: i32,
    remark: String,
}

impl Refusal {
    fn new(code: i32, remark: impl Into<String>) -> Self {
        Refusal {
            code,
            remark: remark.into(),
        }
    }
}

type Result<T> = std::result::Result<T, Refusal>;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl NamesrvProcessor {
    /// Drop brokers silent for longer than `expiry` and close their connections.
    pub(super) fn expire(&self, expiry: std::time::Duration) -> usize {
        let dead = lock(&self.routes).expire(Instant::now(), expiry);
        let mut conns = lock(&self.broker_conns);
        for id in &dead {
            if let Some(c) = conns.remove(id) {
                c.close();
            }
        }
        dead.len()
    }

    pub fn new(config: NamesrvConfig) -> Arc<Self> {
        Arc::new(NamesrvProcessor {
            routes: Mutex::new(RouteTable::default()),
            broker_conns: Mutex::new(HashMap::new()),
            kv: Mutex::new(KvConfig::load(config.kv_config_path.clone())),
            config: Mutex::new(config),
        })
    }

    fn dispatch(&self, conn: &ConnectionHandle, req: &RemotingCommand) -> Result<RemotingCommand> {
        match req.code {
            request::REGISTER_BROKER => self.register_broker(conn, req),
            request::UNREGISTER_BROKER => self.unregister_broker(req),
            request::GET_ROUTEINFO_BY_TOPIC => self.route(req),
            request::GET_BROKER_CLUSTER_INFO => {
                let info = lock(&self.routes).cluster_info();
                Ok(RemotingCommand::success(req).with_body(to_json(&info)))
            }
            request::QUERY_DATA_VERSION => self.query_data_version(req),
            request::PUT_KV_CONFIG => {
                let h: PutKvConfigRequestHeader = header(req)?;
                lock(&self.kv).put(&h.namespace, &h.key, &h.value);
                Ok(RemotingCommand::success(req))
            }
            request::GET_KV_CONFIG => {
                let h: KvConfigKeyHeader = header(req)?;
                match lock(&self.kv).get(&h.namespace, &h.key) {
                    Some(v) => Ok(RemotingCommand::success(req).with_header(
                        &GetKvConfigResponseHeader {
                            value: Some(v.to_owned()),
                        },
                    )),
                    None => Ok(RemotingCommand::error(
                        req,
                        response::QUERY_NOT_FOUND,
                        format!("No config item, Namespace: {} Key: {}", h.namespace, h.key),
                    )),
                }
            }
            request::DELETE_KV_CONFIG => {
                let h: KvConfigKeyHeader = header(req)?;
                lock(&self.kv).delete(&h.namespace, &h.key);
                Ok(RemotingCommand::success(req))
            }
            request::GET_KVLIST_BY_NAMESPACE => {
                let h: NamespaceHeader = header(req)?;
                match lock(&self.kv).namespace(&h.namespace) {
                    Some(t) => Ok(RemotingCommand::success(req)
                        .with_body(to_json(&KvTable { table: t.clone() }))),
                    None => Ok(RemotingCommand::error(
                        req,
                        response::QUERY_NOT_FOUND,
                        format!("No config item, Namespace: {}", h.namespace),
                    )),
                }
            }
            request::WIPE_WRITE_PERM_OF_BROKER => {
                let h: BrokerNameHeader = header(req)?;
                let n = lock(&self.routes).set_write_perm(&h.broker_name, false);
                Ok(
                    RemotingCommand::success(req).with_header(&WipeWritePermResponseHeader {
                        wipe_topic_count: n,
                    }),
                )
            }
            request::ADD_WRITE_PERM_OF_BROKER => {
                let h: BrokerNameHeader = header(req)?;
                let n = lock(&self.routes).set_write_perm(&h.broker_name, true);
                Ok(RemotingCommand::success(req)
                    .with_header(&AddWritePermResponseHeader { add_topic_count: n }))
            }
            request::GET_ALL_TOPIC_LIST_FROM_NAMESERVER => {
                topic_list(req, lock(&self.routes).all_topics())
            }
            request::DELETE_TOPIC_IN_NAMESRV => {
                let h: TopicHeader = header(req)?;
                lock(&self.routes).delete_topic(&h.topic, h.cluster_name.as_deref());
                Ok(RemotingCommand::success(req))
            }
            request::GET_TOPICS_BY_CLUSTER => {
                let h: ClusterHeader = header(req)?;
                topic_list(req, lock(&self.routes).topics_of_cluster(&h.cluster))
            }
            request::GET_SYSTEM_TOPIC_LIST_FROM_NS => {
                topic_list(req, lock(&self.routes).system_topics())
            }
            request::GET_UNIT_TOPIC_LIST => topic_list(req, lock(&self.routes).unit_topics()),
            request::GET_HAS_UNIT_SUB_TOPIC_LIST => {
                topic_list(req, lock(&self.routes).unit_sub_topics())
            }
            request::GET_HAS_UNIT_SUB_UNUNIT_TOPIC_LIST => {
                topic_list(req, lock(&self.routes).unit_sub_ununit_topics())
            }
            request::GET_NAMESRV_CONFIG => {
                let text = lock(&self.config).to_properties();
                Ok(RemotingCommand::success(req).with_body(text.into_bytes()))
            }
            request::UPDATE_NAMESRV_CONFIG => {
                let text = String::from_utf8_lossy(&req.body);
                lock(&self.config).update_from_properties(&text);
                Ok(RemotingCommand::success(req))
            }
            _ => Ok(RemotingCommand::not_supported(req)),
        }
    }

    fn register_broker(
        &self,
        conn: &ConnectionHandle,
        req: &RemotingCommand,
    ) -> Result<RemotingCommand> {
        let h: RegisterBrokerRequestHeader = header(req)?;
        if h.body_crc32 != 0 {
            let crc = (crc32fast::hash(&req.body) & 0x7FFF_FFFF) as i32;
            if crc != h.body_crc32 {
                tracing::warn!(broker = %h.broker_addr, "register body CRC mismatch");
                return Err(Refusal::new(response::SYSTEM_ERROR, "crc32 not match"));
            }
        }
        let body = if req.body.is_empty() {
            None
        } else {
            Some(
                RegisterBrokerBody::decode(&req.body, h.compressed)
                    .map_err(|e| Refusal::new(response::SYSTEM_ERROR, e.to_string()))?,
            )
        };
        let result = lock(&self.routes).register(
            Registration {
                cluster_name: &h.cluster_name,
                broker_addr: &h.broker_addr,
                broker_name: &h.broker_name,
                broker_id: h.broker_id,
                ha_server_addr: &h.ha_server_addr,
                topics: body.as_ref().map(|b| &b.topic_config_serialize_wrapper),
                filter_servers: body
                    .as_ref()
                    .map(|b| b.filter_server_list.as_slice())
                    .unwrap_or(&[]),
                conn_id: conn.id(),
            },
            Instant::now(),
        );
        lock(&self.broker_conns).insert(conn.id(), conn.clone());
        let mut resp = RemotingCommand::success(req).with_header(&RegisterBrokerResponseHeader {
            ha_server_addr: result.ha_server_addr,
            master_addr: result.master_addr,
        });
        if let Some(t) = lock(&self.kv).namespace(ORDER_TOPIC_NAMESPACE) {
            resp.body = to_json(&KvTable { table: t.clone() }).into();
        }
        Ok(resp)
    }

    fn unregister_broker(&self, req: &RemotingCommand) -> Result<RemotingCommand> {
        let h: BrokerIdentityHeader = header(req)?;
        lock(&self.routes).unregister(&h.cluster_name, &h.broker_addr, &h.broker_name, h.broker_id);
        Ok(RemotingCommand::success(req))
    }

    fn route(&self, req: &RemotingCommand) -> Result<RemotingCommand> {
        let h: GetRouteInfoRequestHeader = header(req)?;
        let route = lock(&self.routes).route(&h.topic);
        match route {
            Some(mut route) => {
                if lock(&self.config).order_message_enable {
                    route.order_topic_conf = lock(&self.kv)
                        .get(ORDER_TOPIC_NAMESPACE, &h.topic)
                        .map(str::to_owned);
                }
                Ok(RemotingCommand::success(req).with_body(to_json(&route)))
            }
            None => Ok(RemotingCommand::error(
                req,
                response::TOPIC_NOT_EXIST,
                format!(
                    "No topic route info in name server for the topic: {}\nSee http://rocketmq.apache.org/docs/faq/ for further details.",
                    h.topic
                ),
            )),
        }
    }

    fn query_data_version(&self, req: &RemotingCommand) -> Result<RemotingCommand> {
        let h: BrokerIdentityHeader = header(req)?;
        let theirs: DataVersion = serde_json::from_slice(&req.body).unwrap_or_default();
        let (changed, ours) =
            lock(&self.routes).query_data_version(&h.broker_addr, &theirs, Instant::now());
        let mut resp =
            RemotingCommand::success(req).with_header(&QueryDataVersionResponseHeader { changed });
        if let Some(v) = ours {
            resp.body = to_json(&v).into();
        }
        Ok(resp)
    }
}

fn header<H: CommandHeader>(req: &RemotingCommand) -> Result<H> {
    req.decode_header()
        .map_err(|e| Refusal::new(response::SYSTEM_ERROR, e.to_string()))
}

fn topic_list(req: &RemotingCommand, list: TopicList) -> Result<RemotingCommand> {
    Ok(RemotingCommand::success(req).with_body(to_json(&list)))
}

impl RequestHandler for NamesrvProcessor {
    fn handle(&self, conn: &ConnectionHandle, req: RemotingCommand) -> Reply {
        let resp = self
            .dispatch(conn, &req)
            .unwrap_or_else(|r| RemotingCommand::error(&req, r.code, r.remark));
        if resp.code != response::SUCCESS {
            tracing::debug!(code = req.code, resp = resp.code, remark = ?resp.remark, "name server request failed");
        }
        Reply::Now(Some(resp))
    }

    fn on_disconnect(&self, conn: &ConnectionHandle) {
        lock(&self.broker_conns).remove(&conn.id());
        lock(&self.routes).connection_closed(conn.id());
    }
}
