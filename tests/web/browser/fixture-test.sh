#!/usr/bin/env bash
# The browser test against the fixture server (tests/web/fixture_server.c):
# a seeded store, a fake pipeline, drawn pictures to upload, one of them
# meant to fail. Stops the server on any exit.
#
#   tests/web/browser/fixture-test.sh FIXTURE_BINARY WORKDIR
set -euo pipefail

if [ $# -ne 2 ]; then
  echo "usage: $0 FIXTURE_BINARY WORKDIR" >&2
  exit 2
fi
here=$(cd "$(dirname "$0")" && pwd)
fixture=$1
work=$2
mkdir -p "$work"
work=$(cd "$work" && pwd)
rm -rf "$work/data" "$work/pictures" "$work/screenshots"

"$fixture" --write-pictures "$work/pictures" --count 3 >/dev/null
cp "$work/pictures/demo-1.png" "$work/pictures/should-fail.png"

server_pid=""
cleanup() {
  if [ -n "$server_pid" ]; then
    kill "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$fixture" --data "$work/data" --port 0 >"$work/server.url" 2>"$work/server.log" &
server_pid=$!
url=""
for _ in $(seq 1 100); do
  url=$(head -n 1 "$work/server.url" 2>/dev/null || true)
  [ -n "$url" ] && break
  kill -0 "$server_pid" 2>/dev/null || { cat "$work/server.log" >&2; exit 1; }
  sleep 0.1
done
[ -n "$url" ] || { echo "fixture server did not start" >&2; exit 1; }

status=0
bash "$here/run.sh" "$work" "$url" "$work"/pictures/demo-*.png \
  "$work/pictures/should-fail.png" --expect-fail should-fail.png \
  --timeout-s 120 || status=$?
exit $status
