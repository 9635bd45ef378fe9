"""`postern sendmail` reading what scripts pipe into it: a message without
a header section keeps its body (the empty line is written before the
first line that is no header field, as Postfix's cleanup does); "Bcc :"
and "Resent-Bcc :" (RFC 5322 §4.5 obsolete form) are removed like "Bcc:",
and "From :" counts as a From field; stdin over the size limit is refused
after reading about the limit, with or without newlines, in bounded memory."""
import os
import re
import subprocess
import unittest

from harness import POSTERN, Server

LIMIT = 1024 * 1024


class SendmailInput(unittest.TestCase):
    def setUp(self):
        self.server = Server(listeners=("mx",), extra={"limits": {"max_message_size": LIMIT}})
        self.server.start()
        self.addCleanup(self.server.cleanup)
        for u in ("alice@example.org", "bob@example.org", "carol@example.net", "dave@example.org"):
            self.server.cli("user", "add", "--password-stdin", u, input="pw\n", check=True)

    def command(self, *args):
        return [POSTERN, "sendmail", "--config", self.server.config_path, *args]

    def sendmail(self, *args, input):
        return subprocess.run(self.command(*args), input=input, capture_output=True, timeout=60)

    def mail(self, address):
        return self.server.delivered(address)[0]

    def test_a_message_without_header_section_keeps_its_body(self):
        out = self.sendmail("alice", input=b"backup failed at 02:00\nsee /var/log/backup.log\n")
        self.assertEqual(out.returncode, 0, out.stderr)
        msg = self.mail("alice@example.org")
        self.assertRegex(msg, rb"Message-ID: <[^>]+>\r\n\r\nbackup failed at 02:00\r\nsee /var/log/backup\.log\r\n$")

    def test_header_fields_directly_followed_by_the_body(self):
        out = self.sendmail("alice", input=b"Subject: nightly\nTo: alice@example.org\nall went well\n")
        self.assertEqual(out.returncode, 0, out.stderr)
        msg = self.mail("alice@example.org")
        self.assertIn(b"Subject: nightly\r\nTo: alice@example.org\r\n\r\nall went well\r\n", msg)

    def test_a_leading_mbox_from_line_is_dropped(self):
        # `git format-patch --stdout | sendmail -t`: the envelope line is no header field.
        text = (b"From 1f0c2a9e Mon Sep 17 00:00:00 2001\nFrom: Alice <alice@example.org>\nTo: bob@example.org\n"
                b"Subject: [PATCH] fix\n\n---\nFrom the body\n")
        out = self.sendmail("-t", input=text)
        self.assertEqual(out.returncode, 0, out.stderr)
        msg = self.mail("bob@example.org")
        self.assertNotIn(b"2001", msg)
        self.assertIn(b"Subject: [PATCH] fix\r\n\r\n---\r\nFrom the body\r\n", msg)

    def test_obsolete_bcc_and_resent_bcc_are_removed(self):
        text = (b"From : Alice <alice@example.org>\nTo: bob@example.org\nBcc : carol@example.net\n"
                b"Resent-Bcc : dave@example.org\nresent-bcc\t:\n  dave@example.org\nSubject: plans\n\nhello\n")
        out = self.sendmail("-t", input=text)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(b"Subject: plans", self.mail("carol@example.net"), "Bcc : still names a recipient")
        head = self.mail("bob@example.org").split(b"\r\n\r\n", 1)[0]
        self.assertNotIn(b"carol", head)
        self.assertNotIn(b"dave", head)
        self.assertNotIn(b"bcc", head.lower())
        self.assertEqual(len(re.findall(rb"(?mi)^from\s*:", head)), 1, "From : is a From field: none added")

    def test_a_huge_line_is_refused_in_bounded_memory(self):
        baseline = self.rss_of(b"Subject: small\n\nx\n", expect=0)
        proc = subprocess.Popen(self.command("alice"), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE)
        written, piece = 0, b"x" * (1024 * 1024)
        try:
            while written < 128 * 1024 * 1024:  # no newline anywhere
                proc.stdin.write(piece)
                written += len(piece)
        except BrokenPipeError:
            pass
        finally:
            try:
                proc.stdin.close()
            except BrokenPipeError:
                pass
        err = proc.stderr.read().decode()
        proc.stderr.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.assertEqual(proc.returncode, 65, err)
        self.assertIn("larger than limits.max_message_size", err)
        self.assertLess(written, 16 * 1024 * 1024, "refused after reading about the limit")
        self.assertLess(usage.ru_maxrss - baseline, 16 * 1024, "kilobytes over a small message's peak")
        self.assertEqual(self.server.cli("queue", "list").stdout.strip(), "Queue is empty.")

    def rss_of(self, data, expect):
        proc = subprocess.Popen(self.command("alice"), stdin=subprocess.PIPE, stdout=subprocess.DEVNULL,
                                stderr=subprocess.DEVNULL)
        proc.stdin.write(data)
        proc.stdin.close()
        _, status, usage = os.wait4(proc.pid, 0)
        proc.returncode = os.waitstatus_to_exitcode(status)
        self.assertEqual(proc.returncode, expect)
        return usage.ru_maxrss


if __name__ == "__main__":
    unittest.main()
