"""Release through the queue (SPEC §10): a message kept by `postern testbed`
is released with POST /api/messages/{id}/release (and Mailpit's
POST /api/v1/message/{ID}/release) to a real SMTP peer on loopback: a second
`postern testbed` whose rule answers 450 the first two times (the release is
deferred, retried on the short [queue] schedule of --config, then
delivered), one that answers 550 (bounced, and the DSN is kept in the first
testbed, to the original sender), and aiosmtpd reached through [relay]
routes. The state is read from GET /api/messages/{id} (`releases`)."""
import email
import json
import os
import smtplib
import subprocess
import tempfile
import threading
import unittest
import urllib.error
import urllib.request

from harness import POSTERN, free_port, wait_for
from test_testbed import Testbed

try:
    from aiosmtpd.controller import Controller
except ImportError:  # python3-aiosmtpd (scripts/deps.sh)
    Controller = None

FAST_QUEUE = """
[queue]
retry_initial = "1s"
retry_max = "1s"
"""


def send(tb, to, sender="app@example.com", subject="release me"):
    with smtplib.SMTP("127.0.0.1", tb.ports["smtp"], timeout=30) as s:
        s.sendmail(sender, [to], ("From: %s\r\nTo: %s\r\nSubject: %s\r\nMessage-ID: <%s@example.com>\r\n\r\n"
                                  "Hello from the release test.\r\n" % (sender, to, subject, subject.replace(" ", "."))))
    status, m = tb.get("/api/wait?to=%s&timeout=20" % to)
    assert status == 200, m
    return m["id"]


def release_of(tb, message_id, release_id):
    status, m = tb.get("/api/messages/" + message_id)
    assert status == 200, m
    return next((r for r in m["releases"] if r["id"] == release_id), None)


class ReleaseCase(unittest.TestCase):
    config = FAST_QUEUE

    def setUp(self):
        self.tb = Testbed(config=self.config)
        self.addCleanup(self.tb.cleanup)

    def peer(self, *args, config=None):
        p = Testbed(*args, config=config)
        self.addCleanup(p.cleanup)
        return p

    def wait_status(self, message_id, release_id, status, timeout=30):
        seen = wait_for(lambda: (lambda r: r if r and r["status"] == status else None)(
            release_of(self.tb, message_id, release_id)), timeout=timeout, interval=0.2)
        self.assertTrue(seen, "release %s never %s: %s\n%s" % (release_id, status,
                                                                release_of(self.tb, message_id, release_id),
                                                                self.tb.log()[-3000:]))
        return seen


class Release(ReleaseCase):
    def test_450_twice_is_retried_then_delivered(self):
        peer = self.peer()
        self.assertEqual(peer.request("POST", "/api/rules", {"command": "RCPT", "to": "dev@peer.test",
                                                             "reply": "450 4.2.1 Come back later", "times": 2})[0], 201)
        mid = send(self.tb, "someone@example.org")
        status, r = self.tb.request("POST", "/api/messages/%s/release" % mid,
                                    {"to": ["dev@peer.test"], "server": "127.0.0.1:%d" % peer.ports["smtp"]})
        self.assertEqual(status, 202, r)
        self.assertEqual(r["status"], "queued")
        self.assertEqual(r["to"], ["dev@peer.test"])
        self.assertEqual(r["server"], "127.0.0.1:%d" % peer.ports["smtp"])
        deferred = self.wait_status(mid, r["id"], "deferred")
        self.assertIn("450 4.2.1 Come back later", deferred["last_reply"])
        self.assertIsNotNone(deferred["next_attempt"])
        done = self.wait_status(mid, r["id"], "delivered")
        self.assertEqual(done["attempts"], 3)
        self.assertTrue(done["last_reply"].startswith("250"), done)
        self.assertIsNone(done["next_attempt"])
        # The peer kept the very message, from the original sender.
        status, got = peer.get("/api/wait?to=dev@peer.test&timeout=10")
        self.assertEqual(status, 200, got)
        self.assertEqual(got["from"], "app@example.com")
        self.assertEqual(got["subject"], "release me")
        # The peer's transcript shows the two refusals and the acceptance.
        status, sessions = peer.get("/api/sessions")
        self.assertGreaterEqual(len(sessions), 2)

    def test_550_bounces_and_the_dsn_is_kept_for_the_sender(self):
        peer = self.peer()
        mid = send(self.tb, "someone@example.org", sender="origin@example.com")
        status, r = self.tb.request("POST", "/api/messages/%s/release" % mid,
                                    {"to": ["unknown@peer.test"], "server": "127.0.0.1:%d" % peer.ports["smtp"]})
        self.assertEqual(status, 202, r)
        done = self.wait_status(mid, r["id"], "bounced")
        self.assertIn("550 5.1.1", done["last_reply"])
        self.assertEqual(done["attempts"], 1)
        # The DSN is kept by the testbed as a message to the original sender.
        status, dsn = self.tb.get("/api/wait?to=origin@example.com&timeout=20")
        self.assertEqual(status, 200, dsn)
        self.assertEqual(dsn["from"], "")
        status, raw = self.tb.get("/api/messages/%s/raw" % dsn["id"])
        parsed = email.message_from_string(raw)
        self.assertEqual(parsed.get_content_type(), "multipart/report")
        self.assertIn("unknown@peer.test", raw)
        self.assertIn("550 5.1.1", raw)

    def test_never_to_its_own_listener(self):
        mid = send(self.tb, "someone@example.org", sender="self@example.com")
        status, r = self.tb.request("POST", "/api/messages/%s/release" % mid,
                                    {"to": ["y@loop.test"], "server": "127.0.0.1:%d" % self.tb.ports["smtp"]})
        self.assertEqual(status, 202, r)
        done = self.wait_status(mid, r["id"], "bounced")
        self.assertIn("loops back to myself", done["last_reply"])
        self.assertEqual(self.tb.get("/api/wait?to=self@example.com&timeout=20")[0], 200, "the DSN")
        self.assertEqual(len(self.tb.get("/api/messages")[1]), 2, "the message and its DSN, nothing looped")
        # Nor to its web or POP3 port, by address or by name.
        for server in ("127.0.0.1:%d" % self.tb.ports["http"], "localhost:%d" % self.tb.ports["pop3"]):
            status, r = self.tb.request("POST", "/api/messages/%s/release" % mid, {"to": ["y@loop.test"], "server": server})
            self.assertEqual(status, 202, r)
            done = self.wait_status(mid, r["id"], "bounced")
            self.assertIn("loops back to myself", done["last_reply"], server)

    def test_mailpit_release_route(self):
        peer = self.peer()
        # Mailpit's form has no server: the testbed's [relay] routes decide.
        tb = Testbed(config=FAST_QUEUE + '\n[relay]\nroutes = { "peer.test" = "127.0.0.1:%d" }\n' % peer.ports["smtp"])
        self.addCleanup(tb.cleanup)
        mid = send(tb, "someone@example.org", subject="mailpit release")
        self.assertEqual(self.post_text(tb, "/api/v1/message/%s/release" % mid, {"To": ["pit@peer.test"]}), (200, "ok"))
        status, got = peer.get("/api/wait?to=pit@peer.test&timeout=20")
        self.assertEqual(status, 200, got)
        self.assertEqual(got["subject"], "mailpit release")
        status, m = tb.get("/api/messages/" + mid)
        releases = wait_for(lambda: [r for r in tb.get("/api/messages/" + mid)[1]["releases"]
                                     if r["status"] == "delivered"], timeout=10)
        self.assertEqual(len(releases), 1, m)
        self.assertIsNone(releases[0]["server"])
        self.assertEqual(releases[0]["to"], ["pit@peer.test"])
        # "latest" stands for the newest message, as in Mailpit; bad input is a 400.
        status, body = self.post_text(tb, "/api/v1/message/latest/release", {"To": ["not an address"]})
        self.assertEqual(status, 400, body)
        self.assertEqual(self.post_text(tb, "/api/v1/message/latest/release", {"To": []})[0], 400)
        self.assertEqual(self.post_text(tb, "/api/v1/message/0123456789abcdef/release", {"To": ["a@b.test"]})[0], 404)

    def post_text(self, tb, path, body):
        req = urllib.request.Request(tb.url(path), data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, r.read().decode()
        except urllib.error.HTTPError as e:
            return e.code, e.read().decode()

    @unittest.skipIf(Controller is None, "python3-aiosmtpd is not installed")
    def test_release_to_aiosmtpd(self):
        got = []
        arrived = threading.Event()

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                got.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.content))
                arrived.set()
                return "250 2.0.0 OK queued by aiosmtpd"

        port = free_port()
        c = Controller(Handler(), hostname="127.0.0.1", port=port)
        c.start()
        self.addCleanup(c.stop)
        mid = send(self.tb, "someone@example.org", sender="aio@example.com", subject="to aiosmtpd")
        status, r = self.tb.request("POST", "/api/messages/%s/release" % mid,
                                    {"to": ["a@aio.test", "b@aio.test"], "server": "127.0.0.1:%d" % port})
        self.assertEqual(status, 202, r)
        done = self.wait_status(mid, r["id"], "delivered")
        self.assertIn("OK queued by aiosmtpd", done["last_reply"])
        self.assertTrue(arrived.wait(5))
        sender, rcpts, content = got[0]
        self.assertEqual(sender, "aio@example.com")
        self.assertEqual(sorted(rcpts), ["a@aio.test", "b@aio.test"])
        self.assertIn(b"Subject: to aiosmtpd", content)


class MailpitErrors(ReleaseCase):
    def test_mailpit_release_errors_say_Error(self):
        mid = send(self.tb, "someone@example.org")
        status, body = self.tb.request("POST", "/api/v1/message/%s/release" % mid, {"To": []})
        self.assertEqual(status, 400)
        self.assertIn("Error", body)
        status, body = self.tb.request("POST", "/api/v1/message/nonexist/release", {"To": ["a@b.c"]})
        self.assertEqual(status, 404)
        self.assertIn("no message", body["Error"])


class BadInput(ReleaseCase):
    def test_refusals(self):
        mid = send(self.tb, "someone@example.org")
        path = "/api/messages/%s/release" % mid
        cases = [
            ("/api/messages/0123456789abcdef/release", {"to": ["a@b.test"]}, 404, "no message"),
            ("/api/messages/..%2f..%2fetc/release", {"to": ["a@b.test"]}, 404, "no "),
            (path, b"{not json", 400, "not JSON"),
            (path, [], 400, "expected an object"),
            (path, {"to": []}, 400, "at least one recipient"),
            (path, {}, 400, "at least one recipient"),
            (path, {"to": "a@b.test"}, 400, "array"),
            (path, {"to": [1]}, 400, "string"),
            (path, {"to": ["not an address"]}, 400, "not a mail address"),
            (path, {"to": ["a@b.test"], "server": "host:99999"}, 400, "server"),
            (path, {"to": ["a@b.test"], "server": "a b:25"}, 400, "server"),
            (path, {"to": ["a@b.test"], "server": 25}, 400, "server"),
            (path, {"to": ["a@b.test"], "sever": "x:25"}, 400, "unknown key"),
            (path, {"to": ["a%d@b.test" % i for i in range(101)]}, 400, "at most 100"),
        ]
        for p, body, code, words in cases:
            with self.subTest(body=body, path=p):
                status, answer = self.tb.request("POST", p, body)
                self.assertEqual(status, code, answer)
                self.assertIn(words, answer["error"])
        status, m = self.tb.get("/api/messages/" + mid)
        self.assertEqual(m["releases"], [])

    def test_a_foreign_page_cannot_release(self):
        import http.client
        mid = send(self.tb, "someone@example.org")
        conn = http.client.HTTPConnection("127.0.0.1", self.tb.ports["http"], timeout=10)
        conn.request("POST", "/api/messages/%s/release" % mid, body='{"to": ["a@b.test"]}',
                     headers={"Content-Type": "text/plain", "Origin": "http://evil.test"})
        self.assertEqual(conn.getresponse().status, 403)
        conn.close()
        status, m = self.tb.get("/api/messages/" + mid)
        self.assertEqual(m["releases"], [])


class Persistence(ReleaseCase):
    def test_a_restarted_testbed_keeps_the_state_and_resumes(self):
        peer = self.peer()
        self.assertEqual(peer.request("POST", "/api/rules", {"command": "RCPT", "to": "later@peer.test",
                                                             "reply": "450 4.2.1 Come back later", "times": 1})[0], 201)
        mid = send(self.tb, "someone@example.org")
        status, r = self.tb.request("POST", "/api/messages/%s/release" % mid,
                                    {"to": ["later@peer.test"], "server": "127.0.0.1:%d" % peer.ports["smtp"]})
        self.assertEqual(status, 202, r)
        done = self.wait_status(mid, r["id"], "delivered")
        self.assertEqual(done["attempts"], 2)
        data = os.path.join(self.tb.dir, "data")
        self.assertEqual(self.tb.stop(), 0)
        self.tb.stop = lambda: 0  # stopped; its directory still goes at cleanup
        again = Restarted(data, FAST_QUEUE)
        self.addCleanup(again.cleanup)
        status, m = again.get("/api/messages/" + mid)
        self.assertEqual(status, 200, m)
        self.assertEqual([x["status"] for x in m["releases"]], ["delivered"])
        self.assertEqual(m["releases"][0]["attempts"], 2)


class Restarted(Testbed):
    """A testbed on the data directory an earlier one left."""

    def __init__(self, data_dir, config):
        self.dir = tempfile.mkdtemp(prefix="postern-testbed-test-")
        self.ports_file = os.path.join(self.dir, "ports.json")
        path = os.path.join(self.dir, "testbed.toml")
        with open(path, "w") as f:
            f.write(config)
        self.out = open(os.path.join(self.dir, "out.log"), "wb")
        self.proc = subprocess.Popen([POSTERN, "testbed", "--smtp", "127.0.0.1:0", "--smtps", "127.0.0.1:0",
                                      "--http", "127.0.0.1:0", "--ports-file", self.ports_file,
                                      "--data-dir", data_dir, "--config", path],
                                     stdout=self.out, stderr=subprocess.STDOUT)
        if not wait_for(lambda: os.path.exists(self.ports_file) or self.proc.poll() is not None, timeout=20):
            raise TimeoutError("no ports file")
        if self.proc.poll() is not None:
            raise RuntimeError("testbed exited with %d: %s" % (self.proc.returncode, self.log()))
        with open(self.ports_file) as f:
            self.ports = json.load(f)


if __name__ == "__main__":
    unittest.main()
