#!/usr/bin/env bash
# Everything the project tests, from a fresh clone: lint, unit and property tests, the
# golden-fixture tests, and the real-client compat tests (clients installed from the
# registries into .clients/, which is git-ignored), then a bounded fuzz run.
set -euo pipefail
cd "$(dirname "$0")/.."
export CARGO_TERM_COLOR=never

step() { printf '\n==> %s\n' "$*"; }
start=$SECONDS

step "format and lint"
cargo fmt --all -- --check
cargo clippy --workspace --all-targets -- -D warnings

step "build"
cargo build --workspace --all-targets

if [ -x compat-tests/clients/install.sh ]; then
  step "install real RocketMQ clients into .clients/"
  compat-tests/clients/install.sh "$PWD/.clients"
fi

step "tests"
RMQD_BIN="$PWD/target/debug/rmqd" cargo test --workspace --no-fail-fast

step "fuzz every decoder of untrusted bytes (bounded)"
fuzz/run.sh "${RMQD_FUZZ_SECONDS:-60}"

step "done in $((SECONDS - start)) s"
