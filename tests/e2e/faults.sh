#!/usr/bin/env bash
# Faults, against `khappy serve` with the real models:
#
# 1. Hostile or broken input gets the right status code: malformed events,
#    unknown modes, batches, oversize bodies at /broker; non-pictures, empty
#    and oversize uploads at /api/pictures. A picture event naming a file
#    outside the data folder (../, an absolute path, a file:// URL) is
#    accepted by the broker, the file is not read, the picture ends failed.
# 2. A batch of 50 pictures (the demo pictures under 50 names): kill -9
#    while the uploads come in, restart, the client retries the uploads that
#    got no answer; kill -9 again while the backlog is worked through,
#    restart. Every acknowledged upload is in the store and every picture is
#    processed exactly once (done, the face count of its content, face
#    indexes 0..n-1 once each, totals add up).
#
#   faults.sh KHAPPY SOURCE_DIR
set -euo pipefail
[ $# -eq 2 ] || { echo "usage: faults.sh KHAPPY SOURCE_DIR" >&2; exit 2; }
khappy=$1 src=$2
here=$(cd "$(dirname "$0")" && pwd)
demo=$src/models/demo
fixtures=$src/tests/vision/fixtures/faceapi-demo.jsonl
for f in tinyface.onnx expression.onnx demo/sample1.jpg demo/sample6.jpg; do
  [ -s "$src/models/$f" ] || { echo "skipped: models/$f is missing (make models)"; exit 77; }
done
work=$(mktemp -d /tmp/khappy-e2e-faults-XXXXXX)
# shellcheck source=lib.sh
. "$here/lib.sh"
trap 'e2e_cleanup; rm -rf "$work"' EXIT
trap 'exit 130' INT TERM

serve_args=(serve --port 0 --data "$work/data" --models "$src/models"
            --triggers "$src/triggers" --max-body 1048576 --threads 2)

# ---- 1. status codes ---------------------------------------------------------
start_listening serve "$khappy" "${serve_args[@]}"
url=$started_url
code() { curl -s -o /dev/null -w '%{http_code}' "$@"; }
ce=(-H 'ce-specversion: 1.0' -H 'ce-source: /e2e' -H 'ce-type: dev.khappy.picture.stored')
check "GET /healthz" 200 "$(code "${url}healthz")"
check "/broker: malformed structured event" 400 \
  "$(code -H 'Content-Type: application/cloudevents+json' -d '{"specversion":"1.0",' "${url}broker")"
check "/broker: event without id" 400 \
  "$(code "${ce[@]}" -H 'Content-Type: application/json' -d '{}' "${url}broker")"
check "/broker: bad percent-encoding" 400 \
  "$(code "${ce[@]}" -H 'ce-id: %zz' -H 'Content-Type: application/json' -d '{}' "${url}broker")"
check "/broker: not a CloudEvent (unknown mode)" 415 \
  "$(code -H 'Content-Type: text/plain' -d 'hello' "${url}broker")"
check "/broker: unknown event format" 415 \
  "$(code -H 'Content-Type: application/cloudevents+avro' -d 'x' "${url}broker")"
check "/broker: batched mode" 400 \
  "$(code -H 'Content-Type: application/cloudevents-batch+json' -d '[]' "${url}broker")"
check "/broker: GET" 405 "$(code "${url}broker")"
head -c 2000000 /dev/urandom >"$work/big"
check "/broker: oversize body" 413 \
  "$(code "${ce[@]}" -H 'ce-id: big' -H 'Content-Type: image/jpeg' --data-binary @"$work/big" "${url}broker")"
check "/broker: another broker's path" 404 \
  "$(code "${ce[@]}" -H 'ce-id: x' -H 'Content-Type: application/json' -d '{}' "${url}broker/other/broker")"
check "upload: not a picture" 415 \
  "$(code -X POST --data-binary 'hello' "${url}api/pictures?name=a.txt")"
check "upload: empty" 400 "$(code -X POST "${url}api/pictures")"
check "upload: oversize" 413 \
  "$(code -X POST --data-binary @"$work/big" "${url}api/pictures?name=big.jpg")"
check "unknown route" 404 "$(code "${url}api/nothing")"

# Pictures named outside the data folder.
printf 'secret' >"$work/secret.txt"
bad_ids=()
n=0
for data in '{"picture":{"id":"out-1","key":"../../../../etc/passwd"}}' \
            '{"picture":{"id":"out-2","key":"/etc/passwd"}}' \
            '{"picture":{"id":"out-3","url":"file:///etc/passwd"}}' \
            "{\"picture\":{\"id\":\"out-4\",\"key\":\"$work/secret.txt\"}}" \
            '{"picture":{"id":"out-5","key":"pictures/../../../etc/passwd"}}'; do
  n=$((n + 1))
  check "/broker: event naming a file outside the data folder accepted ($n)" 202 \
    "$(code "${ce[@]}" -H "ce-id: out-$n" -H 'Content-Type: application/json' -d "$data" "${url}broker")"
  bad_ids+=("out-$n")
done
stats=$(wait_all_processed "$url" 5 120)
for id in "${bad_ids[@]}"; do
  picture=$(curl -sf "${url}api/pictures/$id")
  check "$id: failed" failed "$(jq -r .status <<<"$picture")"
  check "$id: no faces" 0 "$(jq '.faces | length' <<<"$picture")"
  echo "     $id: $(jq -r .error <<<"$picture")"
done
check "nothing outside the data folder was copied in" 0 \
  "$(grep -rl 'root:' "$work/data/blobs" 2>/dev/null | wc -l)"
stop_process "$started_pid"
rm -rf "$work/data"

# ---- 2. kill -9 during a batch of 50 -----------------------------------------
declare -A faces_in
while read -r file count; do faces_in[$file]=$count; done < <(jq -r '.file + " " + (.faces|length|tostring)' "$fixtures")
sample_of_name() { # batch-I.jpg -> sampleN.jpg
  local i=${1#batch-}
  i=${i%.jpg}
  echo "sample$(( (i - 1) % 6 + 1 )).jpg"
}
# Uploads eight at a time in the background; each answer (the id, or
# nothing when the upload failed) lands in uploads/I.
upload_batch() { # URL I...
  local base=$1 running=() i
  shift
  for i in "$@"; do
    upload "$base" "$demo/$(sample_of_name "batch-$i.jpg")" "batch-$i.jpg" \
      >"$work/uploads/$i" 2>/dev/null &
    running+=($!)
    if [ ${#running[@]} -eq 8 ]; then wait "${running[@]}" || true; running=(); fi
  done
  [ ${#running[@]} -eq 0 ] || wait "${running[@]}" || true
}
accepted() { find "$work/uploads" -type f -size +0 | wc -l; }

mkdir -p "$work/uploads"
start_listening serve "$khappy" "${serve_args[@]}"
url=$started_url
pid=$started_pid
upload_batch "$url" $(seq 1 50) &
uploader=$!
# First kill: while the uploads are still coming in.
for _ in $(seq 1 3000); do
  [ "$(accepted)" -ge 15 ] && break
  sleep 0.05
done
kill -KILL "$pid"
wait "$pid" 2>/dev/null || true
e2e_pids=()
wait "$uploader" || true
echo "     first kill -9: $(accepted) of 50 uploads had been accepted"
check "killed during the uploads" yes "$([ "$(accepted)" -lt 50 ] && echo yes || echo no)"

# Restart; a client retries the uploads that got no answer.
start_listening serve2 "$khappy" "${serve_args[@]}"
url=$started_url
pid=$started_pid
echo "     $(grep 'recovered' "$work/serve2.err")"
retry=()
for i in $(seq 1 50); do [ -s "$work/uploads/$i" ] || retry+=("$i"); done
upload_batch "$url" "${retry[@]}"
check "every upload accepted in the end" 50 "$(accepted)"

# Second kill: while the backlog is being worked through.
stats=$(curl -sf "${url}api/stats")
if [ "$(jq .pictures.pending <<<"$stats")" -gt 2 ]; then
  kill -KILL "$pid"
  wait "$pid" 2>/dev/null || true
  e2e_pids=()
  echo "     second kill -9 with $(jq .pictures.done <<<"$stats") pictures done, $(jq .pictures.pending <<<"$stats") pending"
  start_listening serve3 "$khappy" "${serve_args[@]}"
  url=$started_url
  echo "     $(grep 'recovered' "$work/serve3.err")"
else
  echo "     (no backlog left for a second kill)"
fi
stats=$(wait_all_processed "$url" 50 900)

# Every acknowledged upload is a picture; a picture whose upload was stored
# but not answered before the kill may be there too (its retry is another
# picture). Each one, either way, processed exactly once.
all_pictures "$url" >"$work/pictures.jsonl"
total=$(wc -l <"$work/pictures.jsonl")
echo "     $total pictures in the store (50 acknowledged)"
check "pictures in the store" yes "$([ "$total" -ge 50 ] && echo yes || echo no)"
missing=0
for i in $(seq 1 50); do
  grep -q "\"id\":\"$(cat "$work/uploads/$i")\"" "$work/pictures.jsonl" || missing=$((missing + 1))
done
check "every acknowledged upload is in the store" 0 "$missing"
wrong=0 expected_faces=0
while read -r picture; do
  name=$(jq -r .name <<<"$picture")
  want=${faces_in[$(sample_of_name "$name")]}
  expected_faces=$((expected_faces + want))
  got=$(jq -c '[.status, .expected_faces, .face_count, .scored_faces, ([.faces[].index] | sort)]' <<<"$picture")
  indexes=$(seq 0 $((want - 1)) | paste -sd, -)
  if [ "$got" != "[\"done\",$want,$want,$want,[$indexes]]" ]; then
    echo "FAIL $name ($(jq -r .id <<<"$picture")): $got, expected [\"done\",$want,$want,$want,[$indexes]]"
    wrong=$((wrong + 1))
  fi
done <"$work/pictures.jsonl"
check "every picture processed exactly once" 0 "$wrong"
check "faces in the store" "$expected_faces" "$(jq .faces.total <<<"$stats")"
check "every face scored" 0 "$(jq .faces.unscored <<<"$stats")"

echo "$e2e_failures failed"
[ "$e2e_failures" -eq 0 ]
