#!/usr/bin/env bash
# End to end, twice, on face-api's six demo pictures:
#
# 1. `khappy serve` (one process, embedded broker, in-process services):
#    three pictures uploaded (POST /api/pictures), three posted as binary
#    CloudEvents to /broker with the picture as data; every picture ends done
#    and its faces and emotions match face-api's own results (the fixtures of
#    `khappy analyze`'s test: same faces with IoU >= 0.9, scores within 0.02).
#    SIGTERM stops it cleanly.
# 2. The same services as separate processes: `khappy service` x4 behind
#    `khappy broker` with --subscriber NAME=URL, the report service behind a
#    proxy that fails every delivery twice; the six pictures posted to the
#    broker give the same rows as (1), each stored once, and every event
#    report receives is in the producer's trace (traceparent).
#
#   pipeline.sh KHAPPY COMPARE_FACEAPI FLAKY_PROXY SOURCE_DIR
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: pipeline.sh KHAPPY COMPARE_FACEAPI FLAKY_PROXY SOURCE_DIR" >&2; exit 2; }
khappy=$1 compare=$2 proxy=$3 src=$4
here=$(cd "$(dirname "$0")" && pwd)
demo=$src/models/demo
for f in tinyface.onnx expression.onnx demo/sample1.jpg demo/sample6.jpg; do
  [ -s "$src/models/$f" ] || { echo "skipped: models/$f is missing (make models)"; exit 77; }
done
work=$(mktemp -d /tmp/khappy-e2e-pipeline-XXXXXX)
# shellcheck source=lib.sh
. "$here/lib.sh"
trap 'e2e_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# ---- 1. khappy serve ---------------------------------------------------------
start_listening serve "$khappy" serve --port 0 --data "$work/serve" \
  --models "$src/models" --triggers "$src/triggers"
serve=$started_url
serve_pid=$started_pid
for n in 1 2 3; do
  id=$(upload "$serve" "$demo/sample$n.jpg" "sample$n.jpg")
  [ -n "$id" ] || { echo "upload of sample$n.jpg failed"; exit 1; }
done
for n in 4 5 6; do
  check "sample$n.jpg as a CloudEvent to /broker" 202 \
    "$(post_picture_event "${serve}broker" "$demo/sample$n.jpg" "sample$n.jpg" "e2e-sample$n")"
done
stats=$(wait_all_processed "$serve" 6 600)
check "serve: pictures done" 6 "$(jq .pictures.done <<<"$stats")"
analyze_lines "$serve" >"$work/serve.jsonl"
if "$compare" "$src/tests/vision/fixtures/faceapi-demo.jsonl" "$work/serve.jsonl" >"$work/compare.txt"; then
  echo "ok   serve: faces and emotions match face-api's ($(wc -l <"$work/compare.txt") lines compared)"
else
  cat "$work/compare.txt"
  check "serve: faces and emotions match face-api's" 0 1
fi
canonical_results "$serve" >"$work/serve.rows"
stop_process "$serve_pid"
check "serve exits 0 on SIGTERM" 0 "$stopped_status"
check "serve stops on SIGTERM" yes "$(grep -q 'stopped:' "$work/serve.err" && echo yes || echo no)"

# ---- 2. the same services as separate processes -----------------------------
data=$work/split
mkdir -p "$data"
start_listening extractor "$khappy" service face-extractor --port 0 --bind 127.0.0.1 --data "$data"
extractor=$started_url
start_listening emotion "$khappy" service emotion --port 0 --bind 127.0.0.1 --data "$data" \
  --models "$src/models"
emotion=$started_url
start_listening report "$khappy" service report --port 0 --bind 127.0.0.1 --data "$data"
report=$started_url
start_listening proxy "$proxy" --target "$report" --fail 2
proxy_url=$started_url
proxy_pid=$started_pid
broker_started=no
for _ in 1 2 3; do
  port=$(free_port)
  start_listening detector "$khappy" service face-detector --port 0 --bind 127.0.0.1 \
    --data "$data" --models "$src/models" --detector tinyface --sink "http://127.0.0.1:$port/"
  detector=$started_url
  detector_pid=$started_pid
  if start_listening broker "$khappy" broker --port "$port" --bind 127.0.0.1 \
       --triggers "$src/triggers" --data "$data/broker" \
       --subscriber "khappy-face-detector-tinyface=$detector" \
       --subscriber "khappy-face-extractor=$extractor" \
       --subscriber "khappy-emotion=$emotion" \
       --subscriber "khappy-report=$proxy_url"; then
    broker_started=yes
    broker=$started_url
    break
  fi
  stop_process "$detector_pid"
done
check "broker started" yes "$broker_started"
[ "$broker_started" = yes ] || exit 1
for n in 1 2 3 4 5 6; do
  check "sample$n.jpg posted to khappy broker" 202 \
    "$(post_picture_event "$broker" "$demo/sample$n.jpg" "sample$n.jpg" "split-sample$n")"
done
# A reader: khappy serve on the same database and blobs, routing nothing.
mkdir -p "$work/no-triggers"
start_listening reader "$khappy" serve --port 0 --data "$data" --triggers "$work/no-triggers" \
  --models "$src/models"
reader=$started_url
stats=$(wait_all_processed "$reader" 6 600)
check "services: pictures done" 6 "$(jq .pictures.done <<<"$stats")"
canonical_results "$reader" >"$work/split.rows"
if diff -u "$work/serve.rows" "$work/split.rows" >"$work/rows.diff"; then
  echo "ok   services as processes store the same rows as khappy serve ($(wc -l <"$work/split.rows") pictures)"
else
  cat "$work/rows.diff"
  check "services as processes store the same rows as khappy serve" same different
fi
faces=$(jq .faces.total <<<"$stats")
check "each face stored once" 20 "$faces"
for pid in "${e2e_pids[@]}"; do
  [ "$pid" = "$proxy_pid" ] && continue
  stop_process "$pid"
  check "${e2e_names[$pid]} exits 0 on SIGTERM" 0 "$stopped_status"
done
stop_process "$proxy_pid"
summary=$(grep 'flaky_proxy:' "$work/proxy.err" | tail -n 1)
echo "     $summary"
events=$(awk '{print $2}' <<<"$summary")
failures=$(awk '{print $4}' <<<"$summary")
check "report failed twice per event before succeeding" $((2 * events)) "$failures"
check "report got every face and count (20 + 6 events)" 26 "$events"
retries=$(grep -c 'retry' "$work/broker.err" || true)
check "the broker retried each of them twice" $((2 * events)) "$retries"
# Each hop is a child span: the span id changes, the trace id stays.
traced=$(grep -c 'traceparent 00-4bf92f3577b34da6a3ce929d0e0e4736-[0-9a-f]\{16\}-01$' \
  "$work/proxy.err" || true)
check "every event report received is in the producer's trace" "$events" "$traced"

echo "$e2e_failures failed"
[ "$e2e_failures" -eq 0 ]
