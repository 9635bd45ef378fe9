"""The MAIL rate limit (SPEC §4 [policy]): max_messages_per_ip MAIL
commands per client IP in a sliding rate_window; the one over gets 450
4.7.1, and after the window slides MAIL is accepted again. Off (0) by
default. State in SQLite, so it survives a restart."""
import smtplib
import time
import unittest

from harness import Server

RATE = (450, "4.7.1 Too many messages, try again later")


def mail(addr, sender="a@sender.example"):
    with smtplib.SMTP(*addr, timeout=10) as c:
        c.ehlo("client.example.net")
        code, msg = c.mail(sender)
        return code, msg.decode()


class RateLimitTest(unittest.TestCase):
    def server(self, policy):
        s = Server(listeners=("mx",), extra={"policy": policy})
        s.start()
        self.addCleanup(s.cleanup)
        return s

    def test_sliding_window(self):
        s = self.server({"max_messages_per_ip": 3, "rate_window": "6s"})
        self.assertEqual(mail(s.mx)[0], 250)
        first = time.monotonic()
        time.sleep(1.5)
        self.assertEqual(mail(s.mx)[0], 250)
        self.assertEqual(mail(s.mx)[0], 250)
        self.assertEqual(mail(s.mx), RATE)
        self.assertEqual(mail(s.mx), RATE, "refused MAILs are not counted, but the window is still full")
        time.sleep(max(0.0, first + 6.1 - time.monotonic()))  # the first MAIL has left the window
        self.assertEqual(mail(s.mx)[0], 250)
        self.assertEqual(mail(s.mx), RATE, "the other two are still inside it")
        self.assertIn("event=rate_limit", s.log_text())

    def test_in_one_session_after_rset(self):
        s = self.server({"max_messages_per_ip": 2, "rate_window": "1m"})
        with smtplib.SMTP(*s.mx, timeout=10) as c:
            c.ehlo("client.example.net")
            self.assertEqual(c.mail("a@sender.example")[0], 250)
            c.rset()
            self.assertEqual(c.mail("a@sender.example")[0], 250)
            c.rset()
            code, msg = c.mail("a@sender.example")
            self.assertEqual((code, msg.decode()), RATE)
            self.assertEqual(c.noop()[0], 250, "the session goes on")

    def test_survives_restart(self):
        s = self.server({"max_messages_per_ip": 1, "rate_window": "1m"})
        self.assertEqual(mail(s.mx)[0], 250)
        self.assertEqual(s.stop(), 0)
        s.start()
        self.assertEqual(mail(s.mx), RATE)

    def test_off_by_default(self):
        s = Server(listeners=("mx",))
        s.start()
        self.addCleanup(s.cleanup)
        for _ in range(8):
            self.assertEqual(mail(s.mx)[0], 250)


if __name__ == "__main__":
    unittest.main()
