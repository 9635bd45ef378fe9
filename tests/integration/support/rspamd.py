"""A private rspamd (Debian's package) as a milter: its proxy worker with
`milter = yes` scanning by itself (self_scan), on a free loopback port, with
its own configuration directory, its own Redis and no network lookups
(every module that asks DNS or fetches maps is off, the resolver points at
a closed loopback port). Stopped by its PID.

Test hooks: a message whose Subject contains "greylist-me" gets the score
of rspamd's greylist action (the greylist module then answers
451 4.7.1 through the milter); GTUBE is refused by rspamd itself."""
import grp
import os
import pwd
import shutil
import subprocess

from harness import free_port, wait_for_port
from support.processes import stop_process
from support.redis import RedisServer
from support.scratch import scratch_dir

# Modules that look things up on the network (DNS, HTTP maps) or need a
# trained state; the tests want rspamd's own verdicts only.
DISABLED_MODULES = (
    "rbl", "surbl", "fuzzy_check", "spf", "dkim", "dmarc", "arc", "asn", "hfilter", "neural", "ratelimit",
    "replies", "history_redis", "reputation", "url_redirector", "mx_check", "phishing", "dcc", "emails",
    "once_received", "bimi", "p0f", "spamassassin", "clickhouse", "elastic", "antivirus", "external_services",
    "metric_exporter", "rspamd_update", "whitelist", "maillist", "mime_types", "forged_recipients", "multimap",
    "dkim_signing", "mid",
)

MAIN_CONF = """.include "$CONFDIR/common.conf"
options {
  pidfile = "$RUNDIR/rspamd.pid";
  .include "$CONFDIR/options.inc"
  .include(try=true; priority=1,duplicate=merge) "$LOCAL_CONFDIR/local.d/options.inc"
}
logging {
  type = "file";
  filename = "$LOGDIR/rspamd.log";
  level = "info";
}
worker "rspamd_proxy" {
  bind_socket = "127.0.0.1:%(port)d";
  milter = yes;
  timeout = 120s;
  count = 1;
  upstream "local" { default = yes; self_scan = yes; }
}
"""

LOCAL = {
    # A closed port: any lookup a module still tries fails at once.
    "options.inc": 'dns { nameserver = ["127.0.0.1:%(closed)d"]; timeout = 0.2s; retransmits = 1; }\n'
                   'url_tld = "%(dir)s/tld.dat";\n',
    "redis.conf": 'servers = "127.0.0.1:%(redis)d";\n',
    "greylist.conf": "check_local = true;\ncheck_authed = true;\ntimeout = 5min;\n",
    "milter_headers.conf": 'use = ["x-spamd-bar", "x-spam-level", "x-spam-status", "x-rspamd-server", '
                           '"x-rspamd-queue-id"];\nskip_local = false;\nskip_authenticated = false;\n',
    "actions.conf": "reject = 15;\nadd_header = 6;\ngreylist = 4;\n",
}

LOCAL_LUA = """rspamd_config.POSTERN_TEST_GREYLIST = {
  callback = function(task)
    local s = task:get_subject()
    return s ~= nil and s:find('greylist-me', 1, true) ~= nil
  end,
  score = 5.0,
  description = 'test messages that ask to be greylisted',
}
"""


class RspamdMilter:
    def __init__(self):
        self.redis = RedisServer()
        self.dir = scratch_dir("postern-rspamd-")
        self.port = free_port()
        values = {"port": self.port, "closed": free_port(), "dir": self.dir, "redis": self.redis.port}
        for sub in ("local.d", "run", "db", "log"):
            os.makedirs(os.path.join(self.dir, sub))
        with open(os.path.join(self.dir, "rspamd.conf"), "w") as f:
            f.write(MAIN_CONF % values)
        # A short public suffix list: the full one takes rspamd half a minute to compile.
        with open(os.path.join(self.dir, "tld.dat"), "w") as f:
            f.write("com\norg\nnet\nexample\ntest\ninvalid\n")
        for name, text in LOCAL.items():
            with open(os.path.join(self.dir, "local.d", name), "w") as f:
                f.write(text % values)
        for module in DISABLED_MODULES:
            with open(os.path.join(self.dir, "local.d", module + ".conf"), "w") as f:
                f.write("enabled = false;\n")
        with open(os.path.join(self.dir, "rspamd.local.lua"), "w") as f:
            f.write(LOCAL_LUA)
        self.proc = None
        self.start()

    @property
    def address(self):
        return f"inet:127.0.0.1:{self.port}"

    def start(self):
        d = self.dir
        self.output = open(os.path.join(d, "log", "stdout.txt"), "ab")
        # -i: rspamd may run as the test's user, root included.
        self.proc = subprocess.Popen(
            ["rspamd", "-f", "-i", "-u", pwd.getpwuid(os.getuid()).pw_name, "-g", grp.getgrgid(os.getgid()).gr_name, "-c", os.path.join(d, "rspamd.conf"),
             "--var", f"LOCAL_CONFDIR={d}", "--var", f"RUNDIR={d}/run", "--var", f"DBDIR={d}/db",
             "--var", f"LOGDIR={d}/log"],
            stdout=self.output, stderr=self.output)
        wait_for_port("127.0.0.1", self.port, timeout=60, proc=self.proc)

    def stop(self):
        stop_process(self.proc)
        self.proc = None
        self.output.close()

    def log_text(self):
        with open(os.path.join(self.dir, "log", "rspamd.log"), "rb") as f:
            return f.read().decode("utf-8", "replace")

    def cleanup(self):
        if self.proc is not None:
            self.stop()
        self.redis.stop()
        shutil.rmtree(self.dir, ignore_errors=True)
