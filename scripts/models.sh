#!/usr/bin/env bash
# Fetches khappy's models and demo pictures from pinned npm packages, checks
# every file against models/SHA256SUMS and converts face-api's networks to
# ONNX with khappy itself. Called by `make models`.
#
#   scripts/models.sh BUILD/khappy
#
# Packages are fetched with `npm pack` (the registry npm is configured with)
# into $KHAPPY_CACHE (default ~/.cache/khappy) once; later runs work offline.
# Work already done is skipped: a file whose hash matches is not extracted
# again, and a model is converted only when it is missing or older than its
# weights or the khappy binary.
set -euo pipefail

usage() { echo "usage: scripts/models.sh PATH/TO/khappy" >&2; exit 2; }
die() { echo "models.sh: $*" >&2; exit 1; }

[ $# -eq 1 ] || usage
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
khappy=$1
[ -x "$khappy" ] || die "$khappy is not an executable (build khappy first: make build)"
khappy=$(cd "$(dirname "$khappy")" && pwd)/$(basename "$khappy")

models=$root/models
sums=$models/SHA256SUMS
cache=${KHAPPY_CACHE:-$HOME/.cache/khappy}

FACE_API=@vladmandic/face-api@1.7.15
PICO=@ssemenkoff/face-detector@0.1.18

[ -f "$sums" ] || die "$sums is missing"
mkdir -p "$cache/npm" "$cache/files" "$models/demo"

scratch=$(mktemp -d "$cache/tmp.XXXXXX")
trap 'rm -rf "$scratch"' EXIT

# The SHA-256 pinned for a key "<package>@<version>/<path>".
pinned_hash() {
  local hash
  hash=$(awk -v key="$1" '$1 !~ /^#/ && $2 == key { print $1; exit }' "$sums")
  [ -n "$hash" ] || die "no SHA-256 pinned for $1 in $sums"
  printf '%s\n' "$hash"
}

sha256_of() { sha256sum "$1" | cut -d' ' -f1; }

# Prints the cached tarball of package@version, fetching it with npm once.
tarball() {
  local spec=$1 name=${1%@*} version=${1##*@}
  local file
  file=$cache/npm/$(printf '%s' "${name#@}" | tr / -)-$version.tgz
  if [ ! -s "$file" ]; then
    command -v npm >/dev/null || die "npm is needed once to fetch $spec (apt-get install npm)"
    echo "models: fetching $spec with npm pack" >&2
    local dir=$scratch/pack.$$.$RANDOM packed
    mkdir -p "$dir"
    packed=$(cd "$dir" && npm pack --silent "$spec" | tail -n 1) ||
      die "npm pack $spec failed"
    [ -s "$dir/$packed" ] || die "npm pack $spec did not produce a tarball"
    mv -f "$dir/$packed" "$file"
  fi
  printf '%s\n' "$file"
}

# Puts <path> of package@version at dest, checked against its pinned hash.
extract() {
  local spec=$1 path=$2 dest=$3
  local key=$spec/$path want have tgz dir
  want=$(pinned_hash "$key")
  if [ -f "$dest" ] && [ "$(sha256_of "$dest")" = "$want" ]; then
    return 0
  fi
  tgz=$(tarball "$spec")
  dir=$scratch/x.$RANDOM
  mkdir -p "$dir"
  # -m: the extracted file gets the current time, so a model converted from
  # an earlier copy counts as older than its input.
  tar -xzmf "$tgz" -C "$dir" "package/$path" 2>/dev/null ||
    die "$key: not found in $tgz (delete that file to fetch it again)"
  have=$(sha256_of "$dir/package/$path")
  if [ "$have" != "$want" ]; then
    rm -f "$dest" # never leave an unverified copy in place
    die "$key: SHA-256 mismatch
  expected $want (models/SHA256SUMS)
  got      $have (from $tgz)"
  fi
  mkdir -p "$(dirname "$dest")"
  mv -f "$dir/package/$path" "$dest"
  echo "models: $key -> ${dest#"$root"/}" >&2
}

# Converts when out is missing or older than its inputs or khappy.
convert() {
  local kind=$1 manifest=$2 shard=$3 out=$4
  if [ -f "$out" ] && [ "$out" -nt "$manifest" ] && [ "$out" -nt "$shard" ] &&
     [ "$out" -nt "$khappy" ]; then
    return 0
  fi
  "$khappy" convert "$kind" "$manifest" -o "$out" ||
    die "khappy convert $kind failed"
}

weights=$cache/files/$FACE_API/model
for net in tiny_face_detector_model face_expression_model; do
  extract "$FACE_API" "model/$net-weights_manifest.json" "$weights/$net-weights_manifest.json"
  extract "$FACE_API" "model/$net.bin" "$weights/$net.bin"
done
for i in 1 2 3 4 5 6; do
  extract "$FACE_API" "demo/sample$i.jpg" "$models/demo/sample$i.jpg"
done
extract "$PICO" public/facefinder "$models/facefinder"

convert faceapi-tiny "$weights/tiny_face_detector_model-weights_manifest.json" \
  "$weights/tiny_face_detector_model.bin" "$models/tinyface.onnx"
convert faceapi-expression "$weights/face_expression_model-weights_manifest.json" \
  "$weights/face_expression_model.bin" "$models/expression.onnx"

echo "models: ready in ${models#"$root"/}/ (tinyface.onnx expression.onnx facefinder demo/sample1..6.jpg)"
