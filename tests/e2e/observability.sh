#!/usr/bin/env bash
# End to end, observability: `khappy serve --zipkin` exporting to a local
# collector (obs_collector: tests/obs/collector.h as a process, which checks
# every span against the Zipkin v2 rules), one demo picture uploaded inside a
# trace of ours (a `traceparent` header), then:
#
# 1. traces: every span of the picture is in our trace, the spans form one
#    connected tree (every parentId is a span of the tree) rooted at the
#    upload's SERVER span (child of our parent span), with the hops the
#    services name: face-detector (CONSUMER, picture.stored) with its
#    inference span naming the detector model; one face-extractor
#    (face.detected) per face, each with an emotion (face.cropped) whose
#    inference span names the classifier model; report spans (emotion.scored
#    per face, picture.detected once), each with the service's event tags and
#    localEndpoint.serviceName;
# 2. metrics: GET /metrics passes `promtool check metrics`, and the counters
#    moved by exactly this picture: events received and delivered per type,
#    faces detected by the detector = the picture's faces, the pipeline
#    latency histogram and pictures processed counted once;
# 3. a real Prometheus (tests/obs/prometheus-scrape.sh) scrapes /metrics and
#    sees the same event and face counters.
#
#   observability.sh KHAPPY OBS_COLLECTOR SOURCE_DIR
# Exit 77 (skipped) without the models or without promtool/prometheus.
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: observability.sh KHAPPY OBS_COLLECTOR SOURCE_DIR" >&2; exit 2; }
khappy=$1 obs_collector=$2 src=$3
here=$(cd "$(dirname "$0")" && pwd)
picture=$src/models/demo/sample1.jpg
for f in tinyface.onnx expression.onnx demo/sample1.jpg; do
  [ -s "$src/models/$f" ] || { echo "skipped: models/$f is missing (make models)"; exit 77; }
done
for tool in promtool prometheus curl jq; do
  command -v "$tool" >/dev/null || { echo "skipped: $tool not found (Debian: prometheus, curl, jq)"; exit 77; }
done
work=$(mktemp -d /tmp/khappy-e2e-obs-XXXXXX)
# shellcheck source=lib.sh
. "$here/lib.sh"
trap 'e2e_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

# Our trace: the upload is a child of span $caller_span.
trace_id=4bf92f3577b34da6a3ce929d0e0e4736
caller_span=00f067aa0ba902b7

start_listening collector "$obs_collector"
collector=$started_url
collector_pid=$started_pid
start_listening serve "$khappy" serve --port 0 --data "$work/data" \
  --models "$src/models" --triggers "$src/triggers" --threads 2 \
  --zipkin "${collector%/}"
serve=$started_url
serve_pid=$started_pid

# Sum of the samples of metric NAME whose labels contain every LABEL="v"
# given (0 when there is none).
metric() { # FILE NAME [LABEL=VALUE...]
  local file=$1 name=$2
  shift 2
  awk -v name="$name" -v want="$*" '
    BEGIN { n = split(want, w, " ") }
    {
      series = $1; metric = series; sub(/\{.*/, "", metric)
      if (metric != name) next
      for (i = 1; i <= n; i++) {
        split(w[i], kv, "=")
        if (index(series, kv[1] "=\"" kv[2] "\"") == 0) next
      }
      sum += $NF
    }
    END { printf "%d\n", sum }' "$file"
}

curl -sf "${serve}metrics" >"$work/before.prom" || { echo "FAIL GET /metrics"; exit 1; }

# ---- upload one picture inside our trace -----------------------------------
curl -sf -D "$work/upload.headers" -o "$work/upload.json" -X POST \
  -H "traceparent: 00-$trace_id-$caller_span-01" \
  -H 'Content-Type: application/octet-stream' \
  --data-binary @"$picture" "${serve}api/pictures?name=obs.jpg" ||
  { echo "FAIL upload: POST /api/pictures"; cat "$work/serve.err"; exit 1; }
id=$(jq -r .id "$work/upload.json")
traceresponse=$(tr -d '\r' <"$work/upload.headers" | awk -F': ' 'tolower($1) == "traceresponse" { print $2 }')
check "upload answers a traceresponse in our trace" "$trace_id" \
  "$(cut -d- -f2 <<<"$traceresponse")"
wait_all_processed "$serve" 1 300 >/dev/null
record=$(curl -sf "${serve}api/pictures/$id")
check "picture done" done "$(jq -r .status <<<"$record")"
faces=$(jq '.faces | length' <<<"$record")
detector=$(jq -r '.faces[0].detector // "tinyface"' <<<"$record")
echo "     picture $id: $faces faces (detector $detector)"
[ "$faces" -ge 1 ] || check "sample1.jpg has faces" ">= 1" "$faces"

# ---- 2. metrics ---------------------------------------------------------------
curl -sf "${serve}metrics" >"$work/after.prom" || { echo "FAIL GET /metrics"; exit 1; }
if promtool check metrics <"$work/after.prom" >"$work/promtool.txt" 2>&1; then
  echo "ok   promtool check metrics accepts /metrics"
else
  cat "$work/promtool.txt"
  check "promtool check metrics accepts /metrics" 0 1
fi
moved() { # NAME [LABEL=VALUE...]: after - before
  echo $(( $(metric "$work/after.prom" "$@") - $(metric "$work/before.prom" "$@") ))
}
stored=dev.khappy.picture.stored detected=dev.khappy.face.detected
cropped=dev.khappy.face.cropped scored=dev.khappy.emotion.scored
picture_detected=dev.khappy.picture.detected
# Events: picture.stored once; per face: face.detected (face-extractor),
# face.cropped (emotion), emotion.scored (report); picture.detected once
# (report).
check "events received: $stored" 1 "$(moved khappy_events_received_total type=$stored)"
for type in $detected $cropped $scored; do
  check "events received: $type" "$faces" "$(moved khappy_events_received_total type=$type)"
  check "events delivered: $type" "$faces" "$(moved khappy_events_delivered_total type=$type)"
done
check "events received: $picture_detected" 1 "$(moved khappy_events_received_total type=$picture_detected)"
check "events delivered: $stored" 1 "$(moved khappy_events_delivered_total type=$stored)"
check "events delivered: $picture_detected" 1 "$(moved khappy_events_delivered_total type=$picture_detected)"
check "faces detected by $detector" "$faces" "$(moved khappy_faces_detected_total detector="$detector")"
check "pipeline latency histogram count" 1 "$(moved khappy_pipeline_latency_seconds_count)"
check "pictures processed: done" 1 "$(moved khappy_pictures_processed_total status=done)"
check "inference histogram count: $detector" 1 "$(moved khappy_inference_duration_seconds_count model="$detector")"

# ---- 3. a real Prometheus ------------------------------------------------------
for name in khappy_events_received_total khappy_faces_detected_total; do
  if TIMEOUT=90 bash "$src/tests/obs/prometheus-scrape.sh" "${serve}metrics" "$name" \
       >"$work/scrape.txt" 2>&1; then
    sed 's/^/     prometheus: /' "$work/scrape.txt"
    # Every series' last scraped value is the one /metrics shows now.
    while read -r series values; do
      last=${values##* }
      labels=$(sed -E 's/^[^{]*\{(.*)\}$/\1/; s/"//g; s/,/ /g' <<<"$series")
      # shellcheck disable=SC2086
      check "prometheus sees $series" "$(metric "$work/after.prom" "$name" $labels)" "${last%.*}"
    done <"$work/scrape.txt"
  else
    cat "$work/scrape.txt"
    check "prometheus scrapes $name" 0 1
  fi
done

# ---- 1. the trace ---------------------------------------------------------------
# Stopping serve flushes every span to the collector.
stop_process "$serve_pid"
curl -sf "${collector}spans" >"$work/all-spans.json" ||
  { echo "FAIL the collector rejected a span:"; cat "$work/collector.err"; exit 1; }
jq --arg t "$trace_id" '[.[] | select(.traceId == $t)]' "$work/all-spans.json" >"$work/spans.json"
echo "     $(jq length "$work/all-spans.json") spans exported, $(jq length "$work/spans.json") in our trace:"
jq -r '. as $all |
  def show($p; $d): ($all | map(select(.parentId == $p)) | sort_by(.timestamp))[] |
    "     " + ("  " * $d) + "\(.service) \(.kind) \(.name)" +
    (if .tags.model then " (model=\(.tags.model))" else "" end), show(.id; $d + 1);
  show("'"$caller_span"'"; 0)' "$work/spans.json"

q() { jq -r "$@" "$work/spans.json"; }
check "spans of picture $id outside our trace" 0 \
  "$(jq --arg t "$trace_id" --arg id "$id" \
       '[.[] | select(.tags["khappy.picture_id"] == $id and .traceId != $t)] | length' \
       "$work/all-spans.json")"
check "span ids unique" "$(q length)" "$(q '[.[].id] | unique | length')"
check "one root: child of our caller span" 1 "$(q --arg p "$caller_span" '[.[] | select(.parentId == $p)] | length')"
check "every parentId is a span of the tree" "" \
  "$(q --arg p "$caller_span" '[.[].id] as $ids | [.[] | select(.parentId != $p and
       (.parentId as $x | $ids | index($x) | not)) | .name] | join(", ")')"
check "every span has a serviceName" 0 "$(q '[.[] | select(.service == "")] | length')"
check "no span marked error" "" "$(q '[.[] | select(.error) | .name] | join(", ")')"
check "root" "khappy SERVER POST /api/pictures" \
  "$(q --arg p "$caller_span" '.[] | select(.parentId == $p) | "\(.service) \(.kind) \(.name)"')"

# Children of the spans named $2 (by service, kind, name), one line each,
# sorted: "service kind name [model]".
children_of() { # SERVICE NAME
  q --arg s "$1" --arg n "$2" '. as $all | [.[] | select(.service == $s and .name == $n) | .id] as $ps |
    [$all[] | select(.parentId as $x | $ps | index($x))] |
    map("\(.service) \(.kind) \(.name)" + (if .tags.model then " \(.tags.model)" else "" end)) |
    sort | .[]'
}
root_name="POST /api/pictures"
check "ingestion -> face-detector" "face-detector CONSUMER face-detector $stored" \
  "$(children_of khappy "$root_name")"
expected="face-detector INTERNAL inference $detector"
for _ in $(seq "$faces"); do expected+=$'\n'"face-extractor CONSUMER face-extractor $detected"; done
expected+=$'\n'"report CONSUMER report $picture_detected"
check "face-detector -> inference ($detector), face-extractor x$faces, report" \
  "$(sort <<<"$expected")" "$(children_of face-detector "face-detector $stored")"
classifier=$(q '[.[] | select(.service == "emotion" and .name == "inference") | .tags.model] | unique | join(",")')
[ -n "$classifier" ] || classifier="(none)"
check "face-extractor -> emotion, each" "$(printf "emotion CONSUMER emotion $cropped\n%.0s" $(seq "$faces") | sed '/^$/d')" \
  "$(children_of face-extractor "face-extractor $detected")"
check "emotion -> inference ($classifier) and report, each" \
  "$(for _ in $(seq "$faces"); do echo "emotion INTERNAL inference $classifier"; echo "report CONSUMER report $scored"; done | sort)" \
  "$(children_of emotion "emotion $cropped")"
check "spans in the trace (ingest, detector + inference, report, 4 per face)" $((4 + 4 * faces)) "$(q length)"
check "event spans tagged with the picture id" 0 \
  "$(q --arg id "$id" '[.[] | select(.kind == "CONSUMER" and .tags["khappy.picture_id"] != $id)] | length')"
check "event spans tagged with event id, type, source" 0 \
  "$(q '[.[] | select(.kind == "CONSUMER" and (.tags["cloudevents.event_id"] == null or
       .tags["cloudevents.event_type"] == null or .tags["cloudevents.event_source"] == null))] | length')"
stop_process "$collector_pid"

if [ "$e2e_failures" -ne 0 ]; then
  echo "observability: $e2e_failures check(s) failed (logs: serve.err, collector.err)"
  tail -n 20 "$work/serve.err" "$work/collector.err" 2>/dev/null || true
  exit 1
fi
echo "observability: all checks passed"
