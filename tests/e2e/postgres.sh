#!/usr/bin/env bash
# End to end on PostgreSQL: `khappy serve --db postgresql://...` against a
# throwaway PostgreSQL server (tests/storage/pg-test.sh starts it and always
# removes it), face-api's six demo pictures uploaded through
# POST /api/pictures; every picture ends done, the faces and emotions match
# face-api's own results (the same fixture and comparison as pipeline.sh),
# and the rows really are in PostgreSQL (counted with psql over its socket).
#
#   postgres.sh KHAPPY COMPARE_FACEAPI SOURCE_DIR
set -euo pipefail
[ $# -eq 3 ] || { echo "usage: postgres.sh KHAPPY COMPARE_FACEAPI SOURCE_DIR" >&2; exit 2; }
khappy=$1 compare=$2 src=$3
here=$(cd "$(dirname "$0")" && pwd)
demo=$src/models/demo
for f in tinyface.onnx expression.onnx demo/sample1.jpg demo/sample6.jpg; do
  [ -s "$src/models/$f" ] || { echo "skipped: models/$f is missing (make models)"; exit 77; }
done
# First pass: run this script again inside pg-test.sh, which sets
# KHAPPY_TEST_PG_URL and stops the server whatever happens here.
if [ -z "${KHAPPY_TEST_PG_URL:-}" ]; then
  exec bash "$src/tests/storage/pg-test.sh" bash "$here/postgres.sh" "$@"
fi
db=$KHAPPY_TEST_PG_URL

work=$(mktemp -d /tmp/khappy-e2e-postgres-XXXXXX)
# shellcheck source=lib.sh
. "$here/lib.sh"
trap 'e2e_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

sql() { # QUERY: one value
  psql -X -A -t -q -v ON_ERROR_STOP=1 -d "$db" -c "$1"
}

start_listening serve "$khappy" serve --port 0 --db "$db" --data "$work/serve" \
  --models "$src/models" --triggers "$src/triggers"
serve=$started_url
serve_pid=$started_pid
for n in 1 2 3 4 5 6; do
  id=$(upload "$serve" "$demo/sample$n.jpg" "sample$n.jpg")
  [ -n "$id" ] && [ "$id" != null ] || { echo "upload of sample$n.jpg failed"; exit 1; }
done
stats=$(wait_all_processed "$serve" 6 200)
check "postgres: pictures done (API)" 6 "$(jq .pictures.done <<<"$stats")"
check "postgres: faces (API)" 20 "$(jq .faces.total <<<"$stats")"
analyze_lines "$serve" >"$work/serve.jsonl"
if "$compare" "$src/tests/vision/fixtures/faceapi-demo.jsonl" "$work/serve.jsonl" >"$work/compare.txt"; then
  echo "ok   postgres: faces and emotions match face-api's ($(wc -l <"$work/compare.txt") lines compared)"
else
  cat "$work/compare.txt"
  check "postgres: faces and emotions match face-api's" 0 1
fi

# The rows are in PostgreSQL itself, not in a SQLite file beside the blobs.
check "psql: pictures done" 6 "$(sql "SELECT count(*) FROM pictures WHERE status = 'done'")"
check "psql: faces" 20 "$(sql "SELECT count(*) FROM faces")"
check "psql: faces with emotion scores" 20 \
  "$(sql "SELECT count(DISTINCT face_id) FROM emotion_scores")"
check "psql: picture names" "sample1.jpg sample2.jpg sample3.jpg sample4.jpg sample5.jpg sample6.jpg" \
  "$(sql "SELECT string_agg(name, ' ' ORDER BY name) FROM pictures")"
check "no SQLite database written" no \
  "$([ -e "$work/serve/khappy.db" ] && echo yes || echo no)"

stop_process "$serve_pid"
check "serve stops on SIGTERM" yes "$(grep -q 'stopped:' "$work/serve.err" && echo yes || echo no)"

echo "$e2e_failures failed"
[ "$e2e_failures" -eq 0 ]
