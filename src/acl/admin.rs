//! The ACL admin codes (`AdminBrokerProcessor`): 50 update/create an account, 51 delete
//! one, 52 the files' versions, 53 global white addresses, 54 every account (4.9.4–4.9.7
//! and 5.x; admin accounts only here, since the answer carries every secret key).

use rmqd_remoting::body::acl::{ClusterAclConfigBody, PlainAccessConfig};
use rmqd_remoting::codes::{request, response};
use rmqd_remoting::headers::acl::{
    java_split, CreateAccessConfigRequestHeader, DeleteAccessConfigRequestHeader,
    GetBrokerAclConfigResponseHeader, UpdateGlobalWhiteAddrsConfigRequestHeader,
};
use rmqd_remoting::RemotingCommand;

use super::manager::AclManager;
use super::perm::AccountConfig;

/// Who the broker is, for GET_BROKER_CLUSTER_ACL_INFO.
#[derive(Debug, Clone)]
pub struct BrokerIdentity {
    pub broker_name: String,
    pub broker_addr: String,
    pub cluster_name: String,
}

pub fn is_acl_code(code: i32) -> bool {
    (request::UPDATE_AND_CREATE_ACL_CONFIG..=request::GET_BROKER_CLUSTER_ACL_CONFIG).contains(&code)
}

/// Java answers 50, 51 and 53 with their `*_FAILED` codes when the broker runs without
/// ACL (its validator is missing); rmqd says why. 52 and 54 get SYSTEM_ERROR.
pub fn acl_disabled(req: &RemotingCommand) -> RemotingCommand {
    let code = match req.code {
        request::UPDATE_AND_CREATE_ACL_CONFIG => response::UPDATE_AND_CREATE_ACL_CONFIG_FAILED,
        request::DELETE_ACL_CONFIG => response::DELETE_ACL_CONFIG_FAILED,
        request::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG => {
            response::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED
        }
        _ => response::SYSTEM_ERROR,
    };
    RemotingCommand::error(
        req,
        code,
        "ACL is not enabled on this broker (aclEnable=false)",
    )
}

pub fn handle(acl: &AclManager, me: &BrokerIdentity, req: &RemotingCommand) -> RemotingCommand {
    match req.code {
        request::UPDATE_AND_CREATE_ACL_CONFIG => update(acl, req),
        request::DELETE_ACL_CONFIG => delete(acl, req),
        request::GET_BROKER_CLUSTER_ACL_INFO => versions(acl, me, req),
        request::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG => global_white(acl, req),
        _ => all_config(acl, req),
    }
}

fn update(acl: &AclManager, req: &RemotingCommand) -> RemotingCommand {
    let failed = response::UPDATE_AND_CREATE_ACL_CONFIG_FAILED;
    let h: CreateAccessConfigRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return RemotingCommand::error(req, failed, e.to_string()),
    };
    let c = AccountConfig {
        access_key: Some(h.access_key.clone()),
        secret_key: h.secret_key,
        white_remote_address: h.white_remote_address,
        admin: h.admin,
        default_topic_perm: h.default_topic_perm,
        default_group_perm: h.default_group_perm,
        topic_perms: h.topic_perms.as_deref().map(java_split),
        group_perms: h.group_perms.as_deref().map(java_split),
    };
    match acl.update_account(&c) {
        Ok(()) => {
            tracing::info!(access_key = %h.access_key, "ACL account updated");
            RemotingCommand::success(req)
        }
        Err(e) => {
            tracing::warn!(access_key = %h.access_key, error = %e, "ACL account update refused");
            RemotingCommand::error(req, failed, e.0)
        }
    }
}

fn delete(acl: &AclManager, req: &RemotingCommand) -> RemotingCommand {
    let failed = response::DELETE_ACL_CONFIG_FAILED;
    let h: DeleteAccessConfigRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return RemotingCommand::error(req, failed, e.to_string()),
    };
    match acl.delete_account(&h.access_key) {
        Ok(true) => {
            tracing::info!(access_key = %h.access_key, "ACL account deleted");
            RemotingCommand::success(req)
        }
        Ok(false) => RemotingCommand::error(
            req,
            failed,
            format!(
                "The accesskey[{}] corresponding to accessConfig has been deleted failed.",
                h.access_key
            ),
        ),
        Err(e) => RemotingCommand::error(req, failed, e.0),
    }
}

fn global_white(acl: &AclManager, req: &RemotingCommand) -> RemotingCommand {
    let failed = response::UPDATE_GLOBAL_WHITE_ADDRS_CONFIG_FAILED;
    let h: UpdateGlobalWhiteAddrsConfigRequestHeader = match req.decode_header() {
        Ok(h) => h,
        Err(e) => return RemotingCommand::error(req, failed, e.to_string()),
    };
    let addrs = java_split(&h.global_white_addrs);
    match acl.update_global_white(&addrs, h.acl_file_full_path.as_deref()) {
        Ok(true) => {
            tracing::info!(addrs = %h.global_white_addrs, "ACL global white addresses updated");
            RemotingCommand::success(req)
        }
        Ok(false) => RemotingCommand::error(
            req,
            failed,
            format!(
                "The globalWhiteAddresses[{}] has been updated failed.",
                h.global_white_addrs
            ),
        ),
        Err(e) => RemotingCommand::error(req, failed, e.0),
    }
}

fn versions(acl: &AclManager, me: &BrokerIdentity, req: &RemotingCommand) -> RemotingCommand {
    let (all, default) = acl.versions();
    let h = GetBrokerAclConfigResponseHeader {
        version: serde_json::to_string(&default).unwrap_or_default(),
        all_acl_file_version: Some(serde_json::to_string(&all).unwrap_or_default()),
        broker_name: me.broker_name.clone(),
        broker_addr: me.broker_addr.clone(),
        cluster_name: me.cluster_name.clone(),
    };
    RemotingCommand::success(req).with_header(&h)
}

fn all_config(acl: &AclManager, req: &RemotingCommand) -> RemotingCommand {
    let (white, accounts) = acl.all_config();
    let body = ClusterAclConfigBody {
        global_white_addrs: white,
        plain_access_configs: accounts
            .into_iter()
            .map(|a| PlainAccessConfig {
                access_key: a.access_key,
                admin: a.admin,
                default_group_perm: a.default_group_perm,
                default_topic_perm: a.default_topic_perm,
                group_perms: a.group_perms,
                secret_key: a.secret_key,
                topic_perms: a.topic_perms,
                white_remote_address: a.white_remote_address,
            })
            .collect(),
    };
    RemotingCommand::success(req).with_body(rmqd_remoting::body::to_json(&body))
}
