#!/usr/bin/env bash
# prometheus-scrape.sh URL [METRIC] - shows that a /metrics endpoint is
# scraped by a real Prometheus and that a counter moves.
#
# Starts a throwaway Prometheus server (temporary directory, a free port on
# 127.0.0.1, a config scraping URL every second), waits for at least two
# successful scrapes, then asks the HTTP API for METRIC (default
# khappy_events_received_total) over the last minute and prints one line per
# series:
#   METRIC{labels} v1 v2 ... (one value per scrape, oldest first)
# Exits 0 when the metric was scraped, 1 otherwise; everything it started is
# stopped and removed on exit. Needs prometheus, curl and jq.
#   SCRAPES=N   wait for N scrapes instead of 2
#   TIMEOUT=S   give up after S seconds (default 60)
set -euo pipefail

url=${1:?usage: prometheus-scrape.sh URL [METRIC]}
metric=${2:-khappy_events_received_total}
scrapes=${SCRAPES:-2}
timeout=${TIMEOUT:-60}

for tool in prometheus curl jq; do
  command -v "$tool" >/dev/null || { echo "prometheus-scrape: $tool not found" >&2; exit 1; }
done

# URL -> scheme, host:port, path.
if [[ ! $url =~ ^(https?)://([^/]+)(/.*)?$ ]]; then
  echo "prometheus-scrape: '$url' is not an http(s) URL" >&2
  exit 1
fi
scheme=${BASH_REMATCH[1]}
target=${BASH_REMATCH[2]}
path=${BASH_REMATCH[3]:-/metrics}

work=$(mktemp -d "${TMPDIR:-/tmp}/khappy-prometheus.XXXXXX")
prometheus_pid=""
cleanup() {
  if [[ -n $prometheus_pid ]]; then
    kill "$prometheus_pid" 2>/dev/null || true
    wait "$prometheus_pid" 2>/dev/null || true
  fi
  rm -rf "$work"
}
trap cleanup EXIT

# A free port: one nothing answers on (a race with other programs is
# possible but harmless here: Prometheus would fail to start and we retry).
free_port() {
  local port
  for _ in $(seq 50); do
    port=$(( (RANDOM % 20000) + 30000 ))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

cat >"$work/prometheus.yml" <<YAML
global:
  scrape_interval: 1s
  scrape_timeout: 1s
  evaluation_interval: 1s
scrape_configs:
  - job_name: khappy
    scheme: $scheme
    metrics_path: "$path"
    static_configs:
      - targets: ["$target"]
YAML

api=""
for attempt in 1 2 3; do
  port=$(free_port) || { echo "prometheus-scrape: no free port" >&2; exit 1; }
  prometheus --config.file="$work/prometheus.yml" \
    --storage.tsdb.path="$work/data" \
    --web.listen-address="127.0.0.1:$port" \
    --log.level=warn >"$work/prometheus.log" 2>&1 &
  prometheus_pid=$!
  api="http://127.0.0.1:$port"
  for _ in $(seq 100); do
    if curl -sf "$api/-/ready" >/dev/null 2>&1; then
      break 2
    fi
    if ! kill -0 "$prometheus_pid" 2>/dev/null; then
      break
    fi
    sleep 0.2
  done
  kill "$prometheus_pid" 2>/dev/null || true
  wait "$prometheus_pid" 2>/dev/null || true
  prometheus_pid=""
  if [[ $attempt == 3 ]]; then
    echo "prometheus-scrape: Prometheus did not start:" >&2
    cat "$work/prometheus.log" >&2
    exit 1
  fi
done

query() {
  curl -sf --get "$api/api/v1/query" --data-urlencode "query=$1"
}

# Wait for `scrapes` successful scrapes of the target.
deadline=$(( SECONDS + timeout ))
while :; do
  count=$(query "sum_over_time(up{job=\"khappy\"}[5m])" |
          jq -r '.data.result[0].value[1] // "0"')
  if [[ ${count%.*} -ge $scrapes ]]; then
    break
  fi
  if (( SECONDS >= deadline )); then
    echo "prometheus-scrape: fewer than $scrapes successful scrapes of $url" \
         "after ${timeout}s (up: $count)" >&2
    query "up{job=\"khappy\"}" >&2 || true
    exit 1
  fi
  sleep 0.5
done

result=$(query "${metric}[1m]")
lines=$(jq -r --arg name "$metric" '
  .data.result[] |
  ((.metric | del(.__name__, .job, .instance) | to_entries |
    map("\(.key)=\(.value | @json)") | join(",")) as $labels |
   "\($name){\($labels)} " + ([.values[][1]] | join(" ")))' <<<"$result")
if [[ -z $lines ]]; then
  echo "prometheus-scrape: $metric not found in $url" >&2
  exit 1
fi
echo "$lines"
