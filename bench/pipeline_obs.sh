#!/usr/bin/env bash
# What tracing export costs the whole pipeline: bench/pipeline.sh with
# `serve --zipkin` to a local collector (obs_collector, which keeps and
# answers every POST like Zipkin) against the same run without an exporter,
# alternating (off/on, then on/off, ...) so that drifting load hits both
# alike. Metrics are always on in `khappy serve`: "off" means no span export,
# both sides pay the metrics (their cost per operation is bench_obs's).
#
#   bench/pipeline_obs.sh KHAPPY OBS_COLLECTOR [ROUNDS] [N] [THREADS]
#
# ROUNDS defaults to 4 (each one run of each side), N and THREADS as
# bench/pipeline.sh. Wall-clock pictures/s swings by tens of percent on a
# shared machine, so each run also measures the work done: the CPU time
# (user + sys, all threads, from /proc/PID/stat; user alone too) of the serve process from
# the moment it listens until it is told to stop, i.e. over the N pictures,
# and, where `perf stat -e instructions` works, the instructions retired in
# that window. KH_PERF_EVENT picks another perf event (e.g. task-clock, to
# try the perf path where hardware counters are not available).
# Prints each run's row, then per side the median and range of pictures/s,
# CPU ms per picture (and instructions per picture), the change of the
# medians, and the overhead (on - off) / off of each round's pair.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
usage="usage: pipeline_obs.sh KHAPPY OBS_COLLECTOR [ROUNDS] [N] [THREADS]"
khappy=$(realpath "${1:?$usage}")
collector_bin=$(realpath "${2:?$usage}")
rounds=${3:-4}
n=${4:-60}
threads=${5:-$(nproc)}
perf_event=${KH_PERF_EVENT:-instructions}

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

# Hardware counters are often missing in VMs ("<not supported>").
use_perf=0
if command -v perf >/dev/null &&
   perf stat -x, -e "$perf_event" true 2>&1 | grep -Eq "^[0-9.]+,[^,]*,$perf_event"; then
  use_perf=1
fi

# pipeline.sh starts "$khappy serve ..." and stops it with SIGTERM once every
# picture is done; this stand-in runs the real khappy under it and samples
# the CPU ticks (and perf counts) between "listening" and that SIGTERM.
# The samples go to $KH_OBS_SAMPLE: "START END [EVENTS]", START and END as
# USER_TICKS,SYS_TICKS.
cat >"$work/khappy" <<'EOF'
#!/usr/bin/env bash
"$KH_OBS_KHAPPY" "$@" &
pid=$!
perf_pid=""
ticks() { awk '{ print $14 "," $15 }' "/proc/$pid/stat"; }  # user,sys; comm has no spaces
stop() {
  end=$(ticks 2>/dev/null || echo -)
  if [ -n "$perf_pid" ]; then
    kill -INT "$perf_pid" 2>/dev/null || true
    wait "$perf_pid" 2>/dev/null || true
    events=$(awk -F, -v e="$KH_OBS_PERF_EVENT" '$3 == e { print $1 }' "$KH_OBS_SAMPLE.perf")
    echo "$start $end ${events:-?}" >"$KH_OBS_SAMPLE"
  else
    echo "$start $end" >"$KH_OBS_SAMPLE"
  fi
  kill -TERM "$pid" 2>/dev/null || true
}
start=-
trap stop TERM INT
out=$(readlink "/proc/$$/fd/1")
until grep -q 'http://' "$out" 2>/dev/null; do
  kill -0 "$pid" 2>/dev/null || break
  sleep 0.01
done
start=$(ticks 2>/dev/null || echo -)
if [ "$KH_OBS_USE_PERF" = 1 ]; then
  perf stat -x, -e "$KH_OBS_PERF_EVENT" -p "$pid" -o "$KH_OBS_SAMPLE.perf" &
  perf_pid=$!
fi
while :; do
  wait "$pid"; rc=$?
  kill -0 "$pid" 2>/dev/null || break  # wait returned early for the trap
done
exit "$rc"
EOF
chmod +x "$work/khappy"
export KH_OBS_KHAPPY=$khappy KH_OBS_PERF_EVENT=$perf_event KH_OBS_USE_PERF=$use_perf
clk_tck=$(getconf CLK_TCK)

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

off=() on=() off_cpu=() on_cpu=() off_user=() on_user=() off_ev=() on_ev=()
run() { # off|on: appends pictures/s, CPU and user ms/picture, events/picture to that side
  local side=$1 args="" row sample start end events pps cpu user ev
  [ "$side" = on ] && args=$zipkin
  sample=$work/sample.$side
  rm -f "$sample" "$sample.perf"
  row=$(KH_OBS_SAMPLE=$sample SERVE_ARGS="$args" \
        bash "$root/bench/pipeline.sh" "$work/khappy" "$n" "$threads" 2>/dev/null)
  pps=$(sed -E 's/.*\*\*([0-9.]+)\*\*.*/\1/' <<<"$row")
  read -r start end events <"$sample" || { echo "no CPU sample for $side" >&2; exit 1; }
  [ "$start" != - ] && [ "$end" != - ] || { echo "serve exited early ($side)" >&2; exit 1; }
  read -r cpu user < <(awk -v a="$start" -v b="$end" -v t="$clk_tck" -v n="$n" 'BEGIN {
    split(a, s, ","); split(b, e, ",")
    printf "%.2f %.2f\n", (e[1] + e[2] - s[1] - s[2]) / t * 1000 / n, (e[1] - s[1]) / t * 1000 / n }')
  ev="-"
  if [ "$use_perf" = 1 ] && [[ ${events:-} =~ ^[0-9.]+$ ]]; then
    ev=$(awk -v e="$events" -v n="$n" 'BEGIN { printf "%.0f", e / n }')
  fi
  echo "$side: $row CPU $cpu ms/picture (user $user), $perf_event/picture $ev" >&2
  if [ "$side" = on ]; then on+=("$pps") on_cpu+=("$cpu") on_user+=("$user") on_ev+=("$ev")
  else off+=("$pps") off_cpu+=("$cpu") off_user+=("$user") off_ev+=("$ev"); fi
}
for r in $(seq 1 "$rounds"); do
  if [ $((r % 2)) -eq 1 ]; then run off; run on; else run on; run off; fi
done
kill -TERM "$collector_pid"
wait "$collector_pid" || true
collector_pid=""

stats() { # VALUES...: "median min max"
  printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END {
    m = NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2
    printf "%.2f %.2f %.2f\n", m, v[1], v[NR] }'
}
side() { # LABEL UNIT VALUES...: one summary line
  local label=$1 unit=$2; shift 2
  read -r m lo hi <<<"$(stats "$@")"
  echo "$label: $* $unit: median $m ($lo to $hi)"
}
change() { # LABEL OFF_VALUES ON_VALUES (space-separated): change of medians, spread
  read -r a lo hi <<<"$(stats $2)"
  read -r b _ _ <<<"$(stats $3)"
  awk -v l="$1" -v a="$a" -v b="$b" -v lo="$lo" -v hi="$hi" 'BEGIN {
    printf "%s: change of the medians %+.1f%%; spread of the off runs %.0f%% of their median\n",
      l, (b - a) / a * 100, (hi - lo) / a * 100 }'
}
paired() { # LABEL OFF_VALUES ON_VALUES: per-round (on - off) / off, median and range
  local -a a=($2) b=($3) d=()
  local i
  for i in "${!a[@]}"; do
    d+=("$(awk -v x="${a[$i]}" -v y="${b[$i]}" 'BEGIN { printf "%+.1f", (y - x) / x * 100 }')")
  done
  read -r m lo hi <<<"$(stats "${d[@]}")"
  echo "$1 overhead per round (on - off) / off: ${d[*]} %: median ${m}% ($lo to $hi)"
}
side "tracing off" "pictures/s" "${off[@]}"
side "tracing on " "pictures/s" "${on[@]}"
change "pictures/s" "${off[*]}" "${on[*]}"
side "tracing off" "CPU ms/picture" "${off_cpu[@]}"
side "tracing on " "CPU ms/picture" "${on_cpu[@]}"
change "CPU ms/picture" "${off_cpu[*]}" "${on_cpu[*]}"
paired "CPU" "${off_cpu[*]}" "${on_cpu[*]}"
side "tracing off" "user ms/picture" "${off_user[@]}"
side "tracing on " "user ms/picture" "${on_user[@]}"
change "user ms/picture" "${off_user[*]}" "${on_user[*]}"
paired "user" "${off_user[*]}" "${on_user[*]}"
if [ "$use_perf" = 1 ] && [[ ! " ${off_ev[*]} ${on_ev[*]} " =~ " - " ]]; then
  side "tracing off" "$perf_event/picture" "${off_ev[@]}"
  side "tracing on " "$perf_event/picture" "${on_ev[@]}"
  change "$perf_event/picture" "${off_ev[*]}" "${on_ev[*]}"
  paired "$perf_event" "${off_ev[*]}" "${on_ev[*]}"
else
  echo "$perf_event: not counted (perf stat -e $perf_event does not work on this machine)"
fi
echo "collector: $(cat "$work/collector.err")"
