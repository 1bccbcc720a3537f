#!/usr/bin/env bash
# Bounded fuzz run of every decoder of untrusted bytes: run.sh [SECONDS] [TARGET...]
#
# SECONDS (default 60) is the fuzzing time, split evenly across the targets (all of
# them unless some are named); building comes on top. Each target starts from its
# corpus, corpus/<target>/, every input of which must pass first.
#
# Engine: libFuzzer, coverage-guided, built from source by libfuzzer-sys on the stable
# toolchain (the sanitizer-coverage passes are plain codegen flags; only the sanitizers
# proper would need nightly). Where it does not build (no C++ compiler, say) the plain
# mutation runner takes over, and says so. RMQD_FUZZ_ENGINE=libfuzzer|mutation forces one.
#
# A panic or a broken round trip fails the run; the input is saved under artifacts/.
# Replay one without instrumentation: cargo run --release --bin rmqd-fuzz -- run TARGET FILE
# New coverage that libFuzzer finds collects in target/work-corpus/<target>/ (not
# committed); to keep some, copy small, distinct inputs into corpus/<target>/.
set -euo pipefail
cd "$(dirname "$0")"

secs=${1:-60}
shift || true
if ! [[ $secs =~ ^[0-9]+$ ]]; then
  echo "usage: $0 [SECONDS] [TARGET...]" >&2
  exit 2
fi
engine=${RMQD_FUZZ_ENGINE:-auto}
host=$(rustc -vV | sed -n 's/^host: //p')
bin=target/$host/release/rmqd-fuzz-libfuzzer

if [ "$engine" != mutation ]; then
  # --target keeps these flags off build scripts and proc macros, which have no
  # libFuzzer runtime to link against.
  flags="-Cpasses=sancov-module -Cllvm-args=-sanitizer-coverage-level=4"
  flags+=" -Cllvm-args=-sanitizer-coverage-inline-8bit-counters"
  flags+=" -Cllvm-args=-sanitizer-coverage-pc-table"
  flags+=" -Cllvm-args=-sanitizer-coverage-trace-compares --cfg fuzzing"
  if RUSTFLAGS="$flags" cargo build --quiet --release --target-dir target --target "$host" \
      --features libfuzzer --bin rmqd-fuzz-libfuzzer; then
    engine=libfuzzer
  elif [ "$engine" = libfuzzer ]; then
    echo "fuzz: the libFuzzer engine does not build" >&2
    exit 1
  else
    echo "fuzz: the libFuzzer engine does not build here; using the mutation runner (no coverage guidance)" >&2
    engine=mutation
  fi
fi

if [ "$engine" = mutation ]; then
  cargo build --quiet --release --target-dir target --bin rmqd-fuzz
  runner=target/release/rmqd-fuzz
  "$runner" replay "$@"
  exec "$runner" fuzz "$secs" "$@"
fi

if [ $# -gt 0 ]; then
  targets=("$@")
else
  mapfile -t targets < <(RMQD_FUZZ_TARGET=list "$bin" -runs=0 2>/dev/null)
fi
if [ ${#targets[@]} -eq 0 ]; then
  echo "fuzz: no targets" >&2
  exit 1
fi

# The file-backed targets create and remove files per input: tmpfs where there is one.
base=${TMPDIR:-/tmp}
if [ -d /dev/shm ] && [ -w /dev/shm ]; then base=/dev/shm; fi
scratch=$(mktemp -d "$base/rmqd-fuzz.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
mkdir -p artifacts

n=${#targets[@]}
share=$((secs / n))
extra=$((secs % n))
total_inputs=0
failed=()
i=0
for t in "${targets[@]}"; do
  s=$share
  if [ $i -lt $extra ]; then s=$((s + 1)); fi
  if [ "$s" -lt 1 ]; then s=1; fi
  i=$((i + 1))
  if [ -z "$(ls -A "corpus/$t" 2>/dev/null)" ]; then
    echo "fuzz: $t has no corpus in fuzz/corpus/$t" >&2
    failed+=("$t")
    continue
  fi
  work=target/work-corpus/$t
  log=$scratch/$t.log
  mkdir -p "$work"
  status=0
  RMQD_FUZZ_TARGET=$t RMQD_FUZZ_SCRATCH=$scratch "$bin" \
    -max_total_time="$s" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
    -artifact_prefix="artifacts/$t-" "$work" "corpus/$t" >"$log" 2>&1 || status=$?
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log" | tail -1)
  cov=$(grep -Eo 'cov: [0-9]+' "$log" | tail -1 || true)
  total_inputs=$((total_inputs + ${runs:-0}))
  if [ "$status" -ne 0 ]; then
    failed+=("$t")
    echo "fuzz: $t FAILED (exit $status):" >&2
    grep -E -A3 'panicked at' "$log" | head -12 >&2 || true
    grep -E 'Test unit written|^Base64' "$log" >&2 || tail -20 "$log" >&2
  else
    echo "fuzz: $t: ${runs:-0} inputs in ${s}s (${rate:-0}/s), ${cov:-cov: ?} coverage points"
  fi
done

echo "fuzz: engine=libfuzzer targets=$n inputs=$total_inputs seconds=$secs findings=${#failed[@]}"
if [ ${#failed[@]} -gt 0 ]; then
  echo "fuzz: failing targets: ${failed[*]} (their inputs are in fuzz/artifacts/)" >&2
  exit 1
fi
