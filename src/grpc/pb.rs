//! Code generated at build time from `proto/apache/rocketmq/v2/*.proto`.
#![allow(clippy::all, clippy::pedantic, missing_docs)]

tonic::include_proto!("apache.rocketmq.v2");
