"""`postern send` against an independent server (aiosmtpd): plain delivery,
full messages, per-recipient results, 5xx, 450-then-250 with --retry-for,
connection refused. TLS and AUTH are in test_send_tls.py."""
import email
import json
import email.policy
import os
import time
import unittest

import harness
from send_support import AioServer, send, tempdir


class Base(unittest.TestCase):
    def server(self, **kw):
        s = AioServer(**kw).start()
        self.addCleanup(s.stop)
        return s


class PlainDelivery(Base):
    def test_composed_message_arrives(self):
        s = self.server()
        d = tempdir(self)
        body = os.path.join(d, "body.txt")
        with open(body, "w") as f:
            f.write("Hello Bob,\n.a line starting with a dot\nbye\n")
        r = send("--server", s.address, "--tls", "none", "--from", "alice@example.net", "--to", "bob@example.org",
                 "--subject", "Greetings", "--body", body)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("sent to bob@example.org: 250", r.stdout)
        self.assertEqual(len(s.handler.messages), 1)
        mail_from, rcpts, content, _ = s.handler.messages[0]
        self.assertEqual(mail_from, "alice@example.net")
        self.assertEqual(rcpts, ["bob@example.org"])
        msg = email.message_from_bytes(content, policy=email.policy.default)
        self.assertEqual(msg["From"], "alice@example.net")
        self.assertEqual(msg["To"], "bob@example.org")
        self.assertEqual(msg["Subject"], "Greetings")
        self.assertEqual(msg["MIME-Version"], "1.0")
        self.assertTrue(msg["Message-ID"].endswith("@example.net>"), msg["Message-ID"])
        self.assertIsNotNone(msg["Date"].datetime)
        self.assertEqual(msg.get_content().replace("\r\n", "\n"), "Hello Bob,\n.a line starting with a dot\nbye\n")
        self.assertIn(b"\r\n.a line starting with a dot\r\n", content)

    def test_body_from_stdin_and_utf8_subject(self):
        s = self.server()
        r = send("--server", s.address, "--tls", "none", "--from", "alice@example.net", "--to", "bob@example.org",
                 "--subject", "Çay saati ☕", "--body", "-", input="Merhaba dünya\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        msg = email.message_from_bytes(s.handler.messages[0][2], policy=email.policy.default)
        self.assertEqual(msg["Subject"], "Çay saati ☕")
        self.assertEqual(msg.get_content().replace("\r\n", "\n"), "Merhaba dünya\n")
        self.assertIn("BODY=8BITMIME", s.handler.messages[0][3])

    def test_full_message_file_is_sent_as_is(self):
        s = self.server()
        d = tempdir(self)
        path = os.path.join(d, "m.eml")
        raw = (b"From: Alice <alice@example.net>\nTo: bob@example.org\nSubject: raw\nX-Custom: kept\n\n"
               b"line one\n.\n..two dots\nlast\n")
        with open(path, "wb") as f:
            f.write(raw)
        r = send("--server", s.address, "--tls", "none", "--from", "alice@example.net", "--to", "bob@example.org",
                 "--to", "carol@example.org", "--message", path)
        self.assertEqual(r.returncode, 0, r.stderr)
        _, rcpts, content, _ = s.handler.messages[0]
        self.assertEqual(rcpts, ["bob@example.org", "carol@example.org"])
        self.assertEqual(content, raw.replace(b"\n", b"\r\n"))

    def test_verbose_transcript(self):
        s = self.server()
        r = send("--server", s.address, "--tls", "none", "--from", "alice@example.net", "--to", "bob@example.org",
                 "-v")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertRegex(r.stderr, r"(?m)^<- 220 ")
        self.assertRegex(r.stderr, r"(?m)^-> EHLO ")
        self.assertRegex(r.stderr, r"(?m)^-> MAIL FROM:<alice@example.net>")
        self.assertRegex(r.stderr, r"(?m)^<- 250 ")
        self.assertRegex(r.stderr, r"(?m)^-> QUIT")


class Refusals(Base):
    def test_550_is_exit_69(self):
        s = self.server()
        s.handler.rcpt_replies["nobody@example.org"] = ["550 5.1.1 No such user"]
        r = send("--server", s.address, "--tls", "none", "--from", "alice@example.net", "--to", "nobody@example.org")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("nobody@example.org: 550 5.1.1 No such user", r.stderr)
        self.assertRegex(r.stderr, r"means: .*permanent", "every failure comes with its explanation")
        self.assertEqual(s.handler.messages, [])
        # ... and the knowledge base's "When you see it" (of 5.1.1) and "How to fix it" (of the
        # recognised text "No such user", which is more specific than the code's advice).
        kb = json.loads(harness.run("explain", "550 5.1.1 No such user", "--json").stdout)["explanation"]
        self.assertIn("postern send:   When you see it: " + kb["enhanced"]["when"], r.stderr)
        self.assertIn("postern send:   How to fix it: " + kb["recognised"][0]["advice"], r.stderr)

    def test_failure_advice_in_turkish_and_for_greylisting(self):
        s = self.server()
        s.handler.rcpt_replies["bob@example.org"] = ["450 4.2.0 Greylisted, try again in 300 seconds"]
        r = send("--server", s.address, "--tls", "none", "--from", "alice@example.net", "--to", "bob@example.org",
                 env={"LC_ALL": "tr_TR.UTF-8"})
        self.assertEqual(r.returncode, 75, r.stderr)
        kb = json.loads(harness.run("explain", "450 4.2.0 Greylisted, try again in 300 seconds",
                                                 "--json", "--lang", "tr").stdout)["explanation"]
        self.assertIn("postern send:   Gördüğünüzde: " + kb["enhanced"]["when"], r.stderr)
        # A recognised text's advice (greylisting: wait, then send again) comes before the code's.
        self.assertIn("postern send:   Nasıl Düzeltilir: " + kb["recognised"][0]["advice"], r.stderr)

    def test_mixed_recipients(self):
        s = self.server()
        s.handler.rcpt_replies["nobody@example.org"] = ["550 5.1.1 No such user"]
        r = send("--server", s.address, "--tls", "none", "--from", "alice@example.net", "--to", "nobody@example.org",
                 "--to", "bob@example.org")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("sent to bob@example.org", r.stdout)
        self.assertEqual(s.handler.messages[0][1], ["bob@example.org"])

    def test_mail_refused(self):
        s = self.server()
        s.handler.mail_reply = "553 5.7.1 Sender not allowed"
        r = send("--server", s.address, "--tls", "none", "--from", "alice@example.net", "--to", "bob@example.org")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("553 5.7.1 Sender not allowed", r.stderr)

    def test_450_without_retry_is_exit_75(self):
        s = self.server()
        s.handler.rcpt_replies["bob@example.org"] = ["450 4.2.0 Greylisted, try again in 1 seconds", "250 OK"]
        r = send("--server", s.address, "--tls", "none", "--from", "alice@example.net", "--to", "bob@example.org")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("450 4.2.0 Greylisted", r.stderr)

    def test_450_then_250_with_retry_for(self):
        s = self.server()
        s.handler.rcpt_replies["bob@example.org"] = ["450 4.2.0 Greylisted, try again in 1 seconds",
                                                     "450 4.2.0 Greylisted, try again in 1 seconds", "250 OK"]
        start = time.monotonic()
        r = send("--server", s.address, "--tls", "none", "--from", "alice@example.net", "--to", "bob@example.org",
                 "--retry-for", "30s")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(s.handler.messages), 1)
        self.assertEqual(s.handler.attempts, 3)
        self.assertEqual(r.stderr.count("trying again in 2 s"), 2, r.stderr)  # the hint plus a second of margin
        self.assertEqual(r.stderr.count("means: "), 2, r.stderr)  # each 4xx explained
        self.assertLess(time.monotonic() - start, 20)

    def test_retry_for_gives_up(self):
        s = self.server()
        s.handler.rcpt_replies["bob@example.org"] = ["451 4.3.0 Mailbox busy, try again in 1 seconds"]
        start = time.monotonic()
        r = send("--server", s.address, "--tls", "none", "--from", "alice@example.net", "--to", "bob@example.org",
                 "--retry-for", "4s")
        elapsed = time.monotonic() - start
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("giving up", r.stderr)
        self.assertGreaterEqual(s.handler.attempts, 2)
        self.assertGreaterEqual(elapsed, 3.5)
        self.assertLess(elapsed, 15)
        self.assertEqual(s.handler.messages, [])

    def test_ipv6(self):
        s = AioServer(host="::1").start()
        self.addCleanup(s.stop)
        r = send("--server", f"[::1]:{s.port}", "--tls", "none", "--from", "alice@example.net",
                 "--to", "bob@example.org", "-v")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("connected to [::1]:", r.stderr)
        self.assertEqual(len(s.handler.messages), 1)

    def test_connection_refused_is_75(self):
        from harness import free_port
        r = send("--server", f"127.0.0.1:{free_port()}", "--tls", "none", "--from", "alice@example.net",
                 "--to", "bob@example.org")
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("refused", r.stderr)


if __name__ == "__main__":
    unittest.main()
