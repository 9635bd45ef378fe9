"""AUTH relayed to Dovecot (SPEC §12, [auth] backend = "dovecot"): a
private Dovecot (support/dovecot.py) with a passwd-file user database is
the only place passwords live. swaks, smtplib and gsasl authenticate
through `postern serve` with Dovecot's passwords (PLAIN, LOGIN, CRAM-MD5,
SCRAM-SHA-256, SCRAM-SHA-1) and get 535 5.7.8 with a wrong one; the EHLO
list is Dovecot's; Dovecot stopped gives 454 4.7.0 and Dovecot started
again is reached again; a silent auth socket gives 454 within the
deadline; a TCP auth socket (inet:HOST:PORT) works like the unix one;
the lockout, the session limit and `postern user disable` stay
Postern's; `postern user add` says where users live."""
import base64
import hmac
import os
import shutil
import smtplib
import socket
import subprocess
import threading
import time
import unittest

from harness import Server
from support import dovecot as dovecot_support
from support.auth import AuthSMTP
from support.dovecot import Dovecot
from support.sasl import b64
from support.scratch import scratch_dir
from support.tls import tls_context

ALICE, ALICE_PW = "alice@example.org", "alice dovecot pw"
BOB, BOB_PW = "bob@example.org", "bob pw with spaces"
USERS = {ALICE: ALICE_PW, BOB: BOB_PW}
MECHS = ("plain", "login", "cram-md5", "scram-sha-256", "scram-sha-1")
AVAILABLE = dovecot_support.available() and shutil.which("swaks") and shutil.which("gsasl")


def postern_for(socket_path, **auth):
    settings = {"backend": "dovecot", "dovecot_socket": socket_path, "dovecot_timeout": "3s",
                "lockout_failures": 1000, "max_failures_per_session": 3}
    settings.update(auth)
    return Server(listeners=("submission",), extra={"auth": settings})


def connect(server, tls=True):
    c = AuthSMTP(*server.submission, timeout=30)
    c.ehlo()
    if tls:
        c.starttls()
    return c


def auth_plain(c, user, password):
    return c.cmd("AUTH PLAIN " + b64(f"\0{user}\0{password}"))


@unittest.skipUnless(AVAILABLE, "dovecot, swaks or gsasl missing (scripts/deps.sh)")
class ThroughDovecot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dovecot = Dovecot(USERS, mechanisms=MECHS)
        cls.addClassCleanup(cls.dovecot.cleanup)
        cls.server = postern_for(cls.dovecot.auth_socket)
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()
        cls.host, cls.port = cls.server.submission

    def smtplib_session(self):
        s = smtplib.SMTP(self.host, self.port, timeout=30)
        self.addCleanup(s.close)
        s.ehlo("smtplib.example.net")
        s.starttls(context=tls_context())
        s.ehlo("smtplib.example.net")
        return s

    def test_ehlo_offers_exactly_dovecots_mechanisms_after_tls(self):
        c = connect(self.server, tls=False)
        self.addCleanup(c.close)
        self.assertIsNone(c.mechanisms())  # require_tls: nothing in clear
        c.starttls()
        self.assertEqual(sorted(c.mechanisms()), sorted(m.upper() for m in MECHS))
        # Dovecot 2.3 cannot carry channel binding: no -PLUS.
        self.assertFalse(any(m.endswith("-PLUS") for m in c.mechanisms()))

    def test_smtplib_with_dovecots_passwords(self):
        for mech, method in [("PLAIN", "auth_plain"), ("LOGIN", "auth_login"), ("CRAM-MD5", "auth_cram_md5")]:
            for user, password in USERS.items():
                with self.subTest(mech=mech, user=user):
                    s = self.smtplib_session()
                    s.user, s.password = user, password
                    code, text = s.auth(mech, getattr(s, method), initial_response_ok=(mech == "PLAIN"))
                    self.assertEqual((code, text), (235, b"2.7.0 Authentication successful"))
                    self.assertEqual(s.mail(user)[0], 250)  # the identity Dovecot named owns its address

    def test_smtplib_wrong_password_is_535(self):
        for mech, method in [("PLAIN", "auth_plain"), ("LOGIN", "auth_login"), ("CRAM-MD5", "auth_cram_md5")]:
            with self.subTest(mech=mech):
                s = self.smtplib_session()
                s.user, s.password = ALICE, "wrong"
                with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
                    s.auth(mech, getattr(s, method), initial_response_ok=False)
                self.assertEqual(e.exception.smtp_code, 535)
                self.assertEqual(e.exception.smtp_error, b"5.7.8 Authentication credentials invalid")

    def test_every_challenge_is_dovecots(self):
        c = connect(self.server)
        self.addCleanup(c.close)
        code, lines = c.cmd("AUTH CRAM-MD5")
        self.assertEqual(code, 334)
        challenge = base64.b64decode(lines[0][4:])
        # Dovecot's CRAM-MD5 challenge (RFC 2195: <random.time@its host>), and
        # only Dovecot can check the answer, keyed with the password it keeps.
        self.assertRegex(challenge.decode(), r"^<[0-9]+\.[0-9]+@[^>]+>$")
        self.assertNotIn(b"mx.example.org", challenge)
        digest = hmac.new(ALICE_PW.encode(), challenge, "md5").hexdigest()
        self.assertEqual(c.cmd(b64(f"{ALICE} {digest}"))[0], 235)

    def swaks(self, auth, password):
        return subprocess.run(
            ["swaks", "--server", f"{self.host}:{self.port}", "-tls", "--auth", auth, "--auth-user", ALICE,
             "--auth-password", password, "--from", ALICE, "--to", ALICE, "--helo", "swaks.example.net",
             "--quit-after", "AUTH", "--timeout", "30"],
            capture_output=True, text=True, timeout=60)

    def test_swaks(self):
        for auth in ["PLAIN", "LOGIN", "CRAM-MD5"]:
            with self.subTest(auth=auth):
                r = self.swaks(auth, ALICE_PW)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("235 2.7.0 Authentication successful", r.stdout)
        r = self.swaks("PLAIN", "wrong")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("535 5.7.8 Authentication credentials invalid", r.stdout)

    def gsasl(self, mech, password):
        return subprocess.run(
            ["gsasl", "--smtp", f"--connect={self.host}:{self.port}", "--starttls", "--x509-ca-file=",
             "--hostname=mx.example.org", "-m", mech, "-a", ALICE, "-p", password, "--verbose", "--no-cb"],
            stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)

    def test_gsasl_scram_and_plain(self):
        for mech in ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN"]:
            with self.subTest(mech=mech):
                r = self.gsasl(mech, ALICE_PW)
                self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
                self.assertIn("235 2.7.0", r.stdout + r.stderr)
        r = self.gsasl("SCRAM-SHA-256", "wrong")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("535 5.7.8", r.stdout + r.stderr)

    def test_unknown_mechanism_is_504(self):
        c = connect(self.server)
        self.addCleanup(c.close)
        for mech in ("SCRAM-SHA-256-PLUS", "DIGEST-MD5", "XOAUTH2"):
            self.assertEqual(c.cmd("AUTH " + mech)[0], 504, mech)

    def test_log_names_user_and_reason_never_the_password(self):
        c = connect(self.server)
        self.addCleanup(c.close)
        self.assertEqual(auth_plain(c, ALICE, "wrong-secret-xyz")[0], 535)
        text = self.server.log_text()
        self.assertIn(f"user={ALICE}", text)
        self.assertIn("event=auth_failed", text)
        self.assertNotIn("wrong-secret-xyz", text)
        self.assertNotIn(ALICE_PW, text)
        self.assertNotIn(b64(f"\0{ALICE}\0wrong-secret-xyz"), text)

    def test_user_disable_applies_to_dovecot_users(self):
        r = self.server.cli("user", "disable", BOB)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.addCleanup(self.server.cli, "user", "enable", BOB)
        c = connect(self.server)
        self.addCleanup(c.close)
        self.assertEqual(auth_plain(c, BOB, BOB_PW)[0], 535)
        self.assertIn("reason=disabled", self.server.log_text())
        r = self.server.cli("user", "enable", BOB)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(auth_plain(c, BOB, BOB_PW)[0], 235)

    def test_user_add_says_users_live_in_dovecot(self):
        for args in (("user", "add", "--password-stdin", "carol@example.org"),
                     ("user", "passwd", "--password-stdin", ALICE)):
            with self.subTest(args=args):
                r = self.server.cli(*args, input="pw\n")
                self.assertEqual(r.returncode, 78, r.stderr)
                self.assertIn("users live in Dovecot", r.stderr)
        # Postern's own states still take addresses Dovecot knows.
        for args in (("user", "lock", "--reason", "move", ALICE), ("user", "unlock", ALICE),
                     ("user", "quota", ALICE, "10M")):
            r = self.server.cli(*args)
            self.assertEqual(r.returncode, 0, (args, r.stderr))
        listing = self.server.cli("user", "list").stdout
        self.assertRegex(listing, rf"{ALICE}\tactive\t10\.0 MiB|{ALICE}\tactive\t10")


@unittest.skipUnless(AVAILABLE, "dovecot missing (scripts/deps.sh)")
class DovecotGoesAway(unittest.TestCase):
    def setUp(self):
        self.dovecot = Dovecot(USERS, mechanisms=("plain", "login"))
        self.addCleanup(self.dovecot.cleanup)
        self.server = postern_for(self.dovecot.auth_socket, lockout_failures=3, lockout_window="10m",
                                  lockout_duration="3s", max_failures_per_session=2)
        self.addCleanup(self.server.cleanup)
        self.server.start()

    def test_stopped_is_454_then_started_again_works(self):
        c = connect(self.server)
        self.addCleanup(c.close)
        self.assertEqual(auth_plain(c, ALICE, ALICE_PW)[0], 235)
        self.dovecot.stop()
        c = connect(self.server)
        self.addCleanup(c.close)
        self.assertIn("PLAIN", c.mechanisms())  # the last list Dovecot gave
        self.assertEqual(auth_plain(c, ALICE, ALICE_PW), (454, ["454 4.7.0 Temporary authentication failure"]))
        self.assertIn("event=auth_unavailable", self.server.log_text())
        self.dovecot.start()
        self.assertEqual(auth_plain(c, ALICE, ALICE_PW)[0], 235)

    def test_lockout_still_applies(self):
        c = connect(self.server)
        self.addCleanup(c.close)
        self.assertEqual(auth_plain(c, ALICE, "wrong-1")[0], 535)
        self.assertEqual(auth_plain(c, ALICE, "wrong-2")[0], 421)  # max_failures_per_session
        c = connect(self.server)
        self.addCleanup(c.close)
        self.assertEqual(auth_plain(c, ALICE, "wrong-3")[0], 535)  # third failure from this IP: locked out
        self.assertEqual(auth_plain(c, ALICE, ALICE_PW)[0], 454)  # even with Dovecot's right password
        self.assertIn("event=auth_lockout", self.server.log_text())
        deadline = time.monotonic() + 10
        while auth_plain(c, ALICE, ALICE_PW)[0] != 235:
            self.assertLess(time.monotonic(), deadline, "the lockout did not end")
            time.sleep(0.5)


@unittest.skipUnless(AVAILABLE, "dovecot missing (scripts/deps.sh)")
class OverTcp(unittest.TestCase):
    def test_inet_socket(self):
        dc = Dovecot(USERS, mechanisms=("plain", "scram-sha-256"), auth_inet=True)
        self.addCleanup(dc.cleanup)
        server = postern_for(f"inet:127.0.0.1:{dc.auth_port}")
        self.addCleanup(server.cleanup)
        server.start()
        c = connect(server)
        self.addCleanup(c.close)
        self.assertEqual(sorted(c.mechanisms()), ["PLAIN", "SCRAM-SHA-256"])
        self.assertEqual(auth_plain(c, BOB, BOB_PW)[0], 235)


class FakeAuthService:
    """A unix socket that speaks just enough (or nothing): "silent" accepts
    and never answers; "handshake" sends a valid handshake, then nothing;
    "garbage" answers the AUTH with a line that is not the protocol."""

    HANDSHAKE = b"VERSION\t1\t2\nMECH\tPLAIN\tplaintext\nSPID\t1\nCUID\t1\nCOOKIE\t00\nDONE\n"

    def __init__(self, mode):
        self.mode = mode
        self.dir = scratch_dir("postern-fake-auth-")
        self.path = os.path.join(self.dir, "auth-client")
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.bind(self.path)
        self.sock.listen(16)
        self.conns = []
        self.thread = threading.Thread(target=self.serve, daemon=True)
        self.thread.start()

    def serve(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(conn)
            if self.mode in ("handshake", "garbage"):
                conn.sendall(self.HANDSHAKE)
            if self.mode == "garbage":
                threading.Thread(target=self.garbage, args=(conn,), daemon=True).start()

    def garbage(self, conn):
        buf = b""
        try:
            while b"AUTH\t" not in buf:
                data = conn.recv(4096)
                if not data:
                    return
                buf += data
            conn.sendall(b"OK\tnot-a-number\tuser=mallory\n")
        except OSError:
            pass

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()
        shutil.rmtree(self.dir, ignore_errors=True)


class BrokenAuthService(unittest.TestCase):
    def server_for(self, mode):
        fake = FakeAuthService(mode)
        self.addCleanup(fake.close)
        server = postern_for(fake.path, dovecot_timeout="2s")
        self.addCleanup(server.cleanup)
        server.start()
        return server

    def test_silent_socket_is_454_within_the_deadline(self):
        for mode in ("silent", "handshake"):
            with self.subTest(mode=mode):
                server = self.server_for(mode)
                c = connect(server)
                self.addCleanup(c.close)
                start = time.monotonic()
                self.assertEqual(auth_plain(c, ALICE, ALICE_PW)[0], 454)
                self.assertLess(time.monotonic() - start, 2 + 3)  # dovecot_timeout plus slack
                self.assertRegex(server.log_text(), r"(error|reason)=timeout")
                self.assertEqual(c.cmd("NOOP")[0], 250)  # the session goes on

    def test_garbage_is_454(self):
        server = self.server_for("garbage")
        c = connect(server)
        self.addCleanup(c.close)
        self.assertEqual(auth_plain(c, ALICE, ALICE_PW)[0], 454)
        self.assertIn("protocol", server.log_text())

    def test_no_socket_at_all_is_454(self):
        d = scratch_dir("postern-no-auth-", self)
        server = postern_for(os.path.join(d, "missing"))
        self.addCleanup(server.cleanup)
        server.start()
        c = connect(server)
        self.addCleanup(c.close)
        self.assertEqual(c.mechanisms(), None)  # Dovecot never reached: nothing to offer
        self.assertEqual(auth_plain(c, ALICE, ALICE_PW)[0], 454)


class ConfigKeys(unittest.TestCase):
    def check(self, auth):
        s = Server(listeners=("submission",), extra={"auth": auth})
        self.addCleanup(s.cleanup)
        s.write_config()
        return s.cli("check-config")

    def test_bad_backend_and_missing_socket(self):
        r = self.check({"backend": "ldap"})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn('auth.backend: "ldap": expected "postern" or "dovecot"', r.stderr)
        r = self.check({"backend": "dovecot"})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("auth.dovecot_socket: is empty", r.stderr)
        r = self.check({"backend": "dovecot", "dovecot_socket": "inet:127.0.0.1"})
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("with a port", r.stderr)


if __name__ == "__main__":
    unittest.main()
