"""Independent clients authenticate against the real binary over STARTTLS
and submit a message that lands in the Maildir: Python smtplib (PLAIN,
LOGIN, CRAM-MD5), the GNU SASL command line client (SCRAM-SHA-256,
SCRAM-SHA-256-PLUS, SCRAM-SHA-1, SCRAM-SHA-1-PLUS, PLAIN), msmtp
(SCRAM-SHA-256, SCRAM-SHA-1, PLAIN, LOGIN, CRAM-MD5) and swaks (PLAIN,
LOGIN, CRAM-MD5). Wrong passwords fail with 535 in each."""
import os
import shutil
import smtplib
import subprocess
import tempfile
import time
import unittest

from support.auth import PASSWORD
from support.tls import tls_context
from harness import Server

ALICE = "alice@example.org"  # has a CRAM-MD5 secret
BOB = "bob@example.org"      # does not
ALL_MECHS = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "CRAM-MD5", "PLAIN", "LOGIN"]


class AuthClients(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(listeners=("submission",),
                            extra={"auth": {"mechanisms": ALL_MECHS, "lockout_failures": 1000,
                                            "max_failures_per_session": 3}}).start()
        for user, extra in ((ALICE, ["--cram-md5"]), (BOB, [])):
            r = cls.server.cli("user", "add", "--password-stdin", *extra, user, input=PASSWORD + "\n")
            assert r.returncode == 0, r.stderr
        cls.host, cls.port = cls.server.submission
        cls.tmp = tempfile.mkdtemp(prefix="postern-auth-clients-")

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        shutil.rmtree(cls.tmp, ignore_errors=True)

    def expect_delivery(self, rcpt, marker, timeout=10.0):
        """The accepted message is on disk: in rcpt's Maildir once delivered,
        in the spool until then (the 250 after DATA promised stable storage)."""
        deadline = time.monotonic() + timeout
        while True:
            for root in (self.server.maildir(rcpt), os.path.join(self.server.data_dir, "spool")):
                for dirpath, _, files in os.walk(root):
                    for name in files:
                        try:
                            with open(os.path.join(dirpath, name), "rb") as f:
                                if marker.encode() in f.read():
                                    return
                        except OSError:
                            pass
            if time.monotonic() > deadline:
                self.fail(f"message {marker} not found under {self.server.data_dir}")
            time.sleep(0.1)

    # ---- smtplib ----
    def smtplib_session(self):
        s = smtplib.SMTP(self.host, self.port, timeout=20)
        self.addCleanup(s.close)
        s.ehlo("smtplib.example.net")
        s.starttls(context=tls_context())
        s.ehlo("smtplib.example.net")
        return s

    def test_smtplib(self):
        cases = [("PLAIN", "auth_plain", ALICE), ("LOGIN", "auth_login", ALICE), ("CRAM-MD5", "auth_cram_md5", ALICE),
                 ("PLAIN", "auth_plain", BOB)]
        for mech, method, user in cases:
            with self.subTest(mech=mech, user=user):
                s = self.smtplib_session()
                s.user, s.password = user, PASSWORD
                code, text = s.auth(mech, getattr(s, method), initial_response_ok=(mech == "PLAIN"))
                self.assertEqual(code, 235, text)
                marker = f"smtplib-{mech}-{user}"
                s.sendmail(user, [user], f"Subject: {marker}\r\n\r\n{marker}\r\n")
                self.expect_delivery(user, marker)

    def test_smtplib_login_picks_and_works(self):
        s = self.smtplib_session()
        code, text = s.login(ALICE, PASSWORD)
        self.assertEqual(code, 235, text)

    def test_smtplib_failures(self):
        for mech, method, user in [("PLAIN", "auth_plain", ALICE), ("LOGIN", "auth_login", ALICE),
                                   ("CRAM-MD5", "auth_cram_md5", ALICE),
                                   ("CRAM-MD5", "auth_cram_md5", BOB)]:  # BOB has no CRAM-MD5 secret
            with self.subTest(mech=mech, user=user):
                s = self.smtplib_session()
                s.user, s.password = user, PASSWORD if user == BOB else "wrong"
                with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
                    s.auth(mech, getattr(s, method), initial_response_ok=False)
                self.assertEqual(e.exception.smtp_code, 535)

    # ---- gsasl ----
    def gsasl(self, mech, user=ALICE, password=PASSWORD, extra=()):
        return subprocess.run(
            ["gsasl", "--smtp", f"--connect={self.host}:{self.port}", "--starttls", "--x509-ca-file=",
             "--hostname=mx.example.org", "-m", mech, "-a", user, "-p", password, "--verbose", *extra],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

    def test_gsasl_cli(self):
        for mech in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1-PLUS", "SCRAM-SHA-1", "PLAIN"]:
            with self.subTest(mech=mech):
                extra = () if mech.endswith("-PLUS") else ("--no-cb",)
                r = self.gsasl(mech, extra=extra)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("235 2.7.0", r.stdout + r.stderr)

    def test_gsasl_cli_wrong_password(self):
        for mech in ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256"]:
            with self.subTest(mech=mech):
                extra = () if mech.endswith("-PLUS") else ("--no-cb",)
                r = self.gsasl(mech, password="wrong", extra=extra)
                self.assertNotEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("535 5.7.8", r.stdout + r.stderr)

    # ---- msmtp ----
    def msmtp(self, auth, user=ALICE, password=PASSWORD, marker="x"):
        rc = os.path.join(self.tmp, f"msmtprc-{auth}-{user}")
        with open(rc, "w") as f:
            f.write(f"account default\nhost {self.host}\nport {self.port}\ntls on\ntls_starttls on\n"
                    f"tls_certcheck off\nauth {auth}\nuser {user}\npassword {password}\nfrom {user}\n"
                    f"domain msmtp.example.net\n")
        os.chmod(rc, 0o600)
        msg = f"From: {user}\r\nTo: {user}\r\nSubject: {marker}\r\n\r\n{marker}\r\n"
        return subprocess.run(["msmtp", "-C", rc, user], input=msg, capture_output=True, text=True, timeout=60)

    def test_msmtp(self):
        for auth in ["scram-sha-256", "scram-sha-1", "plain", "login", "cram-md5"]:
            with self.subTest(auth=auth):
                marker = f"msmtp-{auth}"
                r = self.msmtp(auth, marker=marker)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.expect_delivery(ALICE, marker)

    def test_msmtp_wrong_password(self):
        r = self.msmtp("scram-sha-256", password="wrong")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("535", r.stderr)

    # ---- swaks ----
    def swaks(self, auth, user=ALICE, password=PASSWORD, marker="x"):
        return subprocess.run(
            ["swaks", "--server", f"{self.host}:{self.port}", "-tls", "--auth", auth, "--auth-user", user,
             "--auth-password", password, "--from", user, "--to", user, "--helo", "swaks.example.net",
             "--header", f"Subject: {marker}", "--body", marker, "--timeout", "30"],
            capture_output=True, text=True, timeout=60)

    def test_swaks(self):
        for auth in ["PLAIN", "LOGIN", "CRAM-MD5"]:
            with self.subTest(auth=auth):
                marker = f"swaks-{auth}"
                r = self.swaks(auth, marker=marker)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("235 2.7.0 Authentication successful", r.stdout)
                self.expect_delivery(ALICE, marker)

    def test_swaks_wrong_password(self):
        r = self.swaks("LOGIN", password="wrong")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("535 5.7.8 Authentication credentials invalid", r.stdout)


if __name__ == "__main__":
    unittest.main()
