# Helpers of the end-to-end tests (sourced): start khappy processes on free
# ports, talk to the HTTP API with curl and jq, wait for pictures, stop
# everything on exit. Expects $khappy and $work to be set by the caller.

e2e_pids=()
declare -A e2e_names
e2e_failures=0

e2e_cleanup() {
  local pid
  for pid in "${e2e_pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for pid in "${e2e_pids[@]}"; do wait "$pid" 2>/dev/null || true; done
  e2e_pids=()
}

check() { # what expected actual
  if [ "$2" = "$3" ]; then
    echo "ok   $1"
  else
    echo "FAIL $1: expected $2, got $3"
    e2e_failures=$((e2e_failures + 1))
  fi
}

# Starts a command in the background whose stdout's first URL is where it
# listens; sets $started_url and $started_pid. Logs go to $work/NAME.*.
start_listening() { # NAME COMMAND...
  local name=$1
  shift
  "$@" >"$work/$name.out" 2>"$work/$name.err" &
  started_pid=$!
  e2e_pids+=("$started_pid")
  e2e_names[$started_pid]=$name
  started_url=""
  for _ in $(seq 1 300); do
    started_url=$(grep -o 'http://[^ ]*' "$work/$name.out" 2>/dev/null | head -n 1 || true)
    [ -n "$started_url" ] && break
    if ! kill -0 "$started_pid" 2>/dev/null; then
      echo "$name exited at start:" >&2
      cat "$work/$name.err" >&2
      return 1
    fi
    sleep 0.1
  done
  if [ -z "$started_url" ]; then
    echo "$name did not start" >&2
    return 1
  fi
  case $started_url in */) ;; *) started_url=$started_url/ ;; esac
}

# Stops one process started above and forgets it; its exit status goes to
# $stopped_status.
stop_process() { # PID [SIGNAL]
  kill "-${2:-TERM}" "$1" 2>/dev/null || true
  stopped_status=0
  wait "$1" 2>/dev/null || stopped_status=$?
  local kept=() pid
  for pid in "${e2e_pids[@]}"; do [ "$pid" != "$1" ] && kept+=("$pid"); done
  e2e_pids=("${kept[@]}")
}

# A port nobody listens on now (for a process that must know its own
# address before it starts).
free_port() {
  local port
  for _ in $(seq 1 100); do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return 0
    fi
  done
  return 1
}

# POST /api/pictures; prints the new picture's id.
upload() { # BASE_URL FILE NAME
  curl -sf -X POST --data-binary @"$2" -H 'Content-Type: application/octet-stream' \
    "${1}api/pictures?name=$3" | jq -r .id
}

# A binary-mode dev.khappy.picture.stored event whose data is the picture.
post_picture_event() { # BROKER_URL FILE NAME EVENT_ID
  curl -s -o /dev/null -w '%{http_code}' -X POST "$1" \
    -H 'ce-specversion: 1.0' -H "ce-id: $4" -H 'ce-source: /e2e/producer' \
    -H 'ce-type: dev.khappy.picture.stored' -H "ce-subject: $3" \
    -H 'ce-traceparent: 00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01' \
    -H 'Content-Type: image/jpeg' --data-binary @"$2"
}

# Waits until the store holds `count` pictures, none pending; prints the
# stats JSON at the end. Fails after TIMEOUT seconds.
wait_all_processed() { # BASE_URL COUNT TIMEOUT_S
  local stats="" deadline=$((SECONDS + $3))
  while [ $SECONDS -lt $deadline ]; do
    stats=$(curl -sf "${1}api/stats" || true)
    if [ -n "$stats" ] &&
       [ "$(jq '.pictures.total' <<<"$stats")" -ge "$2" ] &&
       [ "$(jq '.pictures.pending' <<<"$stats")" -eq 0 ]; then
      echo "$stats"
      return 0
    fi
    sleep 0.5
  done
  echo "timed out after $3 s waiting for $2 pictures: $stats" >&2
  return 1
}

# Every picture (all pages), newest first, with its faces: one JSON per line.
all_pictures() { # BASE_URL
  local cursor="" page ids id
  while :; do
    page=$(curl -sf "${1}api/pictures?limit=100${cursor:+&cursor=$cursor}")
    ids=$(jq -r '.pictures[].id' <<<"$page")
    for id in $ids; do curl -sf "${1}api/pictures/$id" | jq -c .; done
    cursor=$(jq -r '.next_cursor // empty' <<<"$page")
    [ -n "$cursor" ] || break
  done
}

# What the pipeline found, comparable across runs: per picture (by name)
# status, face count and each face's box, score, detector and scores.
canonical_results() { # BASE_URL
  all_pictures "$1" | jq -c -S '{name, status, expected_faces, faces: [.faces[] |
      {index, box, score, detector, top_emotion, emotions}]}' | sort
}

# `khappy analyze --json`-like lines for compare_faceapi.
analyze_lines() { # BASE_URL
  all_pictures "$1" | jq -c '{file: .name, faces: [.faces[] | {box, score, emotions}]}'
}
