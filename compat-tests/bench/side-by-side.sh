#!/usr/bin/env bash
# Throughput of rmqd against a peer broker, measured in the same run on the same machine
# with the same load tool and settings, alternating so that drift in the machine's load
# hits both. The peer is the rocketmq-rust broker and name server from crates.io:
#
#   cargo install --locked --root PEER_DIR rocketmq-broker rocketmq-namesrv
#   compat-tests/bench/side-by-side.sh PEER_DIR
#
# Settings (environment): PRODUCERS=64 SIZE=1024 RUN_SECONDS=8 ROUNDS=2 QUEUES=8
# FLUSH=ASYNC_FLUSH. Prints one JSON line per run from rmqd-load, then the ratio of the
# medians.
set -euo pipefail
cd "$(dirname "$0")/../.."

PEER_DIR=${1:?usage: $0 PEER_DIR (holding bin/rocketmq-broker-rust and bin/rocketmq-namesrv-rust)}
PRODUCERS=${PRODUCERS:-64}
SIZE=${SIZE:-1024}
SECONDS_PER_RUN=${RUN_SECONDS:-8}
ROUNDS=${ROUNDS:-2}
QUEUES=${QUEUES:-8}
FLUSH=${FLUSH:-ASYNC_FLUSH}

cargo build --release --quiet --bin rmqd
cargo build --release --quiet -p rmqd-compat-tests --bin rmqd-load
RMQD=target/release/rmqd
LOAD=target/release/rmqd-load
WORK=$(mktemp -d)
PIDS=()
cleanup() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
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

conf() { # $1 store dir, $2 broker port, $3 namesrv port
  cat <<EOF
brokerClusterName=DefaultCluster
brokerName=broker-bench
brokerId=0
brokerIP1=127.0.0.1
listenPort=$2
namesrvAddr=127.0.0.1:$3
storePathRootDir=$1
storePathCommitLog=$1/commitlog
flushDiskType=$FLUSH
brokerRole=ASYNC_MASTER
autoCreateTopicEnable=true
grpcServerPort=0
EOF
}

stop_all() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}

run_rmqd() { # $1 round
  local d="$WORK/rmqd-$1"
  mkdir -p "$d"
  conf "$d/store" 31911 31876 >"$d/broker.conf"
  RMQD_LOG=warn "$RMQD" standalone -c "$d/broker.conf" --namesrv-listen 127.0.0.1:31876 2>"$d/log" &
  PIDS+=($!)
  wait_port 31911
  "$LOAD" --broker 127.0.0.1:31911 --producers "$PRODUCERS" --size "$SIZE" \
    --seconds "$SECONDS_PER_RUN" --topic LoadTest --queues "$QUEUES" | sed 's/^{/{"broker":"rmqd",/'
  stop_all
}

run_peer() { # $1 round
  local d="$WORK/peer-$1"
  mkdir -p "$d"
  conf "$d/store" 32911 32876 >"$d/broker.conf"
  ROCKETMQ_HOME="$d" "$PEER_DIR/bin/rocketmq-namesrv-rust" --listenPort 32876 >"$d/namesrv.log" 2>&1 &
  PIDS+=($!)
  wait_port 32876
  ROCKETMQ_HOME="$d" "$PEER_DIR/bin/rocketmq-broker-rust" -c "$d/broker.conf" -n 127.0.0.1:32876 \
    >"$d/broker.log" 2>&1 &
  PIDS+=($!)
  wait_port 32911
  sleep 2 # its registration with the name server
  "$LOAD" --broker 127.0.0.1:32911 --producers "$PRODUCERS" --size "$SIZE" \
    --seconds "$SECONDS_PER_RUN" --topic LoadTest --queues "$QUEUES" | sed 's/^{/{"broker":"peer",/'
  stop_all
}

RESULTS="$WORK/results.jsonl"
for r in $(seq 1 "$ROUNDS"); do
  run_rmqd "$r" | tee -a "$RESULTS"
  run_peer "$r" | tee -a "$RESULTS"
done

python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
med = {b: statistics.median(r["msgs_per_s"] for r in rows if r["broker"] == b) for b in ("rmqd", "peer")}
ratio = med["rmqd"] / med["peer"] if med["peer"] else float("inf")
print(json.dumps({"rmqd_msgs_per_s": round(med["rmqd"]), "peer_msgs_per_s": round(med["peer"]), "ratio": round(ratio, 1)}))
EOF
