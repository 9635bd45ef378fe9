"""`[http] listen` (SPEC §4): GET /metrics of `postern serve` in the
Prometheus text format, checked with curl and a parser against a known
sequence of sessions: one message delivered, one bad command, one failed
and one successful AUTH."""
import base64
import os
import re
import subprocess
import unittest

from harness import RawSMTP, Server, free_port, run, wait_for

LINE = re.compile(r'^([a-z_]+)(\{[^}]*\})? ([0-9.eE+-]+)$')


def scrape(port):
    out = subprocess.run(["curl", "-sS", "-f", "http://127.0.0.1:%d/metrics" % port], capture_output=True, text=True,
                         timeout=30, check=True).stdout
    samples = {}
    for line in out.splitlines():
        if not line or line.startswith("#"):
            continue
        m = LINE.match(line)
        assert m, "not Prometheus text: %r" % line
        samples[m.group(1) + (m.group(2) or "")] = float(m.group(3))
    return out, samples


class Metrics(unittest.TestCase):
    def setUp(self):
        self.http_port = free_port()
        self.server = Server(listeners=("mx",), extra={"auth": {"require_tls": False},
                                                       "http": {"listen": "127.0.0.1:%d" % self.http_port}})
        self.server.start()
        self.addCleanup(self.server.cleanup)
        self.assertEqual(self.server.cli("user", "add", "--password-stdin", "alice@example.org",
                                         input="alice-pw\n").returncode, 0)

    def test_a_known_sequence(self):
        import smtplib
        # The harness's readiness probe was a connection too: count from here.
        _, before = scrape(self.http_port)
        with smtplib.SMTP(*self.server.mx) as s:
            s.sendmail("x@remote.example", ["alice@example.org"], "Subject: m\r\n\r\nhi\r\n")
        r = RawSMTP(*self.server.mx)
        r.reply()
        r.cmd("EHLO client.example")
        self.assertEqual(r.cmd("FROB")[0], 500)
        bad = base64.b64encode(b"\0alice@example.org\0wrong").decode()
        good = base64.b64encode(b"\0alice@example.org\0alice-pw").decode()
        self.assertEqual(r.cmd("AUTH PLAIN " + bad)[0], 535)
        self.assertEqual(r.cmd("AUTH PLAIN " + good)[0], 235)
        r.cmd("QUIT")
        r.close()
        text, after = wait_for(lambda: (lambda t, s: (t, s) if s.get('postern_sessions_total{end="quit"}') == 2
                                        else None)(*scrape(self.http_port)), timeout=20)
        samples = {k: v - before.get(k, 0) for k, v in after.items()}
        samples["postern_queue_messages"] = after["postern_queue_messages"]
        self.assertIn("# TYPE postern_smtp_replies_total counter", text)
        self.assertIn("# TYPE postern_delivery_seconds histogram", text)
        listener = "127.0.0.1:%d" % self.server.mx[1]
        self.assertEqual(samples['postern_connections_total{listener="%s"}' % listener], 2)
        self.assertEqual(samples['postern_smtp_replies_total{code="500",enhanced="5.5.2"}'], 1)
        self.assertEqual(samples['postern_smtp_replies_total{code="535",enhanced="5.7.8"}'], 1)
        self.assertEqual(samples['postern_smtp_replies_total{code="235",enhanced="2.7.0"}'], 1)
        self.assertEqual(samples['postern_auth_total{mechanism="PLAIN",result="failure"}'], 1)
        self.assertEqual(samples['postern_auth_total{mechanism="PLAIN",result="success"}'], 1)
        self.assertEqual(samples['postern_delivery_attempts_total{transport="direct",status="delivered"}'], 1)
        self.assertEqual(samples['postern_delivery_seconds_count{transport="direct"}'], 1)
        self.assertEqual(samples['postern_delivery_seconds_bucket{transport="direct",le="+Inf"}'], 1)
        self.assertEqual(samples["postern_queue_messages"], 0)
        for state in ("due", "deferred", "active"):
            self.assertEqual(after["postern_queue_%s_messages" % state], 0)
        status = subprocess.run(["curl", "-s", "-o", "/dev/null", "-w", "%{http_code}",
                                 "http://127.0.0.1:%d/other" % self.http_port], capture_output=True, text=True,
                                timeout=30).stdout
        self.assertEqual(status, "404")


class LockoutIsCounted(unittest.TestCase):
    def test_a_locked_out_client_counts_as_temporary(self):
        http_port = free_port()
        server = Server(listeners=("mx",), extra={"auth": {"require_tls": False, "lockout_failures": 2},
                                                  "http": {"listen": "127.0.0.1:%d" % http_port}})
        server.start()
        self.addCleanup(server.cleanup)
        bad = base64.b64encode(b"\0nobody@example.org\0wrong").decode()
        r = RawSMTP(*server.mx)
        r.reply()
        r.cmd("EHLO client.example")
        codes = [r.cmd("AUTH PLAIN " + bad)[0] for _ in range(3)]
        r.close()
        self.assertEqual(codes, [535, 535, 454])
        _, samples = scrape(http_port)
        self.assertEqual(samples['postern_auth_total{mechanism="PLAIN",result="failure"}'], 2)
        self.assertEqual(samples['postern_auth_total{mechanism="PLAIN",result="temporary"}'], 1)


class Greylist(unittest.TestCase):
    def test_greylist_decisions(self):
        port = free_port()
        srv = Server(listeners=("mx",), extra={"greylist": {"enabled": True},
                                               "http": {"listen": "127.0.0.1:%d" % port}})
        srv.start()
        self.addCleanup(srv.cleanup)
        srv.cli("user", "add", "--password-stdin", "bob@example.org", input="pw\n")
        r = RawSMTP(*srv.mx)
        r.reply()
        r.cmd("EHLO client.example")
        r.cmd("MAIL FROM:<x@remote.example>")
        self.assertEqual(r.cmd("RCPT TO:<bob@example.org>")[0], 450)
        r.close()
        _, samples = scrape(port)
        self.assertEqual(samples['postern_greylist_total{decision="greylisted"}'], 1)


class QueueStates(unittest.TestCase):
    def test_a_deferred_message_is_counted_as_deferred(self):
        port = free_port()
        srv = Server(listeners=("mx",), extra={"mailbox_format": "mbox", "http": {"listen": "127.0.0.1:%d" % port}})
        srv.start()
        self.addCleanup(srv.cleanup)
        srv.cli("user", "add", "--password-stdin", "bob@example.org", input="pw\n")
        mbox = srv.maildir("bob@example.org")
        os.makedirs(os.path.dirname(mbox), exist_ok=True)
        r = RawSMTP(*srv.mx)
        self.addCleanup(r.close)
        r.reply()
        r.cmd("EHLO client.example")
        r.cmd("MAIL FROM:<x@remote.example>")
        self.assertEqual(r.cmd("RCPT TO:<bob@example.org>")[0], 250)
        with open(mbox + ".lock", "w") as f:  # another program takes its dotlock now: delivery must wait
            f.write("1\n")
        self.assertEqual(r.cmd("DATA")[0], 354)
        self.assertEqual(r.cmd("Subject: m\r\n\r\nhi\r\n.")[0], 250)
        got = wait_for(lambda: scrape(port)[1].get("postern_queue_deferred_messages") == 1, timeout=20)
        self.assertTrue(got)
        _, samples = scrape(port)
        self.assertEqual(samples["postern_queue_messages"], 1)
        self.assertGreaterEqual(samples['postern_delivery_attempts_total{transport="local",status="deferred"}'], 1)


class BadListen(unittest.TestCase):
    def test_bad_address_is_a_config_error(self):
        srv = Server(listeners=("mx",), extra={"http": {"listen": "localhost:9025"}})
        self.addCleanup(srv.cleanup)
        srv.write_config()
        out = srv.cli("check-config")
        self.assertEqual(out.returncode, 78)
        self.assertIn("http.listen", out.stderr)


if __name__ == "__main__":
    unittest.main()
