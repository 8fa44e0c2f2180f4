#!/usr/bin/env bash
# The browser test of the UI (tests/web/browser/ui-test.mjs, headless
# Chromium) against the real `khappy serve`: the six demo pictures uploaded
# through the page go through the whole pipeline; gallery, filter, boxes and
# chart checked. Screenshots land in WORKDIR/screenshots (gallery.png is the
# one docs/screenshot.png is made from).
#
#   browser.sh KHAPPY SOURCE_DIR WORKDIR
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: browser.sh KHAPPY SOURCE_DIR WORKDIR" >&2; exit 2; }
khappy=$1 src=$(cd "$2" && pwd) work=$3
here=$(cd "$(dirname "$0")" && pwd)
for f in tinyface.onnx expression.onnx demo/sample1.jpg demo/sample6.jpg; do
  [ -s "$src/models/$f" ] || { echo "skipped: models/$f is missing (make models)"; exit 77; }
done
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "skipped: no chromium"; exit 77; }
mkdir -p "$work"
work=$(cd "$work" && pwd)
rm -rf "$work/data" "$work/screenshots"
# shellcheck source=lib.sh
. "$here/lib.sh"
trap 'e2e_cleanup' EXIT
trap 'exit 130' INT TERM

start_listening serve "$khappy" serve --port 0 --data "$work/data" \
  --models "$src/models" --triggers "$src/triggers"
echo "khappy serve at $started_url"
bash "$src/tests/web/browser/run.sh" "$work" "$started_url" "$src"/models/demo/sample*.jpg \
  --timeout-s 600
