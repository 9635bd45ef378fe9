#!/usr/bin/env bash
# The cost of greylisting on inbound SMTP: messages/s with greylisting off
# against on (the triplet already passed, the steady state of a busy MX),
# for the SQLite and the Redis store. Load: Postfix's smtp-source, 20
# persistent sessions (BENCH_SESSIONS), 4 KiB messages, one recipient each,
# durable (250 after fsync). Redis is a private redis-server on a free
# loopback port, stopped by PID. Prints one line per store:
#   store  off msg/s  on msg/s  overhead %
set -euo pipefail
source "$BENCH_LIB/common.sh"

sessions=${BENCH_SESSIONS:-20}
size=${BENCH_SIZE:-4096}
messages=${BENCH_MESSAGES:-3000}

work=$(bench_workdir greylist_smtp)
redis_pid=""
cleanup() {
  postern_stop "$work/postern"
  if [ -n "$redis_pid" ]; then kill -TERM "$redis_pid" 2>/dev/null || true; wait "$redis_pid" 2>/dev/null || true; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

redis_port=$(free_port)
redis-server --port "$redis_port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
  --loglevel warning > "$work/redis.log" 2>&1 &
redis_pid=$!
wait_for_port "$redis_port" "$redis_pid" || { echo "bench: redis-server did not start" >&2; exit 1; }

# serve STORE ENABLED: a fresh data dir each time.
serve() {
  local store=$1 enabled=$2 dir port
  dir="$work/postern"
  postern_stop "$dir"
  rm -rf "$dir"
  port=$(free_port)
  postern_start "$dir" "$port" '[limits]' "max_connections_per_ip = $((sessions * 4))" >/dev/null
  # postern_start writes [greylist] enabled = false; this run's greylist replaces it.
  python3 - "$dir/postern.toml" "$store" "$enabled" <<'PY'
import sys
path, store, enabled = sys.argv[1:]
text = open(path).read().replace("[greylist]\nenabled = false\n",
    f'[greylist]\nenabled = {enabled}\ndelay = "1s"\nauto_allow_after = 0\nstore = "{store}"\n')
open(path, "w").write(text)
PY
  postern_stop "$dir"
  "$POSTERN_BIN" serve --config "$dir/postern.toml" > "$dir/server.log" 2>&1 &
  echo $! > "$dir/postern.pid"
  wait_for_port "$port" "$(cat "$dir/postern.pid")" || { tail -5 "$dir/server.log" >&2; return 1; }
  postern_add_user "$dir" bench@bench.example bench-password
  serve_port=$port
}

# Passes the benchmark's triplet through the greylist: first sight, wait, retry.
prime() {
  python3 - "$1" <<'PY'
import smtplib, sys, time
port = int(sys.argv[1])
def rcpt():
    with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
        s.ehlo("load.example")
        s.mail("sender@load.example")
        code = s.rcpt("bench@bench.example")[0]
        s.rset()
        return code
first = rcpt()
time.sleep(1.2)
again = rcpt()
if again != 250:
    sys.exit(f"bench: triplet did not pass ({first} then {again})")
PY
}

measure() {
  local start end
  start=$(now_ns)
  smtp-source -d -s "$sessions" -m "$messages" -l "$size" -f sender@load.example -t bench@bench.example \
    "127.0.0.1:$serve_port" > "$work/source.log" 2>&1 || { tail -5 "$work/source.log" >&2; return 1; }
  end=$(now_ns)
  rate "$messages" $((end - start))
}

echo "Greylisting cost: $sessions persistent sessions, $messages messages of $size octets, triplet already passed"
printf '%-8s %12s %12s %10s\n' store "off msg/s" "on msg/s" "overhead"
for store in sqlite "redis://127.0.0.1:$redis_port/0"; do
  serve "$store" false
  off=$(measure)
  serve "$store" true
  prime "$serve_port"
  on=$(measure)
  printf '%-8s %12s %12s %9s%%\n' "${store%%:*}" "$off" "$on" \
    "$(awk -v a="$off" -v b="$on" 'BEGIN { printf "%.1f", (a > 0) ? (a - b) * 100 / a : 0 }')"
done
