#!/usr/bin/env bash
# Bounded fuzz run of the remoting frame decoder on the stable toolchain.
#   remoting/fuzz/run.sh [SECONDS] [SEED]     (default 60 s, seed from the clock)
# A panic or a hang stops the run; the input is printed in hex and saved under
# remoting/fuzz/artifacts/. Replay one with: run.sh --replay FILE
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
cargo build --quiet --release --manifest-path "$here/Cargo.toml" --target-dir "$here/target"
exec "$here/target/release/fuzz-frames" "${@:-60}"
