#!/usr/bin/env bash
# Runs a command (the storage test suite) against a throwaway PostgreSQL 15
# server: initdb in a temporary folder, start it with its unix socket in that
# folder (no TCP listener, so parallel runs cannot collide on a port), export
# KHAPPY_TEST_PG_URL, run the command, then stop the server and remove the
# folder, also when the command fails or the script is interrupted.
#
#   tests/storage/pg-test.sh build/tests/storage_test_storage
#
# As root (CI) the server runs as the `postgres` user through runuser, since
# PostgreSQL refuses to run as root.
set -euo pipefail

if [ $# -lt 1 ]; then
  echo "usage: $0 COMMAND [ARGS...]" >&2
  exit 2
fi

PG_BIN=${PG_BIN:-/usr/lib/postgresql/15/bin}
if [ ! -x "$PG_BIN/initdb" ]; then
  echo "pg-test: $PG_BIN/initdb not found (Debian package postgresql-15)" >&2
  exit 1
fi

tmp=$(mktemp -d /tmp/khappy-pg-XXXXXX)
as_server_user=()
if [ "$(id -u)" -eq 0 ]; then
  chown postgres: "$tmp"
  as_server_user=(runuser -u postgres --)
fi

cleanup() {
  if [ -f "$tmp/data/postmaster.pid" ]; then
    "${as_server_user[@]}" "$PG_BIN/pg_ctl" -D "$tmp/data" -m immediate \
      -w stop >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# The socket's name carries the port number; any number works since no TCP
# port is opened. A random one keeps the lock file names distinct anyway.
port=$((20000 + RANDOM % 20000))

"${as_server_user[@]}" "$PG_BIN/initdb" -D "$tmp/data" -U postgres -A trust \
  -E UTF8 --no-sync >"$tmp/initdb.log" 2>&1 || {
  cat "$tmp/initdb.log" >&2
  exit 1
}
"${as_server_user[@]}" "$PG_BIN/pg_ctl" -D "$tmp/data" -l "$tmp/server.log" -w \
  -t 60 -o "-c listen_addresses='' -k $tmp -p $port -c fsync=off \
  -c full_page_writes=off -c max_connections=50" start >/dev/null || {
  cat "$tmp/server.log" >&2
  exit 1
}

export KHAPPY_TEST_PG_URL="postgresql:///postgres?host=$tmp&port=$port&user=postgres"
status=0
# Inside ctest's own timeout, so that this script lives to clean up.
timeout 240 "$@" || status=$?
if [ $status -ne 0 ]; then
  echo "pg-test: '$*' exited with $status; server log:" >&2
  tail -n 20 "$tmp/server.log" >&2 || true
fi
exit $status
