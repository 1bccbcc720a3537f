//! GET_BROKER_CLUSTER_ACL_CONFIG (54) answer: `GetBrokerClusterAclConfigResponseBody`.

use serde::{Deserialize, Serialize};

/// `PlainAccessConfig`, fastjson order, nulls left out.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct PlainAccessConfig {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_key: Option<String>,
    pub admin: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_group_perm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub default_topic_perm: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub group_perms: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret_key: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub topic_perms: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub white_remote_address: Option<String>,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default, rename_all = "camelCase")]
pub struct ClusterAclConfigBody {
    pub global_white_addrs: Vec<String>,
    pub plain_access_configs: Vec<PlainAccessConfig>,
}
