//! The ACL commands (`updateAclConfig`, `deleteAclConfig`, `clusterAclConfigVersion`,
//! `updateGlobalWhiteAddr`): codes 50–53, to one broker or every broker of a cluster
//! (masters and slaves, as mqadmin does).

use rmqd_remoting::admin::{AdminClient, AdminError};
use rmqd_remoting::codes::request;
use serde_json::{json, Value};

use super::render::table;
use super::{out, req, AdminCommand, Output};

async fn brokers(
    c: &AdminClient,
    broker: Option<String>,
    cluster: Option<String>,
) -> Result<Vec<String>, AdminError> {
    if let Some(b) = broker {
        return Ok(vec![b]);
    }
    let Some(cluster) = cluster else {
        return Err(AdminError::NotFound("give -b BROKER or -c CLUSTER".into()));
    };
    let all: Vec<String> = c
        .brokers(Some(&cluster))
        .await?
        .into_iter()
        .map(|b| b.addr)
        .collect();
    if all.is_empty() {
        return Err(AdminError::NotFound(format!(
            "no broker in cluster {cluster}"
        )));
    }
    Ok(all)
}

pub async fn execute(c: &AdminClient, cmd: AdminCommand) -> Result<Output, AdminError> {
    match cmd {
        AdminCommand::updateAclConfig {
            broker,
            cluster,
            account_key: access_key,
            account_secret: secret_key,
            white_remote_address,
            default_topic_perm,
            default_group_perm,
            topic_perms,
            group_perms,
            admin,
        } => {
            let mut ext = vec![("accessKey", access_key.clone())];
            for (k, v) in [
                ("secretKey", secret_key),
                ("whiteRemoteAddress", white_remote_address),
                ("defaultTopicPerm", default_topic_perm),
                ("defaultGroupPerm", default_group_perm),
                ("topicPerms", topic_perms),
                ("groupPerms", group_perms),
            ] {
                if let Some(v) = v {
                    ext.push((k, v));
                }
            }
            ext.push(("admin", admin.unwrap_or(false).to_string()));
            let mut done = Vec::new();
            for addr in brokers(c, broker, cluster).await? {
                c.call_ok(&addr, req(request::UPDATE_AND_CREATE_ACL_CONFIG, &ext))
                    .await?;
                done.push(addr);
            }
            let text = done
                .iter()
                .map(|a| format!("create or update plain access config to {a} success.\n"))
                .collect();
            out(text, json!({"accessKey": access_key, "brokers": done}))
        }
        AdminCommand::deleteAclConfig {
            broker,
            cluster,
            account_key: access_key,
        } => {
            let mut done = Vec::new();
            for addr in brokers(c, broker, cluster).await? {
                c.call_ok(
                    &addr,
                    req(
                        request::DELETE_ACL_CONFIG,
                        &[("accessKey", access_key.clone())],
                    ),
                )
                .await?;
                done.push(addr);
            }
            let text = done
                .iter()
                .map(|a| format!("delete plain access config account from {a} success.\n"))
                .collect();
            out(text, json!({"accessKey": access_key, "brokers": done}))
        }
        AdminCommand::clusterAclConfigVersion { broker, cluster } => {
            let mut rows = Vec::new();
            let mut list = Vec::new();
            for addr in brokers(c, broker, cluster).await? {
                let r = c
                    .call_ok(&addr, req(request::GET_BROKER_CLUSTER_ACL_INFO, &[]))
                    .await?;
                let f = |k: &str| r.ext(k).unwrap_or_default().to_owned();
                let files: Value =
                    serde_json::from_str(&f("allAclFileVersion")).unwrap_or(Value::Null);
                for (file, v) in files.as_object().into_iter().flatten() {
                    rows.push(vec![
                        f("clusterName"),
                        f("brokerName"),
                        f("brokerAddr"),
                        file.clone(),
                        v["counter"].to_string(),
                        v["timestamp"].to_string(),
                    ]);
                }
                list.push(
                    json!({"clusterName": f("clusterName"), "brokerName": f("brokerName"),
                    "brokerAddr": f("brokerAddr"), "files": files}),
                );
            }
            out(
                table(
                    &[
                        "Cluster Name",
                        "Broker Name",
                        "Broker Addr",
                        "ACL File",
                        "Counter",
                        "Timestamp",
                    ],
                    &rows,
                ),
                Value::Array(list),
            )
        }
        AdminCommand::updateGlobalWhiteAddr {
            broker,
            cluster,
            addresses,
            file,
        } => {
            let mut ext = vec![("globalWhiteAddrs", addresses.clone())];
            if let Some(f) = file {
                ext.push(("aclFileFullPath", f));
            }
            let mut done = Vec::new();
            for addr in brokers(c, broker, cluster).await? {
                c.call_ok(&addr, req(request::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG, &ext))
                    .await?;
                done.push(addr);
            }
            let text = done
                .iter()
                .map(|a| format!("update global white remote addresses to {a} success.\n"))
                .collect();
            out(
                text,
                json!({"globalWhiteAddrs": addresses, "brokers": done}),
            )
        }
        _ => Err(AdminError::NotFound("not an ACL command".into())),
    }
}
