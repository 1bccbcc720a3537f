#!/usr/bin/env bash
# Bounded fuzz run of the decoders of untrusted bytes: run.sh [SECONDS] (default 60).
set -euo pipefail
cd "$(dirname "$0")"
cargo build --quiet --release --manifest-path Cargo.toml --target-dir target
exec target/release/rmqd-remoting-fuzz "${1:-60}"
