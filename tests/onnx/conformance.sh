#!/usr/bin/env bash
# ONNX backend conformance: runs `khappy onnx test` on the suite and fails
# when any case fails or when fewer cases pass than the floor (a regression
# that turns passes into skips must not go unnoticed).
#   conformance.sh KHAPPY MIN_PASSED DIR...
set -euo pipefail
khappy=$1 min_passed=$2
shift 2
out=$(mktemp)
trap 'rm -f "$out"' EXIT
rc=0
"$khappy" onnx test "$@" >"$out" 2>&1 || rc=$?
grep -E '^(FAIL|SKIP)' "$out" | head -n 400 || true
summary=$(tail -n 1 "$out")
echo "$summary"
if ! [[ $summary =~ ^([0-9]+)\ passed,\ ([0-9]+)\ failed,\ ([0-9]+)\ skipped$ ]]; then
  echo "conformance: FAIL: no summary line (exit $rc)"; tail -n 20 "$out"; exit 1
fi
passed=${BASH_REMATCH[1]} failed=${BASH_REMATCH[2]}
[ "$rc" -eq 0 ] || { echo "conformance: FAIL: khappy onnx test exited $rc"; exit 1; }
[ "$failed" -eq 0 ] || { echo "conformance: FAIL: $failed failed"; exit 1; }
if [ "$passed" -lt "$min_passed" ]; then
  echo "conformance: FAIL: $passed passed, fewer than the floor of $min_passed"; exit 1
fi
echo "conformance: ok ($passed passed >= $min_passed, 0 failed)"
