#!/usr/bin/env bash
# Inbound SMTP throughput, Postern against Postfix and smtp-sink, side by
# side in one run.
#
# Load: Postfix's smtp-source, messages of 4 KiB (BENCH_SESSIONS,
# BENCH_SIZE, BENCH_MESSAGES override the 20-session rows), one recipient
# each, to a local Maildir user. Durable on both sides: Postern answers 250
# after the message is in the Maildir and its journal record is flushed
# (fdatasync shared among sessions), or after fsync of the spooled message
# and its directory; Postfix's cleanup fsyncs the queue file before smtpd
# sends 250. Greylisting is off in Postern; in Postfix in_flow_delay is 0
# (its default 1s would throttle the sender, not measure the server).
# Postfix's smtp-sink, which stores nothing, gets the same load: the cost of
# the protocol alone (for it, accepted is delivered).
#
# Rows, each run on the three servers in turn: 20 sessions with a new
# connection per message (banner, HELO, one transaction, QUIT, repeated);
# 20, 1 and 200 persistent sessions (smtp-source -d, transactions back to
# back); 1 KiB, 64 KiB and 4 MiB messages over 20 persistent sessions.
# "accepted" is messages / time until smtp-source got its last 250;
# "delivered" is messages / time until the last one is in the Maildir.
# First, the disk's own bounds (lib/disk_bounds.py) on the same scratch
# file system, to read the rates against.
#
# BENCH_CLEAN=1: before each row but the first, the previous row's messages
# are removed from both Maildirs with rm, as a harness that cleans up between
# runs does (that other writer's metadata is then still on its way to disk
# while the row runs). Off by default.
# BENCH_NEIGHBOUR_MBPS=N: a noisy neighbour (lib/neighbour.py) writes N MB/s,
# buffered, to the same file system through the disk bounds and every row.
set -euo pipefail
source "$BENCH_LIB/common.sh"
source "$BENCH_LIB/postfix.sh"

sessions=${BENCH_SESSIONS:-20}
size=${BENCH_SIZE:-4096}
messages=${BENCH_MESSAGES:-5000}
clean=${BENCH_CLEAN:-0}
neighbour_mbps=${BENCH_NEIGHBOUR_MBPS:-}

work=$(bench_workdir throughput)
sink_pid=""
neighbour_pid=""
cleanup() {
  neighbour_stop
  [ -n "$sink_pid" ] && { kill -TERM "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true; }
  sink_pid=""
  postern_stop "$work/postern"
  postfix_private_stop "$work/postfix"
}
neighbour_stop() {
  [ -n "$neighbour_pid" ] || return 0
  kill -TERM "$neighbour_pid" 2>/dev/null || true
  wait "$neighbour_pid" 2>/dev/null || true
  neighbour_pid=""
}
trap cleanup EXIT
trap 'exit 130' INT TERM

postern_port=$(free_port)
postfix_port=$(free_port)
sink_port=$(free_port)
postern_start "$work/postern" "$postern_port" \
  '[limits]' "max_connections_per_ip = 800" 'max_connections = 2000' 'max_recipients = 10'
postern_add_user "$work/postern" bench@bench.example bench-password
postfix_private_start "$work/postfix" "$postfix_port"
smtp-sink -u nobody -m 1000 "127.0.0.1:$sink_port" 1000 > "$work/sink.log" 2>&1 &
sink_pid=$!
if ! wait_for_port "$sink_port" "$sink_pid"; then
  echo "bench: smtp-sink did not start on 127.0.0.1:$sink_port:" >&2
  tail -5 "$work/sink.log" >&2
  exit 1
fi

postern_maildir=$work/postern/data/mail/bench.example/bench
postfix_maildir=$work/postfix/mail/bench
postern_count() { maildir_count "$postern_maildir"; }
postfix_count() { maildir_count "$postfix_maildir"; }
sink_count() { echo 0; }

# run_load SERVER PORT COUNTFN SESSIONS SIZE COUNT FLAGS... → sets accepted_rate, delivered_rate,
# cpu_ms (the server's, to the last delivery) and client_ms (smtp-source's), per message.
# Counting starts from what the Maildir holds when the row starts.
run_load() {
  local server=$1 port=$2 countfn=$3 n_sessions=$4 n_size=$5 count=$6
  shift 6
  local before start accepted_at delivered_at cpu0 cpu1 client0 client1
  before=$($countfn)
  cpu0=$(server_cpu_ticks "$server")
  client0=$(reaped_children_ticks)
  start=$(now_ns)
  if ! smtp-source "$@" -s "$n_sessions" -m "$count" -l "$n_size" \
      -f sender@load.example -t bench@bench.example "127.0.0.1:$port" > "$work/$server.source.log" 2>&1; then
    echo "bench: smtp-source against $server failed:" >&2
    tail -5 "$work/$server.source.log" >&2
    return 1
  fi
  accepted_at=$(now_ns)
  client1=$(reaped_children_ticks)
  # smtp-sink stores nothing: its 250 is all there is.
  [ "$server" = sink ] || wait_for_count "$countfn" -- $((before + count)) 600
  delivered_at=$(now_ns)
  cpu1=$(server_cpu_ticks "$server")
  accepted_rate=$(rate "$count" $((accepted_at - start)))
  delivered_rate=$(rate "$count" $((delivered_at - start)))
  cpu_ms=$(per_message_ms $((cpu1 - cpu0)) "$count")
  client_ms=$(per_message_ms $((client1 - client0)) "$count")
}

per_message_ms() { awk -v t="$1" -v hz="$(getconf CLK_TCK)" -v n="$2" 'BEGIN { printf "%.2f", t * 1000 / hz / n }'; }

# user + system CPU ticks so far of PID ("" → 0), with the children it reaped if $2 is set
proc_cpu_ticks() {
  if [ -n "$1" ] && [ -r "/proc/$1/stat" ]; then
    awk -v all="${2:-}" '{ sub(/^.*\) /, ""); print $12 + $13 + (all ? $14 + $15 : 0) }' "/proc/$1/stat" 2>/dev/null || echo 0
  else
    echo 0
  fi
}

# A server's CPU ticks so far: Postern's process; Postfix's whole instance
# (the master with the children it reaped, and its live children: smtpd,
# cleanup, qmgr, virtual...); smtp-sink's process.
server_cpu_ticks() {
  local pid total=0 child
  case $1 in
    postern) proc_cpu_ticks "$(cat "$work/postern/postern.pid")" ;;
    sink) proc_cpu_ticks "$sink_pid" ;;
    postfix)
      pid=$(tr -d ' \n' < "$work/postfix/spool/pid/master.pid" 2>/dev/null) || { echo 0; return; }
      total=$(proc_cpu_ticks "$pid" all)
      for child in $(pgrep -P "$pid"); do total=$((total + $(proc_cpu_ticks "$child" all))); done
      echo "$total" ;;
  esac
}

# CPU ticks of the children this shell has waited for (smtp-source, once it returned)
reaped_children_ticks() { awk '{ sub(/^.*\) /, ""); print $14 + $15 }' "/proc/$$/stat"; }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

# The messages a row left in a Maildir, removed as a cleaning harness does it.
remove_delivered() {
  local sub
  for sub in new cur; do
    [ -d "$1/$sub" ] && find "$1/$sub" -type f -exec rm -f {} +
  done
  return 0
}

header="SMTP inbound to one local Maildir user, durable before the 250 on both sides; $messages messages per row unless noted"
if [ -n "$neighbour_mbps" ]; then
  header+="; a neighbour writes $neighbour_mbps MB/s (buffered) to the same file system through every row"
fi
if [ "$clean" = 1 ]; then
  header+="; before each row the previous row's messages are removed from both Maildirs (rm)"
fi
echo "$header"
if [ -n "$neighbour_mbps" ]; then
  python3 "$BENCH_LIB/neighbour.py" "$work/neighbour" --mbps "$neighbour_mbps" > "$work/neighbour.log" 2>&1 &
  neighbour_pid=$!
  echo "disk bounds on this scratch file system (one writer, and the neighbour):"
else
  echo "disk bounds on this scratch file system (one writer):"
fi
python3 "$BENCH_LIB/disk_bounds.py" "$work/disk"
fmt='%-52s %13s %13s %13s %8s %8s %9s %9s %9s %9s %10s\n'
printf "$fmt" "load" "postern msg/s" "postfix msg/s" "sink msg/s" "/postfix" "/sink" "pt CPU" "pf CPU" "sink CPU" "pf/pt CPU" "client CPU"
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
first=1
index=0
for row in "${rows[@]}"; do
  index=$((index + 1))
  # BENCH_ROWS="2 4": only those rows (1-based, in the order above)
  if [ -n "${BENCH_ROWS:-}" ] && [[ " $BENCH_ROWS " != *" $index "* ]]; then continue; fi
  IFS='|' read -r label n_sessions n_size count flag <<< "$row"
  flags=()
  [ -n "$flag" ] && flags=("$flag")
  if [ "$clean" = 1 ] && [ "$first" = 0 ]; then
    remove_delivered "$postfix_maildir"
    remove_delivered "$postern_maildir"
  fi
  first=0
  # Postfix first, then Postern: a warm page cache helps the second, so the
  # order is the one that favours the yardstick. smtp-sink stores nothing.
  run_load postfix "$postfix_port" postfix_count "$n_sessions" "$n_size" "$count" "${flags[@]}"
  pf_acc=$accepted_rate pf_del=$delivered_rate pf_cpu=$cpu_ms
  run_load postern "$postern_port" postern_count "$n_sessions" "$n_size" "$count" "${flags[@]}"
  pt_acc=$accepted_rate pt_del=$delivered_rate pt_cpu=$cpu_ms pt_client=$client_ms
  run_load sink "$sink_port" sink_count "$n_sessions" "$n_size" "$count" "${flags[@]}"
  sk=$accepted_rate sk_cpu=$cpu_ms
  printf "$fmt" "$label, accepted" "$pt_acc" "$pf_acc" "$sk" "$(ratio "$pt_acc" "$pf_acc")" "$(ratio "$pt_acc" "$sk")" "" "" "" "" ""
  printf "$fmt" "$label, delivered" "$pt_del" "$pf_del" "$sk" "$(ratio "$pt_del" "$pf_del")" "$(ratio "$pt_del" "$sk")" \
    "$pt_cpu" "$pf_cpu" "$sk_cpu" "$(ratio "$pf_cpu" "$pt_cpu")" "$pt_client"
done
if [ -n "$neighbour_pid" ]; then
  neighbour_stop
  echo "neighbour: $(cat "$work/neighbour.log")"
fi
echo "(/postfix, /sink = postern's rate over theirs; the three servers on this machine, loopback, one after"
echo " the other; smtp-sink stores nothing, so its accepted is its delivered. CPU columns: ms of user +"
echo " system time per message, from /proc, until the row's last delivery: pt = postern's process, pf ="
echo " Postfix's whole instance, sink = smtp-sink's; pf/pt CPU = Postfix's over Postern's; client CPU ="
echo " smtp-source's against Postern, which shares the same cores)"
