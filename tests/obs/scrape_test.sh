#!/usr/bin/env bash
# A real Prometheus scrapes a kh_metrics endpoint (metrics_sample --serve)
# through prometheus-scrape.sh, and the counter the sample moves is seen
# moving between scrapes.
#   scrape_test.sh METRICS_SAMPLE_BINARY
set -euo pipefail
sample=${1:?usage: scrape_test.sh METRICS_SAMPLE_BINARY}
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d "${TMPDIR:-/tmp}/khappy-scrape-test.XXXXXX")
sample_pid=""
cleanup() {
  if [[ -n $sample_pid ]]; then
    kill "$sample_pid" 2>/dev/null || true
    wait "$sample_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

"$sample" --serve 120 >"$work/sample.out" &
sample_pid=$!
for _ in $(seq 100); do
  grep -q '^port ' "$work/sample.out" 2>/dev/null && break
  sleep 0.1
done
port=$(awk '/^port /{print $2}' "$work/sample.out")
[[ -n $port ]] || { echo "FAIL: metrics_sample printed no port" >&2; exit 1; }

SCRAPES=3 bash "$here/prometheus-scrape.sh" "http://127.0.0.1:$port/metrics" \
  khappy_events_received_total | tee "$work/scraped"

line=$(grep 'type="dev.khappy.picture.stored"' "$work/scraped" || true)
[[ -n $line ]] || { echo "FAIL: no picture.stored series scraped" >&2; exit 1; }
read -r -a values <<<"${line#* }"
if (( ${#values[@]} < 2 )); then
  echo "FAIL: expected at least 2 scraped values, got: ${values[*]}" >&2
  exit 1
fi
first=${values[0]}
last=${values[${#values[@]}-1]}
if (( ${last%.*} <= ${first%.*} )); then
  echo "FAIL: counter did not move between scrapes: first $first, last $last" >&2
  exit 1
fi
# A series that never changes stays put.
grep -q 'type="dev.khappy.face.cropped"} 12 12' "$work/scraped" ||
  { echo "FAIL: expected the face.cropped series at 12 in every scrape" >&2; exit 1; }
echo "OK: counter moved from $first to $last across ${#values[@]} scrapes"
