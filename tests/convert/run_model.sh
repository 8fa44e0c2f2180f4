#!/usr/bin/env bash
# One check of a converted model against face-api's committed output:
# makes the input, runs `khappy onnx run`, compares with tensor_check.
#
#   run_model.sh KHAPPY TENSOR_CHECK MODEL EXPECTED.pb MAX_ABS_ERROR INPUT
#   INPUT: random:SEED:N:C:H:W | widen:U8.pb | stack:U8.pb,U8.pb,...
#   EXPECTED may list several .pb separated by commas: they are stacked
#   along axis 0 (the outputs for a stacked input).
set -euo pipefail
[ $# -eq 6 ] || { echo "usage: run_model.sh KHAPPY TENSOR_CHECK MODEL EXPECTED MAX_ABS_ERROR INPUT" >&2; exit 2; }
khappy=$1 check=$2 model=$3 expected=$4 tolerance=$5 input=$6
[ -f "$model" ] || { echo "FAIL: $model is missing (run 'make models')" >&2; exit 1; }

work=$(mktemp -d "${TMPDIR:-/tmp}/khappy-convert-test.XXXXXX")
trap 'rm -rf "$work"' EXIT

case $input in
  random:*)
    IFS=: read -r _ seed n c h w <<<"$input"
    "$check" random "$seed" "$n" "$c" "$h" "$w" "$work/input.pb" ;;
  widen:*)
    "$check" widen "${input#widen:}" "$work/input.pb" ;;
  stack:*)
    IFS=, read -r -a files <<<"${input#stack:}"
    parts=()
    for i in "${!files[@]}"; do
      "$check" widen "${files[$i]}" "$work/part$i.pb"
      parts+=("$work/part$i.pb")
    done
    "$check" stack "$work/input.pb" "${parts[@]}" ;;
  *) echo "run_model.sh: unknown input '$input'" >&2; exit 2 ;;
esac

if [[ $expected == *,* ]]; then
  IFS=, read -r -a wanted <<<"$expected"
  "$check" stack "$work/expected.pb" "${wanted[@]}"
  expected=$work/expected.pb
fi

"$khappy" onnx run "$model" --out "$work/out" "$work/input.pb"
"$check" compare "$expected" "$work/out/output_0.pb" "$tolerance"
