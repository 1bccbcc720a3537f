//! Fuzz targets for the decoders of untrusted bytes: what peers send (frames, headers,
//! bodies, batches, properties, subscriptions) and what the store reads back from disk
//! (records, consume queues, index files, the checkpoint, config JSON).
//!
//! A target is a plain `fn(&[u8])` that panics only when a decoder misbehaves: a panic
//! inside a decoder, or a broken round trip (what a decoder accepted and the matching
//! encoder wrote must decode to the same value). Two engines drive the same table: the
//! coverage-guided libFuzzer binary (`src/bin/libfuzzer.rs`) and the plain mutation
//! runner (`src/main.rs`) for machines that cannot build libFuzzer.

pub mod mutate;
pub mod scratch;
pub mod seeds;
pub mod targets;

// The broker's own decoders live in the `rmqd` binary crate, which no library exposes.
// Until they move into one, their source files are compiled here as they are; they must
// stay free of `crate::` paths (filter.rs reaches properties.rs through `super::`, which
// resolves to this crate's root, where both sit).
#[path = "../../src/broker/batch.rs"]
pub mod batch;
#[path = "../../src/broker/filter.rs"]
pub mod filter;
#[path = "../../src/broker/metrics/http_head.rs"]
pub mod http_head;
#[path = "../../src/broker/properties.rs"]
pub mod properties;
/// POP receipt handles (from clients) and revive-topic records (from the store).
#[path = "../../src/broker/pop"]
pub mod pop {
    pub mod handle;
    pub mod records;
}

// The ACL file reader and address patterns (what an operator's plain_acl.yml holds and
// what UPDATE_AND_CREATE_ACL_CONFIG writes into it); they name `super::AclError`,
// `super::perm` and `super::address`, which resolve to this root.
#[path = "../../src/acl/file.rs"]
pub mod acl_file;
#[path = "../../src/acl/address.rs"]
pub mod address;
#[path = "../../src/acl/perm.rs"]
pub mod perm;

/// Stands in for the binary crate's ACL error type.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct AclError(pub String);

/// One fuzz target: a name (also its corpus directory) and the function fed each input.
#[derive(Clone, Copy)]
pub struct Target {
    pub name: &'static str,
    pub run: fn(&[u8]),
}

pub use targets::TARGETS;

/// The target called `name`.
pub fn target(name: &str) -> Option<&'static Target> {
    TARGETS.iter().find(|t| t.name == name)
}
