#!/usr/bin/env bash
# Replication throughput, measured with rmqd-load in one session, alternating the
# variants so that drift in the machine's load hits all of them:
#
#   compat-tests/bench/ha.sh replication        # master + slave: ASYNC_MASTER vs SYNC_MASTER
#   compat-tests/bench/ha.sh hot-path OTHER_RMQD # one ASYNC_MASTER: OTHER_RMQD vs this build
#
# Every run starts fresh stores: a name server, the master and (replication) a slave on
# this machine, the slave on its own store. Settings (environment): PRODUCERS=64
# SIZE=1024 RUN_SECONDS=8 ROUNDS=3 QUEUES=8 FLUSH=ASYNC_FLUSH. Prints one line per run:
# the variant, then rmqd-load's JSON.
set -euo pipefail
cd "$(dirname "$0")/../.."

MODE=${1:?usage: $0 replication | hot-path OTHER_RMQD}
OTHER=${2:-}
PRODUCERS=${PRODUCERS:-64}
SIZE=${SIZE:-1024}
SECONDS_PER_RUN=${RUN_SECONDS:-8}
ROUNDS=${ROUNDS:-3}
QUEUES=${QUEUES:-8}
FLUSH=${FLUSH:-ASYNC_FLUSH}

# Separate builds: the rmqd binary without the compat tests' fault points.
cargo build --release --quiet --bin rmqd
cargo build --release --quiet -p rmqd-compat-tests --bin rmqd-load
RMQD=$PWD/target/release/rmqd
LOAD=$PWD/target/release/rmqd-load
WORK=$(mktemp -d)
PIDS=()
stop_all() {
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]:-}"; do [ -n "$p" ] && wait "$p" 2>/dev/null || true; done
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

# A free port p with p-2 and p+1 free (VIP and HA ports).
broker_port() {
  while :; do
    # Below the ephemeral range: no outgoing connection holds these.
    local p=$((20000 + RANDOM % 12000))
    for q in $p $((p - 2)) $((p + 1)); do
      (exec 3<>"/dev/tcp/127.0.0.1/$q") 2>/dev/null && continue 2
    done
    echo $p
    return
  done
}

conf() { # $1 dir, $2 port, $3 namesrv port, $4 id, $5 role
  cat <<EOF
brokerClusterName=DefaultCluster
brokerName=broker-bench
brokerId=$4
brokerRole=$5
brokerIP1=127.0.0.1
listenPort=$2
namesrvAddr=127.0.0.1:$3
storePathRootDir=$1
flushDiskType=$FLUSH
grpcServerPort=0
EOF
}

# $1 variant name, $2 rmqd binary, $3 master role, $4 with a slave (yes/no)
run() {
  local dir=$WORK/$1-$RANDOM ns m
  mkdir -p "$dir/m" "$dir/s"
  ns=$(broker_port)
  "$2" namesrv --listen 127.0.0.1:$ns >"$dir/ns.log" 2>&1 &
  PIDS+=($!)
  wait_port $ns || { tail -5 "$dir/ns.log" >&2; exit 1; }
  # Chosen once the name server listens, so that no port of one is another's.
  m=$(broker_port)
  conf "$dir/m" $m $ns 0 "$3" >"$dir/m.conf"
  HOME=$dir/m "$2" broker -c "$dir/m.conf" >"$dir/m.log" 2>&1 &
  PIDS+=($!)
  wait_port $m || { tail -5 "$dir/m.log" >&2; exit 1; }
  if [ "$4" = yes ]; then
    local s=$(broker_port)
    conf "$dir/s" $s $ns 1 SLAVE >"$dir/s.conf"
    HOME=$dir/s "$2" broker -c "$dir/s.conf" >"$dir/s.log" 2>&1 &
    PIDS+=($!)
    wait_port $s || { tail -5 "$dir/s.log" >&2; exit 1; }
    # Connected once the slave's HA client logged it.
    for _ in $(seq 1 100); do
      grep -q "connected to the master's HA port" "$dir/s.log" && break
      sleep 0.1
    done
  fi
  printf '%s ' "$1"
  "$LOAD" --broker 127.0.0.1:$m --producers "$PRODUCERS" --size "$SIZE" \
    --seconds "$SECONDS_PER_RUN" --topic LoadTest --queues "$QUEUES"
  stop_all
  rm -rf "$dir"
}

for _ in $(seq 1 "$ROUNDS"); do
  case $MODE in
    replication)
      run async-master+slave "$RMQD" ASYNC_MASTER yes
      run sync-master+slave "$RMQD" SYNC_MASTER yes
      ;;
    hot-path)
      [ -x "$OTHER" ] || { echo "hot-path needs the other rmqd binary" >&2; exit 2; }
      run other "$OTHER" ASYNC_MASTER no
      run this "$RMQD" ASYNC_MASTER no
      ;;
    *) echo "unknown mode $MODE" >&2; exit 2 ;;
  esac
done
