#!/usr/bin/env bash
# Load benchmark of the embedded broker: binary-mode CloudEvents POSTed by
# wrk (bench/broker_post.lua) to `khappy broker`, one trigger delivering
# every event over HTTP to a no-op subscriber (a second `khappy broker` with
# no triggers: it decodes each event, answers 202 and keeps nothing).
#
#   bench/broker.sh [PATH/TO/khappy] [DURATION] [CONNECTIONS]
#   (defaults: build/khappy, 10s, 16; WRK_THREADS=2; SYNCS="full normal";
#   BROKER_ARGS: more options for the broker under test, e.g.
#   "--http-threads 16 --workers 8")
#
# For each durability setting (--sync full: fsync per group commit; normal:
# no fsync) it prints the ingress rate (202s per second, wrk's latency) and
# the end-to-end rate (events delivered per second from the first request to
# the last delivery). Numbers depend on the disk's fsync latency and on the
# cores: record the machine with them (docs/PERFORMANCE-events.md).
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
khappy=${1:-$root/build/khappy}
duration=${2:-10s}
connections=${3:-16}
wrk_threads=${WRK_THREADS:-2}
syncs=${SYNCS:-full normal}

die() { echo "broker.sh: $*" >&2; exit 1; }
[ -x "$khappy" ] || die "$khappy is not executable (make build first)"
command -v wrk >/dev/null || die "wrk is missing (apt-get install wrk)"

work=$(mktemp -d /tmp/kh-bench-broker-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT

# Starts `khappy broker ARGS...` in the background; sets $started_port.
# (Not called in $(...): the pid must reach the cleanup list.)
start_broker() {
  local log=$1; shift
  "$khappy" broker --port 0 --bind 127.0.0.1 --log quiet "$@" >"$log.out" 2>"$log.err" &
  pids+=($!)
  local port=""
  for _ in $(seq 100); do
    port=$(grep -o '127.0.0.1:[0-9]*' "$log.out" 2>/dev/null | head -n1 | cut -d: -f2 || true)
    [ -n "$port" ] && break
    sleep 0.05
  done
  [ -n "$port" ] || die "broker did not start: $(cat "$log.err")"
  started_port=$port
}

# GET /stats without curl.
stats() {
  local port=$1
  exec 3<>"/dev/tcp/127.0.0.1/$port"
  printf 'GET /stats HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n' >&3
  tail -n 1 <&3
  exec 3<&-
}
field() { grep -o "\"$2\":[0-9]*" <<<"$1" | cut -d: -f2; }
now() { date +%s.%N; }

mkdir -p "$work/no-triggers" "$work/triggers"
start_broker "$work/sink" --triggers "$work/no-triggers" --data "$work/sink-data" \
  --sync normal --http-threads 4
sink_port=$started_port
cat > "$work/triggers/all.yaml" <<'YAML'
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: everything}
spec:
  broker: default
  subscriber:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: noop}
  delivery: {retry: 3, backoffDelay: PT0.1S}
YAML

echo "khappy broker load test: $duration, $connections connections, $wrk_threads wrk threads, $(nproc) cores"
printf '%-7s %12s %12s %12s %14s %10s\n' sync ingress/s p50 p99 end-to-end/s delivered
for sync in $syncs; do
  start_broker "$work/broker-$sync" --triggers "$work/triggers" \
    --data "$work/data-$sync" --subscriber "noop=http://127.0.0.1:$sink_port/" --sync "$sync" \
    ${BROKER_ARGS:-}
  port=$started_port
  t0=$(now)
  wrk -t"$wrk_threads" -c"$connections" -d"$duration" --latency \
    -s "$root/bench/broker_post.lua" "http://127.0.0.1:$port/" >"$work/wrk-$sync.txt"
  # Wait for the backlog to drain.
  for _ in $(seq 1200); do
    s=$(stats "$port")
    [ "$(field "$s" pending)" = 0 ] && break
    sleep 0.05
  done
  t1=$(now)
  s=$(stats "$port")
  accepted=$(field "$s" accepted)
  delivered=$(field "$s" delivered)
  rps=$(awk '/^Requests\/sec:/ {print $2}' "$work/wrk-$sync.txt")
  p50=$(awk '$1 == "50%" {print $2}' "$work/wrk-$sync.txt")
  p99=$(awk '$1 == "99%" {print $2}' "$work/wrk-$sync.txt")
  e2e=$(awk -v n="$delivered" -v a="$t0" -v b="$t1" 'BEGIN {printf "%.0f", n / (b - a)}')
  printf '%-7s %12s %12s %12s %14s %10s\n' "$sync" "$rps" "$p50" "$p99" "$e2e" "$delivered/$accepted"
  grep -q "not accepted (status other than 202): 0" "$work/wrk-$sync.txt" ||
    { cat "$work/wrk-$sync.txt"; die "some requests were not accepted"; }
  [ "$delivered" = "$accepted" ] || die "$sync: delivered $delivered of $accepted"
  kill -TERM "${pids[-1]}" && wait "${pids[-1]}" || die "$sync: the broker did not exit cleanly"
done
