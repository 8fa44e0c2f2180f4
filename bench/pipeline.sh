#!/usr/bin/env bash
# Pictures per second through the whole pipeline: `khappy serve` on a fresh
# data folder, N uploads (face-api's six demo pictures in turn, 8 at a time),
# then wait until every picture is done; the clock runs from the first upload
# to the last picture done.
#
#   bench/pipeline.sh [PATH/TO/khappy] [N] [THREADS]
#
# N defaults to 60, THREADS (model instances per model, `serve --threads`)
# to the number of CPUs. SERVE_ARGS adds options (e.g. "--sync normal").
# Prints one Markdown table row (for docs/PERFORMANCE.md) and the details.
# Needs models/ (`make models`), curl and jq.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
khappy=$(realpath "${1:-$root/build/khappy}")
n=${2:-60}
threads=${3:-$(nproc)}
demo=$root/models/demo
[ -x "$khappy" ] || { echo "bench/pipeline.sh: $khappy is not built" >&2; exit 2; }
for f in tinyface.onnx expression.onnx demo/sample1.jpg demo/sample6.jpg; do
  [ -s "$root/models/$f" ] || { echo "bench/pipeline.sh: models/$f missing (make models)" >&2; exit 2; }
done

work=$(mktemp -d /tmp/khappy-bench-pipeline-XXXXXX)
serve_pid=""
cleanup() {
  if [ -n "$serve_pid" ]; then
    kill -TERM "$serve_pid" 2>/dev/null || true
    wait "$serve_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# shellcheck disable=SC2086
"$khappy" serve --port 0 --data "$work/data" --models "$root/models" \
  --triggers "$root/triggers" --threads "$threads" --log-level warn ${SERVE_ARGS:-} \
  >"$work/serve.out" 2>"$work/serve.err" &
serve_pid=$!
url=""
for _ in $(seq 1 300); do
  url=$(grep -o 'http://[^ ]*' "$work/serve.out" 2>/dev/null | head -n 1 || true)
  [ -n "$url" ] && break
  kill -0 "$serve_pid" 2>/dev/null || { cat "$work/serve.err" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "khappy serve did not start" >&2; exit 1; }

now() { date +%s.%N; }
start=$(now)
uploading=()
for i in $(seq 1 "$n"); do
  sample=sample$(( (i - 1) % 6 + 1 )).jpg
  curl -sf -o /dev/null -X POST --data-binary @"$demo/$sample" \
    "${url}api/pictures?name=bench-$i.jpg" &
  uploading+=($!)
  if [ ${#uploading[@]} -eq 8 ]; then wait "${uploading[@]}"; uploading=(); fi
done
[ ${#uploading[@]} -eq 0 ] || wait "${uploading[@]}"
uploaded=$(now)
while :; do
  stats=$(curl -sf "${url}api/stats")
  finished=$(jq '.pictures.done + .pictures.failed' <<<"$stats")
  [ "$finished" -ge "$n" ] && break
  sleep 0.2
done
end=$(now)

faces=$(jq .faces.total <<<"$stats")
failed=$(jq .pictures.failed <<<"$stats")
calc() { awk "BEGIN { printf \"%.3f\", $1 }"; }
seconds=$(calc "$end - $start")
upload_s=$(calc "$uploaded - $start")
pps=$(calc "$n / $seconds")
fps=$(calc "$faces / $seconds")
load=$(cut -d' ' -f1-3 /proc/loadavg)
printf '| %d | %d | %s | %.1f | %.1f | **%.2f** | %.1f | %d | %s |\n' \
  "$n" "$threads" "${SERVE_ARGS:-default}" "$upload_s" "$seconds" "$pps" "$fps" \
  "$failed" "$load"
echo "($n pictures, $faces faces, $failed failed; uploads took ${upload_s%.*} s;" \
     "$(nproc) CPUs, load average $load)" >&2
