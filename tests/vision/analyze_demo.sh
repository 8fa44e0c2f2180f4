#!/usr/bin/env bash
# Runs `khappy analyze --json` on face-api's six demo pictures and checks the
# result with a comparison tool. Needs models/ from `make models`.
#
#   analyze_demo.sh faceapi KHAPPY COMPARE_FACEAPI SOURCE_DIR
#       tinyface + expression vs face-api's results (fixtures/faceapi-demo.jsonl)
#   analyze_demo.sh pico KHAPPY SCORE_DEMO SOURCE_DIR
#       pico with its defaults vs the hand-checked faces: >= 16 of 22 found,
#       at most 2 false (fixtures/demo-faces.json)
set -euo pipefail
[ $# -eq 4 ] || { echo "usage: analyze_demo.sh faceapi|pico KHAPPY TOOL SOURCE_DIR" >&2; exit 2; }
mode=$1 khappy=$2 tool=$3 src=$4
models=$src/models
fixtures=$src/tests/vision/fixtures
for f in tinyface.onnx expression.onnx facefinder demo/sample1.jpg demo/sample6.jpg; do
  if [ ! -s "$models/$f" ]; then
    echo "skipped: $models/$f is missing (make models)"
    exit 77
  fi
done
out=$(mktemp)
trap 'rm -f "$out"' EXIT
cd "$models/demo"
pictures=(sample1.jpg sample2.jpg sample3.jpg sample4.jpg sample5.jpg sample6.jpg)
case $mode in
  faceapi)
    "$khappy" analyze --models "$models" --detector tinyface --size 416 --threshold 0.5 \
      --json "${pictures[@]}" > "$out"
    "$tool" "$fixtures/faceapi-demo.jsonl" "$out"
    ;;
  pico)
    "$khappy" analyze --models "$models" --detector pico --no-emotions --json \
      "${pictures[@]}" > "$out"
    "$tool" "$fixtures/demo-faces.json" "$out" 16 2
    ;;
  *) echo "analyze_demo.sh: unknown mode $mode" >&2; exit 2 ;;
esac
