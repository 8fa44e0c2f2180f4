#!/usr/bin/env bash
# `khappy service NAME` as a Knative service: refuses bad configuration,
# answers /healthz and /metrics, replies with the next event (K_CE_OVERRIDES
# applied, in the event's trace), and gives the right status to malformed events,
# unknown modes, oversize bodies, events of other types and other methods;
# exits 0 on SIGTERM.
#
#   service_cli.sh KHAPPY SOURCE_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: service_cli.sh KHAPPY SOURCE_DIR" >&2; exit 2; }
khappy=$1 src=$2
picture=$src/models/demo/sample2.jpg
[ -s "$picture" ] || { echo "skipped: $picture is missing (make models)"; exit 77; }

work=$(mktemp -d /tmp/khappy-service-cli-XXXXXX)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

failures=0
check() { # what expected actual
  if [ "$2" = "$3" ]; then
    echo "ok   $1"
  else
    echo "FAIL $1: expected $2, got $3"
    failures=$((failures + 1))
  fi
}

# ---- configuration refused up front (exit 2) ----------------------------
status() { local rc=0; "$@" >/dev/null 2>&1 || rc=$?; echo $rc; }
check "no service named" 2 "$(status "$khappy" service)"
check "unknown service" 2 "$(status "$khappy" service painter)"
check "face-detector without a sink" 2 \
  "$(env -u K_SINK "$khappy" service face-detector --port 0 --data "$work/x" >/dev/null 2>&1; echo $?)"
check "bad K_CE_OVERRIDES" 2 \
  "$(K_CE_OVERRIDES='{"extensions":{"id":"x"}}' "$khappy" service face-extractor --port 0 --data "$work/x" >/dev/null 2>&1; echo $?)"
check "unknown detector" 2 "$(status "$khappy" service face-detector --detector magic --sink http://127.0.0.1:1/)"

# ---- a running face-extractor --------------------------------------------
data=$work/data
mkdir -p "$data/blobs/pictures"
cp "$picture" "$data/blobs/pictures/s2.jpg"
K_CE_OVERRIDES='{"extensions":{"cluster":"test-1"}}' \
  "$khappy" service face-extractor --port 0 --bind 127.0.0.1 --data "$data" \
  --max-body 65536 >"$work/out" 2>"$work/err" &
pids+=($!)
url=""
for _ in $(seq 1 100); do
  url=$(grep -o 'http://[^ ]*' "$work/out" 2>/dev/null | head -n 1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "face-extractor did not start"; cat "$work/err"; exit 1; }

code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
check "GET /healthz" 200 "$(code "${url}healthz")"
check "GET / (not POST)" 405 "$(code "$url")"

face='{"picture":{"id":"s2","key":"pictures/s2.jpg"},"faces":1,"face":{"index":0,"box":[1403.47,173.4,276.62,263.77],"score":0.85,"detector":"tinyface"}}'
ce=(-H 'ce-specversion: 1.0' -H 'ce-id: s2.tinyface.face.0' -H 'ce-source: /test'
    -H 'ce-type: dev.khappy.face.detected' -H 'ce-element: face'
    -H 'ce-traceparent: 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01')
headers=$(curl -s -D - -o "$work/reply" "${ce[@]}" -H 'Content-Type: application/json' -d "$face" "$url")
check "face event answered 200" 200 "$(echo "$headers" | head -n 1 | awk '{print $2}')"
hdr() { echo "$headers" | tr -d '\r' | awk -v n="$1" 'tolower($1) == tolower(n) ":" {print $2}'; }
check "reply type" dev.khappy.face.cropped "$(hdr ce-type)"
check "reply id" s2.tinyface.face.0.cropped "$(hdr ce-id)"
check "K_CE_OVERRIDES on the reply" test-1 "$(hdr ce-cluster)"
# The reply is in the same trace, under the service's span.
trace=$(hdr ce-traceparent)
check "reply in the event's trace" 00-0af7651916cd43dd8448eb211c80319c "${trace%-*-*}"
check "reply under a new span" yes "$([ "${trace#*-*-}" != b7ad6b7169203331-01 ] && echo yes || echo no)"
# Into a file first: with pipefail, grep -q leaving early would make curl
# fail with SIGPIPE and the check flaky.
curl -s -o "$work/metrics" "${url}metrics"
check "GET /metrics counts the event" yes \
  "$(grep -q '^khappy_events_received_total{type="dev.khappy.face.detected"' "$work/metrics" && echo yes || echo no)"
crop_key=$(jq -r .crop.key "$work/reply")
check "crop stored as PNG" "PNG" "$(head -c 4 "$data/blobs/$crop_key" 2>/dev/null | tail -c 3)"

check "malformed structured event" 400 \
  "$(code -H 'Content-Type: application/cloudevents+json' -d '{"specversion":' "$url")"
check "event without required attributes" 400 \
  "$(code -H 'ce-specversion: 1.0' -H 'Content-Type: application/json' -d '{}' "$url")"
check "not a CloudEvent (unknown mode)" 415 \
  "$(code -H 'Content-Type: text/plain' -d 'hello' "$url")"
check "unknown event format" 415 \
  "$(code -H 'Content-Type: application/cloudevents+xml' -d '<e/>' "$url")"
head -c 100000 /dev/zero >"$work/big"
check "oversize body" 413 \
  "$(code "${ce[@]}" -H 'Content-Type: application/octet-stream' --data-binary @"$work/big" "$url")"
check "event of another type" 400 \
  "$(code -H 'ce-specversion: 1.0' -H 'ce-id: 1' -H 'ce-source: /t' -H 'ce-type: com.example.x' -H 'Content-Type: application/json' -d '{}' "$url")"
check "face event without element=face" 400 \
  "$(code -H 'ce-specversion: 1.0' -H 'ce-id: 2' -H 'ce-source: /t' -H 'ce-type: dev.khappy.face.detected' -H 'Content-Type: application/json' -d "$face" "$url")"
# A key outside the data folder: the picture is failed, not read.
headers=$(curl -s -D - -o "$work/reply" -H 'ce-specversion: 1.0' -H 'ce-id: 3' -H 'ce-source: /t' \
  -H 'ce-type: dev.khappy.face.detected' -H 'ce-element: face' -H 'Content-Type: application/json' \
  -d '{"picture":{"id":"evil","key":"../../../etc/passwd"},"face":{"index":0,"box":[0,0,9,9],"score":1,"detector":"tinyface"}}' "$url")
check "key outside the data folder: reply" dev.khappy.picture.failed "$(hdr ce-type)"

kill -TERM "${pids[0]}"
rc=0
wait "${pids[0]}" || rc=$?
pids=()
check "SIGTERM exits 0" 0 "$rc"

# ---- report writes what it is told, once ---------------------------------
"$khappy" service report --port 0 --bind 127.0.0.1 --data "$data" >"$work/out2" 2>"$work/err2" &
pids+=($!)
url=""
for _ in $(seq 1 100); do
  url=$(grep -o 'http://[^ ]*' "$work/out2" 2>/dev/null | head -n 1 || true)
  [ -n "$url" ] && break
  sleep 0.1
done
[ -n "$url" ] || { echo "report did not start"; cat "$work/err2"; exit 1; }
detected=(-H 'ce-specversion: 1.0' -H 'ce-id: r1.tinyface.detected' -H 'ce-source: /test'
          -H 'ce-type: dev.khappy.picture.detected' -H 'Content-Type: application/json'
          -d '{"picture":{"id":"r1","name":"r1.jpg"},"faces":0,"detector":"tinyface"}')
check "report accepts picture.detected" 202 "$(code "${detected[@]}" "$url")"
check "report accepts it again" 202 "$(code "${detected[@]}" "$url")"

echo "$failures failed"
[ "$failures" -eq 0 ]
