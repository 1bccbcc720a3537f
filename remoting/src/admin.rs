//! The admin side of the protocol, as `MQAdminExt` speaks it to name servers and brokers
//! (Java or rmqd): requests with the codes and fields mqadmin sends, answers decoded from
//! fastjson. Requests are signed when credentials are given (`AclClientRPCHook`).

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::body::fastjson;
use crate::codes::{request, response};
use crate::transport::client::{RejectRequests, RemotingClient};
use crate::{CancellationToken, InvokeError, RemotingCommand};

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error(transparent)]
    Invoke(#[from] InvokeError),
    #[error("{addr} answered code {code}: {remark}")]
    Refused {
        addr: String,
        code: i32,
        remark: String,
    },
    #[error("{addr} sent a body that does not parse: {source}")]
    Body {
        addr: String,
        source: fastjson::FastJsonError,
    },
    #[error("no name server answered: {0}")]
    NoNamesrv(String),
    #[error("{0}")]
    NotFound(String),
}

pub struct AdminClient {
    client: RemotingClient,
    namesrv: Vec<String>,
    credentials: Option<(String, String)>,
    timeout: Duration,
}

/// A broker as the name server lists it.
#[derive(Debug, Clone, PartialEq)]
pub struct BrokerEntry {
    pub cluster: String,
    pub name: String,
    pub id: i64,
    pub addr: String,
}

impl AdminClient {
    /// `namesrv` is a `;`-separated list, as mqadmin's `-n`.
    pub fn new(namesrv: &str, credentials: Option<(String, String)>, timeout: Duration) -> Self {
        AdminClient {
            client: RemotingClient::new(Arc::new(RejectRequests), CancellationToken::new()),
            namesrv: namesrv
                .split(';')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            credentials,
            timeout,
        }
    }

    /// A request as the Java admin tool builds it: JAVA, 4.9.8's version, JSON header.
    pub fn request(code: i32, ext: &[(&str, String)], body: Vec<u8>) -> RemotingCommand {
        let mut r = RemotingCommand::request(code);
        for (k, v) in ext {
            r.ext_mut().insert(k.to_string(), v.clone());
        }
        r.body = body.into();
        r
    }

    /// Sends `req` to `addr` (signed if credentials are set); the raw answer, whatever its code.
    pub async fn call(
        &self,
        addr: &str,
        mut req: RemotingCommand,
    ) -> Result<RemotingCommand, AdminError> {
        if let Some((ak, sk)) = &self.credentials {
            crate::acl::sign_request(&mut req, ak, sk);
        }
        Ok(self.client.invoke(addr, req, self.timeout).await?)
    }

    /// [`AdminClient::call`], refusing any answer but SUCCESS.
    pub async fn call_ok(
        &self,
        addr: &str,
        req: RemotingCommand,
    ) -> Result<RemotingCommand, AdminError> {
        let resp = self.call(addr, req).await?;
        if resp.code != response::SUCCESS {
            return Err(AdminError::Refused {
                addr: addr.to_owned(),
                code: resp.code,
                remark: resp.remark.unwrap_or_default(),
            });
        }
        Ok(resp)
    }

    /// The answer's body as JSON (fastjson keys allowed); `null` for an empty body.
    pub fn body(addr: &str, resp: &RemotingCommand) -> Result<Value, AdminError> {
        if resp.body.is_empty() {
            return Ok(Value::Null);
        }
        fastjson::parse(&resp.body).map_err(|source| AdminError::Body {
            addr: addr.to_owned(),
            source,
        })
    }

    /// A request to the first name server that answers.
    pub async fn namesrv_call(
        &self,
        req: RemotingCommand,
    ) -> Result<(String, RemotingCommand), AdminError> {
        let mut last = String::from("no name server address given (-n)");
        for ns in &self.namesrv {
            match self.call_ok(ns, req.clone()).await {
                Ok(r) => return Ok((ns.clone(), r)),
                Err(e @ AdminError::Refused { .. }) => return Err(e),
                Err(e) => last = e.to_string(),
            }
        }
        Err(AdminError::NoNamesrv(last))
    }

    pub async fn namesrv_json(&self, req: RemotingCommand) -> Result<Value, AdminError> {
        let (ns, r) = self.namesrv_call(req).await?;
        Self::body(&ns, &r)
    }

    /// GET_BROKER_CLUSTER_INFO (106).
    pub async fn cluster_info(&self) -> Result<Value, AdminError> {
        self.namesrv_json(Self::request(
            request::GET_BROKER_CLUSTER_INFO,
            &[],
            Vec::new(),
        ))
        .await
    }

    /// Every broker the name server knows, optionally of one cluster.
    pub async fn brokers(&self, cluster: Option<&str>) -> Result<Vec<BrokerEntry>, AdminError> {
        let info = self.cluster_info().await?;
        let mut out = Vec::new();
        let clusters = info["clusterAddrTable"]
            .as_object()
            .cloned()
            .unwrap_or_default();
        for (c, names) in clusters {
            if cluster.is_some_and(|want| want != c) {
                continue;
            }
            for name in names
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                let addrs = info["brokerAddrTable"][name]["brokerAddrs"]
                    .as_object()
                    .cloned()
                    .unwrap_or_default();
                for (id, addr) in addrs {
                    out.push(BrokerEntry {
                        cluster: c.clone(),
                        name: name.to_owned(),
                        id: id.parse().unwrap_or(-1),
                        addr: addr.as_str().unwrap_or_default().to_owned(),
                    });
                }
            }
        }
        out.sort_by(|a, b| (&a.cluster, &a.name, a.id).cmp(&(&b.cluster, &b.name, b.id)));
        Ok(out)
    }

    /// GET_ROUTEINFO_BY_TOPIC (105).
    pub async fn route(&self, topic: &str) -> Result<Value, AdminError> {
        self.namesrv_json(Self::request(
            request::GET_ROUTEINFO_BY_TOPIC,
            &[("topic", topic.to_owned())],
            Vec::new(),
        ))
        .await
    }

    /// Master addresses of a topic's brokers, by broker name.
    pub async fn topic_masters(&self, topic: &str) -> Result<Vec<(String, String)>, AdminError> {
        let route = self.route(topic).await?;
        let mut out = Vec::new();
        for b in route["brokerDatas"].as_array().into_iter().flatten() {
            if let Some(addr) = b["brokerAddrs"]["0"].as_str() {
                out.push((
                    b["brokerName"].as_str().unwrap_or_default().to_owned(),
                    addr.to_owned(),
                ));
            }
        }
        if out.is_empty() {
            return Err(AdminError::NotFound(format!(
                "no master broker serves {topic}"
            )));
        }
        Ok(out)
    }

    /// A request to one broker whose answer body is JSON.
    pub async fn broker_json(&self, addr: &str, req: RemotingCommand) -> Result<Value, AdminError> {
        let r = self.call_ok(addr, req).await?;
        Self::body(addr, &r)
    }

    pub fn close(&self) {
        self.client.close_all();
    }
}

/// `MessageQueue` keys of a fastjson map as (brokerName, queueId, topic), value.
pub fn queue_entries(map: &Value) -> Vec<((String, i64, String), Value)> {
    let mut out: Vec<_> = map
        .as_object()
        .into_iter()
        .flatten()
        .filter_map(|(k, v)| {
            let mq: Value = serde_json::from_str(k).ok()?;
            Some((
                (
                    mq["brokerName"].as_str()?.to_owned(),
                    mq["queueId"].as_i64()?,
                    mq["topic"].as_str()?.to_owned(),
                ),
                v.clone(),
            ))
        })
        .collect();
    out.sort_by(|a, b| (&a.0 .2, &a.0 .0, a.0 .1).cmp(&(&b.0 .2, &b.0 .0, b.0 .1)));
    out
}
