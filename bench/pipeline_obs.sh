#!/usr/bin/env bash
# What tracing export costs the whole pipeline: bench/pipeline.sh with
# `serve --zipkin` to a local collector (obs_collector, which keeps and
# answers every POST like Zipkin) against the same run without an exporter,
# alternating (off/on, then on/off, ...) so that drifting load hits both
# alike. Metrics are always on in `khappy serve` (both sides pay them; their
# cost per operation is bench_obs's).
#
#   bench/pipeline_obs.sh KHAPPY OBS_COLLECTOR [ROUNDS] [N] [THREADS]
#
# ROUNDS defaults to 4 (each one run of each side), N and THREADS as
# bench/pipeline.sh. Prints each run's row, then pictures/s per side
# (median, min to max) and the change of the medians.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
khappy=$(realpath "${1:?usage: pipeline_obs.sh KHAPPY OBS_COLLECTOR [ROUNDS] [N] [THREADS]}")
collector_bin=$(realpath "${2:?usage: pipeline_obs.sh KHAPPY OBS_COLLECTOR [ROUNDS] [N] [THREADS]}")
rounds=${3:-4}
n=${4:-60}
threads=${5:-$(nproc)}

work=$(mktemp -d /tmp/khappy-bench-obs-XXXXXX)
collector_pid=""
cleanup() {
  if [ -n "$collector_pid" ]; then
    kill -TERM "$collector_pid" 2>/dev/null || true
    wait "$collector_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$collector_bin" >"$work/collector.out" 2>"$work/collector.err" &
collector_pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(grep -o 'http://[^ ]*' "$work/collector.out" 2>/dev/null | head -n 1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "obs_collector did not start" >&2; cat "$work/collector.err" >&2; exit 1; }
zipkin="--zipkin ${url%/}"

run() { # off|on: prints pictures/s
  local args=""
  [ "$1" = on ] && args=$zipkin
  local row
  row=$(SERVE_ARGS="$args" bash "$root/bench/pipeline.sh" "$khappy" "$n" "$threads" 2>/dev/null)
  echo "$1: $row" >&2
  sed -E 's/.*\*\*([0-9.]+)\*\*.*/\1/' <<<"$row"
}
off=() on=()
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then
    off+=("$(run off)"); on+=("$(run on)")
  else
    on+=("$(run on)"); off+=("$(run off)")
  fi
done

stats() { # VALUES...: "median min max"
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.2f %.2f %.2f\n", m, v[1], v[NR] }'
}
read -r off_median off_min off_max <<<"$(stats "${off[@]}")"
read -r on_median on_min on_max <<<"$(stats "${on[@]}")"
kill -TERM "$collector_pid"
wait "$collector_pid" || true
collector_pid=""
echo "tracing off: ${off[*]} pictures/s: median $off_median ($off_min to $off_max)"
echo "tracing on:  ${on[*]} pictures/s: median $on_median ($on_min to $on_max)"
awk -v a="$off_median" -v b="$on_median" -v lo="$off_min" -v hi="$off_max" 'BEGIN {
  printf "change of the medians: %+.1f%%; spread of the off runs: %.0f%% of their median\n",
    (b - a) / a * 100, (hi - lo) / a * 100 }'
echo "collector: $(cat "$work/collector.err")"
