#!/usr/bin/env bash
# Memory under big messages, Postern against Postfix, side by side in one
# run: BENCH_BIG_SESSIONS (4) concurrent sessions each send one message of
# BENCH_BIG_SIZE octets (25 MiB) with smtp-source; both servers store it
# durably and deliver it to a Maildir. Figures: Postern's peak resident
# memory (VmHWM) and the peak of the sum of VmRSS over Postfix's processes
# (master, smtpd, cleanup, qmgr, local...), sampled every 50 ms, each above
# its idle size; and the time until the last message is in the Maildir.
set -euo pipefail
source "$BENCH_LIB/common.sh"
source "$BENCH_LIB/postfix.sh"

sessions=${BENCH_BIG_SESSIONS:-4}
size=${BENCH_BIG_SIZE:-26214400}
limit=$((size * 2))

work=$(bench_workdir big)
cleanup() {
  postern_stop "$work/postern"
  postfix_private_stop "$work/postfix"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

postern_port=$(free_port)
postfix_port=$(free_port)
postern_start "$work/postern" "$postern_port" '[limits]' "max_message_size = $limit"
postern_add_user "$work/postern" bench@bench.example bench-password
postfix_private_start "$work/postfix" "$postfix_port" "message_size_limit = $limit" "mailbox_size_limit = 0" \
  "virtual_mailbox_limit = 0"

rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo 0; }
tree_rss_kib() {  # sum of VmRSS over a process and its descendants
  local total=0 p
  for p in $1 $(pgrep -P "$1" 2>/dev/null); do total=$((total + $(rss_kib "$p"))); done
  echo "$total"
}

postern_pid=$(cat "$work/postern/postern.pid")
postfix_pid=$(tr -d ' \n' < "$work/postfix/spool/pid/master.pid")

# run NAME PORT COUNTFN RSSFN PID → peak_kib idle_kib seconds
run_big() {
  local name=$1 port=$2 countfn=$3 rssfn=$4 pid=$5 before start peak idle now
  before=$($countfn)
  idle=$($rssfn "$pid")
  peak=$idle
  start=$(now_ns)
  smtp-source -s "$sessions" -m "$sessions" -l "$size" -f sender@load.example -t bench@bench.example \
    "127.0.0.1:$port" > "$work/$name.source.log" 2>&1 &
  local source_pid=$!
  while :; do
    now=$($rssfn "$pid")
    [ "$now" -gt "$peak" ] && peak=$now
    [ "$($countfn)" -ge $((before + sessions)) ] && ! kill -0 "$source_pid" 2>/dev/null && break
    sleep 0.05
  done
  wait "$source_pid" || { echo "bench: smtp-source against $name failed" >&2; tail -5 "$work/$name.source.log" >&2; return 1; }
  peak_kib=$peak idle_kib=$idle seconds=$(awk -v ns=$(( $(now_ns) - start )) 'BEGIN { printf "%.1f", ns / 1e9 }')
}

postern_count() { maildir_count "$work/postern/data/mail/bench.example/bench"; }
postfix_count() { postfix_maildir_count "$work/postfix"; }
postern_peak() { awk '/^VmHWM:/ { print $2 }' "/proc/$1/status"; }

run_big postfix "$postfix_port" postfix_count tree_rss_kib "$postfix_pid"
pf_peak=$peak_kib pf_idle=$idle_kib pf_s=$seconds
run_big postern "$postern_port" postern_count rss_kib "$postern_pid"
pt_peak=$(postern_peak "$postern_pid") pt_idle=$idle_kib pt_s=$seconds

mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }
echo "Big messages: $sessions concurrent sessions, one message of $size octets each, durable, delivered to a Maildir"
printf '%-10s %16s %16s %18s %12s\n' "server" "idle RSS MiB" "peak RSS MiB" "peak - idle MiB" "delivered s"
printf '%-10s %16s %16s %18s %12s\n' postern "$(mib "$pt_idle")" "$(mib "$pt_peak")" "$(mib $((pt_peak - pt_idle)))" "$pt_s"
printf '%-10s %16s %16s %18s %12s\n' postfix "$(mib "$pf_idle")" "$(mib "$pf_peak")" "$(mib $((pf_peak - pf_idle)))" "$pf_s"
awk -v a=$((pt_peak - pt_idle)) -v b=$((pf_peak - pf_idle)) \
  'BEGIN { if (b > 0) printf "memory above idle, postern / postfix: %.2f\n", a / b }'
