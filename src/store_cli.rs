//! `rmqd store …`: offline tools over a store directory (verify, dump, query).

use std::process::ExitCode;

#[derive(Debug, clap::Subcommand)]
pub enum StoreCommand {}

pub fn run(cmd: StoreCommand) -> ExitCode {
    match cmd {}
}
