//! Typed custom headers, one module per area of the protocol.

pub mod acl;
pub mod admin;
pub mod broker;
pub mod namesrv;
pub mod pop;
pub mod send;
