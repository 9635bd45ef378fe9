"""Mailbox states at RCPT (SPEC §2 `postern user lock/unlock/disable/
enable/quota`, §5) on a running server, with smtplib: an admin lock gives
450 4.2.1 (its reason only in the log), unlock accepts again; disable 550
5.2.1, enable; a quota gives 452 4.2.2 from SIZE= at RCPT and from the
real size at the end of DATA; an mbox held by another process (fcntl
lock, or a dotlock) gives 450 4.2.1 until released."""
import fcntl
import os
import smtplib
import unittest

from harness import Server
from support.policy import rcpt, send
from support.users import UserTemplate

LOCKED = (450, "4.2.1 Mailbox temporarily unavailable, try again later")
FULL = (452, "4.2.2 Mailbox full")


class MailboxStateTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.users = UserTemplate()

    @classmethod
    def tearDownClass(cls):
        cls.users.cleanup()

    def server(self, **extra):
        s = Server(data_dir=self.users.data_dir(self), listeners=("mx",), extra=extra)
        s.start()
        self.addCleanup(s.cleanup)
        return s

    def cli_ok(self, s, *args):
        out = s.cli(*args)
        self.assertEqual(out.returncode, 0, (args, out.stdout, out.stderr))
        return out

    def test_lock_and_unlock(self):
        s = self.server()
        self.cli_ok(s, "user", "lock", "bob@example.org", "--reason", "moving to new disk 7731")
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org"), LOCKED)
        self.assertEqual(rcpt(s.mx, "a@sender.example", "carol@example.org")[0], 250, "other users unaffected")
        log = s.log_text()
        self.assertIn("moving to new disk 7731", log, "the reason is logged")
        self.cli_ok(s, "user", "unlock", "bob@example.org")
        replies, data = send(s.mx, "a@sender.example", "bob@example.org")
        self.assertEqual(replies["bob@example.org"][0], 250)
        self.assertEqual(data[0], 250)
        self.assertEqual(len(s.delivered("bob@example.org")), 1)

    def test_lock_reason_never_reaches_the_client(self):
        s = self.server()
        self.cli_ok(s, "user", "lock", "bob@example.org", "--reason", "secret-reason-x")
        code, text = rcpt(s.mx, "a@sender.example", "bob@example.org")
        self.assertNotIn("secret-reason-x", text)

    def test_disable_and_enable(self):
        s = self.server()
        self.cli_ok(s, "user", "disable", "bob@example.org")
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org"), (550, "5.2.1 Mailbox disabled"))
        self.cli_ok(s, "user", "enable", "bob@example.org")
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org")[0], 250)

    def test_quota_from_size_parameter_and_real_size(self):
        s = self.server()
        self.cli_ok(s, "user", "quota", "bob@example.org", "2K")
        with smtplib.SMTP(*s.mx, timeout=10) as c:
            c.ehlo("client.example.net")
            self.assertEqual(c.mail("a@sender.example", ["SIZE=5000"])[0], 250)
            code, msg = c.rcpt("bob@example.org")
            self.assertEqual((code, msg.decode()), FULL)
            code, msg = c.rcpt("carol@example.org")
            self.assertEqual(code, 250, "quota is per mailbox")
            c.rset()
        # No SIZE=: RCPT passes, the real size at the end of DATA does not fit.
        big = b"Subject: big\r\n\r\n" + b"x" * 3000 + b"\r\n"
        replies, data = send(s.mx, "a@sender.example", "bob@example.org", body=big)
        self.assertEqual(replies["bob@example.org"][0], 250)
        self.assertEqual(data, FULL)
        self.assertEqual(s.delivered("bob@example.org", timeout=0.5), [])
        # A message that fits is delivered.
        replies, data = send(s.mx, "a@sender.example", "bob@example.org", body=b"Subject: small\r\n\r\nhi\r\n")
        self.assertEqual(data[0], 250, data)
        self.assertEqual(len(s.delivered("bob@example.org")), 1)
        # Raise the quota: the big one fits now.
        self.cli_ok(s, "user", "quota", "bob@example.org", "1M")
        replies, data = send(s.mx, "a@sender.example", "bob@example.org", body=big)
        self.assertEqual(data[0], 250, data)
        self.assertEqual(len(s.delivered("bob@example.org", count=2)), 2)
        # Now over a small quota: even without SIZE=, RCPT is refused.
        self.cli_ok(s, "user", "quota", "bob@example.org", "1K")
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org"), FULL)

    def mbox_server(self):
        s = self.server(mailbox_format="mbox", mailbox_path="mail/{domain}/{localpart}.mbox")
        path = os.path.join(s.data_dir, "mail", "example.org", "bob.mbox")
        os.makedirs(os.path.dirname(path), exist_ok=True)
        open(path, "ab").close()
        return s, path

    def test_mbox_held_by_fcntl_lock(self):
        s, path = self.mbox_server()
        with open(path, "r+b") as f:
            fcntl.lockf(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
            self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org"), LOCKED)
            fcntl.lockf(f, fcntl.LOCK_UN)
        replies, data = send(s.mx, "a@sender.example", "bob@example.org")
        self.assertEqual(replies["bob@example.org"][0], 250)
        self.assertEqual(data[0], 250)
        self.assertIn("mailbox_locked", s.log_text())

    def test_mbox_held_by_dotlock(self):
        s, path = self.mbox_server()
        with open(path + ".lock", "w") as f:
            f.write(str(os.getpid()))
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org"), LOCKED)
        os.unlink(path + ".lock")
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org")[0], 250)


if __name__ == "__main__":
    unittest.main()
