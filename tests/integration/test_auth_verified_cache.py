"""[auth] verified_cache_ttl: a PLAIN/LOGIN password verified once passes
again without yescrypt while the stored hash is unchanged. Python smtplib
over STARTTLS against the real binary: two logins succeed (the second from
the cache, as the log says), a wrong password after a good one is still
535 5.7.8, `postern user passwd` from another process makes the old
password fail at once and the new one pass; with the TTL at 0 nothing is
served from the cache."""
import re
import smtplib
import unittest

from support.auth import PASSWORD
from support.tls import tls_context
from harness import Server, wait_for

USER = "carol@example.org"
NEW_PASSWORD = "a new password 2"


class Base:
    ttl = None  # the default (1h)

    @classmethod
    def setUpClass(cls):
        auth = {"lockout_failures": 1000, "max_failures_per_session": 3}
        if cls.ttl is not None:
            auth["verified_cache_ttl"] = cls.ttl
        cls.server = Server(listeners=("submission",), extra={"auth": auth}).start()
        r = cls.server.cli("user", "add", "--password-stdin", USER, input=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def session(self):
        s = smtplib.SMTP(*self.server.submission, timeout=20)
        self.addCleanup(s.close)
        s.ehlo("smtplib.example.net")
        s.starttls(context=tls_context())
        s.ehlo("smtplib.example.net")
        return s

    def login(self, mechanism, password):
        """(code, text) of one AUTH in a new session, as a user sees it."""
        s = self.session()
        s.user, s.password = USER, password
        method = s.auth_plain if mechanism == "PLAIN" else s.auth_login
        try:
            return s.auth(mechanism, method, initial_response_ok=(mechanism == "PLAIN"))
        except smtplib.SMTPAuthenticationError as e:
            return e.smtp_code, e.smtp_error

    def auth_events(self, count):
        """The first `count` successful AUTH log lines (waiting for them)."""
        pattern = re.compile(r"^.*event=auth user=.*$", re.M)
        wait_for(lambda: len(pattern.findall(self.server.log_text())) >= count, timeout=10)
        return pattern.findall(self.server.log_text())[:count]

    def assertRejected(self, reply):
        code, text = reply
        self.assertEqual(code, 535, text)
        self.assertIn(b"5.7.8", text)


class VerifiedCache(Base, unittest.TestCase):
    def test_cache_then_wrong_password_then_passwd_from_another_process(self):
        self.assertEqual(self.login("PLAIN", PASSWORD)[0], 235)
        self.assertEqual(self.login("PLAIN", PASSWORD)[0], 235)
        self.assertEqual(self.login("LOGIN", PASSWORD)[0], 235)
        first, second, third = self.auth_events(3)
        self.assertNotIn("verified=cache", first)
        self.assertIn("verified=cache", second)
        self.assertIn("verified=cache", third)

        self.assertRejected(self.login("PLAIN", "not the password"))
        self.assertRejected(self.login("LOGIN", PASSWORD + "x"))
        self.assertEqual(self.login("PLAIN", PASSWORD)[0], 235)  # the wrong ones did not evict it

        r = self.server.cli("user", "passwd", "--password-stdin", USER, input=NEW_PASSWORD + "\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRejected(self.login("PLAIN", PASSWORD))
        self.assertEqual(self.login("PLAIN", NEW_PASSWORD)[0], 235)
        self.assertEqual(self.login("PLAIN", NEW_PASSWORD)[0], 235)
        events = self.auth_events(6)
        self.assertNotIn("verified=cache", events[4])  # the new hash: yescrypt once
        self.assertIn("verified=cache", events[5])
        log = self.server.log_text()
        self.assertNotIn(PASSWORD, log)
        self.assertNotIn(NEW_PASSWORD, log)


class VerifiedCacheOff(Base, unittest.TestCase):
    ttl = 0

    def test_every_login_is_checked_by_yescrypt(self):
        for _ in range(3):
            self.assertEqual(self.login("PLAIN", PASSWORD)[0], 235)
        self.assertRejected(self.login("PLAIN", "not the password"))
        for event in self.auth_events(3):
            self.assertNotIn("verified=cache", event)


if __name__ == "__main__":
    unittest.main()
