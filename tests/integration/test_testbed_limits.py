"""`postern testbed` keeps its memory and files bounded whatever clients
send, and says where it listens (issue 23, items 3, 5, 6, 8, 9): rules are
capped in size and count and a POST answers with what it added; all
transcripts share one byte budget and the session list carries none; at
most `max_messages` are kept, the oldest dropped first; --ports-file is not
written through a planted symlink; the start-up text and the log name the
real ports and point to --help and docs/testbed.md."""
import json
import os
import re
import shutil
import subprocess
import tempfile
import unittest
import urllib.request

from harness import POSTERN, wait_for
from support.processes import stop_process
from test_testbed import Testbed, TestbedCase

RULE = {"command": "EHLO", "from": "*@cap.test", "reply": "550 5.7.1 ok"}


class RuleLimits(TestbedCase):
    def test_post_answers_with_the_rule_added_only(self):
        self.assertEqual(self.tb.request("POST", "/api/rules", dict(RULE, reply="550 5.7.1 first"))[0], 201)
        status, added = self.tb.request("POST", "/api/rules", dict(RULE, reply="550 5.7.1 second"))
        self.assertEqual(status, 201)
        self.assertEqual([(r["number"], r["reply"]) for r in added], [(2, "550 5.7.1 second")])
        self.assertEqual([r["reply"] for r in self.tb.get("/api/rules")[1]], ["550 5.7.1 first", "550 5.7.1 second"])

    def test_count_over_the_cap_is_409_with_the_reason_and_adds_nothing(self):
        for _ in range(2):
            status, added = self.tb.request("POST", "/api/rules", [RULE] * 500)
            self.assertEqual((status, len(added)), (201, 500))
        status, body = self.tb.request("POST", "/api/rules", [RULE, RULE])
        self.assertEqual(status, 409)
        self.assertIn("at most 1000 rules", body["error"])
        self.assertEqual(len(self.tb.get("/api/rules")[1]), 1000)
        self.assertEqual(self.tb.request("DELETE", "/api/rules"), (200, []))
        self.assertEqual(self.tb.request("POST", "/api/rules", RULE)[0], 201, "room again after DELETE")

    def test_body_too_large_is_413_with_the_reason(self):
        big = json.dumps([RULE] * 1800).encode()  # about 90 KB of well-formed rules
        self.assertGreater(len(big), 64 << 10)
        status, body = self.tb.request("POST", "/api/rules", big)
        self.assertEqual(status, 413)
        self.assertIn("at most 65536 octets", body["error"])
        status, body = self.tb.request("POST", "/api/rules", b"[" + b" " * (2 << 20) + b"]")
        self.assertEqual(status, 413, "past the server's own body limit too")
        self.assertIn("error", body)
        self.assertEqual(self.tb.get("/api/rules")[1], [])

    def test_a_chunked_body_is_refused_before_it_is_read(self):
        # cpp-httplib would read a chunked body whole, past every limit: only Content-Length is taken.
        import http.client
        c = http.client.HTTPConnection("127.0.0.1", self.tb.ports["http"], timeout=30)
        self.addCleanup(c.close)
        c.putrequest("POST", "/api/v1/send")
        c.putheader("Content-Type", "application/json")
        c.putheader("Transfer-Encoding", "chunked")
        c.endheaders()
        c.send(b"10\r\n" + b"x" * 16 + b"\r\n")
        r = c.getresponse()
        self.assertEqual(r.status, 411)
        self.assertIn("Content-Length", json.loads(r.read())["Error"])
        self.assertEqual(self.tb.get("/api/messages")[1], [])

    def test_a_rule_field_longer_than_smtp_allows_is_refused(self):
        status, body = self.tb.request("POST", "/api/rules", dict(RULE, reply="450 4.7.1 " + "x" * 600))
        self.assertEqual(status, 400)
        self.assertIn("reply: at most 510 characters", body["error"])

    def test_a_number_out_of_range_is_a_400(self):
        status, body = self.tb.request("POST", "/api/rules", b'[{"command":33333333333333333e333}]')
        self.assertEqual(status, 400)
        self.assertIn("not JSON", body["error"])


class TranscriptBudget(TestbedCase):
    config = '[testbed]\nmax_transcript_size = "1M"\n'
    NOOP = "NOOP " + "x" * 495

    def noop_session(self, count):
        r = self.tb.raw()
        for start in range(0, count, 50):
            n = min(50, count - start)
            r.send(("%s\r\n" % self.NOOP) * n)
            for _ in range(n):
                self.assertEqual(r.reply()[0], 250)
        r.cmd("QUIT")
        r.close()

    def test_many_noop_sessions_stay_within_one_budget(self):
        for _ in range(24):
            self.noop_session(200)
        status, sessions = self.tb.get("/api/sessions")
        self.assertEqual(status, 200)
        self.assertEqual(len(sessions), 24)
        self.assertFalse(any("transcript" in s for s in sessions), "the list carries no transcript")
        newest, oldest = sessions[0], sessions[-1]
        self.assertFalse(newest["dropped"])
        self.assertTrue(oldest["dropped"])
        self.assertGreaterEqual(oldest["lines"], 400, "the summary still counts the lines it had")
        kept = [self.tb.get("/api/sessions/" + s["id"])[1]["transcript"] for s in sessions]
        total = sum(len(l["line"]) + len(l.get("explain", "")) for t in kept for l in t)
        self.assertLess(total, 1 << 20)
        self.assertEqual(len(kept[-1]), 1)
        self.assertIn("transcript dropped", kept[-1][0]["line"])
        self.assertIn("transcript truncated", kept[0][-1]["line"], "one session takes a sixteenth at most")
        self.assertTrue(any(l["line"].startswith("NOOP ") for l in kept[0]))


class MaxMessages(TestbedCase):
    config = "[testbed]\nmax_messages = 3\n"

    def test_the_oldest_are_dropped_first(self):
        with self.tb.smtp() as s:
            for n in range(5):
                s.sendmail("app@example.com", ["n%d@example.org" % n], "Subject: number %d\r\n\r\nx\r\n" % n)
        status, messages = self.tb.get("/api/messages")
        self.assertEqual(status, 200)
        self.assertEqual([m["subject"] for m in messages], ["number 4", "number 3", "number 2"])
        status, m = self.tb.get("/api/wait?to=n0@example.org&timeout=0")
        self.assertEqual(status, 408, "the oldest is gone")
        _, text = self.tb.get("/metrics")
        self.assertIn("postern_testbed_messages 3", text)

    def test_a_bad_value_is_a_config_error(self):
        d = tempfile.mkdtemp(prefix="postern-testbed-test-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "bad.toml")
        for bad in ["-1", '"many"', "1000001"]:
            with open(path, "w") as f:
                f.write("[testbed]\nmax_messages = %s\n" % bad)
            out = subprocess.run([POSTERN, "testbed", "--smtp", "127.0.0.1:0", "--smtps", "127.0.0.1:0", "--pop3", "127.0.0.1:0",
                                  "--http", "127.0.0.1:0", "--config", path], capture_output=True, text=True,
                                 timeout=30)
            self.assertEqual(out.returncode, 78, bad)
            self.assertIn("testbed.max_messages", out.stderr)


def answers(ports_file):
    """True once the testbed's HTTP side answers (it runs, not only listens)."""
    try:
        with open(ports_file) as f:
            port = json.load(f)["http"]
        with urllib.request.urlopen("http://127.0.0.1:%d/api/rules" % port, timeout=5) as r:
            return r.status == 200
    except (OSError, ValueError):
        return False


class PortsFile(unittest.TestCase):
    def test_a_symlink_planted_at_the_temporary_name_is_not_written_through(self):
        d = tempfile.mkdtemp(prefix="postern-testbed-test-")
        self.addCleanup(shutil.rmtree, d, True)
        victim = os.path.join(d, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        ports = os.path.join(d, "ports.json")
        os.symlink(victim, ports + ".tmp")
        proc = subprocess.Popen([POSTERN, "testbed", "--smtp", "127.0.0.1:0", "--smtps", "127.0.0.1:0", "--pop3", "127.0.0.1:0",
                                 "--http", "127.0.0.1:0", "--ports-file", ports],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(stop_process, proc, 30)
        self.assertTrue(wait_for(lambda: os.path.exists(ports) or proc.poll() is not None, timeout=20))
        self.assertIsNone(proc.poll(), "the testbed runs")
        with open(ports) as f:
            self.assertEqual(set(json.load(f)), {"smtp", "smtps", "http", "pop3"})
        self.assertTrue(wait_for(lambda: answers(ports), timeout=20))
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")
        self.assertTrue(os.path.islink(ports + ".tmp"), "left alone")
        self.assertFalse(os.path.islink(ports))
        self.assertEqual(stop_process(proc, timeout=30), 0)


    def test_the_generated_tls_key_is_not_written_through_a_planted_symlink(self):
        d = tempfile.mkdtemp(prefix="postern-testbed-test-")
        self.addCleanup(shutil.rmtree, d, True)
        victim = os.path.join(d, "victim")
        with open(victim, "w") as f:
            f.write("precious\n")
        tls = os.path.join(d, "data", "tls")
        os.makedirs(tls)
        for name in ("key.pem.tmp", "cert.pem.tmp"):
            os.symlink(victim, os.path.join(tls, name))
        ports = os.path.join(d, "ports.json")
        proc = subprocess.Popen([POSTERN, "testbed", "--smtp", "127.0.0.1:0", "--smtps", "127.0.0.1:0", "--pop3", "127.0.0.1:0",
                                 "--http", "127.0.0.1:0", "--ports-file", ports, "--data-dir",
                                 os.path.join(d, "data")], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        self.addCleanup(stop_process, proc, 30)
        self.assertTrue(wait_for(lambda: os.path.exists(ports) or proc.poll() is not None, timeout=20))
        self.assertIsNone(proc.poll(), "the testbed runs")
        self.assertTrue(wait_for(lambda: answers(ports), timeout=20))
        with open(victim) as f:
            self.assertEqual(f.read(), "precious\n")
        with open(os.path.join(tls, "key.pem")) as f:
            self.assertIn("PRIVATE KEY", f.read())
        self.assertFalse(os.path.islink(os.path.join(tls, "key.pem")))
        self.assertEqual(os.stat(os.path.join(tls, "key.pem")).st_mode & 0o777, 0o600)


class StartupText(TestbedCase):
    def test_points_to_help_and_the_docs_and_logs_the_ports_taken(self):
        # The ports file is written before the listeners log; wait for their lines.
        self.assertTrue(wait_for(lambda: len(re.findall(r"event=listen address=", self.tb.log())) >= 2, timeout=10))
        log = self.tb.log()
        self.assertNotIn("SPEC", log)
        self.assertIn("postern testbed --help", log)
        self.assertIn("docs/testbed.md", log)
        listens = re.findall(r"event=listen address=(\S+)", log)
        self.assertEqual(sorted(listens), sorted("127.0.0.1:%d" % self.tb.ports[k] for k in ("smtp", "smtps")))
        self.assertIn("event=http_listen address=127.0.0.1:%d " % self.tb.ports["http"], log)

    def test_help_lists_the_scenarios(self):
        out = subprocess.run([POSTERN, "testbed", "--help"], capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 0)
        for wanted in ["greylist+N@", "tempfail-data+K@", "POST /api/rules", "docs/testbed.md"]:
            self.assertIn(wanted, out.stdout)


if __name__ == "__main__":
    unittest.main()
