#!/usr/bin/env bash
# Paired throughput runs: remoting sends (rmqd-load) on a "before" and an "after" rmqd,
# alternating, then gRPC send/receive with the 5.x clients beside the remoting figure on
# the "after" binary, in the same session.
#   grpc-vs-remoting.sh BEFORE_RMQD AFTER_RMQD RMQD_LOAD [ROUNDS]
# Release builds of rmqd alone (`cargo build --release -p rmqd`), so the fault points of the
# workspace build are not in them. Clients: .clients/py-5x and .clients/node-5x.
set -euo pipefail
BEFORE=$1 AFTER=$2 LOAD=$3 ROUNDS=${4:-3}
HERE="$(cd "$(dirname "$0")/../.." && pwd)"
WORK=$(mktemp -d)
trap 'kill ${PID:-} 2>/dev/null || true; rm -rf "$WORK"' EXIT

start() { # $1 binary, $2 name
  local d="$WORK/$2"
  mkdir -p "$d"
  cat >"$d/broker.conf" <<CONF
brokerName=broker-bench
brokerIP1=127.0.0.1
listenPort=41911
grpcServerPort=48081
storePathRootDir=$d/store
flushDiskType=ASYNC_FLUSH
diskSpaceWarningLevelRatio=0.99
CONF
  RMQD_LOG=warn "$1" standalone -c "$d/broker.conf" --namesrv-listen 127.0.0.1:41876 2>"$d/log" &
  PID=$!
  for _ in $(seq 100); do (exec 3<>/dev/tcp/127.0.0.1/41911) 2>/dev/null && return 0; sleep 0.1; done
  echo "rmqd did not start" >&2
  return 1
}
# Each run's store goes once it stopped: the runs together would fill a shared disk.
stop() { kill "$PID"; wait "$PID" 2>/dev/null || true; PID=; rm -rf "$WORK"/*/store; }

remoting() { # $1 label
  "$LOAD" --broker 127.0.0.1:41911 --producers 64 --size 1024 --seconds 8 --topic LoadTest --queues 8 |
    sed "s/^{/{\"run\":\"$1\",/"
}

for round in $(seq "$ROUNDS"); do
  start "$BEFORE" "before-$round"; remoting "remoting-before"; stop
  start "$AFTER" "after-$round"; remoting "remoting-after"; stop
done

# gRPC beside remoting on one instance of the after binary.
start "$AFTER" grpc
remoting "remoting-same-run"
# Topic for the 5.x clients (they do not auto-create): UPDATE_AND_CREATE_TOPIC over remoting.
"$HERE/.clients/py-cpp1/bin/python" "$HERE/compat-tests/clients/python/driver.py" create-topic \
  --namesrv 127.0.0.1:41876 --topic GrpcLoad --queues 8 >/dev/null
NODE_PATH="$HERE/.clients/node-5x/node_modules" node "$HERE/compat-tests/clients/node5/driver5.js" \
  simple --endpoint 127.0.0.1:48081 --topic GrpcLoad --group GrpcLoadG --expect 0 --timeout-secs 2 >/dev/null
NODE_PATH="$HERE/.clients/node-5x/node_modules" node "$HERE/compat-tests/clients/node5/driver5.js" \
  load-send --endpoint 127.0.0.1:48081 --topic GrpcLoad --seconds 8 --size 1024 --concurrency 64 |
  sed 's/^{/{"run":"grpc-send-node",/'
"$HERE/.clients/py-5x/bin/python" "$HERE/compat-tests/clients/python5/driver5.py" load-send \
  --endpoint 127.0.0.1:48081 --topic GrpcLoad --seconds 8 --size 1024 --threads 8 |
  sed 's/^{/{"run":"grpc-send-python",/'
"$HERE/.clients/py-5x/bin/python" "$HERE/compat-tests/clients/python5/driver5.py" load-recv \
  --endpoint 127.0.0.1:48081 --topic GrpcLoad --group GrpcLoadG --seconds 8 --threads 4 |
  sed 's/^{/{"run":"grpc-receive-python",/'
stop
