#!/usr/bin/env bash
# khappy analyze as a user meets it: a directory walked (subdirectories, name
# order, non-pictures ignored), one broken picture reported and skipped while
# the others are analysed, exit status 1, annotated pictures and face crops
# written under unique names, bad options refused with status 2. Needs
# models/ (make models).
#
#   analyze_cli.sh KHAPPY SOURCE_DIR
set -euo pipefail
khappy=$1 src=$2
models=$src/models
for f in facefinder demo/sample1.jpg demo/sample2.jpg; do
  [ -s "$models/$f" ] || { echo "skipped: $models/$f is missing (make models)"; exit 77; }
done
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

mkdir -p "$work/in/sub"
cp "$models/demo/sample1.jpg" "$work/in/b.jpg"
cp "$models/demo/sample2.jpg" "$work/in/sub/c.JPG"
head -c 4000 "$models/demo/sample1.jpg" > "$work/in/a.jpg"   # truncated
echo "not a picture" > "$work/in/notes.txt"

rc=0
"$khappy" analyze --models "$models" --detector pico --no-emotions --json \
  --annotate "$work/annotated" --crops "$work/crops" "$work/in" > "$work/out.jsonl" 2> "$work/err" || rc=$?
[ "$rc" -eq 1 ] || fail "exit status $rc, want 1 (one picture failed)"
lines=$(wc -l < "$work/out.jsonl")
[ "$lines" -eq 3 ] || fail "$lines JSON lines, want 3 (a.jpg error, b.jpg, sub/c.JPG)"
sed -n 1p "$work/out.jsonl" | grep -q '"file":"[^"]*/in/a.jpg","error":"[^"]*a.jpg: JPEG' ||
  fail "first line is not a.jpg's error naming the file: $(sed -n 1p "$work/out.jsonl")"
sed -n 2p "$work/out.jsonl" | grep -q '"file":"[^"]*/in/b.jpg","width":1920,"height":1280' ||
  fail "second line is not b.jpg: $(sed -n 2p "$work/out.jsonl")"
sed -n 3p "$work/out.jsonl" | grep -q '"file":"[^"]*/in/sub/c.JPG","width":1920,"height":1367' ||
  fail "third line is not sub/c.JPG: $(sed -n 3p "$work/out.jsonl")"
grep -q notes "$work/out.jsonl" && fail "notes.txt was analysed"
[ -s "$work/annotated/b.jpg" ] && [ -s "$work/annotated/sub_c.jpg" ] || fail "annotated pictures missing: $(ls "$work/annotated")"
ls "$work/crops"/b_face1.png "$work/crops"/sub_c_face1.png > /dev/null || fail "face crops missing: $(ls "$work/crops")"
[ -s "$work/err" ] && fail "stderr in JSON mode: $(cat "$work/err")"

# Output names stay unique and predictable: one base name in two folders, a
# flattened name that also exists as a file, one stem as .jpg and .png, and
# pictures given again by themselves. Names follow the order the pictures
# are listed, so two threads and a second run into the same folder give
# the same files, each from the picture it names.
mkdir -p "$work/names/x" "$work/names/y"
cp "$models/demo/sample1.jpg" "$work/names/q.jpg"
cp "$work/crops/b_face1.png" "$work/names/q.png"
cp "$models/demo/sample2.jpg" "$work/names/x_p.jpg"
cp "$models/demo/sample1.jpg" "$work/names/x/p.jpg"
cp "$models/demo/sample2.jpg" "$work/names/y/p.jpg"
want_named="p-2.jpg p.jpg q-2.jpg q.jpg x_p-2.jpg x_p.jpg y_p.jpg"
for run in 1 2; do
  "$khappy" analyze --models "$models" --detector pico --no-emotions --json --threads 2 \
    --annotate "$work/named" --crops "$work/named" \
    "$work/names" "$work/names/x/p.jpg" "$work/names/y/p.jpg" > "$work/names.jsonl" ||
    fail "naming run $run: exit status $?"
  named=$(cd "$work/named" && ls -- *.jpg | LC_ALL=C sort | tr '\n' ' ')
  [ "$named" = "$want_named " ] || fail "run $run: annotated files '$named', want '$want_named '"
  for crop in q x_p x_p-2 y_p p p-2; do
    [ -s "$work/named/${crop}_face1.png" ] || fail "run $run: no ${crop}_face1.png: $(ls "$work/named")"
  done
done
# sample1 is 1280 pixels high, sample2 1367: each file shows its own picture.
"$khappy" analyze --models "$models" --detector pico --no-emotions --json \
  "$work/named"/{q,x_p,x_p-2,y_p,p,p-2}.jpg > "$work/named.jsonl"
for pair in q:1280 x_p:1367 x_p-2:1280 y_p:1367 p:1280 p-2:1367; do
  name=${pair%:*} height=${pair#*:}
  grep -q "\"file\":\"[^\"]*/named/$name.jpg\",\"width\":1920,\"height\":$height," "$work/named.jsonl" ||
    fail "named/$name.jpg is not ${height} pixels high: $(grep "/$name.jpg" "$work/named.jsonl")"
done

# The table on stdout, the failure on stderr.
rc=0
"$khappy" analyze --models "$models" --detector pico --no-emotions "$work/in" > "$work/table" 2> "$work/err" || rc=$?
[ "$rc" -eq 1 ] || fail "table mode: exit status $rc, want 1"
grep -q "b.jpg  1920x1280" "$work/table" || fail "table lacks b.jpg: $(cat "$work/table")"
grep -q "a.jpg: error:" "$work/err" || fail "stderr lacks a.jpg's error: $(cat "$work/err")"

# The pixel limit is checked before decoding and reported per picture.
rc=0
"$khappy" analyze --models "$models" --detector pico --no-emotions --json --max-pixels 1000000 \
  "$work/in/b.jpg" > "$work/limit.jsonl" 2>&1 || rc=$?
[ "$rc" -eq 1 ] || fail "--max-pixels: exit status $rc, want 1"
grep -q "over the limit of 1000000 pixels" "$work/limit.jsonl" || fail "no limit error: $(cat "$work/limit.jsonl")"

# Bad usage is status 2.
for args in "--detector nope x.jpg" "--size 100 x.jpg" "--threads 0 x.jpg" "--max-pixels 0 x.jpg" "--bogus" ""; do
  rc=0
  # shellcheck disable=SC2086
  "$khappy" analyze $args > /dev/null 2>&1 || rc=$?
  [ "$rc" -eq 2 ] || fail "'analyze $args': exit status $rc, want 2"
done
echo "ok: directory walk, skip-and-report, exit statuses, annotate, crops, unique output names"
