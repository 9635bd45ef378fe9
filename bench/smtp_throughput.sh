#!/usr/bin/env bash
# Inbound SMTP throughput, Postern against Postfix, side by side in one run.
#
# Load: Postfix's smtp-source, 20 concurrent sessions, messages of 4 KiB
# (BENCH_SESSIONS, BENCH_SIZE, BENCH_MESSAGES override), one recipient each,
# to a local Maildir user. Durable on both sides: Postern sends 250 after
# fsync of the spooled message and its directory; Postfix's cleanup fsyncs
# the queue file before smtpd sends 250. Greylisting is off in Postern; in
# Postfix in_flow_delay is 0 (its default 1s would throttle the sender, not
# measure the server).
#
# Two shapes of load, each run on both servers in turn:
#   * new connection per message (smtp-source default): banner, HELO, one
#     transaction, QUIT, repeated;
#   * persistent sessions (smtp-source -d): 20 connections, transactions back
#     to back.
# "accepted" is messages / time until smtp-source got its last 250;
# "delivered" is messages / time until the last one is in the Maildir.
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
  '[limits]' "max_connections_per_ip = $((sessions * 4))" 'max_recipients = 10'
postern_add_user "$work/postern" bench@bench.example bench-password
postfix_private_start "$work/postfix" "$postfix_port"

postern_count() { maildir_count "$work/postern/data/mail/bench.example/bench"; }
postfix_count() { postfix_maildir_count "$work/postfix"; }

# run SERVER PORT COUNTFN FLAGS... → sets accepted_rate, delivered_rate
run_load() {
  local server=$1 port=$2 countfn=$3
  shift 3
  local before start accepted_at delivered_at
  before=$($countfn)
  start=$(now_ns)
  if ! smtp-source "$@" -s "$sessions" -m "$messages" -l "$size" \
      -f sender@load.example -t bench@bench.example "127.0.0.1:$port" > "$work/$server.source.log" 2>&1; then
    echo "bench: smtp-source against $server failed:" >&2
    tail -5 "$work/$server.source.log" >&2
    return 1
  fi
  accepted_at=$(now_ns)
  wait_for_count "$countfn" -- $((before + messages)) 600
  delivered_at=$(now_ns)
  accepted_rate=$(rate "$messages" $((accepted_at - start)))
  delivered_rate=$(rate "$messages" $((delivered_at - start)))
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0) ? a / b : 0 }'; }

echo "SMTP inbound: $sessions sessions, $messages messages of $size octets per run, durable (fsync before 250)"
printf '%-34s %14s %14s %8s\n' "load" "postern msg/s" "postfix msg/s" "ratio"
for shape in "new connection per message" "persistent sessions (-d)"; do
  flags=()
  [ "$shape" = "persistent sessions (-d)" ] && flags=(-d)
  # Postfix first, then Postern: a warm page cache helps the second, so the
  # order is the one that favours the yardstick.
  run_load postfix "$postfix_port" postfix_count "${flags[@]}"
  pf_acc=$accepted_rate pf_del=$delivered_rate
  run_load postern "$postern_port" postern_count "${flags[@]}"
  pt_acc=$accepted_rate pt_del=$delivered_rate
  printf '%-34s %14s %14s %8s\n' "$shape, accepted" "$pt_acc" "$pf_acc" "$(ratio "$pt_acc" "$pf_acc")"
  printf '%-34s %14s %14s %8s\n' "$shape, delivered" "$pt_del" "$pf_del" "$(ratio "$pt_del" "$pf_del")"
done
echo "(ratio = postern / postfix; both servers on this machine, loopback, one after the other)"
