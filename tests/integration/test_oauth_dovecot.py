"""The same OAuth 2.0 SASL client exchange (smtplib, the JSON error 334
answered by hand) against a private Dovecot submission service with an
oauth2 passdb and against `postern serve`, both asking the same RFC 7662
introspection endpoint: a good token passes both, an inactive one gets the
same JSON error exchange and 535 from both. Then `postern send` itself
(OAUTHBEARER and XOAUTH2) against Dovecot, `postern serve` and the
testbed: the error exchange answered, exit 77, the token never shown.
Dovecot runs with its own config on loopback ports and is stopped by PID."""
import base64
import json
import os
import shutil
import smtplib
import subprocess
import tempfile
import unittest

from harness import Server, free_port, wait_for, wait_for_port
from send_support import make_cert
from support.processes import stop_process
from support.tls import tls_context
from send_support import send
from test_oauth_server import MESSAGES, SCOPE, USER, Introspection, b64, oauth_config
from test_testbed import Testbed

DOVECOT = shutil.which("dovecot") or "/usr/sbin/dovecot"


def dovecot_config(d, port, url, ca):
    with open(os.path.join(d, "oauth2.conf.ext"), "w") as f:
        f.write(f"introspection_mode = post\nintrospection_url = {url}\ntls_ca_cert_file = {ca}\n"
                "username_attribute = username\nactive_attribute = active\nactive_value = true\n"
                f"scope = {SCOPE}\n")
    conf = os.path.join(d, "dovecot.conf")
    with open(conf, "w") as f:
        f.write(f"""base_dir = {d}/run
state_dir = {d}/state
log_path = {d}/dovecot.log
protocols = submission
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
hostname = dovecot.test
mail_location = maildir:{d}/mail/%u
default_login_user = dovenull
default_internal_user = dovecot
auth_mechanisms = xoauth2 oauthbearer
submission_relay_host = 127.0.0.1
submission_relay_port = {free_port()}
passdb {{
  driver = oauth2
  mechanisms = xoauth2 oauthbearer
  args = {d}/oauth2.conf.ext
}}
userdb {{
  driver = static
  args = uid=nobody gid=nogroup home={d}/home/%u
}}
service submission-login {{
  inet_listener submission {{
    port = {port}
  }}
}}
service anvil {{
  chroot =
}}
""")
    return conf


@unittest.skipUnless(os.path.exists(DOVECOT), "dovecot is not installed (scripts/deps.sh)")
class SameExchangeAsDovecot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="postern-oauth-dovecot-")
        os.chmod(cls.tmp, 0o755)  # Dovecot's unprivileged processes read their sockets under it
        cls.cert, key = make_cert(cls.tmp, "introspect", "IP:127.0.0.1,DNS:localhost")
        os.chmod(cls.cert, 0o644)
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.endpoint = Introspection(cls.cert, key)
        cls.addClassCleanup(cls.endpoint.stop)
        cls.dovecot_port = free_port()
        conf = dovecot_config(cls.tmp, cls.dovecot_port, cls.endpoint.url, cls.cert)
        with open(os.path.join(cls.tmp, "dovecot.stderr"), "wb") as err:
            cls.dovecot = subprocess.Popen([DOVECOT, "-F", "-c", conf], stdout=subprocess.DEVNULL, stderr=err)
        # Class cleanups run even when setUpClass fails part-way (tearDownClass would not).
        cls.addClassCleanup(stop_process, cls.dovecot, timeout=20)
        wait_for_port("127.0.0.1", cls.dovecot_port, timeout=20, proc=cls.dovecot)
        secret = os.path.join(cls.tmp, "client.secret")
        with open(secret, "w") as f:
            f.write("s3cret\n")
        os.chmod(secret, 0o600)
        cls.postern = Server(extra=oauth_config(cls.endpoint.url, cls.cert, secret))
        cls.addClassCleanup(cls.postern.cleanup)
        cls.postern.start()

    def exchange(self, server, mech, token):
        """(first reply code, decoded JSON or None, final reply code) of one AUTH, by hand."""
        if server == "dovecot":
            s = smtplib.SMTP("127.0.0.1", self.dovecot_port, timeout=30)
        else:
            s = smtplib.SMTP(*self.postern.submission, timeout=30)
            s.starttls(context=tls_context())
        self.addCleanup(s.close)
        s.ehlo("client.example.net")
        self.assertIn(mech, s.esmtp_features.get("auth", "").upper().split(), server)
        code, text = s.docmd("AUTH", f"{mech} {b64(MESSAGES[mech](USER, token))}")
        if code != 334:
            return code, None, code
        error = json.loads(base64.b64decode(text))
        final, _ = s.docmd(b64("\x01") if mech == "OAUTHBEARER" else "")
        return code, error, final

    def test_good_and_inactive_tokens_get_the_same_answers(self):
        for mech in MESSAGES:
            with self.subTest(mech=mech):
                good = {name: self.exchange(name, mech, f"good-{USER}+{name}") for name in ("dovecot", "postern")}
                self.assertEqual(good["postern"], (235, None, 235))
                self.assertEqual(good["dovecot"][0], 235, good)
                bad = {name: self.exchange(name, mech, "inactive-" + name) for name in ("dovecot", "postern")}
                for name, (code, error, final) in bad.items():
                    self.assertEqual((code, final), (334, 535), (name, bad))
                # Dovecot 2.3 sends the status alone ({"status":"invalid_token"}); what
                # it says, Postern says too, and adds RFC 7628's schemes and scope.
                dovecot, postern = bad["dovecot"][1], bad["postern"][1]
                self.assertEqual({k: postern[k] for k in dovecot if k != "openid-configuration"},
                                 {k: v for k, v in dovecot.items() if k != "openid-configuration"})
                self.assertEqual(postern["schemes"], "bearer")

    def test_postern_send_against_dovecot_and_postern(self):
        targets = {"dovecot": ("127.0.0.1:%d" % self.dovecot_port, "--tls", "none"),
                   "postern": ("%s:%d" % self.postern.submission, "--tls", "starttls", "--insecure")}
        for name, (address, *tls) in targets.items():
            for mech in MESSAGES:
                with self.subTest(server=name, mech=mech):
                    good = send_with_token(address, mech, f"good-{USER}+send", *tls)
                    self.assertIn("authenticated with " + mech, good.stderr)
                    self.assertNotIn(f"good-{USER}+send", good.stdout + good.stderr)
                    bad = send_with_token(address, mech, "inactive-send-token", *tls)
                    self.assertEqual(bad.returncode, 77, bad.stderr)
                    self.assertIn("[decoded: {\"status\":", bad.stderr)  # the JSON error, decoded
                    self.assertNotIn("inactive-send-token", bad.stdout + bad.stderr)


def send_with_token(address, mech, token, *extra):
    return send("--server", address, *extra, "--user", USER, "--mech", mech, "--from", USER,
                "--to", USER, "--subject", "oauth", "--body", "-", "-v", input="hello\n",
                env={"POSTERN_OAUTH_TOKEN": token})


class SendToTheTestbed(unittest.TestCase):
    def setUp(self):
        self.tb = Testbed()
        self.addCleanup(self.tb.cleanup)
        self.address = "127.0.0.1:%d" % self.tb.ports["smtp"]

    def test_any_token_passes_invalid_gets_the_exchange_expired_a_454(self):
        for mech in MESSAGES:
            with self.subTest(mech=mech):
                ok = send_with_token(self.address, mech, "any-token", "--tls", "none")
                self.assertEqual(ok.returncode, 0, ok.stderr)
                refused = send_with_token(self.address, mech, "invalid-token", "--tls", "none")
                self.assertEqual(refused.returncode, 77, refused.stderr)
                self.assertIn("535 5.7.8", refused.stderr)
                expired = send_with_token(self.address, mech, "expired-token", "--tls", "none")
                self.assertIn("454 4.7.0", expired.stderr)
                self.assertNotEqual(expired.returncode, 0)


if __name__ == "__main__":
    unittest.main()
