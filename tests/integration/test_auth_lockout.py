"""AUTH failure limits against the real binary: the reply to the
max_failures_per_session-th failure is 421 4.7.0 and the connection
closes; lockout_failures failures from one IP within lockout_window give
454 4.7.0 for lockout_duration, even for correct credentials; then AUTH
works again."""
import base64
import hmac
import signal
import time
import unittest

from support.auth import PASSWORD, AuthSMTP
from support.sasl import b64
from harness import Server

USER = "alice@example.org"


class AuthLockout(unittest.TestCase):
    def setUp(self):
        self.server = Server(listeners=("submission",), extra={"auth": {
            "max_failures_per_session": 2, "lockout_failures": 3,
            "lockout_window": "10m", "lockout_duration": "3s"}}).start()
        self.addCleanup(self.server.cleanup)
        r = self.server.cli("user", "add", "--password-stdin", USER, input=PASSWORD + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)

    def connect(self):
        c = AuthSMTP(*self.server.submission)
        self.addCleanup(c.close)
        c.ehlo()
        c.starttls()
        return c

    def auth(self, c, password):
        return c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{password}"))

    def test_session_limit_then_ip_lockout_then_recovery(self):
        c = self.connect()
        code, lines = self.auth(c, "wrong-1")
        self.assertEqual((code, lines[0][:9]), (535, "535 5.7.8"), lines)
        code, lines = self.auth(c, "wrong-2")  # the 2nd failure in this session
        self.assertEqual((code, lines[0][:9]), (421, "421 4.7.0"), lines)
        self.assertTrue(c.closed())

        c2 = self.connect()
        code, lines = self.auth(c2, "wrong-3")  # the 3rd from this IP: lockout starts
        self.assertEqual(code, 535, lines)
        code, lines = self.auth(c2, PASSWORD)  # correct, but locked out
        self.assertEqual((code, lines[0][:9]), (454, "454 4.7.0"), lines)

        c3 = self.connect()
        code, lines = self.auth(c3, PASSWORD)
        self.assertEqual(code, 454, lines)
        self.assertIn("auth_lockout", self.server.log_text())

        time.sleep(3.2)
        code, lines = self.auth(c3, PASSWORD)
        self.assertEqual((code, lines[0][:9]), (235, "235 2.7.0"), lines)

    def test_cancel_and_bad_base64_do_not_count_as_failures(self):
        c = self.connect()
        for _ in range(3):
            self.assertEqual(c.cmd("AUTH PLAIN *")[0], 501)
            self.assertEqual(c.cmd("AUTH PLAIN !!!!")[0], 501)
        self.assertEqual(self.auth(c, PASSWORD)[0], 235)


class AuthReload(unittest.TestCase):
    def ehlo_mechanisms(self, server):
        c = AuthSMTP(*server.submission)
        self.addCleanup(c.close)
        c.ehlo()
        c.starttls()
        return c, c.mechanisms()

    def test_mechanisms_reload_on_sighup(self):
        server = Server(listeners=("submission",), extra={"auth": {"mechanisms": ["CRAM-MD5", "PLAIN"]}}).start()
        self.addCleanup(server.cleanup)
        r = server.cli("user", "add", "--password-stdin", "--cram-md5", USER, input=PASSWORD + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        c, mechs = self.ehlo_mechanisms(server)
        self.assertEqual(mechs, ["CRAM-MD5", "PLAIN"])
        code, lines = c.cmd("AUTH CRAM-MD5")
        self.assertEqual(code, 334, lines)
        challenge = base64.b64decode(lines[0][4:])
        digest = hmac.new(PASSWORD.encode(), challenge, "md5").hexdigest()
        self.assertEqual(c.cmd(b64(f"{USER} {digest}"))[0], 235)

        server.config["auth"] = {"mechanisms": ["SCRAM-SHA-256", "PLAIN"]}
        server.write_config()
        server.proc.send_signal(signal.SIGHUP)
        deadline = time.monotonic() + 10
        while True:
            c2, mechs = self.ehlo_mechanisms(server)
            if mechs == ["SCRAM-SHA-256", "PLAIN"] or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(mechs, ["SCRAM-SHA-256", "PLAIN"])
        self.assertEqual(c2.cmd("AUTH CRAM-MD5")[0], 504)
        self.assertEqual(c2.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{PASSWORD}"))[0], 235)


if __name__ == "__main__":
    unittest.main()
