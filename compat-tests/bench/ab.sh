#!/usr/bin/env bash
# Throughput of two rmqd binaries (say, before and after a change), measured alternately
# in one session with the same load so that drift in the machine's load hits both:
#
#   compat-tests/bench/ab.sh BEFORE_RMQD AFTER_RMQD
#
# Build both in release without the `failpoints` feature (`cargo build --release --bin
# rmqd` from the workspace root, not together with compat-tests). Settings (environment):
# PRODUCERS=64 SIZE=1024 RUN_SECONDS=8 ROUNDS=3 QUEUES=8 FLUSH=ASYNC_FLUSH,
# DISK_WARNING_RATIO=0.90 (raise it on a shared, nearly full disk). Prints one JSON
# line per run from rmqd-load, then each binary's median msgs/s.
set -euo pipefail
cd "$(dirname "$0")/../.."

A=${1:?usage: $0 BEFORE_RMQD AFTER_RMQD}
B=${2:?usage: $0 BEFORE_RMQD AFTER_RMQD}
PRODUCERS=${PRODUCERS:-64}
SIZE=${SIZE:-1024}
SECONDS_PER_RUN=${RUN_SECONDS:-8}
ROUNDS=${ROUNDS:-3}
QUEUES=${QUEUES:-8}
FLUSH=${FLUSH:-ASYNC_FLUSH}

cargo build --release --quiet -p rmqd-compat-tests --bin rmqd-load
LOAD=target/release/rmqd-load
WORK=$(mktemp -d)
PID=
cleanup() {
  [ -n "$PID" ] && kill "$PID" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

wait_port() {
  for _ in $(seq 1 200); do
    (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
    sleep 0.1
  done
  echo "nothing listens on port $1" >&2
  return 1
}

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

run() { # $1 label, $2 binary, $3 round
  local d="$WORK/$1-$3"
  mkdir -p "$d"
  local bp np
  bp=$(free_port)
  np=$(free_port)
  cat >"$d/broker.conf" <<EOF
brokerClusterName=DefaultCluster
brokerName=broker-bench
brokerIP1=127.0.0.1
listenPort=$bp
namesrvAddr=127.0.0.1:$np
storePathRootDir=$d/store
flushDiskType=$FLUSH
diskSpaceWarningLevelRatio=${DISK_WARNING_RATIO:-0.90}
EOF
  RMQD_LOG=warn "$2" standalone -c "$d/broker.conf" --namesrv-listen "127.0.0.1:$np" 2>"$d/log" &
  PID=$!
  wait_port "$bp" || { cat "$d/log" >&2; exit 1; }
  "$LOAD" --broker "127.0.0.1:$bp" --producers "$PRODUCERS" --size "$SIZE" \
    --seconds "$SECONDS_PER_RUN" --topic LoadTest --queues "$QUEUES" |
    sed "s/^{/{\"binary\":\"$1\",/" | tee -a "$WORK/results"
  kill "$PID"
  wait "$PID" 2>/dev/null || true
  PID=
  rm -rf "$d/store"
}

for r in $(seq 1 "$ROUNDS"); do
  run before "$A" "$r"
  run after "$B" "$r"
done

median() { # $1 label
  grep "\"binary\":\"$1\"" "$WORK/results" |
    sed -n 's/.*"msgs_per_s":\([0-9.]*\).*/\1/p' | sort -n |
    awk '{v[NR]=$1} END {print v[int((NR+1)/2)]}'
}
echo "median msgs/s: before $(median before), after $(median after)"
