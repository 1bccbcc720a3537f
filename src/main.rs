//! `rmqd`: an Apache RocketMQ-compatible name server and broker in one binary.

mod acl;
mod admin_cli;
mod broker;
mod cli;
mod config;
mod grpc;
mod logging;
mod namesrv;
mod store_cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    cli::main()
}
