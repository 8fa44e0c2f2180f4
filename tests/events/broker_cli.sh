#!/usr/bin/env bash
# Integration: `khappy broker` refuses bad input before listening, with the
# file, line and reason, and the documented exit codes.
#   broker_cli.sh /path/to/khappy
set -u
khappy=$1
dir=$(mktemp -d /tmp/kh-broker-cli-XXXXXX)
trap 'rm -rf "$dir"' EXIT
fail() { echo "broker_cli: FAIL: $*" >&2; exit 1; }

help=$("$khappy" broker --help)
grep -q -- '--subscriber NAME=URL' <<<"$help" || fail "--help"

"$khappy" broker --port 0 2>"$dir/err"; rc=$?
[ "$rc" -eq 2 ] || fail "missing --triggers/--data: expected exit 2, got $rc"
grep -q -- '--triggers and --data are required' "$dir/err" || fail "usage message: $(cat "$dir/err")"

mkdir "$dir/triggers"
cat > "$dir/triggers/bad.yaml" <<'YAML'
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: bad}
spec:
  filters:
    - regex: {type: x}
  subscriber: {uri: "http://127.0.0.1:1/"}
YAML
"$khappy" broker --port 0 --triggers "$dir/triggers" --data "$dir/data" 2>"$dir/err"; rc=$?
[ "$rc" -eq 1 ] || fail "bad trigger: expected exit 1, got $rc"
grep -q "bad.yaml:6:7: spec.filters\[0\]: unknown filter dialect 'regex'" "$dir/err" \
  || fail "bad trigger message: $(cat "$dir/err")"

cat > "$dir/triggers/bad.yaml" <<'YAML'
apiVersion: eventing.knative.dev/v1
kind: Trigger
metadata: {name: unresolved}
spec:
  subscriber:
    ref: {apiVersion: serving.knative.dev/v1, kind: Service, name: khappy-emotion}
YAML
"$khappy" broker --port 0 --triggers "$dir/triggers" --data "$dir/data" 2>"$dir/err"; rc=$?
[ "$rc" -eq 1 ] || fail "unresolved subscriber: expected exit 1, got $rc"
grep -q "khappy-emotion" "$dir/err" && grep -q -- "--subscriber" "$dir/err" \
  || fail "unresolved subscriber message: $(cat "$dir/err")"

"$khappy" broker --port 0 --triggers "$dir/triggers" --data "$dir/data" \
  --subscriber khappy-emotion=ftp://x 2>"$dir/err"; rc=$?
[ "$rc" -eq 2 ] || fail "bad subscriber URL: expected exit 2, got $rc"
echo PASS
