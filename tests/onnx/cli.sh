#!/usr/bin/env bash
# khappy onnx info/run/test from the outside: usage errors exit 2, bad
# models and inputs exit 1 with a message naming the file, good runs print
# one JSON line and write outputs. usage: cli.sh KHAPPY TESTDATA_DIR
set -u
khappy=$1
data=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0

# expect STATUS PATTERN -- command...: runs it, checks status and that
# stdout+stderr matches the extended regex PATTERN.
expect() {
  local want=$1 pattern=$2
  shift 3
  local out status
  out=$("$@" 2>&1)
  status=$?
  if [ "$status" -ne "$want" ]; then
    echo "FAIL: '$*' exited $status, expected $want; output: $out"
    failures=$((failures + 1))
  elif ! grep -Eq -- "$pattern" <<<"$out"; then
    echo "FAIL: '$*' output does not match /$pattern/: $out"
    failures=$((failures + 1))
  fi
}

identity=$data/node/test_identity
expect 0 'test DIR' -- "$khappy" onnx --help
expect 2 'usage: khappy onnx' -- "$khappy" onnx
expect 2 "unknown command 'bogus'" -- "$khappy" onnx bogus
for sub in info run test; do
  expect 0 "usage: khappy onnx $sub" -- "$khappy" onnx "$sub" --help
done
expect 2 'usage: khappy onnx info' -- "$khappy" onnx info
expect 2 'usage: khappy onnx run' -- "$khappy" onnx run
expect 2 'usage: khappy onnx test' -- "$khappy" onnx test
expect 2 "--threads: 'x' is not a valid number" -- "$khappy" onnx run "$identity/model.onnx" --threads x
expect 2 "unknown option '--bogus'" -- "$khappy" onnx test --bogus "$tmp"
expect 2 'needs a value' -- "$khappy" onnx run "$identity/model.onnx" --runs

# Bad models: each names the file.
expect 1 "$tmp/missing.onnx" -- "$khappy" onnx info "$tmp/missing.onnx"
head -c 60 "$identity/model.onnx" > "$tmp/truncated.onnx"
expect 1 "truncated.onnx: .*(byte [0-9]+|no graph)" -- "$khappy" onnx info "$tmp/truncated.onnx"
printf 'garbage that is not protobuf\377\377\377' > "$tmp/garbage.onnx"
expect 1 'garbage.onnx: ' -- "$khappy" onnx run "$tmp/garbage.onnx"
: > "$tmp/empty.onnx"
expect 1 'empty.onnx: empty file' -- "$khappy" onnx info "$tmp/empty.onnx"

# Good model: info, run with a file, run with generated inputs.
expect 0 'inputs:' -- "$khappy" onnx info "$identity/model.onnx"
expect 0 'Identity +1' -- "$khappy" onnx info "$identity/model.onnx"
expect 0 '"outputs":\[\{"name":"y","dims":\[1,1,2,2\],"type":"float32"\}\]' -- \
  "$khappy" onnx run "$identity/model.onnx" --out "$tmp/out" "$identity/test_data_set_0/input_0.pb"
[ -s "$tmp/out/output_0.pb" ] || { echo "FAIL: run --out wrote no output_0.pb"; failures=$((failures + 1)); }
expect 0 '"runs":3,"median_ms":[0-9.]+,"min_ms":[0-9.]+' -- \
  "$khappy" onnx run "$identity/model.onnx" --runs 3 --threads 2
expect 2 'the model has 1 inputs, 2 files given' -- \
  "$khappy" onnx run "$identity/model.onnx" "$identity/test_data_set_0/input_0.pb" "$identity/test_data_set_0/input_0.pb"
expect 1 'truncated.onnx: byte [0-9]+' -- "$khappy" onnx run "$identity/model.onnx" "$tmp/truncated.onnx"
# An input of the wrong shape: the expected output fed as input has the
# same shape, so use a .pb of another shape.
expect 1 "input 'x': expected float \[1,1,2,2\], got float \[3,4,5\]" -- \
  "$khappy" onnx run "$identity/model.onnx" "$data/node/test_add/test_data_set_0/input_0.pb"

# khappy onnx test: a passing case, a skipped case, a failing case.
mkdir -p "$tmp/cases"
cp -r "$identity" "$tmp/cases/test_identity"
cp -r "$data/simple/test_strnorm_model_nostopwords_nochangecase" "$tmp/cases/"
expect 0 '1 passed, 0 failed, 1 skipped' -- "$khappy" onnx test "$tmp/cases"
expect 0 'SKIP test_strnorm_model_nostopwords_nochangecase: unsupported: ' -- "$khappy" onnx test "$tmp/cases"
mkdir -p "$tmp/cases/test_broken/test_data_set_0"
cp "$tmp/truncated.onnx" "$tmp/cases/test_broken/model.onnx"
expect 1 'FAIL test_broken: load: ' -- "$khappy" onnx test "$tmp/cases"
expect 1 '1 passed, 1 failed, 1 skipped' -- "$khappy" onnx test "$tmp/cases"
expect 0 '1 passed, 0 failed, 0 skipped' -- "$khappy" onnx test --filter identity "$tmp/cases"
# Wrong expected values are a FAIL naming the worst element.
mkdir -p "$tmp/wrong"
cp -r "$identity" "$tmp/wrong/test_identity"
cp "$data/node/test_identity/test_data_set_0/input_0.pb" "$tmp/wrong/test_identity/test_data_set_0/output_0.pb"
expect 0 '1 passed' -- "$khappy" onnx test "$tmp/wrong"
cp "$data/node/test_add/test_data_set_0/input_0.pb" "$tmp/wrong/test_identity/test_data_set_0/output_0.pb"
expect 1 "FAIL test_identity: test_data_set_0: output 0 'y': got float \[1,1,2,2\], expected float \[3,4,5\]" -- \
  "$khappy" onnx test "$tmp/wrong"
expect 1 'not a folder' -- "$khappy" onnx test "$tmp/nonexistent"

if [ "$failures" -ne 0 ]; then
  echo "$failures check(s) failed"
  exit 1
fi
echo "all khappy onnx CLI checks passed"
