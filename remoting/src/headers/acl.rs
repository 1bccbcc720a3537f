//! Plain-ACL admin headers (4.x): UPDATE_AND_CREATE_ACL_CONFIG (50), DELETE_ACL_CONFIG
//! (51), GET_BROKER_CLUSTER_ACL_INFO (52), UPDATE_GLOBAL_WHITE_ADDRS_CONFIG (53).

use crate::command_header;

command_header! {
    /// `CreateAccessConfigRequestHeader`: lists are comma-separated.
    pub struct CreateAccessConfigRequestHeader {
        required access_key: String = "accessKey",
        optional secret_key: Option<String> = "secretKey",
        optional white_remote_address: Option<String> = "whiteRemoteAddress",
        optional admin: bool = "admin",
        optional default_topic_perm: Option<String> = "defaultTopicPerm",
        optional default_group_perm: Option<String> = "defaultGroupPerm",
        optional topic_perms: Option<String> = "topicPerms",
        optional group_perms: Option<String> = "groupPerms",
    }
}

command_header! {
    /// `DeleteAccessConfigRequestHeader`.
    pub struct DeleteAccessConfigRequestHeader {
        required access_key: String = "accessKey",
    }
}

command_header! {
    /// `UpdateGlobalWhiteAddrsConfigRequestHeader`. Java marks `aclFileFullPath` required
    /// but its own tool leaves it out unless `-p` is given; absent means the default file.
    pub struct UpdateGlobalWhiteAddrsConfigRequestHeader {
        required global_white_addrs: String = "globalWhiteAddrs",
        optional acl_file_full_path: Option<String> = "aclFileFullPath",
    }
}

command_header! {
    /// `GetBrokerAclConfigResponseHeader`: `version` is the default file's DataVersion
    /// JSON, `allAclFileVersion` a JSON map of file → DataVersion.
    pub struct GetBrokerAclConfigResponseHeader {
        required version: String = "version",
        optional all_acl_file_version: Option<String> = "allAclFileVersion",
        required broker_name: String = "brokerName",
        required broker_addr: String = "brokerAddr",
        required cluster_name: String = "clusterName",
    }
}

/// `UtilAll.split`: Java's `String.split(",")`, which keeps inner empty parts, drops
/// trailing ones, and gives `[""]` for an empty string.
pub fn java_split(s: &str) -> Vec<String> {
    if s.is_empty() {
        return vec![String::new()];
    }
    let mut parts: Vec<String> = s.split(',').map(str::to_owned).collect();
    while parts.len() > 1 && parts.last().is_some_and(String::is_empty) {
        parts.pop();
    }
    if parts.len() == 1 && parts[0].is_empty() {
        return Vec::new();
    }
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_like_java() {
        assert_eq!(java_split(""), vec![""]);
        assert_eq!(java_split("a,b"), vec!["a", "b"]);
        assert_eq!(java_split("a,,b,,"), vec!["a", "", "b"]);
        assert_eq!(java_split(",,"), Vec::<String>::new());
        assert_eq!(java_split(",a"), vec!["", "a"]);
    }
}
