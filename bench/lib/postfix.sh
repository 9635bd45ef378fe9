#!/usr/bin/env bash
# Shared by the bench scripts (sourced, not run): a private Postfix instance
# in a directory of its own, listening only on loopback, never touching the
# system's Postfix configuration, queue or port 25.
#
#   postfix_private_start DIR PORT [MAIN_CF_LINE...]   start it; SMTP on 127.0.0.1:PORT
#   postfix_private_stop DIR                           stop it (by its master PID), idempotent
#   postfix_maildir_count DIR                          messages delivered to bench@bench.example
#
# Mail for bench.example is delivered by Postfix's virtual(8) agent to the
# Maildir DIR/mail/bench/; extra main.cf lines (e.g. "relayhost = [127.0.0.1]:2600")
# are appended last and so win.

postfix_private_start() {
  local dir=$1 port=$2
  shift 2
  mkdir -p "$dir/etc" "$dir/spool" "$dir/data" "$dir/mail"
  chown postfix:postfix "$dir/data" "$dir/mail"
  local uid gid
  uid=$(id -u postfix)
  gid=$(id -g postfix)
  cat > "$dir/etc/main.cf" <<CF
compatibility_level = 3.6
queue_directory = $dir/spool
data_directory = $dir/data
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
maillog_file = $dir/maillog
maillog_file_prefixes = $dir
myhostname = postfix.bench.example
mydomain = bench.example
myorigin = \$myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = bench.example
virtual_mailbox_base = $dir/mail
virtual_mailbox_maps = inline:{ bench@bench.example=bench/ }
virtual_uid_maps = static:$uid
virtual_gid_maps = static:$gid
# The load generator sends from one address as fast as it can: no tarpit,
# no per-client caps, enough smtpd processes for every session.
in_flow_delay = 0s
smtpd_client_connection_count_limit = 0
smtpd_client_message_rate_limit = 0
default_process_limit = 200
smtputf8_enable = no
biff = no
CF
  local line
  for line in "$@"; do printf '%s\n' "$line" >> "$dir/etc/main.cf"; done
  cat > "$dir/etc/master.cf" <<CF
127.0.0.1:$port inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
cleanup    unix  n - n -  0 cleanup
qmgr       unix  n - n 300 1 qmgr
rewrite    unix  - - n -  - trivial-rewrite
bounce     unix  - - n -  0 bounce
defer      unix  - - n -  0 bounce
trace      unix  - - n -  0 bounce
verify     unix  - - n -  1 verify
flush      unix  n - n 1000? 0 flush
proxymap   unix  - - n -  - proxymap
proxywrite unix  - - n -  1 proxymap
smtp       unix  - - n -  - smtp
relay      unix  - - n -  - smtp
showq      unix  n - n -  - showq
error      unix  - - n -  - error
retry      unix  - - n -  - error
discard    unix  - - n -  - discard
local      unix  - n n -  - local
virtual    unix  - n n -  - virtual
lmtp       unix  - - n -  - lmtp
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
CF
  postfix -c "$dir/etc" check >/dev/null 2>&1 || true
  postfix -c "$dir/etc" start >"$dir/start.log" 2>&1 || {
    cat "$dir/start.log" >&2
    return 1
  }

  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  echo "bench: private Postfix did not listen on 127.0.0.1:$port; see $dir/maillog" >&2
  return 1
}

postfix_private_stop() {
  local dir=$1 pidfile="$1/spool/pid/master.pid" pid
  [ -f "$pidfile" ] || return 0
  pid=$(tr -d ' \n' < "$pidfile")
  postfix -c "$dir/etc" stop >/dev/null 2>&1 || true
  for _ in $(seq 1 100); do
    kill -0 "$pid" 2>/dev/null || return 0
    sleep 0.1
  done
  kill -9 "$pid" 2>/dev/null || true
}

postfix_maildir_count() {
  local d="$1/mail/bench"
  local n=0 sub
  for sub in new cur; do
    [ -d "$d/$sub" ] && n=$((n + $(find "$d/$sub" -type f | wc -l)))
  done
  echo "$n"
}
