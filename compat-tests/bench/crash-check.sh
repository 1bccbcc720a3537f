#!/usr/bin/env bash
# The long crash run: rmqd (release build) killed with SIGKILL at random moments under
# paced load, KILLS times in each flush mode, then every acknowledged message looked up
# by queue offset and by key (see compat-tests/src/bin/rmqd-crash-check.rs). Prints the
# checker's summary line per mode, then a Markdown table of the figures for the README.
#
#   compat-tests/bench/crash-check.sh
#
# Settings (environment): KILLS=20 SEED=1 MODES="ASYNC_FLUSH SYNC_FLUSH"; EXTRA holds
# more checker options, e.g. EXTRA="--rate 0" for full-speed producers. Exits 1 when any
# mode finds a loss, an order violation, an index miss or a store that does not verify.
set -euo pipefail
cd "$(dirname "$0")/../.."

KILLS=${KILLS:-20}
SEED=${SEED:-1}
MODES=${MODES:-ASYNC_FLUSH SYNC_FLUSH}
EXTRA=${EXTRA:-}
TARGET=${CARGO_TARGET_DIR:-target}

if [ "$KILLS" -lt 20 ]; then
  echo "note: KILLS=$KILLS; the README figures come from runs of at least 20 kills" >&2
fi
# Built separately: together, the compat-tests package would switch the store's fault points
# on in the rmqd binary too (feature unification).
cargo build --release --quiet --bin rmqd
cargo build --release --quiet -p rmqd-compat-tests --bin rmqd-crash-check
RMQD=$TARGET/release/rmqd
CHECK=$TARGET/release/rmqd-crash-check

status=0
lines=()
for mode in $MODES; do
  # shellcheck disable=SC2086 # EXTRA is a list of options
  line=$("$CHECK" --rmqd "$RMQD" --flush "$mode" --kills "$KILLS" --seed "$SEED" $EXTRA) || status=1
  [ -n "$line" ] || line="crash-check flush=$mode result=ERROR"
  echo "$line"
  lines+=("$line")
done

echo
echo "| flush | kills | acked | lost | duplicates | order violations | index misses | index files | recovery max / avg (ms) | verify | result |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for line in "${lines[@]}"; do
  awk '{
    for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s / %s | %s | %s |\n",
      f["flush"], f["kills"], f["acked"], f["lost"], f["duplicates"], f["order_violations"],
      f["index_misses"], f["index_files"], f["recovery_max_ms"], f["recovery_avg_ms"],
      f["verify"], f["result"]
  }' <<<"$line"
done
exit $status
