"""Greylisting (RFC 6647, SPEC §4 [greylist], §5) through the real server
with smtplib, delay = 2s: the life cycle, persistence across a restart,
retry-window expiry, auto-allow, allow lists (config, `postern greylist
allow` on a running server, rDNS domain, rcpt:), the null sender, purge,
and `postern greylist list` output."""
import re
from concurrent.futures import ThreadPoolExecutor
import time
import unittest

from harness import Server, RawSMTP
from support.policy import greylist_config, rcpt, send
from support.users import UserTemplate

GREY = re.compile(r"^4\.2\.0 Greylisted, try again in (\d+) seconds$")


def wait_seconds(code, text):
    m = GREY.match(text)
    if code != 450 or not m:
        raise AssertionError(f"expected 450 4.2.0 greylisted, got {code} {text!r}")
    return int(m.group(1))


class GreylistTest(unittest.TestCase):
    """One server for the tests that can share it (distinct triplets each)."""

    @classmethod
    def setUpClass(cls):
        cls.users = UserTemplate()
        # "elsewhere.example" makes every check look up 127.0.0.1's name
        # (localhost), which must not match.
        cls.shared = Server(data_dir=cls.users.data_dir_for_class(), listeners=("mx",),
                            extra={"greylist": greylist_config(
                                delay="3s", allow=["rcpt:abuse@example.org", "rcpt:example.net", "elsewhere.example"])})
        cls.shared.start()

    @classmethod
    def tearDownClass(cls):
        cls.shared.stop()
        cls.users.cleanup()

    def server(self, **greylist):
        s = Server(data_dir=self.users.data_dir(self), listeners=("mx",),
                   extra={"greylist": greylist_config(**greylist)})
        s.start()
        self.addCleanup(s.cleanup)
        return s

    def test_life_cycle(self):
        s = self.shared
        code, text = rcpt(s.mx, "alice@sender.example", "bob@example.org")
        first = time.monotonic()
        self.assertEqual(wait_seconds(code, text), 3)
        # An early retry: 450 again, with the time left.
        code, text = rcpt(s.mx, "alice@sender.example", "bob@example.org")
        if time.monotonic() - first < 2.5:
            self.assertIn(wait_seconds(code, text), (1, 2, 3))
        time.sleep(max(0.0, first + 3.1 - time.monotonic()))
        replies, data = send(s.mx, "alice@sender.example", "bob@example.org")
        self.assertEqual(replies["bob@example.org"][0], 250, replies)
        self.assertEqual(data[0], 250, data)
        self.assertEqual(len(s.delivered("bob@example.org")), 1)
        # Remembered: passes at once from now on.
        self.assertEqual(rcpt(s.mx, "alice@sender.example", "bob@example.org")[0], 250)
        out = s.cli("greylist", "list")
        self.assertEqual(out.returncode, 0, out.stderr)
        line = [l for l in out.stdout.splitlines() if "<alice@sender.example> <bob@example.org>" in l]
        self.assertEqual(len(line), 1, out.stdout)
        fields = line[0].split("\t")
        self.assertEqual(fields[0], "127.0.0.0/24 <alice@sender.example> <bob@example.org>")
        self.assertRegex(fields[1], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
        self.assertEqual(fields[3], "2")
        self.assertEqual(fields[4], "passed")
        log = s.log_text()
        self.assertIn("event=greylist", log)
        self.assertIn('reply="450 4.2.0 Greylisted, try again in 3 seconds"', log)

    def test_triplet_parts_and_null_sender(self):
        s = self.shared
        self.assertEqual(rcpt(s.mx, "tp@sender.example", "carol@example.org")[0], 450)
        self.assertEqual(rcpt(s.mx, "", "carol@example.org")[0], 450, "the null sender is greylisted too")
        # VERP, SRS and BATV variants of one sender are the first sight's triplet.
        self.assertEqual(rcpt(s.mx, "bounce-1001@lists.example", "carol@example.org")[0], 450)
        time.sleep(3.1)
        self.assertEqual(rcpt(s.mx, "tp@SENDER.example", "carol@Example.ORG")[0], 250, "domains compare in lower case")
        self.assertEqual(rcpt(s.mx, "tp@sender.example", "abuse@example.org")[0], 250, "allowed recipient")
        self.assertEqual(rcpt(s.mx, "tp@sender.example", "bob@example.org")[0], 450, "another recipient")
        self.assertEqual(rcpt(s.mx, "tp2@sender.example", "carol@example.org")[0], 450, "another sender")
        self.assertEqual(rcpt(s.mx, "bounce-2002@lists.example", "carol@example.org")[0], 250)
        self.assertEqual(rcpt(s.mx, "SRS0=abcd=XY=sender.example=tp@fwd.example", "carol@example.org")[0], 250)
        self.assertEqual(rcpt(s.mx, "prvs=1234abcdef=tp@sender.example", "carol@example.org")[0], 250)
        self.assertEqual(rcpt(s.mx, "", "carol@example.org")[0], 250)

    def test_restart_keeps_state(self):
        s = self.server()
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org")[0], 450)
        self.assertEqual(rcpt(s.mx, "b@sender.example", "bob@example.org")[0], 450)
        time.sleep(2.1)
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org")[0], 250)
        self.assertEqual(s.stop(), 0)
        s.start()
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org")[0], 250, "passed triplet remembered")
        self.assertEqual(rcpt(s.mx, "b@sender.example", "bob@example.org")[0], 250, "first sight remembered")
        self.assertEqual(rcpt(s.mx, "c@sender.example", "bob@example.org")[0], 450)

    def test_window_expiry_and_purge(self):
        s = self.server(delay="1s", retry_window="2s")
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org")[0], 450)
        self.assertEqual(rcpt(s.mx, "w@sender.example", "bob@example.org")[0], 450)
        time.sleep(1.1)
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org")[0], 250)
        self.assertEqual(rcpt(s.mx, "b@sender.example", "bob@example.org")[0], 450)
        time.sleep(1.1)  # w: no passing retry within retry_window
        code, text = rcpt(s.mx, "w@sender.example", "bob@example.org")
        self.assertEqual(wait_seconds(code, text), 1, "forgotten after retry_window: first sight again")
        time.sleep(1.1)
        self.assertEqual(rcpt(s.mx, "w@sender.example", "bob@example.org")[0], 250)
        time.sleep(1.0)  # b's retry window is over too; a and w stay (max_age)
        out = s.cli("greylist", "purge")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "removed 1 entry")
        listing = s.cli("greylist", "list").stdout
        self.assertIn("<a@sender.example>", listing)
        self.assertNotIn("<b@sender.example>", listing)
        out = s.cli("greylist", "purge", "--all")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertNotIn("<a@sender.example>", s.cli("greylist", "list").stdout)
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org")[0], 450, "forgotten by purge --all")

    def test_auto_allow(self):
        s = self.server(auto_allow_after=2)
        rcpt(s.mx, "a@one.example", "bob@example.org")
        rcpt(s.mx, "b@two.example", "bob@example.org")
        self.assertEqual(rcpt(s.mx, "new@three.example", "carol@example.org")[0], 450)
        time.sleep(2.1)
        self.assertEqual(rcpt(s.mx, "a@one.example", "bob@example.org")[0], 250)
        self.assertEqual(rcpt(s.mx, "z@four.example", "carol@example.org")[0], 450, "one passed triplet is not enough")
        self.assertEqual(rcpt(s.mx, "b@two.example", "bob@example.org")[0], 250)
        self.assertEqual(rcpt(s.mx, "y@five.example", "carol@example.org")[0], 250, "network allowed after 2")
        out = s.cli("greylist", "list").stdout
        self.assertRegex(out, r"127\.0\.0\.0/24\t2\t")

    def test_config_allow_entries(self):
        s = self.shared
        self.assertEqual(rcpt(s.mx, "ca@sender.example", "abuse@example.org")[0], 250)
        self.assertEqual(rcpt(s.mx, "ca@sender.example", "anyone@example.net")[0], 250)
        self.assertEqual(rcpt(s.mx, "ca@sender.example", "bob@example.org")[0], 450)
        self.assertNotIn("<abuse@example.org>", s.cli("greylist", "list").stdout, "allowed: no state kept")

    def test_config_allow_rdns_domain(self):
        # 127.0.0.1's forward-confirmed reverse name is "localhost" (/etc/hosts).
        s = self.server(allow=["localhost"])
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org")[0], 250)
        self.assertIn("allow=localhost", s.log_text())

    def test_allow_command_on_running_server(self):
        s = self.server()
        self.assertEqual(rcpt(s.mx, "a@sender.example", "bob@example.org")[0], 450)
        out = s.cli("greylist", "allow", "127.0.0.1")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "allowed 127.0.0.1/32")
        self.assertEqual(rcpt(s.mx, "new@sender.example", "bob@example.org")[0], 250, "seen at once, no restart")
        self.assertIn("127.0.0.1/32", s.cli("greylist", "list").stdout)
        out = s.cli("greylist", "allow", "rcpt:carol@example.org")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(out.stdout.strip(), "allowed rcpt:carol@example.org")

    def test_allow_command_rejects_bad_entries(self):
        s = self.shared
        before = s.cli("greylist", "list").stdout
        cases = [(["allow", bad], 65) for bad in
                 ["10.0.0.0/33", "not a domain", "rcpt:", "rcpt:@example.org", "1.2.3.4/x", ""]]
        cases += [(["allow"], 64), (["frobnicate"], 64), (["purge", "--everything"], 64), ([], 64)]
        # Independent CLI runs, four at a time (each is a whole process start).
        with ThreadPoolExecutor(4) as pool:
            results = list(pool.map(lambda c: s.cli("greylist", *c[0]), cases))
        for (args, want), out in zip(cases, results):
            self.assertEqual(out.returncode, want, (args, out.stdout, out.stderr))
            if want == 65:
                self.assertIn("greylist allow:", out.stderr)
        self.assertEqual(s.cli("greylist", "list").stdout, before, "nothing was added")

    def test_greylist_applies_per_recipient_in_one_transaction(self):
        s = self.shared
        raw = RawSMTP(*s.mx)
        self.addCleanup(raw.close)
        self.assertEqual(raw.reply()[0], 220)
        self.assertEqual(raw.cmd("EHLO client.example.net")[0], 250)
        self.assertEqual(raw.cmd("MAIL FROM:<raw@sender.example>")[0], 250)
        code, lines = raw.cmd("RCPT TO:<bob@example.org>")
        self.assertEqual(lines, ["450 4.2.0 Greylisted, try again in 3 seconds"])
        self.assertEqual(raw.cmd("RCPT TO:<abuse@example.org>")[0], 250)
        self.assertEqual(raw.cmd("QUIT")[0], 221)


if __name__ == "__main__":
    unittest.main()
