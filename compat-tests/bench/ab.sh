#!/usr/bin/env bash
# Paired throughput of two rmqd builds (before/after a change), alternating runs in one
# session so that drift in the machine's load hits both alike:
#
#   compat-tests/bench/ab.sh BEFORE_RMQD AFTER_RMQD [LOAD_TOOL]
#
# Build each rmqd with `cargo build --release --bin rmqd` (alone, so that the store's
# fault points stay off) and copy it aside. LOAD_TOOL defaults to this checkout's
# target/release/rmqd-load. Settings (environment): PRODUCERS=64 SIZE=1024 RUN_SECONDS=8
# ROUNDS=3 QUEUES=8 FLUSH=ASYNC_FLUSH EXTRA_CONF="key=value;…" (more broker.conf lines).
# Prints one JSON line per run (with the broker's CPU-seconds per 100k messages), then the
# medians and their ratio (after / before).
set -euo pipefail
cd "$(dirname "$0")/../.."

A=${1:?usage: $0 BEFORE_RMQD AFTER_RMQD [LOAD_TOOL]}
B=${2:?usage: $0 BEFORE_RMQD AFTER_RMQD [LOAD_TOOL]}
LOAD=${3:-target/release/rmqd-load}
PRODUCERS=${PRODUCERS:-64}
SIZE=${SIZE:-1024}
SECONDS_PER_RUN=${RUN_SECONDS:-8}
ROUNDS=${ROUNDS:-3}
QUEUES=${QUEUES:-8}
FLUSH=${FLUSH:-ASYNC_FLUSH}
EXTRA_CONF=${EXTRA_CONF:-}

if [ ! -x "$LOAD" ]; then
  cargo build --release --quiet -p rmqd-compat-tests --bin rmqd-load
fi
WORK=$(mktemp -d)
PIDS=()
stop_all() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  PIDS=()
}
trap 'stop_all; rm -rf "$WORK"' EXIT

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
  local d="$WORK/$1-$3" ns bp
  mkdir -p "$d"
  ns=$(free_port)
  bp=$(free_port)
  {
    echo "brokerClusterName=DefaultCluster"
    echo "brokerName=broker-bench"
    echo "brokerIP1=127.0.0.1"
    echo "listenPort=$bp"
    echo "namesrvAddr=127.0.0.1:$ns"
    echo "storePathRootDir=$d/store"
    echo "flushDiskType=$FLUSH"
    echo "grpcServerPort=0"
    tr ';' '\n' <<<"$EXTRA_CONF"
  } >"$d/broker.conf"
  RMQD_LOG=warn "$2" standalone -c "$d/broker.conf" --namesrv-listen "127.0.0.1:$ns" 2>"$d/log" &
  local pid=$!
  PIDS+=("$pid")
  wait_port "$bp"
  "$LOAD" --broker "127.0.0.1:$bp" --producers "$PRODUCERS" --size "$SIZE" \
    --seconds "$SECONDS_PER_RUN" --topic LoadTest --queues "$QUEUES" >"$d/load.json"
  # The broker's CPU time (user + system, start-up included) from /proc, as CPU-seconds
  # per 100k acknowledged messages: the figure that says how light the broker is.
  local ticks
  ticks=$(awk '{print $14 + $15}' "/proc/$pid/stat")
  stop_all
  python3 - "$1" "$ticks" "$(getconf CLK_TCK)" "$d/load.json" <<'PY'
import json, sys
label, ticks, hz, path = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
row = json.loads(open(path).read().strip().splitlines()[-1])
cpu = ticks / hz
sent = row.get("sent", 0)
print(json.dumps({"build": label, **row, "broker_cpu_s": round(cpu, 2),
                  "cpu_s_per_100k": round(cpu * 100000 / sent, 2) if sent else None}))
PY
  rm -rf "$d/store"
}

RESULTS="$WORK/results.jsonl"
for r in $(seq 1 "$ROUNDS"); do
  run before "$A" "$r" | tee -a "$RESULTS"
  run after "$B" "$r" | tee -a "$RESULTS"
done

python3 - "$RESULTS" <<'EOF'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
med = {b: statistics.median(r["msgs_per_s"] for r in rows if r["build"] == b) for b in ("before", "after")}
cpu = {b: statistics.median(r["cpu_s_per_100k"] for r in rows if r["build"] == b and r.get("cpu_s_per_100k") is not None) for b in ("before", "after")}
runs = {b: [round(r["msgs_per_s"]) for r in rows if r["build"] == b] for b in ("before", "after")}
ratio = med["after"] / med["before"] if med["before"] else float("inf")
print(json.dumps({"before_msgs_per_s": round(med["before"]), "after_msgs_per_s": round(med["after"]),
                  "ratio": round(ratio, 3), "cpu_s_per_100k": cpu, "runs": runs}))
EOF
