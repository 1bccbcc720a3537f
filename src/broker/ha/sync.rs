//! `SlaveSynchronize`: a slave copies its master's topics, consumer offsets, delay-level
//! progress and subscription groups, 3 s after start and then every 10 s (what the Java
//! 4.9.8 broker does; its docs say 60 s). Topics are asked on the master's VIP port
//! (`listenPort - 2`), the rest on its main port; each call has 3 s. Nothing is copied
//! while the name server names no master (it is down), or when the master is this broker.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use rmqd_remoting::body::topic::{DataVersion, TopicConfigSerializeWrapper};
use rmqd_remoting::codes::{request, response};
use rmqd_remoting::transport::client::{RejectRequests, RemotingClient};
use rmqd_remoting::{CancellationToken, RemotingCommand};
use rmqd_store::fastjson::{self, DelayOffsetTable, OffsetTable};
use serde::Deserialize;

use crate::broker::context::BrokerContext;
use crate::broker::groups::GroupConfig;

const FIRST: Duration = Duration::from_secs(3);
const PERIOD: Duration = Duration::from_secs(10);
const CALL_TIMEOUT: Duration = Duration::from_millis(3000);

pub async fn run(ctx: Arc<BrokerContext>, shutdown: CancellationToken) {
    let client = RemotingClient::new(Arc::new(RejectRequests), shutdown.clone());
    let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + FIRST, PERIOD);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => sync_all(&ctx, &client).await,
        }
    }
}

async fn sync_all(ctx: &Arc<BrokerContext>, client: &RemotingClient) {
    let Some(master) = ctx.ha.master_addr() else {
        return;
    };
    if master == ctx.config.broker_addr() {
        return;
    }
    let steps: [(&str, Result<(), String>); 4] = [
        ("topic config", sync_topics(ctx, client, &master).await),
        ("consumer offset", sync_offsets(ctx, client, &master).await),
        (
            "delay offset",
            sync_delay_offsets(ctx, client, &master).await,
        ),
        (
            "subscription group",
            sync_groups(ctx, client, &master).await,
        ),
    ];
    for (what, r) in steps {
        if let Err(e) = r {
            tracing::warn!(master = %master, error = %e, "sync {what} from the master failed");
        }
    }
}

/// `MixAll.brokerVIPChannel`: the same host, port - 2.
fn vip(addr: &str) -> String {
    match addr
        .rsplit_once(':')
        .and_then(|(h, p)| Some((h, p.parse::<u16>().ok()?)))
    {
        Some((host, port)) if port > 2 => format!("{host}:{}", port - 2),
        _ => addr.to_string(),
    }
}

async fn call(client: &RemotingClient, addr: &str, code: i32) -> Result<bytes::Bytes, String> {
    let resp = client
        .invoke(addr, RemotingCommand::request(code), CALL_TIMEOUT)
        .await
        .map_err(|e| e.to_string())?;
    if resp.code != response::SUCCESS {
        return Err(format!(
            "code {} {}",
            resp.code,
            resp.remark.unwrap_or_default()
        ));
    }
    Ok(resp.body)
}

/// fastjson output (unquoted integer keys) as JSON.
fn lenient(body: &[u8]) -> Result<serde_json::Value, String> {
    fastjson::parse(&String::from_utf8_lossy(body)).map_err(|e| e.to_string())
}

async fn sync_topics(
    ctx: &Arc<BrokerContext>,
    client: &RemotingClient,
    master: &str,
) -> Result<(), String> {
    let body = call(client, &vip(master), request::GET_ALL_TOPIC_CONFIG).await?;
    let wrapper: TopicConfigSerializeWrapper =
        serde_json::from_value(lenient(&body)?).map_err(|e| e.to_string())?;
    if ctx.topics().replace_from_master(wrapper) {
        tracing::info!(master, "update slave topic config from master");
        persist(ctx, |c| c.persist_topics()).await;
    }
    Ok(())
}

async fn sync_offsets(
    ctx: &Arc<BrokerContext>,
    client: &RemotingClient,
    master: &str,
) -> Result<(), String> {
    let body = call(client, master, request::GET_ALL_CONSUMER_OFFSET).await?;
    let table = OffsetTable::from_json(&lenient(&body)?).map_err(|e| e.to_string())?;
    ctx.offsets.put_all(table.0);
    persist(ctx, |c| c.persist_offsets()).await;
    Ok(())
}

async fn sync_delay_offsets(
    ctx: &Arc<BrokerContext>,
    client: &RemotingClient,
    master: &str,
) -> Result<(), String> {
    let body = call(client, master, request::GET_ALL_DELAY_OFFSET).await?;
    let table = DelayOffsetTable::from_json(&lenient(&body)?).map_err(|e| e.to_string())?;
    ctx.delays.replace_all(table.0);
    persist(ctx, |c| c.persist_delay_offsets()).await;
    Ok(())
}

#[derive(Deserialize)]
#[serde(default, rename_all = "camelCase")]
#[derive(Default)]
struct GroupsFromMaster {
    data_version: DataVersion,
    subscription_group_table: BTreeMap<String, GroupConfig>,
}

async fn sync_groups(
    ctx: &Arc<BrokerContext>,
    client: &RemotingClient,
    master: &str,
) -> Result<(), String> {
    let body = call(client, master, request::GET_ALL_SUBSCRIPTIONGROUP_CONFIG).await?;
    let groups: GroupsFromMaster =
        serde_json::from_value(lenient(&body)?).map_err(|e| e.to_string())?;
    if ctx
        .groups
        .replace_from_master(groups.data_version, groups.subscription_group_table)
    {
        tracing::info!(master, "update slave subscription groups from master");
        persist(ctx, |c| c.persist_groups()).await;
    }
    Ok(())
}

/// Config files are written (and fsynced) off the runtime's workers.
async fn persist(ctx: &Arc<BrokerContext>, save: impl FnOnce(&BrokerContext) + Send + 'static) {
    let c = ctx.clone();
    if let Err(e) = tokio::task::spawn_blocking(move || save(&c)).await {
        tracing::error!(error = %e, "config save after a sync did not finish");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_vip_channel_is_two_ports_down() {
        assert_eq!(vip("127.0.0.1:19931"), "127.0.0.1:19929");
        assert_eq!(vip("broker-host:10911"), "broker-host:10909");
        assert_eq!(vip("nonsense"), "nonsense");
    }
}
