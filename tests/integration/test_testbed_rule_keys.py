"""The testbed's rule keys rate, throttle and command STARTTLS (SPEC §10),
driven with smtplib and swaks over real sockets: "421 after 3 messages a
minute", a DATA read at a set speed (and a SIGTERM that still ends the
testbed at once), STARTTLS refused with 454 then offered again; the same
keys from a --rules file and [[testbed.rule]], and bad values refused with
the reason (HTTP 400, and a testbed that will not start)."""
import json
import os
import shutil
import signal
import smtplib
import socket
import subprocess
import tempfile
import time
import unittest

from harness import POSTERN, wait_for
from test_testbed import Testbed
from support.tls import tls_context


def message(size=0, subject="keys"):
    return ("From: app@example.com\r\nTo: dev@example.org\r\nSubject: %s\r\n\r\n" % subject
            + ("x" * 76 + "\r\n") * (size // 78) + "end\r\n")


class RuleKeys(unittest.TestCase):
    def setUp(self):
        self.tb = Testbed()
        self.addCleanup(self.tb.cleanup)

    def add(self, rule):
        status, body = self.tb.request("POST", "/api/rules", rule)
        self.assertEqual(status, 201, body)
        return body

    def test_rate_421_after_3_messages_a_minute(self):
        added = self.add({"command": "MAIL", "rate": "3/1m", "reply": "421 4.7.0 Too many messages, slow down"})
        self.assertEqual(added[0]["rate"], "3/1m")
        for i in range(3):
            with smtplib.SMTP("127.0.0.1", self.tb.ports["smtp"], timeout=30) as s:
                s.sendmail("app@example.com", ["dev@example.org"], message(subject="n%d" % i))
        with smtplib.SMTP("127.0.0.1", self.tb.ports["smtp"], timeout=30) as s:
            with self.assertRaises(smtplib.SMTPSenderRefused) as e:
                s.sendmail("app@example.com", ["dev@example.org"], message(subject="n3"))
        self.assertEqual(e.exception.smtp_code, 421)
        self.assertIn(b"Too many messages", e.exception.smtp_error)
        status, kept = self.tb.get("/api/messages")
        self.assertEqual(sorted(m["subject"] for m in kept), ["n0", "n1", "n2"])
        # The transcript names the rule and its rate.
        status, sessions = self.tb.get("/api/sessions")
        status, last = self.tb.get("/api/sessions/" + sessions[0]["id"])
        causes = [l.get("scenario", "") for l in last["transcript"] if l["line"].startswith("421")]
        self.assertIn("rule 1: MAIL, over 3/1m", causes)

    def test_rate_window_passes(self):
        self.add({"command": "RCPT", "to": "dev@*", "rate": "1/2s", "reply": "450 4.7.1 One a second please"})
        with smtplib.SMTP("127.0.0.1", self.tb.ports["smtp"], timeout=30) as s:
            s.sendmail("app@example.com", ["dev@example.org"], message())
            with self.assertRaises(smtplib.SMTPRecipientsRefused):
                s.sendmail("app@example.com", ["dev@example.org"], message())
            # Other recipients do not match the rule.
            s.sendmail("app@example.com", ["other@example.org"], message())
            # Once the window has gone by, one goes through again (each try counts too).
            ok = wait_for(lambda: self.try_send(s), timeout=10, interval=2.1)
            self.assertTrue(ok)

    def try_send(self, s):
        try:
            s.sendmail("app@example.com", ["dev@example.org"], message())
            return True
        except smtplib.SMTPRecipientsRefused:
            s.rset()
            return False

    def test_throttle_reads_data_at_that_speed(self):
        self.add({"command": "DATA", "throttle": "8K/s"})
        body = message(size=32 * 1024, subject="slow")
        with smtplib.SMTP("127.0.0.1", self.tb.ports["smtp"], timeout=30) as s:
            start = time.monotonic()
            s.sendmail("app@example.com", ["dev@example.org"], body)
            took = time.monotonic() - start
        # 32 KiB at 8 KiB/s: four seconds (the socket buffers take a little at once).
        self.assertGreater(took, 2.5)
        self.assertLess(took, 15)
        status, m = self.tb.get("/api/wait?to=dev@example.org&timeout=5")
        self.assertEqual(status, 200)
        self.assertGreater(m["size"], 32 * 1024)
        # Without the rule, the same message goes at once.
        self.tb.request("DELETE", "/api/rules")
        with smtplib.SMTP("127.0.0.1", self.tb.ports["smtp"], timeout=30) as s:
            start = time.monotonic()
            s.sendmail("app@example.com", ["dev@example.org"], body)
            self.assertLess(time.monotonic() - start, 2.0)

    def test_sigterm_during_a_throttled_data_exits_fast(self):
        self.add({"command": "DATA", "throttle": "1/s"})
        s = socket.create_connection(("127.0.0.1", self.tb.ports["smtp"]), timeout=10)
        self.addCleanup(s.close)
        f = s.makefile("rb")
        f.readline()
        for cmd in (b"EHLO c.test", b"MAIL FROM:<a@b.test>", b"RCPT TO:<dev@example.org>", b"DATA"):
            s.sendall(cmd + b"\r\n")
            while True:
                line = f.readline()
                if line[3:4] != b"-":
                    break
        self.assertTrue(line.startswith(b"354"), line)
        s.sendall(b"Subject: never ends\r\n\r\n" + b"y" * 60000)
        start = time.monotonic()
        self.tb.proc.send_signal(signal.SIGTERM)
        rc = self.tb.proc.wait(timeout=10)
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(rc, 0)

    def test_sigterm_during_a_rule_delay_ends_in_421(self):
        self.add({"command": "RCPT", "to": "delayed@*", "reply": "250 2.1.5 ok", "delay": "20s"})
        s = socket.create_connection(("127.0.0.1", self.tb.ports["smtp"]), timeout=10)
        self.addCleanup(s.close)
        f = s.makefile("rb")
        f.readline()
        for cmd in (b"EHLO c.test", b"MAIL FROM:<a@b.test>"):
            s.sendall(cmd + b"\r\n")
            while True:
                line = f.readline()
                if line[3:4] != b"-":
                    break
        s.sendall(b"RCPT TO:<delayed@example.org>\r\n")
        def rcpt_seen():
            sessions = self.tb.get("/api/sessions")[1]
            return sessions and "delayed@example.org" in json.dumps(self.tb.get("/api/sessions/%s" % sessions[0]["id"])[1])
        self.assertTrue(wait_for(rcpt_seen, timeout=10))
        start = time.monotonic()
        self.tb.proc.send_signal(signal.SIGTERM)
        self.assertTrue(f.readline().startswith(b"421 4.3.2"))  # after the 1 s grace, not the 20 s delay
        self.assertLess(time.monotonic() - start, 5)
        self.assertEqual(self.tb.proc.wait(timeout=10), 0)

    def session_summaries(self):
        return {s["id"]: s for s in self.tb.get("/api/sessions")[1]}

    def test_auth_rules_wait_name_their_cause_and_drop_without_a_reply(self):
        self.add({"command": "AUTH", "user": "blocked@*", "reply": "535 5.7.8 Blocked user", "delay": "1s"})
        self.add({"command": "AUTH", "user": "gone@*", "action": "drop"})
        s = self.tb.smtp()
        self.addCleanup(s.close)
        start = time.monotonic()
        with self.assertRaises(smtplib.SMTPAuthenticationError) as refused:
            s.login("blocked@x.org", "pw")
        self.assertGreaterEqual(time.monotonic() - start, 0.9, "the rule's delay")
        self.assertEqual(refused.exception.smtp_error, b"5.7.8 Blocked user")
        s2 = self.tb.smtp()
        with self.assertRaises(smtplib.SMTPServerDisconnected):
            s2.login("gone@x.org", "pw")
        self.assertTrue(wait_for(lambda: any(x["last_class"] == "dropped" for x in self.session_summaries().values()),
                                 timeout=10))
        by_class = {x["last_class"]: x for x in self.session_summaries().values()}
        self.assertTrue(by_class["dropped"]["last_cause"].startswith("rule 2: AUTH user gone@*"), by_class)
        self.assertTrue(by_class["5xx"]["last_cause"].startswith("rule 1: AUTH user blocked@*"), by_class)
        dropped = self.tb.get("/api/sessions/" + by_class["dropped"]["id"])[1]["transcript"]
        self.assertEqual(dropped[-1]["line"], "(connection closed, no reply)")

    def test_a_pop3_auth_rule_that_drops_sends_nothing(self):
        self.add({"command": "AUTH", "user": "ruledrop@*", "action": "drop"})
        s = socket.create_connection(("127.0.0.1", self.tb.ports["pop3"]), timeout=10)
        self.addCleanup(s.close)
        f = s.makefile("rb")
        self.assertTrue(f.readline().startswith(b"+OK"))
        s.sendall(b"USER ruledrop@x.org\r\n")
        self.assertTrue(f.readline().startswith(b"+OK"))
        s.sendall(b"PASS x\r\n")
        self.assertEqual(f.read(), b"", "closed with no reply")

    def test_a_positive_rcpt_rule_is_sent_as_written_and_takes_the_recipient(self):
        self.add({"command": "RCPT", "to": "fwd@*", "reply": "251 2.1.5 Will forward for you"})
        r = self.tb.raw()
        self.assertEqual(r.cmd("MAIL FROM:<a@b.test>")[0], 250)
        self.assertEqual(r.cmd("RCPT TO:<fwd@example.org>"), (251, ["251 2.1.5 Will forward for you"]))
        self.assertEqual(r.cmd("DATA")[0], 354)
        self.assertEqual(r.cmd("Subject: fwd\r\n\r\nhi\r\n.")[0], 250)
        r.close()

    def test_starttls_refused_then_offered(self):
        self.add({"command": "STARTTLS", "reply": "454 4.7.0 TLS not available due to temporary reason", "times": 1})
        with smtplib.SMTP("127.0.0.1", self.tb.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example")
            with self.assertRaises(smtplib.SMTPResponseException) as e:
                s.starttls(context=tls_context())
            self.assertEqual(e.exception.smtp_code, 454)
            # The session goes on in plaintext.
            s.sendmail("app@example.com", ["plain@example.org"], message())
        with smtplib.SMTP("127.0.0.1", self.tb.ports["smtp"], timeout=30) as s:
            s.ehlo("client.example")
            self.assertEqual(s.starttls(context=tls_context())[0], 220)
            s.ehlo("client.example")
            s.sendmail("app@example.com", ["tls@example.org"], message())
        self.assertEqual(self.tb.get("/api/wait?to=tls@example.org&timeout=5")[0], 200)

    @unittest.skipIf(shutil.which("swaks") is None, "swaks is not installed")
    def test_swaks_sees_the_starttls_refusal(self):
        self.add({"command": "STARTTLS", "reply": "454 4.7.0 TLS not available due to temporary reason"})
        r = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(self.tb.ports["smtp"]), "--tls",
                            "--from", "app@example.com", "--to", "dev@example.org", "--timeout", "20"],
                           capture_output=True, text=True, timeout=60)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("454 4.7.0 TLS not available due to temporary reason", r.stdout + r.stderr)

    def test_bad_values_are_refused(self):
        for rule, words in [
            ({"command": "MAIL", "rate": "often", "reply": "421 4.7.0 x"}, 'expected "N/DURATION"'),
            ({"command": "MAIL", "rate": "5/0s", "reply": "421 4.7.0 x"}, "DURATION from 1s to 1d"),
            ({"command": "MAIL", "rate": 5, "reply": "421 4.7.0 x"}, "expected a string"),
            ({"command": "DATA", "throttle": "fast"}, 'expected "BYTES/s"'),
            ({"command": "DATA", "throttle": "0/s"}, "from 1/s"),
            ({"command": "RCPT", "throttle": "1K/s"}, 'only with command "DATA"'),
            ({"command": "STARTLS", "reply": "454 4.7.0 x"}, "expected EHLO, STARTTLS"),
        ]:
            with self.subTest(rule=rule):
                status, body = self.tb.request("POST", "/api/rules", rule)
                self.assertEqual(status, 400, body)
                self.assertIn(words, body["error"])
        self.assertEqual(self.tb.get("/api/rules")[1], [])


class FromFiles(unittest.TestCase):
    def test_rules_file_and_config(self):
        d = tempfile.mkdtemp(prefix="postern-rule-keys-")
        self.addCleanup(shutil.rmtree, d, True)
        rules = os.path.join(d, "rules.toml")
        with open(rules, "w") as f:
            f.write('[[rule]]\ncommand = "MAIL"\nrate = "1/1m"\nreply = "421 4.7.0 Slow down"\n')
        tb = Testbed("--rules", rules, config='[[testbed.rule]]\ncommand = "DATA"\nthrottle = "64K/s"\n')
        self.addCleanup(tb.cleanup)
        status, listed = tb.get("/api/rules")
        self.assertEqual([(r["command"], r["rate"], r["throttle"]) for r in listed],
                         [("DATA", "", "65536/s"), ("MAIL", "1/1m", "")])
        with smtplib.SMTP("127.0.0.1", tb.ports["smtp"], timeout=30) as s:
            s.sendmail("app@example.com", ["dev@example.org"], message())
            with self.assertRaises(smtplib.SMTPSenderRefused):
                s.sendmail("app@example.com", ["dev@example.org"], message())

    def test_a_bad_value_in_a_rules_file_names_file_line_and_key(self):
        d = tempfile.mkdtemp(prefix="postern-rule-keys-")
        self.addCleanup(shutil.rmtree, d, True)
        rules = os.path.join(d, "rules.toml")
        with open(rules, "w") as f:
            f.write('[[rule]]\ncommand = "MAIL"\nreply = "421 4.7.0 x"\nrate = "5 per minute"\n')
        r = subprocess.run([POSTERN, "testbed", "--smtp", "127.0.0.1:0", "--smtps", "127.0.0.1:0", "--http",
                            "127.0.0.1:0", "--data-dir", os.path.join(d, "data"), "--rules", rules],
                           capture_output=True, text=True, timeout=30)
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("rules.toml", r.stderr)
        self.assertIn("rule[1].rate", r.stderr)
        self.assertIn('expected "N/DURATION"', r.stderr)


if __name__ == "__main__":
    unittest.main()
