//! Typed custom headers, one module per area of the protocol.

pub mod admin;
pub mod broker;
pub mod namesrv;
pub mod send;
