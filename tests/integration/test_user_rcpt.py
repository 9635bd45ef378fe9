"""Users at RCPT and local delivery, through the real binary with real
clients: unknown users get 550 5.1.1, disabled ones 550 5.2.1, postmaster
is always accepted, admin commands act on the running server at once, and
what is accepted lands in the Maildir (or the mbox) byte for byte."""
import os
import smtplib
import subprocess
import time
import unittest

import harness
from harness import RawSMTP


class UserRcptTest(harness.ServerTest):
    server_kwargs = {"listeners": ("mx",)}

    def user(self, *args, password=None):
        r = self.server.cli("user", *args, input=password)
        self.assertEqual(r.returncode, 0, r.stderr)

    def session(self):
        s = RawSMTP(*self.server.mx)
        self.assertEqual(s.reply()[0], 220)
        self.assertEqual(s.cmd("EHLO client.example.net")[0], 250)
        self.assertEqual(s.cmd("MAIL FROM:<sender@remote.example>")[0], 250)
        self.addCleanup(s.close)
        return s

    def rcpt(self, s, address):
        code, lines = s.cmd(f"RCPT TO:{address}")
        return lines[-1]

    def test_unknown_user_and_postmaster(self):
        self.user("add", "--password-stdin", "alice@example.org", password="pw\n")
        s = self.session()
        self.assertEqual(self.rcpt(s, "<ghost@example.org>"), "550 5.1.1 No such user")
        self.assertEqual(self.rcpt(s, "<ghost@EXAMPLE.NET>"), "550 5.1.1 No such user")
        self.assertEqual(self.rcpt(s, '<"quoted ghost"@example.org>'), "550 5.1.1 No such user")
        for ok in ["<alice@example.org>", "<Alice@Example.ORG>", "<postmaster>", "<Postmaster>",
                   "<postmaster@example.org>", "<POSTMASTER@example.net>"]:
            with self.subTest(rcpt=ok):
                self.assertTrue(self.rcpt(s, ok).startswith("250 2.1.5"), ok)

    def test_admin_changes_apply_at_once(self):
        s = self.session()
        self.assertEqual(self.rcpt(s, "<bob@example.org>"), "550 5.1.1 No such user")
        self.user("add", "--password-stdin", "bob@example.org", password="pw\n")
        self.assertTrue(self.rcpt(s, "<bob@example.org>").startswith("250 "))
        self.user("disable", "bob@example.org")
        self.assertEqual(self.rcpt(s, "<bob@example.org>"), "550 5.2.1 Mailbox disabled")
        self.user("enable", "bob@example.org")
        self.assertTrue(self.rcpt(s, "<bob@example.org>").startswith("250 "))
        self.user("del", "bob@example.org")
        self.assertEqual(self.rcpt(s, "<bob@example.org>"), "550 5.1.1 No such user")
        self.assertIn("event=rcpt", self.server.log_text())

    def test_smtplib_refused_and_delivered(self):
        self.user("add", "--password-stdin", "carol@example.org", password="pw\n")
        body = b"Subject: to carol\r\n\r\nFrom the start\r\n.dot\r\n"
        with smtplib.SMTP(*self.server.mx, timeout=10) as c:
            refused = c.sendmail("sender@remote.example", ["ghost@example.org", "CAROL@example.org"], body)
        self.assertEqual(refused, {"ghost@example.org": (550, b"5.1.1 No such user")})
        got = self.server.delivered("carol@example.org")
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0].startswith(b"Return-Path: <sender@remote.example>\r\n"))
        self.assertTrue(got[0].endswith(body))
        maildir = self.server.maildir("carol@example.org")
        self.assertEqual(sorted(os.listdir(maildir)), ["cur", "new", "tmp"])
        self.assertEqual(os.listdir(os.path.join(maildir, "tmp")), [])
        name = os.listdir(os.path.join(maildir, "new"))[0]
        # Named after the queue id and the recipient's position (docs/store.md).
        self.assertRegex(name, r"^\d+\.Q[0-9a-f]{16}R0\.[^/:]+,S=%d$" % len(got[0]))
        # Nothing left in the spool once delivered.
        for _ in range(50):
            if not [n for n in os.listdir(os.path.join(self.server.data_dir, "spool")) if n.endswith(".msg")]:
                break
            time.sleep(0.1)
        self.assertEqual([n for n in os.listdir(os.path.join(self.server.data_dir, "spool")) if n.endswith(".msg")], [])

    def test_swaks_unknown_user(self):
        host, port = self.server.mx
        r = subprocess.run(["swaks", "--server", host, "--port", str(port), "--from", "s@remote.example",
                            "--to", "nobody@example.org", "--helo", "swaks.example.net"],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("550 5.1.1 No such user", r.stdout)


class MboxDeliveryTest(harness.ServerTest):
    server_kwargs = {"listeners": ("mx",), "extra": {"mailbox_format": "mbox"}}

    def test_mbox_from_line_and_quoting(self):
        r = self.server.cli("user", "add", "--password-stdin", "dave@example.org", input="pw\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        with smtplib.SMTP(*self.server.mx, timeout=10) as c:
            c.sendmail("sender@remote.example", ["dave@example.org"], b"Subject: one\r\n\r\nFrom here\r\n>From there\r\n")
            c.sendmail("", ["dave@example.org"], b"Subject: two\r\n\r\nbye\r\n")
        mbox = os.path.join(self.server.data_dir, "mail", "example.org", "dave")
        deadline = time.monotonic() + 10
        content = b""
        while time.monotonic() < deadline:
            if os.path.exists(mbox):
                with open(mbox, "rb") as f:
                    content = f.read()
                if content.count(b"\nSubject: ") == 2:
                    break
            time.sleep(0.05)
        # The queue delivers the two in either order; each starts with its own
        # From line, at the top of the file or after the blank line ending the other.
        for from_line in (b"From sender@remote.example ", b"From MAILER-DAEMON "):
            self.assertTrue(content.startswith(from_line) or b"\n\n" + from_line in content, content[:200])
        self.assertIn(b"\nReturn-Path: <sender@remote.example>\n", content)
        self.assertIn(b"\n\n>From here\n>>From there\n\n", content)
        self.assertIn(b"\nReturn-Path: <>\n", content)
        self.assertIn(b"\n\nbye\n\n", content)
        self.assertTrue(content.endswith(b"\n\n"))
        self.assertNotIn(b"\r\n", content)
        # The dotlock goes once the append is synced, just after the bytes are visible.
        self.assertTrue(harness.wait_for(lambda: not os.path.exists(mbox + ".lock"), timeout=10))


if __name__ == "__main__":
    unittest.main()
