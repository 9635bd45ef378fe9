"""`postern testbed` (SPEC §10) with independent clients: every address
scenario's exact replies on the first attempt and the retry (smtplib, raw
sockets, swaks), AUTH (any credentials, fail@, tempfail@, configured users
with SCRAM through gsasl), the JSON API (curl and urllib, a JSON parser),
rules from the API, a --rules file and the config, and the page in headless
Chromium: the message list and a transcript with a decoded 334."""
import base64
import email.message
import json
import os
import shutil
import smtplib
import subprocess
import tempfile
import threading
import time
import unittest
import urllib.error
import urllib.request

from harness import POSTERN, RawSMTP, wait_for
from support.processes import stop_process
from support.tls import tls_context


class Testbed:
    """`postern testbed` on free ports (port 0 and --ports-file), stopped by PID."""

    def __init__(self, *args, config=None):
        self.dir = tempfile.mkdtemp(prefix="postern-testbed-test-")
        self.ports_file = os.path.join(self.dir, "ports.json")
        cmd = [POSTERN, "testbed", "--smtp", "127.0.0.1:0", "--smtps", "127.0.0.1:0", "--pop3", "127.0.0.1:0", "--http", "127.0.0.1:0",
               "--ports-file", self.ports_file, "--data-dir", os.path.join(self.dir, "data"), *args]
        if config is not None:
            path = os.path.join(self.dir, "testbed.toml")
            with open(path, "w") as f:
                f.write(config)
            cmd += ["--config", path]
        self.out = open(os.path.join(self.dir, "out.log"), "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.out, stderr=subprocess.STDOUT)
        if not wait_for(lambda: os.path.exists(self.ports_file) or self.proc.poll() is not None, timeout=20):
            raise TimeoutError("no ports file")
        if self.proc.poll() is not None:
            raise RuntimeError("testbed exited with %d: %s" % (self.proc.returncode, self.log()))
        with open(self.ports_file) as f:
            self.ports = json.load(f)

    def log(self):
        self.out.flush()
        with open(os.path.join(self.dir, "out.log"), errors="replace") as f:
            return f.read()

    def url(self, path):
        return "http://127.0.0.1:%d%s" % (self.ports["http"], path)

    def get(self, path):
        """(status, parsed JSON or text)"""
        try:
            with urllib.request.urlopen(self.url(path), timeout=30) as r:
                body, status, ctype = r.read(), r.status, r.headers.get("Content-Type", "")
        except urllib.error.HTTPError as e:
            body, status, ctype = e.read(), e.code, e.headers.get("Content-Type", "")
        return status, json.loads(body) if ctype.startswith("application/json") else body.decode("utf-8", "replace")

    def request(self, method, path, body=None):
        data = json.dumps(body).encode() if body is not None and not isinstance(body, bytes) else body
        req = urllib.request.Request(self.url(path), data=data, method=method,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=30) as r:
                return r.status, json.loads(r.read())
        except urllib.error.HTTPError as e:
            return e.code, json.loads(e.read())

    def smtp(self):
        s = smtplib.SMTP("127.0.0.1", self.ports["smtp"], timeout=30)
        s.ehlo("client.example")
        return s

    def raw(self):
        r = RawSMTP("127.0.0.1", self.ports["smtp"], timeout=30)
        code, _ = r.reply()
        assert code == 220
        r.cmd("EHLO client.example")
        return r

    def stop(self):
        rc = stop_process(self.proc, timeout=30)
        self.out.close()
        return rc

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class TestbedCase(unittest.TestCase):
    args = ()
    config = None

    def setUp(self):
        self.tb = Testbed(*self.args, config=self.config)
        self.addCleanup(self.tb.cleanup)

    def transaction(self, rcpt, sender="app@example.com"):
        r = self.tb.raw()
        self.addCleanup(r.close)
        self.assertEqual(r.cmd("MAIL FROM:<%s>" % sender)[0], 250)
        return r, r.cmd("RCPT TO:<%s>" % rcpt)


class Lifecycle(TestbedCase):
    def test_ports_file_and_sigterm_exit_0(self):
        self.assertEqual(set(self.tb.ports), {"smtp", "smtps", "http", "pop3"})
        self.assertTrue(all(p > 0 for p in self.tb.ports.values()))
        self.assertEqual(self.tb.stop(), 0)

    def test_accepts_any_domain_and_keeps_the_message(self):
        s = self.tb.smtp()
        s.sendmail("app@example.com", ["someone@far-away.example"], "Subject: kept\r\n\r\nhello\r\n")
        s.quit()
        status, messages = self.tb.get("/api/messages")
        self.assertEqual(status, 200)
        self.assertEqual([(m["subject"], m["to"]) for m in messages], [("kept", ["someone@far-away.example"])])

    def test_implicit_tls_and_starttls(self):
        ctx = tls_context()
        with smtplib.SMTP_SSL("127.0.0.1", self.tb.ports["smtps"], context=ctx, timeout=30) as s:
            s.sendmail("a@example.com", ["tls@example.net"], "Subject: over tls\r\n\r\nx\r\n")
        with self.tb.smtp() as s:
            s.starttls(context=ctx)
            s.ehlo("client.example")
            s.sendmail("a@example.com", ["starttls@example.net"], "Subject: after starttls\r\n\r\nx\r\n")
        _, messages = self.tb.get("/api/messages")
        self.assertEqual(sorted(m["subject"] for m in messages), ["after starttls", "over tls"])


class AddressScenarios(TestbedCase):
    def test_greylist_then_pass_after_n_seconds(self):
        r, first = self.transaction("greylist+2@example.org")
        self.assertEqual(first, (450, ["450 4.2.0 Greylisted, try again in 2 seconds"]))
        started = time.monotonic()
        # The retry the way a client retries: again until it passes (bounded).
        passed = wait_for(lambda: r.cmd("RCPT TO:<greylist+2@example.org>")[0] == 250, timeout=10, interval=0.25)
        self.assertTrue(passed)
        self.assertGreater(time.monotonic() - started, 1.0)

    def test_locked_k_times_then_pass(self):
        r, first = self.transaction("locked+2@example.org")
        self.assertEqual(first, (450, ["450 4.2.1 Mailbox temporarily unavailable, try again later"]))
        self.assertEqual(r.cmd("RCPT TO:<locked+2@example.org>")[0], 450)
        self.assertEqual(r.cmd("RCPT TO:<locked+2@example.org>"), (250, ["250 2.1.5 Recipient OK"]))
        r2, always = self.transaction("locked@example.org")
        self.assertEqual(always[0], 450)
        self.assertEqual(r2.cmd("RCPT TO:<locked@example.org>")[0], 450)

    def test_the_transcript_names_the_scenario_and_the_rule(self):
        self.tb.request("POST", "/api/rules", {"command": "MAIL", "from": "*@rules.test", "reply": "450 4.7.1 Later",
                                              "times": 1})
        r = self.tb.raw()
        self.addCleanup(r.close)
        self.assertEqual(r.cmd("MAIL FROM:<a@rules.test>")[0], 450)
        self.assertEqual(r.cmd("MAIL FROM:<a@rules.test>")[0], 250)
        self.assertEqual(r.cmd("RCPT TO:<locked@example.org>")[0], 450)
        r.cmd("QUIT")
        session = self.tb.get("/api/sessions")[1][0]["id"]
        lines = self.tb.get("/api/sessions/" + session)[1]["transcript"]
        chosen = {l["line"]: l.get("scenario") for l in lines if l["dir"] == "s"}
        self.assertEqual(chosen["450 4.7.1 Later"], "rule 1: MAIL from *@rules.test, first 1 times")
        self.assertEqual(chosen["450 4.2.1 Mailbox temporarily unavailable, try again later"], "scenario locked")
        self.assertIsNone(chosen["250 2.1.0 Sender OK"])

    def test_fixed_replies(self):
        for rcpt, want in [("full@example.org", "452 4.2.2 Mailbox full"),
                           ("disabled@example.org", "550 5.2.1 Mailbox disabled"),
                           ("unknown@example.org", "550 5.1.1 No such user")]:
            _, reply = self.transaction(rcpt)
            self.assertEqual(reply[1], [want], rcpt)

    def test_tempfail_data_once_then_kept(self):
        s = self.tb.smtp()
        with self.assertRaises(smtplib.SMTPDataError) as e:
            s.sendmail("app@example.com", ["tempfail-data+1@example.org"], "Subject: first\r\n\r\nx\r\n")
        self.assertEqual((e.exception.smtp_code, e.exception.smtp_error),
                         (451, b"4.3.0 Temporary failure, try again later"))
        self.assertEqual(self.tb.get("/api/messages")[1], [], "a refused message is not kept")
        s.sendmail("app@example.com", ["tempfail-data+1@example.org"], "Subject: retry\r\n\r\nx\r\n")
        s.quit()
        self.assertEqual([m["subject"] for m in self.tb.get("/api/messages")[1]], ["retry"])

    def test_reject_data(self):
        s = self.tb.smtp()
        with self.assertRaises(smtplib.SMTPDataError) as e:
            s.sendmail("app@example.com", ["reject-data@example.org"], "Subject: no\r\n\r\nx\r\n")
        self.assertEqual((e.exception.smtp_code, e.exception.smtp_error), (554, b"5.7.1 Message refused"))

    def test_shutdown_and_drop_after_rcpt(self):
        r, reply = self.transaction("shutdown-after-rcpt@example.org")
        self.assertEqual(reply, (421, ["421 4.3.2 Service shutting down"]))
        self.assertTrue(r.closed())
        r2 = self.tb.raw()
        self.addCleanup(r2.close)
        r2.cmd("MAIL FROM:<a@example.com>")
        r2.send("RCPT TO:<drop-after-rcpt@example.org>\r\n")
        self.assertTrue(r2.closed())
        self.assertEqual(r2.buf, b"", "no reply at all")

    def test_slow_delays_the_later_replies(self):
        r, reply = self.transaction("slow+1@example.org")
        self.assertEqual(reply[0], 250)
        t0 = time.monotonic()
        self.assertEqual(r.cmd("DATA")[0], 354)
        self.assertGreaterEqual(time.monotonic() - t0, 0.9)

    def test_swaks_sees_the_exact_reply(self):
        out = subprocess.run(["swaks", "--server", "127.0.0.1", "--port", str(self.tb.ports["smtp"]),
                              "--from", "app@example.com", "--to", "unknown@example.org", "--timeout", "20"],
                             capture_output=True, text=True, timeout=60)
        self.assertIn("<** 550 5.1.1 No such user", out.stdout)


class Auth(TestbedCase):
    def test_any_credentials_pass_but_fail_and_tempfail(self):
        s = self.tb.smtp()
        s.user, s.password = "whoever@example.com", "anything"
        self.assertEqual(s.auth("PLAIN", s.auth_plain)[0], 235)
        s.quit()
        for user, want in [("fail@example.com", (535, b"5.7.8 Authentication credentials invalid")),
                           ("tempfail@example.com", (454, b"4.7.0 Temporary authentication failure"))]:
            s = self.tb.smtp()
            s.user, s.password = user, "x"
            with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
                s.auth("LOGIN", s.auth_login)
            self.assertEqual((e.exception.smtp_code, e.exception.smtp_error), want)
            s.close()

    def test_any_password_but_not_a_malformed_exchange_or_scram(self):
        # "Any credentials" needs credentials: a PLAIN without its NULs names nobody, and SCRAM
        # proves the server to the client, which no server can do for an unknown password.
        for argument in (base64.b64encode(b"ABCABC").decode(), base64.b64encode(b"\0\0").decode()):
            r = self.tb.raw()
            self.assertEqual(r.cmd("AUTH PLAIN " + argument)[0], 535, argument)
            r.close()
        out = subprocess.run(["gsasl", "--smtp", "--mechanism", "SCRAM-SHA-256", "--authentication-id",
                              "anyone@example.com", "--password", "anything", "--no-starttls",
                              "127.0.0.1", str(self.tb.ports["smtp"])],
                             capture_output=True, text=True, timeout=30, stdin=subprocess.DEVNULL)
        self.assertNotEqual(out.returncode, 0, out.stdout + out.stderr)
        self.assertIn("535", out.stdout + out.stderr)

    def test_transcript_decodes_334_and_redacts_passwords(self):
        login_without_initial_response(self.tb, "who@example.com", "s3cret-pw")
        s = self.tb.smtp()
        s.user, s.password = "plain@example.com", "plain-pw"
        s.auth("PLAIN", s.auth_plain)  # the initial response carries the password
        s.quit()
        sessions = self.tb.get("/api/sessions")[1]
        login, plain = (self.tb.get("/api/sessions/" + s["id"])[1] for s in reversed(sessions))
        for secret in ["s3cret-pw", "czNjcmV0LXB3", "plain-pw", "cGxhaW4tcHc"]:
            self.assertNotIn(secret, json.dumps([login, plain]))
        challenges = [l for l in login["transcript"] if l["line"].startswith("334 ")]
        self.assertEqual([c.get("decoded") for c in challenges], ["Username:", "Password:"])
        self.assertTrue(all("explain" in c for c in challenges))
        answers = [l.get("decoded") for l in login["transcript"] if l["dir"] == "c"]
        self.assertIn("who@example.com", answers)
        self.assertIn("<redacted>", answers)
        auth_line = [l for l in plain["transcript"] if l["line"].startswith("AUTH PLAIN")][0]
        self.assertEqual(auth_line["line"], "AUTH PLAIN <redacted>")
        self.assertEqual(auth_line["decoded"], "\\0plain@example.com\\0<redacted>")


def login_without_initial_response(tb, user, password):
    """AUTH LOGIN the long way: both 334 challenges (smtplib sends the user at once)."""
    r = tb.raw()
    assert r.cmd("AUTH LOGIN") == (334, ["334 VXNlcm5hbWU6"])
    assert r.cmd(base64.b64encode(user.encode()).decode())[0] == 334
    code, lines = r.cmd(base64.b64encode(password.encode()).decode())
    assert code == 235, lines
    r.cmd("QUIT")
    r.close()


class ConfiguredUsers(TestbedCase):
    config = '[testbed]\nusers = { "alice@example.org" = "alice-pw" }\n'

    def test_scram_with_gsasl_and_wrong_password(self):
        out = subprocess.run(["gsasl", "--smtp", "--mechanism", "SCRAM-SHA-256", "--authentication-id",
                              "alice@example.org", "--password", "alice-pw", "--no-starttls",
                              "127.0.0.1", str(self.tb.ports["smtp"])],
                             input="", capture_output=True, text=True, timeout=60)
        self.assertIn("235 2.7.0", out.stdout + out.stderr)
        s = self.tb.smtp()
        s.user, s.password = "alice@example.org", "wrong"
        with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
            s.auth("PLAIN", s.auth_plain)
        self.assertEqual((e.exception.smtp_code, e.exception.smtp_error), (535, b"5.7.8 Authentication credentials invalid"))


class Api(TestbedCase):
    def send_multipart(self, to="api@example.org"):
        m = email.message.EmailMessage()
        m["From"] = "App <app@example.com>"
        m["To"] = to
        m["Subject"] = "Grüße from the API test"
        m.set_content("plain text body\n")
        m.add_alternative("<p>html <b>body</b></p>", subtype="html")
        m.add_attachment(b"\x00\x01binary", maintype="application", subtype="octet-stream", filename="data.bin")
        with self.tb.smtp() as s:
            s.send_message(m)

    def test_message_detail_raw_and_delete(self):
        self.send_multipart()
        out = subprocess.run(["curl", "-sS", "-f", self.tb.url("/api/messages")], capture_output=True, text=True,
                             timeout=30, check=True)
        summary = json.loads(out.stdout)[0]
        self.assertEqual(summary["subject"], "Grüße from the API test")
        self.assertEqual(summary["from"], "app@example.com")
        status, m = self.tb.get("/api/messages/" + summary["id"])
        self.assertEqual(status, 200)
        self.assertEqual(m["text"], "plain text body\n")
        self.assertIn("<b>body</b>", m["html"])
        self.assertEqual([(a["filename"], a["content_type"], a["size"]) for a in m["attachments"]],
                         [("data.bin", "application/octet-stream", 8)])
        self.assertIn({"name": "Subject", "value": "Grüße from the API test"}, m["headers"])
        self.assertTrue(m["session"])
        raw = subprocess.run(["curl", "-sS", "-f", "-D", "-", self.tb.url("/api/messages/%s/raw" % summary["id"])],
                             capture_output=True, timeout=30, check=True).stdout
        self.assertIn(b"Content-Type: message/rfc822", raw)
        self.assertIn(b"Received: from client.example", raw)
        self.assertEqual(self.tb.request("DELETE", "/api/messages"), (200, {"deleted": 1}))
        self.assertEqual(self.tb.get("/api/messages")[1], [])
        self.assertEqual(self.tb.get("/api/messages/" + summary["id"])[0], 404)

    def test_wait_returns_when_the_message_comes(self):
        threading.Timer(0.3, self.send_multipart, kwargs={"to": "later@example.org"}).start()
        t0 = time.monotonic()
        status, m = self.tb.get("/api/wait?to=LATER@example.org&timeout=20")
        self.assertEqual(status, 200)
        self.assertEqual(m["to"], ["later@example.org"])
        self.assertLess(time.monotonic() - t0, 15)
        status, err = self.tb.get("/api/wait?to=nobody@example.org&timeout=0.3")
        self.assertEqual(status, 408)
        self.assertIn("nobody@example.org", err["error"])

    def test_bad_requests_get_a_clear_error(self):
        for path in ["/api/wait", "/api/wait?to=a@b&timeout=soon", "/api/wait?to=a@b&timeout=-1"]:
            status, body = self.tb.get(path)
            self.assertEqual(status, 400, path)
            self.assertIn("error", body)
        self.assertEqual(self.tb.get("/api/nothing-here")[0], 404)
        self.assertEqual(self.tb.get("/api/sessions/nope")[0], 404)
        for bad in [b"{not json", {"command": "HELO", "reply": "550 5.0.0 x"}, {"command": "RCPT", "reply": "nope"},
                    {"command": "RCPT", "reply": "450 4.0.0 x", "times": -1}, {"command": "RCPT", "colour": "red"},
                    {"command": "RCPT", "action": "explode"}, {"command": "RCPT", "reply": "450 4.0.0 x", "delay": "soon"}]:
            status, body = self.tb.request("POST", "/api/rules", bad)
            self.assertEqual(status, 400, bad)
            self.assertIn("error", body)
        self.assertEqual(self.tb.get("/api/rules"), (200, []))

    def test_metrics(self):
        self.send_multipart()
        _, text = self.tb.get("/metrics")
        values = {l.split()[0]: float(l.split()[1]) for l in text.splitlines() if l and not l.startswith("#")}
        self.assertEqual(values["postern_testbed_messages"], 1)
        self.assertGreaterEqual(values["postern_testbed_sessions"], 1)


class Rules(TestbedCase):
    def test_rule_from_the_api_first_n_times_then_pass(self):
        status, rules = self.tb.request("POST", "/api/rules", {"command": "MAIL", "from": "*@spam.test",
                                                              "reply": "450 4.7.1 Slow down", "times": 1})
        self.assertEqual(status, 201)
        self.assertEqual(rules[0]["reply"], "450 4.7.1 Slow down")
        r = self.tb.raw()
        self.addCleanup(r.close)
        self.assertEqual(r.cmd("MAIL FROM:<x@spam.test>"), (450, ["450 4.7.1 Slow down"]))
        self.assertEqual(r.cmd("MAIL FROM:<x@spam.test>")[0], 250)
        self.assertEqual(self.tb.request("DELETE", "/api/rules"), (200, []))

    def test_drop_rule_on_dot(self):
        self.tb.request("POST", "/api/rules", [{"command": "DOT", "to": "drop-me@*", "action": "drop"}])
        s = self.tb.smtp()
        with self.assertRaises(smtplib.SMTPServerDisconnected):
            s.sendmail("a@example.com", ["drop-me@example.org"], "Subject: x\r\n\r\ny\r\n")
        self.assertEqual(self.tb.get("/api/messages")[1], [])


class RulesFile(TestbedCase):
    def setUp(self):
        self.rules = tempfile.NamedTemporaryFile("w", suffix=".toml", delete=False)
        self.rules.write('[[rule]]\ncommand = "RCPT"\nto = "vip@*"\nreply = "451 4.3.2 Come back later"\n')
        self.rules.close()
        self.addCleanup(os.unlink, self.rules.name)
        self.args = ("--rules", self.rules.name)
        super().setUp()

    def test_rules_file(self):
        _, reply = self.transaction("vip@example.org")
        self.assertEqual(reply, (451, ["451 4.3.2 Come back later"]))

    def test_bad_rules_file_is_a_config_error(self):
        with open(self.rules.name, "w") as f:
            f.write('[[rule]]\ncommand = "RCPT"\nreply = "hello"\n')
        out = subprocess.run([POSTERN, "testbed", "--smtp", "127.0.0.1:0", "--smtps", "127.0.0.1:0", "--pop3", "127.0.0.1:0",
                              "--http", "127.0.0.1:0", "--rules", self.rules.name],
                             capture_output=True, text=True, timeout=30)
        self.assertEqual(out.returncode, 78)
        self.assertIn("rule[1]", out.stderr)
        self.assertIn("expected a reply such as", out.stderr)


class ConfigRules(TestbedCase):
    config = '[[testbed.rule]]\ncommand = "EHLO"\nreply = "554 5.7.1 Not today"\n'

    def test_config_rule(self):
        r = RawSMTP("127.0.0.1", self.tb.ports["smtp"], timeout=30)
        self.addCleanup(r.close)
        r.reply()
        self.assertEqual(r.cmd("EHLO client.example"), (554, ["554 5.7.1 Not today"]))


JS = os.path.join(os.path.dirname(__file__), "..", "js")


@unittest.skipUnless(os.path.isdir(os.path.join(JS, "node_modules", "nodemailer")),
                     "nodemailer is installed into tests/js by make test (npm)")
class Nodemailer(TestbedCase):
    def send(self, **options):
        out = subprocess.run(["node", os.path.join(JS, "send.js"), json.dumps(options)], capture_output=True,
                             text=True, timeout=60)
        self.assertEqual(out.returncode, 0, out.stderr)
        return json.loads(out.stdout)

    def test_auth_starttls_html_and_the_failures_it_must_handle(self):
        ok = self.send(port=self.tb.ports["smtp"], starttls=True, user="app@example.com", **{"pass": "x"},
                       **{"from": "app@example.com"}, to="node@example.org", subject="from node",
                       html="<p>html from node</p>", attachments=[{"filename": "n.txt", "content": "attached"}])
        self.assertTrue(ok["ok"], ok)
        self.assertRegex(ok["response"], r"^250 2\.0\.0 OK queued as [0-9a-f]{16}$")
        _, m = self.tb.get("/api/wait?to=node@example.org&timeout=10")
        _, m = self.tb.get("/api/messages/" + m["id"])
        self.assertEqual(m["subject"], "from node")
        self.assertIn("html from node", m["html"])
        self.assertEqual([a["filename"] for a in m["attachments"]], ["n.txt"])
        failed = self.send(port=self.tb.ports["smtps"], secure=True, user="fail@example.com", **{"pass": "x"},
                           **{"from": "app@example.com"}, to="node@example.org")
        self.assertEqual((failed["responseCode"], failed["response"]), (535, "535 5.7.8 Authentication credentials invalid"))
        greylisted = self.send(port=self.tb.ports["smtp"], **{"from": "app@example.com"}, to="greylist+60@example.org")
        self.assertEqual(greylisted["responseCode"], 450)
        self.assertIn("450 4.2.0 Greylisted, try again in", greylisted["response"])


class Browser:
    """Headless Chromium driven over the DevTools protocol on a pipe
    (--remote-debugging-pipe: JSON messages, NUL-separated, on fds 3 and 4)."""

    def __init__(self):
        self.to_chrome_r, self.to_chrome_w = os.pipe()
        self.from_chrome_r, self.from_chrome_w = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="postern-chromium-")
        # The shell puts the pipe ends on fds 3 and 4, where Chromium looks for them.
        self.proc = subprocess.Popen(
            ["bash", "-c", 'exec chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage '
             '--remote-debugging-pipe --user-data-dir="$0" about:blank 3<&%d 4>&%d' % (self.to_chrome_r, self.from_chrome_w),
             self.profile],
            pass_fds=(self.to_chrome_r, self.from_chrome_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(self.to_chrome_r)
        os.close(self.from_chrome_w)
        self.buf = b""
        self.next_id = 0

    def call(self, method, session=None, **params):
        self.next_id += 1
        message = {"id": self.next_id, "method": method, "params": params}
        if session:
            message["sessionId"] = session
        os.write(self.to_chrome_w, json.dumps(message).encode() + b"\0")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            while b"\0" in self.buf:
                raw, self.buf = self.buf.split(b"\0", 1)
                reply = json.loads(raw)
                if reply.get("id") == self.next_id:
                    if "error" in reply:
                        raise RuntimeError(reply["error"])
                    return reply["result"]
            chunk = os.read(self.from_chrome_r, 65536)
            if not chunk:
                raise RuntimeError("chromium went away")
            self.buf += chunk
        raise TimeoutError(method)

    def open(self, url):
        target = self.call("Target.createTarget", url=url)["targetId"]
        return self.call("Target.attachToTarget", targetId=target, flatten=True)["sessionId"]

    def html(self, session):
        r = self.call("Runtime.evaluate", session=session, expression="document.documentElement.outerHTML",
                      returnByValue=True)
        return r["result"].get("value", "")

    def close(self):
        try:
            self.call("Browser.close")
        except Exception:
            pass
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        os.close(self.to_chrome_w)
        os.close(self.from_chrome_r)
        shutil.rmtree(self.profile, ignore_errors=True)


@unittest.skipUnless(shutil.which("chromium"), "Debian's chromium is installed by make test")
class Page(TestbedCase):
    def shows(self, session, *wanted):
        """The page's HTML once it shows every `wanted` text, within a deadline."""
        last = ""

        def check():
            nonlocal last
            last = self.browser.html(session)
            return all(w in last for w in wanted)

        self.assertTrue(wait_for(check, timeout=30, interval=0.2), "page never showed %r:\n%s" % (wanted, last[-2000:]))
        return last

    def test_message_list_and_transcript_with_decoded_334(self):
        self.browser = Browser()
        self.addCleanup(self.browser.close)
        page = self.browser.open(self.tb.url("/"))
        login_without_initial_response(self.tb, "page@example.com", "pw")
        with self.tb.smtp() as s:
            s.sendmail("page@example.com", ["reader@example.org"], "Subject: shown on the page\r\n\r\nhello\r\n")
        # Live: the open page shows the new message without a reload.
        self.shows(page, "shown on the page", "reader@example.org")
        login = self.tb.get("/api/sessions")[1][-1]["id"]
        transcript = self.shows(self.browser.open(self.tb.url("/#session=" + login)), 'id="transcript"',
                                "334 VXNlcm5hbWU6")
        self.assertIn("Username:", transcript, "the challenge, decoded")
        self.assertNotIn("cHc=", transcript, "the password's base64 is redacted")


if __name__ == "__main__":
    unittest.main()
