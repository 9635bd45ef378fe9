"""Delivery before the 250 (docs/store.md): a message for local Maildir
users is in new/ when its 250 arrives, nothing is spooled, and a crash
before the background sync round made the mailbox files durable is repaired at
start-up from the journal: a copy that is missing or torn (as a power loss
leaves it) is written again, an intact one is kept, none is doubled."""
import os
import shutil
import smtplib
import tempfile
import unittest

import harness
from harness import Server, wait_for

FAULT_INJECT = os.environ.get("POSTERN_FAULT_INJECT") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build-test", "tests", "libpostern_fault_inject.so")

USERS = ["alice@example.org", "bob@example.org", "carol@example.org"]


def new_files(server, address):
    new = os.path.join(server.maildir(address), "new")
    return sorted(os.path.join(new, n) for n in os.listdir(new)) if os.path.isdir(new) else []


def journal_segments(server):
    d = os.path.join(server.data_dir, "spool", "journal")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def body_for(address):
    return ("Subject: for %s\r\nMessage-ID: <%s.journal@example.net>\r\n\r\nhello %s\r\n" % (address, address, address)).encode()


class DirectDelivery(unittest.TestCase):
    def setUp(self):
        self.server = Server(listeners=("mx",))
        self.addCleanup(self.server.cleanup)
        self.server.write_config()
        for u in USERS:
            r = self.server.cli("user", "add", "--password-stdin", u, input="pw\n")
            self.assertEqual(r.returncode, 0, r.stderr)

    def test_in_the_mailbox_at_250_and_nothing_spooled(self):
        self.server.start()
        with smtplib.SMTP(*self.server.mx, timeout=10) as c:
            c.sendmail("sender@remote.example", ["alice@example.org", "bob@example.org"], body_for("both"))
            # No waiting: both copies are there when the 250 is read.
            self.assertEqual(len(new_files(self.server, "alice@example.org")), 1)
            self.assertEqual(len(new_files(self.server, "bob@example.org")), 1)
        spool = os.path.join(self.server.data_dir, "spool")
        self.assertEqual([n for n in os.listdir(spool) if n.endswith(".msg")], [])
        with open(new_files(self.server, "bob@example.org")[0], "rb") as f:
            got = f.read()
        self.assertTrue(got.startswith(b"Return-Path: <sender@remote.example>\r\n"))
        self.assertTrue(got.endswith(body_for("both")))
        self.assertIn("status=delivered", self.server.log_text())
        # A clean stop confirms what is pending and leaves an empty journal.
        self.server.stop()
        self.assertEqual(journal_segments(self.server), [])
        self.assertIn("event=direct_delivery_stats", self.server.log_text())

    @unittest.skipUnless(os.path.exists(FAULT_INJECT), "fault injection shim not built")
    def test_a_journal_that_cannot_flush_sends_the_message_through_the_spool(self):
        flag_dir = tempfile.mkdtemp(prefix="postern-fault-")
        self.addCleanup(lambda: shutil.rmtree(flag_dir, ignore_errors=True))
        flag = os.path.join(flag_dir, "fail-journal")
        open(flag, "w").close()
        self.server.env = {"LD_PRELOAD": os.path.abspath(FAULT_INJECT), "POSTERN_FAULT_JOURNAL_FILE": flag,
                           "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1"}
        self.server.start()
        with smtplib.SMTP(*self.server.mx, timeout=10) as c:
            c.ehlo("journal.example.net")
            for u in USERS:
                code, _ = c.docmd("MAIL FROM:<sender@remote.example>")
                self.assertEqual(code, 250)
                self.assertEqual(c.docmd("RCPT TO:<%s>" % u)[0], 250)
                code, reply = c.data(body_for(u))
                self.assertEqual(code, 250, reply)  # spooled instead, durably
        self.assertIn("event=direct_delivery_failed", self.server.log_text())
        for u in USERS:
            got = self.server.delivered(u)  # by the queue, from the spool
            self.assertEqual(len(got), 1)
            self.assertTrue(got[0].endswith(body_for(u)))

    @unittest.skipUnless(os.path.exists(FAULT_INJECT), "fault injection shim not built")
    def test_crash_before_syncfs_is_repaired_from_the_journal(self):
        self.server.config["mailbox_sync"] = "syncfs"
        self.server.write_config()
        flag_dir = tempfile.mkdtemp(prefix="postern-fault-")
        self.addCleanup(lambda: shutil.rmtree(flag_dir, ignore_errors=True))
        flag = os.path.join(flag_dir, "fail-syncfs")
        open(flag, "w").close()  # the mailbox files never become durable in this run
        env = {"LD_PRELOAD": os.path.abspath(FAULT_INJECT), "POSTERN_FAULT_SYNCFS_FILE": flag,
               "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1"}
        self.crash_before_the_round_is_repaired(env, "event=syncfs_failed")

    @unittest.skipUnless(os.path.exists(FAULT_INJECT), "fault injection shim not built")
    def test_crash_before_the_file_round_is_repaired_from_the_journal(self):
        flag_dir = tempfile.mkdtemp(prefix="postern-fault-")
        self.addCleanup(lambda: shutil.rmtree(flag_dir, ignore_errors=True))
        flag = os.path.join(flag_dir, "fail-mail")
        open(flag, "w").close()  # the mailbox files never become durable in this run
        env = {"LD_PRELOAD": os.path.abspath(FAULT_INJECT), "POSTERN_FAULT_MAIL_FILE": flag,
               "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1"}
        self.crash_before_the_round_is_repaired(env, "event=mailbox_sync_failed")

    def crash_before_the_round_is_repaired(self, env, failure):
        self.server.env = env
        self.server.start()
        with smtplib.SMTP(*self.server.mx, timeout=10) as c:
            for u in USERS:
                c.sendmail("sender@remote.example", [u], body_for(u))
        self.assertTrue(wait_for(lambda: failure in self.server.log_text(), timeout=20))
        self.assertNotEqual(journal_segments(self.server), [], "the journal keeps what the round did not cover")
        self.server.kill9()
        # What a power loss could leave: alice's copy gone, bob's torn, carol's intact.
        os.unlink(new_files(self.server, "alice@example.org")[0])
        with open(new_files(self.server, "bob@example.org")[0], "r+b") as f:
            f.truncate(20)
        # A reader moved carol's to cur/ with a flag before the crash.
        carol = new_files(self.server, "carol@example.org")[0]
        os.rename(carol, carol.replace("/new/", "/cur/") + ":2,S")

        again = Server(data_dir=self.server.data_dir, listeners=("mx",))
        self.addCleanup(again.cleanup)
        again.start()
        self.assertTrue(wait_for(lambda: "event=journal_recover" in again.log_text(), timeout=20))
        self.assertIn("messages=3 rewritten=2", again.log_text())
        for u in ("alice@example.org", "bob@example.org"):
            files = new_files(again, u)
            self.assertEqual(len(files), 1, u)
            with open(files[0], "rb") as f:
                self.assertTrue(f.read().endswith(body_for(u)), u)
        cur = os.path.join(again.maildir("carol@example.org"), "cur")
        self.assertEqual(len(os.listdir(cur)), 1)
        self.assertEqual(new_files(again, "carol@example.org"), [], "an intact copy is never doubled")
        self.assertEqual(journal_segments(again), [], "everything recovered was retired")


if __name__ == "__main__":
    unittest.main()
