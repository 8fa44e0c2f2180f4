#!/usr/bin/env bash
# Runs the libFuzzer targets: fuzz/run.sh BUILD_DIR SECONDS
# Runs every target built in BUILD_DIR/fuzz; the model loader gets half the time.
# Seeds are made here: small models and tensors from the ONNX backend test
# data (libonnx-testdata) plus any corpus kept from earlier runs in
# BUILD_DIR/fuzz-corpus. Exits non-zero on any finding; the input that
# triggered it is left in BUILD_DIR/fuzz-artifacts/.
set -euo pipefail
build=${1:?usage: fuzz/run.sh BUILD_DIR SECONDS}
seconds=${2:?usage: fuzz/run.sh BUILD_DIR SECONDS}
testdata=${KH_ONNX_TESTDATA:-/usr/share/libonnx-testdata/data}

for t in model_load tensorproto; do
  if [ ! -x "$build/fuzz/fuzz_$t" ]; then
    echo "fuzz/run.sh: $build/fuzz/fuzz_$t is missing (configure with CC=clang -DKH_FUZZ=ON)" >&2
    exit 1
  fi
done

corpus=$build/fuzz-corpus
artifacts=$build/fuzz-artifacts
mkdir -p "$corpus/model_load" "$corpus/tensorproto" "$artifacts"
seeds=$build/fuzz-seeds
rm -rf "$seeds"
mkdir -p "$seeds/model_load" "$seeds/tensorproto"
if [ -d "$testdata" ]; then
  i=0
  # Small models only: the fuzzer mutates them, large ones slow it down.
  while IFS= read -r f; do
    cp "$f" "$seeds/model_load/seed_$i.onnx"
    i=$((i + 1))
  done < <(find "$testdata/node" "$testdata/simple" -name model.onnx -size -3k 2>/dev/null | sort | head -n 300)
  i=0
  while IFS= read -r f; do
    cp "$f" "$seeds/tensorproto/seed_$i.pb"
    i=$((i + 1))
  done < <(find "$testdata/node" -name '*.pb' -size -2k 2>/dev/null | sort | head -n 100)
fi

# Huge allocations fail cleanly (NULL) instead of aborting: the engine must
# handle that, and the fuzzer should not report it as out-of-memory.
export ASAN_OPTIONS=${ASAN_OPTIONS:-allocator_may_return_null=1:max_allocation_size_mb=1024:detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

run() {
  local target=$1 time=$2 rc=0
  local log=$build/fuzz-$target.log
  mkdir -p "$corpus/$target" "$seeds/$target"
  echo "fuzz: $target for ${time}s"
  "$build/fuzz/fuzz_$target" -max_total_time="$time" -timeout=10 \
    -rss_limit_mb=2048 -malloc_limit_mb=2048 -max_len=65536 \
    -print_final_stats=1 -artifact_prefix="$artifacts/$target-" \
    "$corpus/$target" "$seeds/$target" >"$log" 2>&1 || rc=$?
  # Progress lines and the recommended dictionary are noise; a finding
  # prints its report at the end of the log.
  if [ "$rc" -ne 0 ]; then
    grep -Ev '^#[0-9]+' "$log" | tail -n 60
  else
    grep -E '^(Done|stat::number_of_executed_units|stat::new_units_added)' "$log"
  fi
  return "$rc"
}

# The model loader gets half of the time (it is the largest parser of
# outside input); every other target built in $build/fuzz shares the rest.
others=()
for exe in "$build"/fuzz/fuzz_*; do
  [ -x "$exe" ] || continue
  name=${exe##*/fuzz_}
  [ "$name" = model_load ] || others+=("$name")
done
model_time=$(( seconds / 2 ))
[ "$model_time" -ge 1 ] || model_time=1
other_time=1
if [ ${#others[@]} -gt 0 ]; then
  other_time=$(( (seconds - model_time) / ${#others[@]} ))
  [ "$other_time" -ge 1 ] || other_time=1
fi
status=0
run model_load "$model_time" || status=$?
for t in "${others[@]}"; do
  run "$t" "$other_time" || status=$?
done
if [ "$status" -ne 0 ]; then
  echo "fuzz: FINDINGS (exit $status); inputs in $artifacts" >&2
  exit 1
fi
echo "fuzz: no findings"
