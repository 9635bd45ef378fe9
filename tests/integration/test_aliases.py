"""Aliases and forwarding (SPEC §11) through the real server: swaks and
smtplib send to an alias, a list, a catch-all and a forwarding alias; the
forwarded copy reaches an independent next hop (aiosmtpd) with an SRS
sender, and a bounce to that SRS address finds its way back to the
original sender. Loops get 554 5.4.6, a forged SRS address 550 5.1.1, the
file is re-read when it changes, and check-config names a bad line."""
import os
import re
import smtplib
import subprocess
import time
import unittest

import harness
from queue_peers import NextHop, add_user, wait_for

ALIASES = """\
# test aliases
postmaster@example.org: alice@example.org
team@example.org: alice@example.org,
    bob
self@example.org: self, friend@remote.test
fwd@example.org: friend@remote.test
hop1@example.org: relay@other.test
hop2@example.org: final@far.test
loop1@example.org: loop2@example.org
loop2@example.org: loop1@example.org
@example.net: bob@example.org
"""


class AliasesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hop = NextHop().start()
        cls.server = harness.Server(extra={
            "queue": {"retry_initial": "1s", "retry_max": "2s", "lifetime": "1h"},
            "relay": {"routes": {"remote.test": f"{cls.hop.host}:{cls.hop.port}",
                                 "sender.test": f"{cls.hop.host}:{cls.hop.port}",
                                 "other.test": f"{cls.hop.host}:{cls.hop.port}",
                                 "far.test": f"{cls.hop.host}:{cls.hop.port}"}},
        })
        with open(os.path.join(cls.server.data_dir, "aliases"), "w") as f:
            f.write(ALIASES)
        cls.server.start()
        for u in ("alice@example.org", "bob@example.org", "self@example.org", "real@example.net"):
            add_user(cls.server, u)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.hop.stop()

    def send(self, sender, rcpts, subject):
        host, port = self.server.mx
        msg = f"From: <{sender}>\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n"
        with smtplib.SMTP(host, port, timeout=20) as s:
            return s.sendmail(sender, rcpts, msg.encode())

    def count(self, address, subject, n=1):
        def found():
            return sum(subject.encode() in m for m in self.server.delivered(address, timeout=0)) >= n
        self.assertTrue(wait_for(found, timeout=20), f"{subject} not in {address}")

    def test_list_alias_with_swaks(self):
        host, port = self.server.mx
        r = subprocess.run(["swaks", "--server", f"{host}:{port}", "--from", "ext@sender.test",
                            "--to", "team@example.org", "--header", "Subject: team-swaks"],
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("250 2.1.5", r.stdout)
        self.count("alice@example.org", "team-swaks")
        self.count("bob@example.org", "team-swaks")

    def test_an_alias_beside_its_user_gives_one_copy(self):
        self.send("ext@sender.test", ["team@example.org", "alice@example.org", "postmaster@example.org"], "beside")
        self.count("alice@example.org", "beside")
        self.count("bob@example.org", "beside")
        self.assertTrue(wait_for(lambda: self.server.cli("queue", "list").stdout.strip() == "Queue is empty.",
                                 timeout=20))
        copies = [m for m in self.server.delivered("alice@example.org", timeout=0) if b"beside" in m]
        self.assertEqual(len(copies), 1)

    def test_postmaster_alias_and_catch_all(self):
        self.send("ext@sender.test", ["postmaster@example.org"], "pm-alias")
        self.count("alice@example.org", "pm-alias")
        self.send("ext@sender.test", ["anyone@example.net", "real@example.net"], "catch-all")
        self.count("bob@example.org", "catch-all")
        self.count("real@example.net", "catch-all")  # a user wins over the catch-all

    def test_forward_rewrites_sender_with_srs_and_bounce_comes_back(self):
        before = len(self.hop.messages)
        self.send("ext@sender.test", ["self@example.org"], "forwarded")
        self.count("self@example.org", "forwarded")  # "self: self, ..." keeps a copy
        self.assertTrue(wait_for(lambda: len(self.hop.messages) > before, timeout=20))
        sender, rcpts, data = self.hop.messages[-1]
        self.assertEqual(rcpts, ["friend@remote.test"])
        self.assertRegex(sender, r"^SRS0=[A-Z2-7]{6}=[A-Z2-7]{2}=sender\.test=ext@example\.org$")
        self.assertIn(b"forwarded", data)
        # The next hop bounces later: the bounce to the SRS address goes back to ext@sender.test.
        routes_before = len(self.hop.messages)
        self.send("", [sender], "bounce-back")
        self.assertTrue(wait_for(lambda: len(self.hop.messages) > routes_before, timeout=20))
        self.assertEqual(self.hop.messages[-1][1], ["ext@sender.test"])
        self.assertIn(b"bounce-back", self.hop.messages[-1][2])

    def forwarded(self, sender, rcpt, subject):
        """Sends through a forwarding alias; the (sender, rcpts) the next hop got."""
        self.send(sender, [rcpt], subject)
        self.assertTrue(wait_for(lambda: any(subject.encode() in m[2] for m in self.hop.messages), timeout=20))
        return [m for m in self.hop.messages if subject.encode() in m[2]][0][:2]

    def test_srs_address_takes_only_bounces(self):
        srs, _ = self.forwarded("ext@sender.test", "fwd@example.org", "srs-relay")
        self.assertTrue(srs.startswith("SRS0="), srs)
        host, port = self.server.mx
        with smtplib.SMTP(host, port, timeout=20) as s:
            s.ehlo("client.test")
            s.mail("spammer@elsewhere.test")
            self.assertEqual(s.rcpt(srs), (550, b"5.7.1 SRS address accepts only bounces (MAIL FROM:<>)"))
            s.rset()
            s.sendmail("", [srs], b"From: <mailer-daemon@elsewhere.test>\r\nSubject: srs-bounce\r\n\r\nbounced\r\n")
        self.assertIn("event=srs_not_bounce", self.server.log_text())
        self.assertTrue(wait_for(lambda: any(b"srs-bounce" in m[2] for m in self.hop.messages), timeout=20))
        self.assertEqual([m for m in self.hop.messages if b"srs-bounce" in m[2]][0][:2], ("<>", ["ext@sender.test"]))

    def test_bounce_through_a_chain_that_passed_twice(self):
        # ext@sender.test -> hop1@example.org -> relay@other.test, which forwards
        # (with its own SRS1) back to hop2@example.org -> final@far.test.
        first, rcpts = self.forwarded("ext@sender.test", "hop1@example.org", "chain-pass-1")
        self.assertEqual(rcpts, ["relay@other.test"])
        self.assertTrue(first.startswith("SRS0="), first)
        other = "SRS1=OTHR=example.org=" + first[len("SRS0"):first.rindex("@")] + "@other.test"
        second, rcpts = self.forwarded(other, "hop2@example.org", "chain-pass-2")
        self.assertEqual(rcpts, ["final@far.test"])
        self.assertTrue(second.startswith("SRS1=") and second.endswith("@example.org"), second)
        # far.test bounces: the DSN must reach the original sender, not die as "No such user".
        self.send("", [second], "chain-bounce")
        self.assertTrue(wait_for(lambda: any(b"chain-bounce" in m[2] for m in self.hop.messages), timeout=20),
                        "the bounce did not leave")
        self.assertEqual([m for m in self.hop.messages if b"chain-bounce" in m[2]][0][1], ["ext@sender.test"])

    def test_refusals(self):
        host, port = self.server.mx
        with smtplib.SMTP(host, port, timeout=20) as s:
            s.ehlo("client.test")
            s.mail("ext@sender.test")
            self.assertEqual(s.rcpt("loop1@example.org"), (554, b"5.4.6 Alias loop detected"))
            code, text = s.rcpt("SRS0=AAAAAA=AB=sender.test=ext@example.org")
            self.assertEqual((code, text), (550, b"5.1.1 Invalid or expired SRS address"))
            self.assertEqual(s.rcpt("nobody@example.org")[0], 550)

    def test_file_change_is_picked_up(self):
        path = os.path.join(self.server.data_dir, "aliases")
        with open(path, "a") as f:
            f.write("newalias@example.org: bob\n")
        self.send("ext@sender.test", ["newalias@example.org"], "new-alias")
        self.count("bob@example.org", "new-alias")


class AliasFileErrorsTest(unittest.TestCase):
    def test_check_config_names_bad_lines(self):
        server = harness.Server()
        self.addCleanup(server.cleanup)
        server.write_config()
        with open(os.path.join(server.data_dir, "aliases"), "w") as f:
            f.write("good@example.org: alice\nno colon here\nbad@example.org: |/bin/sh\n")
        r = server.cli("check-config", "-q")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn("aliases:2: expected \"ADDRESS: TARGET[, TARGET...]\"", r.stderr)
        self.assertIn("aliases:3: commands (\"|...\") are not supported", r.stderr)


if __name__ == "__main__":
    unittest.main()
