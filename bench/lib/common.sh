#!/usr/bin/env bash
# Shared by the bench scripts (sourced, not run). bench/run exports
# POSTERN_BIN (the release build) and BENCH_TMP (a disk-backed scratch
# directory, never tmpfs: fsync must cost what it costs in production).
#
#   bench_workdir NAME                 a fresh directory under BENCH_TMP
#   free_port                          an unused loopback TCP port
#   now_ns                             monotonic-enough wall clock in ns
#   rate COUNT NANOSECONDS             COUNT per second, one decimal
#   postern_start DIR PORT [TOML...]   serve on 127.0.0.1:PORT (role mx, no TLS, greylisting off)
#                                      from DIR/postern.toml, data in DIR; extra TOML lines appended
#   postern_stop DIR                   SIGTERM by PID (SIGKILL after 40 s); idempotent
#   postern_add_user DIR ADDR PASSWORD
#   maildir_count MAILDIR              files in MAILDIR/new and MAILDIR/cur
#   wait_for_count CMD... -- WANT SECONDS   polls CMD until it prints >= WANT; fails on timeout

: "${POSTERN_BIN:?run the benchmarks through bench/run}"
: "${BENCH_TMP:?run the benchmarks through bench/run}"

bench_workdir() {
  local d
  d=$(mktemp -d "$BENCH_TMP/$1.XXXXXX")
  chmod 0755 "$d"  # Postfix daemons run as the postfix user and must reach their queue
  echo "$d"
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

now_ns() { date +%s%N; }

rate() {
  awk -v n="$1" -v ns="$2" 'BEGIN { printf "%.1f", n / (ns / 1e9) }'
}

wait_for_port() {
  local port=$1 pid=${2:-}
  for _ in $(seq 1 200); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    if [ -n "$pid" ] && ! kill -0 "$pid" 2>/dev/null; then return 1; fi
    sleep 0.1
  done
  return 1
}

postern_start() {
  local dir=$1 port=$2
  shift 2
  mkdir -p "$dir"
  {
    echo 'hostname = "postern.bench.example"'
    echo "data_dir = \"$dir/data\""
    echo 'local_domains = ["bench.example"]'
    echo
    echo '[[listener]]'
    echo "address = \"127.0.0.1:$port\""
    echo 'role = "mx"'
    echo 'tls = "none"'
    echo
    echo '[greylist]'
    echo 'enabled = false'
    local line
    for line in "$@"; do printf '%s\n' "$line"; done
  } > "$dir/postern.toml"
  "$POSTERN_BIN" serve --config "$dir/postern.toml" > "$dir/server.log" 2>&1 &
  echo $! > "$dir/postern.pid"
  if ! wait_for_port "$port" "$(cat "$dir/postern.pid")"; then
    echo "bench: postern did not start on 127.0.0.1:$port; last log lines:" >&2
    tail -5 "$dir/server.log" >&2
    return 1
  fi
}

postern_stop() {
  local dir=$1 pid
  [ -f "$dir/postern.pid" ] || return 0
  pid=$(cat "$dir/postern.pid")
  rm -f "$dir/postern.pid"
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 1 400); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }
    sleep 0.1
  done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}

postern_add_user() {
  local dir=$1 addr=$2 password=$3
  printf '%s\n' "$password" | "$POSTERN_BIN" user add --config "$dir/postern.toml" --password-stdin "$addr" >/dev/null
}

maildir_count() {
  local n=0 sub
  for sub in new cur; do
    [ -d "$1/$sub" ] && n=$((n + $(find "$1/$sub" -type f | wc -l)))
  done
  echo "$n"
}

wait_for_count() {
  local cmd=() want seconds got deadline
  while [ "$1" != "--" ]; do cmd+=("$1"); shift; done
  want=$2
  seconds=$3
  deadline=$(($(date +%s) + seconds))
  while :; do
    got=$("${cmd[@]}")
    [ "$got" -ge "$want" ] && return 0
    [ "$(date +%s)" -ge "$deadline" ] && { echo "bench: only $got of $want after ${seconds}s" >&2; return 1; }
    sleep 0.05
  done
}
