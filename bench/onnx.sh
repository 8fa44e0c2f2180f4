#!/usr/bin/env bash
# onnx.sh - khappy's ONNX engine against ONNX Runtime on the face networks.
#
#   bash bench/onnx.sh [KHAPPY_BINARY]        (default: build/khappy)
#   ROUNDS=5 RUNS=50 bash bench/onnx.sh
#
# For the tiny face detector at 416x416 and the expression net (112x112), at
# 1 and 2 threads, runs `khappy onnx run` and ONNX Runtime's ort.js
# alternately for ROUNDS rounds (the machine is shared and noisy: interleaving
# spreads the noise over both), each timing RUNS runs after a warm-up run.
# Both print one JSON line with median_ms; this script reports, per case, the
# median over rounds of each tool's median and min, and the ratio
# khappy / ORT (target: <= 1.5). Then the peak memory (max RSS) of one
# `khappy onnx run` of the detector (target: < 30 MB).
# Run from the repository root. Needs node (the reference tools) and models/.
set -euo pipefail

KHAPPY=${1:-build/khappy}
ROUNDS=${ROUNDS:-5}
RUNS=${RUNS:-50}
MODELS=${MODELS:-models}

die() { echo "onnx.sh: $*" >&2; exit 1; }
[ -x "$KHAPPY" ] || die "no khappy binary at $KHAPPY (build it first)"
for m in tinyface expression; do
  [ -f "$MODELS/$m.onnx" ] || die "missing $MODELS/$m.onnx (make models)"
done
command -v node >/dev/null || die "node is needed for ONNX Runtime (ort.js)"
REF=$(bash ../shared/tools/reference/install.sh) || die "reference tools did not install"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# Inputs with ort.js's own pseudo-random generator (values 0..255), written
# as TensorProto files: the detector's input size is symbolic, so both tools
# get the same explicit 1x3x416x416 tensor.
(cd "$REF" && node -e '
const pb = require("./tensorpb");
function gen(dims) {
  const n = dims.reduce((a, b) => a * b, 1), d = new Float32Array(n);
  let s = 12345;
  for (let k = 0; k < n; k++) { s = (s * 1103515245 + 12345) & 0x7fffffff; d[k] = s % 256; }
  return d;
}
pb.write(process.argv[1] + "/tiny416.pb", "image", [1, 3, 416, 416], gen([1, 3, 416, 416]));
pb.write(process.argv[1] + "/expr112.pb", "image", [1, 3, 112, 112], gen([1, 3, 112, 112]));
' "$work")

# "median min" from a tool's JSON line.
field() { sed -n 's/.*"median_ms":\([0-9.e+-]*\),"min_ms":\([0-9.e+-]*\).*/\1 \2/p'; }
# Median of numbers on stdin.
median() { sort -g | awk '{v[NR] = $1} END {if (NR) print v[int((NR + 1) / 2)]; else print "nan"}'; }

echo "# khappy: $KHAPPY   ORT: $(cd "$REF" && node -e 'console.log(require("onnxruntime-node/package.json").version)')"
echo "# CPU: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "# rounds: $ROUNDS, runs per round: $RUNS (medians of per-round medians / mins, ms)"
printf '%-12s %7s %12s %12s %12s %12s %7s\n' model threads khappy_med ort_med khappy_min ort_min ratio

for model in tinyface expression; do
  input=$work/tiny416.pb
  [ "$model" = expression ] && input=$work/expr112.pb
  for threads in 1 2; do
    : > "$work/k" ; : > "$work/o"
    for _ in $(seq "$ROUNDS"); do
      "$KHAPPY" onnx run "$MODELS/$model.onnx" --threads "$threads" --runs "$RUNS" "$input" | field >> "$work/k"
      node "$REF/ort.js" "$MODELS/$model.onnx" --threads "$threads" --runs "$RUNS" "$input" | field >> "$work/o"
    done
    km=$(cut -d' ' -f1 "$work/k" | median); om=$(cut -d' ' -f1 "$work/o" | median)
    kn=$(cut -d' ' -f2 "$work/k" | median); on=$(cut -d' ' -f2 "$work/o" | median)
    ratio=$(awk -v k="$km" -v o="$om" 'BEGIN {printf "%.2f", k / o}')
    printf '%-12s %7s %12.3f %12.3f %12.3f %12.3f %7s\n' "$model" "$threads" "$km" "$om" "$kn" "$on" "$ratio"
  done
done

rss=$(/usr/bin/time -v "$KHAPPY" onnx run "$MODELS/tinyface.onnx" "$work/tiny416.pb" 2>&1 >/dev/null |
  sed -n 's/.*Maximum resident set size (kbytes): \([0-9]*\).*/\1/p')
awk -v kb="$rss" 'BEGIN {printf "peak memory, khappy onnx run tinyface.onnx 416x416: %.1f MB (max RSS, target < 30 MB)\n", kb / 1024}'
