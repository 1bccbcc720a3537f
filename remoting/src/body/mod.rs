//! JSON bodies as fastjson writes them: properties in alphabetical order (serde follows
//! field declaration order, so fields are declared alphabetically), nulls omitted, unknown
//! properties ignored on input.

pub mod acl;
pub mod client;
pub mod cluster;
pub mod fastjson;
pub mod register;
pub mod route;
pub mod stats;
pub mod topic;

use serde::Serialize;

/// Serialize a body; our body types contain nothing serde_json can fail on.
pub fn to_json<T: Serialize>(value: &T) -> Vec<u8> {
    serde_json::to_vec(value).unwrap_or_else(|e| {
        tracing::error!(error = %e, "body serialization failed");
        Vec::new()
    })
}
