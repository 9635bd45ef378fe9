"""`postern probe` against a real Postfix: a private instance (its own
config, queue and data directories under a scratch dir, on a free loopback
port, as bench/lib/postfix.sh runs one) with STARTTLS on a self-signed
certificate and Cyrus SASL offered only after TLS (smtpd_tls_auth_only).
What a user sees: STARTTLS offered, AUTH only inside TLS, TLS 1.2 or later,
the certificate not verified, ENHANCEDSTATUSCODES, and Postfix's 550 5.1.1
for an unknown recipient; no auth_before_tls, no starttls_injection."""
import json
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import unittest

import harness
from harness import POSTERN
from test_probe import ProbeCase, make_long_cert, probe

POSTFIX = shutil.which("postfix") or ("/usr/sbin/postfix" if os.path.exists("/usr/sbin/postfix") else None)

MASTER_CF = """\
127.0.0.1:{port} inet n - n - - smtpd
pickup     unix  n - n 60 1 pickup
tlsmgr     unix  - - n 1000? 1 tlsmgr
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
virtual    unix  - n n -  - virtual
anvil      unix  - - n -  1 anvil
scache     unix  - - n -  1 scache
postlog    unix-dgram n - n - 1 postlogd
"""


def main_cf(d, cert, key):
    pw = pwd.getpwnam("postfix")
    return f"""\
compatibility_level = 3.6
queue_directory = {d}/spool
data_directory = {d}/data
meta_directory = /etc/postfix
shlib_directory = /usr/lib/postfix
command_directory = /usr/sbin
daemon_directory = /usr/lib/postfix/sbin
mail_owner = postfix
setgid_group = postdrop
maillog_file = {d}/maillog
maillog_file_prefixes = {d}
myhostname = mx.probe.example
mydomain = probe.example
myorigin = $myhostname
mydestination =
inet_interfaces = 127.0.0.1
inet_protocols = ipv4
mynetworks = 127.0.0.0/8
alias_maps =
alias_database =
local_recipient_maps =
smtpd_recipient_restrictions = permit_mynetworks, reject_unauth_destination
virtual_mailbox_domains = probe.example
virtual_mailbox_base = {d}/mail
virtual_mailbox_maps = inline:{{ postmaster@probe.example=postmaster/ }}
virtual_uid_maps = static:{pw.pw_uid}
virtual_gid_maps = static:{pw.pw_gid}
smtpd_tls_cert_file = {cert}
smtpd_tls_key_file = {key}
smtpd_tls_security_level = may
smtpd_tls_auth_only = yes
smtpd_sasl_auth_enable = yes
smtpd_sasl_type = cyrus
smtpd_sasl_path = smtpd
cyrus_sasl_config_path = {d}/sasl
smtputf8_enable = no
biff = no
"""


class PrivatePostfix:
    def __init__(self, d, cert, key):
        self.dir, self.port = d, harness.free_port()
        for sub in ("etc", "spool", "data", "mail", "sasl"):
            os.makedirs(os.path.join(d, sub), exist_ok=True)
        for sub in ("data", "mail"):
            shutil.chown(os.path.join(d, sub), "postfix", "postfix")
        with open(os.path.join(d, "sasl", "smtpd.conf"), "w") as f:
            f.write(f"pwcheck_method: auxprop\nauxprop_plugin: sasldb\nmech_list: PLAIN LOGIN\n"
                    f"sasldb_path: {d}/sasl/sasldb2\n")
        with open(os.path.join(d, "etc", "main.cf"), "w") as f:
            f.write(main_cf(d, cert, key))
        with open(os.path.join(d, "etc", "master.cf"), "w") as f:
            f.write(MASTER_CF.format(port=self.port))
        self.master_pid = None

    def postfix(self, *args):
        return subprocess.run([POSTFIX, "-c", os.path.join(self.dir, "etc"), *args],
                              capture_output=True, text=True, timeout=30)

    def log(self):
        try:
            with open(os.path.join(self.dir, "maillog")) as f:
                return f.read()[-3000:]
        except OSError:
            return ""

    def start(self):
        self.postfix("check")
        r = self.postfix("start")
        if r.returncode != 0:
            raise RuntimeError(f"postfix start failed: {r.stdout}{r.stderr}{self.log()}")
        pidfile = os.path.join(self.dir, "spool", "pid", "master.pid")
        harness.wait_for(lambda: self._read(pidfile).strip(), timeout=15)
        self.master_pid = int(self._read(pidfile).strip())
        harness.wait_for_port("127.0.0.1", self.port, timeout=15)

    def stop(self):
        if self.master_pid is None:
            return
        self.postfix("stop")
        if not harness.wait_for(lambda: not self._alive(), timeout=10):
            os.kill(self.master_pid, signal.SIGKILL)
            harness.wait_for(lambda: not self._alive(), timeout=5)

    @staticmethod
    def _read(path):
        try:
            with open(path) as f:
                return f.read()
        except OSError:
            return ""

    def _alive(self):
        try:
            os.kill(self.master_pid, 0)
        except ProcessLookupError:
            return False
        return True


@unittest.skipUnless(POSTFIX, "postfix is not installed (scripts/deps.sh --test installs it)")
class ProbePostfix(ProbeCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory(prefix="postern-probe-postfix-")
        os.chmod(cls.tmp.name, 0o755)
        cert, key = make_long_cert(cls.tmp.name, "mx.probe.example", "DNS:mx.probe.example")
        cls.pf = PrivatePostfix(os.path.join(cls.tmp.name, "pf"), cert, key)
        try:
            cls.pf.start()
        except Exception:
            cls.pf.stop()
            cls.tmp.cleanup()
            raise
        cls.target = f"127.0.0.1:{cls.pf.port}"

    @classmethod
    def tearDownClass(cls):
        cls.pf.stop()
        pid = cls.pf.master_pid
        cls.tmp.cleanup()
        if pid is not None:
            try:
                os.kill(pid, 0)
                raise AssertionError(f"Postfix master {pid} still running")
            except ProcessLookupError:
                pass

    def test_starttls_and_auth_only_after_tls(self):
        out = self.probe_json(self.target, expect_rc=1)
        host = out["hosts"][0]
        self.assertTrue(host["answered"], host)
        self.assertEqual(host["greeting"]["code"], 220)
        self.assertIn("mx.probe.example", host["greeting"]["text"])
        before, after = host["ehlo_before_tls"], host["ehlo_after_tls"]
        self.assertTrue(before["starttls"])
        self.assertEqual(before["auth"], [])
        self.assertTrue(before["enhancedstatuscodes"])
        self.assertIsNotNone(after, self.pf.log())
        self.assertIn("PLAIN", after["auth"])
        self.assertIn("LOGIN", after["auth"])
        self.assertFalse(after["starttls"])
        self.assertTrue(after["enhancedstatuscodes"])
        tls = host["tls"]
        self.assertTrue(tls["ok"], tls)
        self.assertIn(tls["version"], ("TLSv1.2", "TLSv1.3"))
        self.assertFalse(tls["verified"])
        self.assertIn("mx.probe.example", tls["subject"])
        self.assertFalse(host["starttls_injection"])
        ids = self.ids(out)
        self.assertIn("certificate_not_verified", ids)
        for absent in ("auth_before_tls", "starttls_injection", "no_starttls", "starttls_failed",
                       "tls_below_1_2", "no_enhancedstatuscodes"):
            self.assertNotIn(absent, ids)

    def test_unknown_recipient_gets_550_5_1_1(self):
        out = self.probe_json(self.target, "--rcpt", "nobody@probe.example", expect_rc=1)
        rcpt = out["hosts"][0]["rcpt"]
        self.assertEqual(rcpt["mail"]["code"], 250)
        self.assertEqual(rcpt["rcpt"]["code"], 550, rcpt)
        self.assertEqual(rcpt["rcpt"]["enhanced"], "5.1.1")
        self.assertIn("User unknown", rcpt["rcpt"]["text"])
        self.assertFalse(rcpt["greylisted"])

    def test_text_output(self):
        r = probe(self.target)
        self.assertEqual(r.returncode, 1, r.stdout + r.stderr)
        before_tls, _, after_tls = r.stdout.partition("EHLO after TLS:")
        self.assertIn("STARTTLS", before_tls)
        self.assertIn("AUTH: none", before_tls)
        self.assertIn("PLAIN", after_tls)
        self.assertRegex(r.stdout, r"TLS: TLSv1\.[23] ")
        self.assertIn("does not verify (self-signed certificate)", r.stdout)
        self.assertIn("certificate_not_verified", r.stdout)
        self.assertIn("STARTTLS injection (CVE-2011-0411): not accepted", r.stdout)
        self.assertNotIn("auth_before_tls", r.stdout)
        save = os.environ.get("POSTERN_PROBE_POSTFIX_OUT")
        if save:
            with open(save, "w") as f:
                f.write(r.stdout)


if __name__ == "__main__":
    unittest.main()
