#!/usr/bin/env bash
# Times `khappy analyze` on face-api's six demo pictures against face-api
# itself, and the pico detector on sample1.jpg.
#
#   bench/analyze.sh [PATH/TO/khappy] [RUNS]
#
# - khappy: `analyze --detector tinyface --size 416 --threshold 0.5 --json
#   --threads 1`, RUNS times; per picture the median of `ms` (wall time from
#   reading the file to its results: decoding, detection, expressions) and
#   of `cpu_ms` (the same span in CPU time of the analysing thread, which a
#   busy machine inflates far less).
# - face-api: `faceapi.js detect --size 416 --threshold 0.5` (the reference
#   tools, TensorFlow.js WASM backend), RUNS times (at most 3: it is slow);
#   per picture the median of its `ms` (detection plus expressions, the
#   picture already decoded, which favours face-api).
# - pico: `analyze --detector pico --no-emotions`, median `detect_ms` of
#   sample1.jpg (decoding excluded), and the found/false counts against the
#   hand-checked faces at the default minimum size and at 20 px.
# Needs models/ (`make models`) and node; face-api's part needs the reference
# tools (../shared/tools/reference/install.sh) and is skipped without them.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
khappy=$(realpath "${1:-$root/build/khappy}")
runs=${2:-5}
models=$root/models
demo=$models/demo
ref=${KHAPPY_REF_DIR:-$HOME/.cache/khappy-reference}/faceapi.js
pictures=(sample1.jpg sample2.jpg sample3.jpg sample4.jpg sample5.jpg sample6.jpg)

[ -x "$khappy" ] || { echo "bench/analyze.sh: $khappy is not built" >&2; exit 2; }
for f in tinyface.onnx expression.onnx facefinder demo/sample1.jpg; do
  [ -s "$models/$f" ] || { echo "bench/analyze.sh: $models/$f missing (make models)" >&2; exit 2; }
done
command -v node >/dev/null || { echo "bench/analyze.sh: node is needed to read the JSON" >&2; exit 2; }

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$demo"

face_api_runs=$(( runs < 3 ? runs : 3 ))
[ -f "$ref" ] || { echo "== face-api: $ref not installed, skipped"; face_api_runs=0; }
: > "$work/faceapi.jsonl"
# Interleaved, so that both see the same load on a shared machine.
echo "== khappy analyze (tinyface + expression, 1 thread) $runs runs, face-api $face_api_runs runs"
for ((i = 0; i < runs; i++)); do
  "$khappy" analyze --models "$models" --detector tinyface --size 416 --threshold 0.5 \
    --json --threads 1 "${pictures[@]}" >> "$work/khappy.jsonl"
  if ((i < face_api_runs)); then
    node "$ref" detect --size 416 --threshold 0.5 "${pictures[@]}" >> "$work/faceapi.jsonl" 2>/dev/null
  fi
done

echo "== pico (defaults, then --min-size 20), $runs runs"
for ((i = 0; i < runs; i++)); do
  "$khappy" analyze --models "$models" --detector pico --no-emotions --json \
    "${pictures[@]}" >> "$work/pico.jsonl"
done
head -n 6 "$work/pico.jsonl" > "$work/pico-once.jsonl"
for ((i = 0; i < runs; i++)); do
  "$khappy" analyze --models "$models" --detector pico --no-emotions --min-size 20 --json \
    "${pictures[@]}" >> "$work/pico20.jsonl"
done
head -n 6 "$work/pico20.jsonl" > "$work/pico20-once.jsonl"

node - "$work" <<'EOF'
const fs = require('fs'), path = require('path');
const [work] = process.argv.slice(2);
const lines = (f) => fs.readFileSync(path.join(work, f), 'utf8').split('\n').filter(Boolean).map(JSON.parse);
const median = (a) => { const s = [...a].sort((x, y) => x - y); return s.length ? s[Math.floor(s.length / 2)] : NaN; };
const base = (f) => path.basename(f);
const byPicture = (rows, key) => { const m = {}; for (const r of rows) (m[base(r.file)] ||= []).push(r[key]); return m; };

const kh = byPicture(lines('khappy.jsonl'), 'ms');
const khCpu = byPicture(lines('khappy.jsonl'), 'cpu_ms');
const fa = byPicture(lines('faceapi.jsonl'), 'ms');
let khSum = 0, khCpuSum = 0, faSum = 0;
console.log('\nmedians       khappy wall ms  khappy CPU ms   face-api wall ms   speed-up (wall)');
console.log('              (decode incl.)  (decode incl.)  (decode excl.)');
for (const p of Object.keys(kh)) {
  const k = median(kh[p]), c = median(khCpu[p]), f = fa[p] ? median(fa[p]) : NaN;
  khSum += k; khCpuSum += c; faSum += f;
  console.log(`${p.padEnd(14)}${k.toFixed(1).padStart(14)}${c.toFixed(1).padStart(16)}${f.toFixed(1).padStart(19)}${(f / k).toFixed(1).padStart(17)}x`);
}
console.log(`${'all six'.padEnd(14)}${khSum.toFixed(1).padStart(14)}${khCpuSum.toFixed(1).padStart(16)}${faSum.toFixed(1).padStart(19)}${(faSum / khSum).toFixed(1).padStart(17)}x`);

function picoLine(label, file) {
  const rows = lines(file), wall = byPicture(rows, 'detect_ms'), cpu = byPicture(rows, 'detect_cpu_ms');
  const all = (m) => Object.values(m).map(median).reduce((a, b) => a + b, 0).toFixed(1);
  console.log(`${label}: sample1.jpg detection ${median(wall['sample1.jpg']).toFixed(1)} ms wall, ` +
    `${median(cpu['sample1.jpg']).toFixed(1)} ms CPU (decode excluded); all six ${all(wall)} ms wall, ${all(cpu)} ms CPU`);
}
console.log();
picoLine('pico, defaults', 'pico.jsonl');
picoLine('pico, --min-size 20', 'pico20.jsonl');
EOF

# Found and false faces by the hand-checked boxes' rule (tests/vision/score_demo.c).
score=$(dirname "$khappy")/tests/vision/vision_score_demo
if [ -x "$score" ]; then
  echo
  echo "pico, defaults (min size 5% of the shorter side):"
  "$score" "$root/tests/vision/fixtures/demo-faces.json" "$work/pico-once.jsonl" | tail -n 1
  echo "pico, --min-size 20:"
  "$score" "$root/tests/vision/fixtures/demo-faces.json" "$work/pico20-once.jsonl" | tail -n 1
else
  echo "($score not built: no found/false counts)"
fi
