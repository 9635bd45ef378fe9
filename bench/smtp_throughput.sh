#!/usr/bin/env bash
# Inbound SMTP throughput, Postern against Postfix, side by side in one run.
#
# Load: Postfix's smtp-source, messages of 4 KiB (BENCH_SESSIONS,
# BENCH_SIZE, BENCH_MESSAGES override the 20-session rows), one recipient
# each, to a local Maildir user. Durable on both sides: Postern answers 250
# after the message is in the Maildir and its journal record is flushed
# (fdatasync shared among sessions), or after fsync of the spooled message
# and its directory; Postfix's cleanup fsyncs the queue file before smtpd
# sends 250. Greylisting is off in Postern; in Postfix in_flow_delay is 0
# (its default 1s would throttle the sender, not measure the server).
#
# Rows, each run on both servers in turn: 20 sessions with a new connection
# per message (banner, HELO, one transaction, QUIT, repeated); 20, 1 and 200
# persistent sessions (smtp-source -d, transactions back to back); 1 KiB,
# 64 KiB and 4 MiB messages over 20 persistent sessions.
# "accepted" is messages / time until smtp-source got its last 250;
# "delivered" is messages / time until the last one is in the Maildir.
# First, the disk's own bounds (lib/disk_bounds.py) on the same scratch
# file system, to read the rates against.
set -euo pipefail
source "$BENCH_LIB/common.sh"
source "$BENCH_LIB/postfix.sh"

sessions=${BENCH_SESSIONS:-20}
size=${BENCH_SIZE:-4096}
messages=${BENCH_MESSAGES:-5000}

work=$(bench_workdir throughput)
cleanup() {
  postern_stop "$work/postern"
  postfix_private_stop "$work/postfix"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

postern_port=$(free_port)
postfix_port=$(free_port)
postern_start "$work/postern" "$postern_port" \
  '[limits]' "max_connections_per_ip = 800" 'max_connections = 2000' 'max_recipients = 10'
postern_add_user "$work/postern" bench@bench.example bench-password
postfix_private_start "$work/postfix" "$postfix_port"

postern_count() { maildir_count "$work/postern/data/mail/bench.example/bench"; }
postfix_count() { postfix_maildir_count "$work/postfix"; }

# run_load SERVER PORT COUNTFN SESSIONS SIZE COUNT FLAGS... → sets accepted_rate, delivered_rate, cpu_ms
run_load() {
  local server=$1 port=$2 countfn=$3 n_sessions=$4 n_size=$5 count=$6
  shift 6
  local before start accepted_at delivered_at cpu0 cpu1 pid=""
  [ "$server" = postern ] && pid=$(cat "$work/postern/postern.pid")
  before=$($countfn)
  cpu0=$(proc_cpu_ticks "$pid")
  start=$(now_ns)
  if ! smtp-source "$@" -s "$n_sessions" -m "$count" -l "$n_size" \
      -f sender@load.example -t bench@bench.example "127.0.0.1:$port" > "$work/$server.source.log" 2>&1; then
    echo "bench: smtp-source against $server failed:" >&2
    tail -5 "$work/$server.source.log" >&2
    return 1
  fi
  accepted_at=$(now_ns)
  wait_for_count "$countfn" -- $((before + count)) 600
  delivered_at=$(now_ns)
  cpu1=$(proc_cpu_ticks "$pid")
  accepted_rate=$(rate "$count" $((accepted_at - start)))
  delivered_rate=$(rate "$count" $((delivered_at - start)))
  cpu_ms=$(awk -v t=$((cpu1 - cpu0)) -v hz="$(getconf CLK_TCK)" -v n="$count" 'BEGIN { printf "%.2f", t * 1000 / hz / n }')
}

# user + system CPU ticks of PID so far ("" → 0)
proc_cpu_ticks() {
  if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then
    awk '{ print $14 + $15 }' "/proc/$1/stat"
  else
    echo 0
  fi
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

echo "SMTP inbound to one local Maildir user, durable before the 250 on both sides; $messages messages per row unless noted"
echo "disk bounds on this scratch file system (one writer):"
python3 "$BENCH_LIB/disk_bounds.py" "$work/disk"
printf '%-44s %13s %13s %7s %16s\n' "load" "postern msg/s" "postfix msg/s" "ratio" "postern CPU ms/msg"
# label | sessions | size | messages | smtp-source flags
rows=(
  "20 sessions, new connection per message|$sessions|$size|$messages|"
  "20 persistent sessions|$sessions|$size|$messages|-d"
  "1 session|1|$size|$((messages / 5))|-d"
  "200 persistent sessions|200|$size|$messages|-d"
  "20 persistent sessions, 1 KiB|$sessions|1024|$messages|-d"
  "20 persistent sessions, 64 KiB|$sessions|65536|$((messages / 5))|-d"
  "20 persistent sessions, 4 MiB|$sessions|4194304|$((messages / 50))|-d"
)
for row in "${rows[@]}"; do
  IFS='|' read -r label n_sessions n_size count flag <<< "$row"
  flags=()
  [ -n "$flag" ] && flags=("$flag")
  # Postfix first, then Postern: a warm page cache helps the second, so the
  # order is the one that favours the yardstick.
  run_load postfix "$postfix_port" postfix_count "$n_sessions" "$n_size" "$count" "${flags[@]}"
  pf_acc=$accepted_rate pf_del=$delivered_rate
  run_load postern "$postern_port" postern_count "$n_sessions" "$n_size" "$count" "${flags[@]}"
  pt_acc=$accepted_rate pt_del=$delivered_rate
  printf '%-44s %13s %13s %7s %16s\n' "$label, accepted" "$pt_acc" "$pf_acc" "$(ratio "$pt_acc" "$pf_acc")" ""
  printf '%-44s %13s %13s %7s %16s\n' "$label, delivered" "$pt_del" "$pf_del" "$(ratio "$pt_del" "$pf_del")" "$cpu_ms"
done
echo "(ratio = postern / postfix; both servers on this machine, loopback, one after the other;"
echo " CPU = postern's user + system time over the row, from /proc; smtp-source shares the same cores)"
