"""The testbed's web side (and `serve`'s /metrics) against hostile pages and
clients (SPEC §10): a foreign Host is refused (DNS rebinding), a cross-site
write is refused (CSRF), trickling clients, open event streams and pending
waits starve no other request, and SIGTERM ends it within 5 s whatever is
open. Checked with http.client and raw sockets, and in headless Chromium: a
page on another origin that tries to add rules and a page on a rebound name
that tries to read and delete the kept mail."""
import http.client
import http.server
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import unittest

from harness import Server, free_port, wait_for
from test_testbed import Browser as PlainBrowser, Testbed

SECRET = "Your password reset code 493817"


def http_request(port, method, path, headers=None, body=None, timeout=10):
    """(status, body text) over http.client, with exactly the headers given (Host included)."""
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout)
    try:
        conn.putrequest(method, path, skip_host=True, skip_accept_encoding=True)
        hdrs = {"Host": "127.0.0.1:%d" % port}
        hdrs.update(headers or {})
        for k, v in hdrs.items():
            if v is not None:
                conn.putheader(k, v)
        if body is not None:
            conn.putheader("Content-Length", str(len(body)))
        conn.endheaders(body)
        r = conn.getresponse()
        return r.status, r.read().decode("utf-8", "replace")
    finally:
        conn.close()


def open_request(port, path, host=None):
    """A raw socket with a GET sent, its answer not read: a waiting client."""
    s = socket.create_connection(("127.0.0.1", port), timeout=10)
    s.sendall(("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host or "127.0.0.1:%d" % port)).encode())
    return s


def status_of(sock, timeout=10):
    sock.settimeout(timeout)
    data = b""
    while b"\r\n" not in data:
        chunk = sock.recv(4096)
        if not chunk:
            return None
        data += chunk
    return int(data.split(b" ", 2)[1])


class Trickler(threading.Thread):
    """Sends a request's headers one octet a second, never finishing; records when the server hangs up."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=30)
        self.closed_at = None
        self.stop = threading.Event()

    def run(self):
        payload = b"GET /api/messages HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 200
        try:
            for b in payload:
                self.sock.sendall(bytes([b]))
                if self.stop.wait(1):
                    return
        except OSError:
            self.closed_at = time.monotonic()

    def close(self):
        self.stop.set()
        self.sock.close()


def many(n, make):
    """n of make(), closed at cleanup."""
    return [make() for _ in range(n)]


class WebCase(unittest.TestCase):
    args = ()

    def setUp(self):
        self.tb = Testbed(*self.args)
        self.addCleanup(self.stop)
        self.port = self.tb.ports["http"]

    def stop(self):
        if self.tb.proc.poll() is None:
            self.tb.proc.send_signal(signal.SIGTERM)
            try:
                self.tb.proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.tb.proc.kill()
                self.tb.proc.wait()
        self.tb.out.close()
        shutil.rmtree(self.tb.dir, ignore_errors=True)

    def keep_secret(self):
        with self.tb.smtp() as s:
            s.sendmail("noreply@bank.example", ["dev@example.org"], "Subject: %s\r\n\r\n%s\r\n" % (SECRET, SECRET))
        self.assertEqual(self.tb.get("/api/wait?to=dev@example.org&timeout=10")[0], 200)

    def kept(self):
        return [m["subject"] for m in self.tb.get("/api/messages")[1]]


class HostHeader(WebCase):
    def test_a_foreign_host_is_refused_everywhere(self):
        self.keep_secret()
        for path in ("/", "/api/messages", "/api/sessions", "/api/rules", "/api/events", "/metrics",
                     "/api/wait?to=dev@example.org&timeout=1"):
            status, body = http_request(self.port, "GET", path, {"Host": "rebind.attacker.test:%d" % self.port})
            self.assertEqual(status, 403, path)
            self.assertNotIn("493817", body)
            self.assertIn("--allowed-hosts", json.loads(body)["error"])
        for host in ("rebind.attacker.test", "localhost.attacker.test:%d" % self.port, "127.0.0.1.nip.io"):
            self.assertEqual(http_request(self.port, "GET", "/api/messages", {"Host": host})[0], 403, host)
        status, _ = http_request(self.port, "DELETE", "/api/messages", {"Host": "rebind.attacker.test:%d" % self.port})
        self.assertEqual(status, 403)
        self.assertEqual(self.kept(), [SECRET])

    def test_loopback_names_and_ip_literals_are_answered(self):
        self.keep_secret()
        for host in ("127.0.0.1:%d" % self.port, "localhost:%d" % self.port, "[::1]:%d" % self.port, "localhost",
                     "app.localhost:%d" % self.port):
            status, body = http_request(self.port, "GET", "/api/messages", {"Host": host})
            self.assertEqual(status, 200, host)
            self.assertIn("493817", body)
        self.assertEqual(http_request(self.port, "GET", "/api/messages", {"Host": "testbed.internal"})[0], 403)

    def raw(self, head, body=b""):
        """Sends `head` (request line and headers, CRLF-joined) and `body`; the status, or None when closed."""
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        with s:
            s.sendall(head.replace("\n", "\r\n").encode() + b"\r\n\r\n" + body)
            return status_of(s)

    def test_ambiguous_framing_is_400_and_changes_nothing(self):
        # RFC 9112 §3.2 and §6.3: what a proxy in front could read otherwise.
        good = "Host: 127.0.0.1:%d" % self.port
        send = json.dumps({"From": {"Email": "a@example.com"}, "To": [{"Email": "b@example.com"}],
                           "Subject": "framed"}).encode()
        post = "POST /api/v1/send HTTP/1.1\nContent-Type: application/json\n"
        cases = {
            "no Host": ("GET /api/messages HTTP/1.1\nAccept: */*", b""),
            "two Hosts, good first": ("GET /api/messages HTTP/1.1\n%s\nHost: evil.test" % good, b""),
            "two Content-Lengths": (post + good + "\nContent-Length: %d\nContent-Length: 5" % len(send), send),
            "a signed Content-Length": (post + good + "\nContent-Length: +%d" % len(send), send),
            "a negative Content-Length": (post + good + "\nContent-Length: -5", send),
        }
        for name, (head, body) in cases.items():
            with self.subTest(name):
                self.assertEqual(self.raw(head, body), 400)
        self.assertEqual(self.tb.get("/api/v1/messages")[1]["total"], 0)
        # HTTP/1.0 may leave Host out; a well-framed request still works.
        self.assertEqual(self.raw("GET /livez HTTP/1.0"), 200)
        self.assertEqual(self.raw(post + good + "\nContent-Length: %d" % len(send), send), 200)


class AllowedHosts(WebCase):
    args = ("--allowed-hosts", "testbed.internal,Mail.Example.test")

    def test_names_given_are_answered(self):
        for host in ("testbed.internal:%d" % self.port, "mail.example.test", "localhost:%d" % self.port):
            self.assertEqual(http_request(self.port, "GET", "/api/messages", {"Host": host})[0], 200, host)
        self.assertEqual(http_request(self.port, "GET", "/api/messages", {"Host": "other.internal"})[0], 403)


class CrossSiteWrites(WebCase):
    def rules(self):
        return self.tb.get("/api/rules")[1]

    def test_writes_must_be_json_with_no_foreign_origin(self):
        self.keep_secret()
        rule = json.dumps({"command": "RCPT", "reply": "550 5.7.1 csrf"}).encode()
        for ctype in ("text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", None):
            status, body = http_request(self.port, "POST", "/api/rules", {"Content-Type": ctype}, rule)
            self.assertEqual(status, 415, ctype)
            self.assertIn("application/json", json.loads(body)["error"])
        for origin in ("http://attacker.test", "null", "http://127.0.0.1:%d" % (self.port + 1)):
            status, _ = http_request(self.port, "POST", "/api/rules",
                                     {"Content-Type": "application/json", "Origin": origin}, rule)
            self.assertEqual(status, 403, origin)
            self.assertEqual(http_request(self.port, "DELETE", "/api/messages", {"Origin": origin})[0], 403)
        status, _ = http_request(self.port, "POST", "/api/rules", {"Content-Type": "application/json",
                                                                   "Sec-Fetch-Site": "cross-site"}, rule)
        self.assertEqual(status, 403)
        self.assertEqual(self.rules(), [])
        self.assertEqual(self.kept(), [SECRET])
        # The same-origin page and test code pass.
        status, _ = http_request(self.port, "POST", "/api/rules",
                                 {"Content-Type": "application/json; charset=utf-8",
                                  "Origin": "http://127.0.0.1:%d" % self.port}, rule)
        self.assertEqual(status, 201)
        self.assertEqual(len(self.rules()), 1)
        # A DELETE with no body and no Origin (Mailpit's clients, curl -X DELETE) is fine.
        self.assertEqual(http_request(self.port, "DELETE", "/api/rules")[0], 200)
        self.assertEqual(http_request(self.port, "DELETE", "/api/messages")[0], 200)
        self.assertEqual(self.kept(), [])

    def test_a_refused_body_is_never_read_as_a_request(self):
        # The refused body is never parsed as a next request.
        smuggled = b"GET /api/messages HTTP/1.1\r\nHost: rebind.attacker.test\r\n\r\n"
        s = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        s.sendall(b"POST /api/rules HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: text/plain\r\n"
                  b"Content-Length: %d\r\n\r\n" % len(smuggled) + smuggled)
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
        s.close()
        self.assertTrue(data.startswith(b"HTTP/1.1 415"), data[:100])
        self.assertEqual(data.count(b"HTTP/1.1"), 1, data)


class Workers(WebCase):
    def quick(self, path="/api/messages"):
        started = time.monotonic()
        status, _ = http_request(self.port, "GET", path, timeout=5)
        return status, time.monotonic() - started

    def waiting(self):
        status, body = http_request(self.port, "GET", "/metrics", timeout=5)
        for line in body.splitlines() if status == 200 else []:
            if line.startswith("postern_testbed_http_waiting "):
                return int(line.split()[1])
        return None

    def test_tricklers_waits_and_event_streams_starve_nobody(self):
        tricklers = many(40, lambda: Trickler(self.port))
        for t in tricklers:
            t.start()
            self.addCleanup(t.close)
        waits = many(16, lambda: open_request(self.port, "/api/wait?to=nobody@example.org&timeout=600"))
        events = many(12, lambda: open_request(self.port, "/api/events"))
        for s in waits + events:
            self.addCleanup(s.close)
        time.sleep(0.5)  # let them all be accepted before measuring
        for _ in range(5):
            status, took = self.quick()
            self.assertEqual(status, 200)
            self.assertLess(took, 3)
        self.assertEqual(self.quick("/")[0], 200)
        # A trickler is cut off by the request deadline (10 s), not kept for ever.
        self.assertTrue(wait_for(lambda: all(t.closed_at or not t.is_alive() for t in tricklers), timeout=20))
        self.assertTrue(all(t.closed_at for t in tricklers))

    def test_waits_are_bounded_and_a_closed_client_frees_its_slot(self):
        waits = many(32, lambda: open_request(self.port, "/api/wait?to=nobody@example.org&timeout=600"))
        self.addCleanup(lambda: [s.close() for s in waits])
        self.assertTrue(wait_for(lambda: self.waiting() == 32, timeout=20), "the 32 waits never all began")
        over = open_request(self.port, "/api/events")
        self.assertEqual(status_of(over), 503)
        over.close()
        self.assertEqual(self.quick()[0], 200)
        for s in waits:
            s.close()

        def accepted():
            with open_request(self.port, "/api/wait?to=nobody@example.org&timeout=0.2") as s:
                return status_of(s) == 408
        self.assertTrue(wait_for(accepted, timeout=5), "closed waits kept their slots")

    def test_an_event_stream_notices_a_closed_page(self):
        streams = many(32, lambda: open_request(self.port, "/api/events"))
        for s in streams:
            self.assertEqual(status_of(s), 200)
            s.close()

        def one_more():
            with open_request(self.port, "/api/events") as s:
                return status_of(s) == 200
        self.assertTrue(wait_for(one_more, timeout=5), "closed pages kept their slots")


class Shutdown(WebCase):
    def test_sigterm_exits_0_within_5_s_whatever_is_open(self):
        events = open_request(self.port, "/api/events")
        self.assertEqual(status_of(events), 200)
        wait = open_request(self.port, "/api/wait?to=nobody@example.org&timeout=40")
        trickler = Trickler(self.port)
        trickler.start()
        idle = socket.create_connection(("127.0.0.1", self.port), timeout=10)
        # And SMTP: a transaction inside a 600 s delay (slow+600@), and an idle client.
        slow = socket.create_connection(("127.0.0.1", self.tb.ports["smtp"]), timeout=10)
        slow.recv(1000)
        slow.sendall(b"EHLO client.example\r\nMAIL FROM:<a@example.com>\r\nRCPT TO:<slow+600@example.org>\r\n"
                     b"DATA\r\n")
        idle_smtp = socket.create_connection(("127.0.0.1", self.tb.ports["smtp"]), timeout=10)
        for s in (events, wait, idle, slow, idle_smtp):
            self.addCleanup(s.close)
        self.addCleanup(trickler.close)
        time.sleep(0.5)
        started = time.monotonic()
        self.tb.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.tb.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            rc = None
        took = time.monotonic() - started
        self.assertEqual(rc, 0, self.tb.log()[-2000:])
        self.assertLess(took, 5)


class MetricsEndpoint(unittest.TestCase):
    """`postern serve`'s [http] listen: the same Host check and worker policy."""

    http = {}

    def setUp(self):
        self.port = free_port()
        self.server = Server(listeners=("mx",), extra={"http": {"listen": "127.0.0.1:%d" % self.port, **self.http}})
        self.server.start()
        self.addCleanup(self.server.cleanup)
        self.assertTrue(wait_for(lambda: self.try_status() == 200, timeout=10))

    def try_status(self, host=None):
        try:
            return http_request(self.port, "GET", "/metrics", {"Host": host} if host else None, timeout=3)[0]
        except OSError:
            return None

    def test_foreign_host_refused_and_tricklers_starve_nobody(self):
        self.assertEqual(self.try_status("rebind.attacker.test:%d" % self.port), 403)
        for host in ("localhost:%d" % self.port, "mx.example.org:%d" % self.port, "[::1]:%d" % self.port):
            self.assertEqual(self.try_status(host), 200, host)
        tricklers = many(20, lambda: Trickler(self.port))
        for t in tricklers:
            t.start()
            self.addCleanup(t.close)
        time.sleep(0.5)
        started = time.monotonic()
        self.assertEqual(self.try_status(), 200)
        self.assertLess(time.monotonic() - started, 3)


class MetricsAllowedHosts(MetricsEndpoint):
    http = {"allowed_hosts": ["prometheus.internal"]}

    def test_foreign_host_refused_and_tricklers_starve_nobody(self):
        self.assertEqual(self.try_status("prometheus.internal:9090"), 200)
        self.assertEqual(self.try_status("other.internal:%d" % self.port), 403)


# The attacker's pages, served from another origin (a port of their own).
ATTACK_PAGE = """<!doctype html><title>working</title>
<iframe name="sink" id="sink"></iframe>
<form id="form" method="POST" enctype="text/plain" target="sink" action="%(api)s/api/rules">
<input name='{"command": "RCPT", "reply": "550 5.7.1 csrf-form", "x": "' value='"}'>
</form>
<script>
const api = "%(api)s";
const done = [];
async function attack() {
  try {
    await fetch(api + "/api/rules", {method: "POST", mode: "no-cors", headers: {"Content-Type": "text/plain"},
                                     body: JSON.stringify({command: "RCPT", reply: "550 5.7.1 csrf-fetch"})});
    done.push("fetch-sent");
  } catch (e) { done.push("fetch-failed"); }
  try {
    const r = await fetch(api + "/api/messages", {method: "DELETE"});
    done.push("delete-" + r.status);
  } catch (e) { done.push("delete-blocked"); }
  try {
    const r = await fetch(api + "/api/messages");
    done.push("read-" + (await r.text()).includes("493817"));
  } catch (e) { done.push("read-blocked"); }
  await new Promise(resolve => {
    document.getElementById("sink").onload = resolve;
    document.getElementById("form").submit();
    setTimeout(resolve, 5000);
  });
  done.push("form-sent");
  document.title = "done " + done.join(" ");
}
attack();
</script>"""


class AttackerSite:
    """A tiny http.server on its own loopback port: the other origin (it records the requests)."""

    def __init__(self, api, page=None):
        page = (page or ATTACK_PAGE % {"api": api}).encode()
        self.requests = []
        requests = self.requests

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                requests.append((self.path, dict(self.headers)))
                self.send_response(200)
                self.send_header("Content-Type", "text/html")
                self.send_header("Content-Length", str(len(page)))
                self.end_headers()
                self.wfile.write(page)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Browser(PlainBrowser):
    """test_testbed's DevTools-pipe Chromium, with extra command-line flags."""

    def __init__(self, *flags):
        self.to_chrome_r, self.to_chrome_w = os.pipe()
        self.from_chrome_r, self.from_chrome_w = os.pipe()
        self.profile = tempfile.mkdtemp(prefix="postern-chromium-")
        self.proc = subprocess.Popen(
            ["bash", "-c", 'exec chromium --headless --no-sandbox --disable-gpu --disable-dev-shm-usage '
             '--remote-debugging-pipe --user-data-dir="$0" "${@}" about:blank 3<&%d 4>&%d'
             % (self.to_chrome_r, self.from_chrome_w), self.profile, *flags],
            pass_fds=(self.to_chrome_r, self.from_chrome_w), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        os.close(self.to_chrome_r)
        os.close(self.from_chrome_w)
        self.buf = b""
        self.next_id = 0

    def evaluate(self, session, expression):
        r = self.call("Runtime.evaluate", session=session, expression=expression, awaitPromise=True,
                      returnByValue=True)
        if "exceptionDetails" in r:
            raise RuntimeError(r["exceptionDetails"])
        return r["result"].get("value")


@unittest.skipUnless(shutil.which("chromium"), "Debian's chromium is installed by make test")
class HostilePages(WebCase):
    def setUp(self):
        super().setUp()
        self.keep_secret()
        self.browser = Browser("--host-resolver-rules=MAP rebind.attacker.test 127.0.0.1")
        self.addCleanup(self.browser.close)

    def test_a_page_on_another_origin_changes_nothing(self):
        site = AttackerSite("http://127.0.0.1:%d" % self.port)
        self.addCleanup(site.close)
        page = self.browser.open("http://127.0.0.1:%d/attack.html" % site.port)
        title = ""

        def finished():
            nonlocal title
            title = self.browser.evaluate(page, "document.title") or ""
            return title.startswith("done")
        self.assertTrue(wait_for(finished, timeout=30, interval=0.2), "the page never finished: %r" % title)
        self.assertIn("fetch-sent", title)  # the no-cors POST left the browser...
        self.assertNotIn("read-true", title)
        self.assertEqual(self.tb.get("/api/rules")[1], [])  # ...and changed nothing
        self.assertEqual(self.kept(), [SECRET])

    def test_images_in_a_captured_mail_hold_no_waits(self):
        # A sandboxed frame is a site of its own, so the <img> requests of a
        # captured HTML mail are cross-site: recorded here as Chromium sends
        # them, then replayed to /api/wait, which refuses them at once
        # instead of holding them open for ten minutes.
        probe = AttackerSite("")
        self.addCleanup(probe.close)
        html = '<img src="http://127.0.0.1:%d/probe.png">' % probe.port + "".join(
            '<img src="http://127.0.0.1:%d/api/wait?to=img-%d@example.org&timeout=600">' % (self.port, i)
            for i in range(8))
        with self.tb.smtp() as s:
            s.sendmail("news@example.com", ["dev@example.org"],
                       "Subject: images\r\nMIME-Version: 1.0\r\nContent-Type: text/html\r\n\r\n<p>hi</p>%s\r\n" % html)
        mail = [m for m in self.tb.get("/api/messages")[1] if m["subject"] == "images"][0]
        self.browser.open("http://127.0.0.1:%d/#message=%s" % (self.port, mail["id"]))
        self.assertTrue(wait_for(lambda: probe.requests, timeout=30), "the mail's image was never requested")
        path, headers = probe.requests[0]
        self.assertEqual((headers.get("Sec-Fetch-Site"), headers.get("Sec-Fetch-Dest")), ("cross-site", "image"))
        replayed = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
        status, _ = http_request(self.port, "GET", "/api/wait?to=img-0@example.org&timeout=600", replayed, timeout=5)
        self.assertEqual(status, 403)
        # The page itself and the waits of test code still get their answers.
        self.assertEqual(self.tb.get("/api/wait?to=dev@example.org&timeout=1")[0], 200)
        with open_request(self.port, "/api/events") as s:
            self.assertEqual(status_of(s), 200)

    def test_frames_on_another_site_hold_no_waits(self):
        # An <iframe> is a navigation too (Sec-Fetch-Mode: navigate), but not
        # a top-level one: recorded as Chromium sends it, replayed to /api/wait.
        probe = AttackerSite("")
        self.addCleanup(probe.close)
        site = AttackerSite("", "<!doctype html><iframe src='http://127.0.0.1:%d/frame'></iframe>" % probe.port)
        self.addCleanup(site.close)
        self.browser.open("http://127.0.0.1:%d/" % site.port)
        self.assertTrue(wait_for(lambda: probe.requests, timeout=30), "the frame was never requested")
        path, headers = probe.requests[0]
        self.assertEqual((headers.get("Sec-Fetch-Mode"), headers.get("Sec-Fetch-Dest")), ("navigate", "iframe"))
        replayed = {k: v for k, v in headers.items() if k.lower() not in ("host", "connection")}
        status, _ = http_request(self.port, "GET", "/api/wait?to=frame@example.org&timeout=600", replayed, timeout=5)
        self.assertEqual(status, 403)

    def test_a_rebound_name_reads_and_deletes_nothing(self):
        # After rebinding, the attacker's origin http://rebind.attacker.test:PORT
        # reaches the testbed; its script runs there as if the page were its own.
        page = self.browser.open("http://rebind.attacker.test:%d/" % self.port)
        self.assertTrue(wait_for(lambda: self.browser.evaluate(page, "location.origin") != "null", timeout=20))
        read = self.browser.evaluate(page, """(async () => {
            const r = await fetch("/api/messages");
            const d = await fetch("/api/messages", {method: "DELETE"});
            return JSON.stringify({origin: location.origin, read: r.status, body: await r.text(), deleted: d.status});
        })()""")
        result = json.loads(read)
        self.assertEqual(result["origin"], "http://rebind.attacker.test:%d" % self.port)
        self.assertEqual((result["read"], result["deleted"]), (403, 403))
        self.assertNotIn("493817", result["body"])
        self.assertEqual(self.kept(), [SECRET])


@unittest.skipUnless(shutil.which("chromium"), "Debian's chromium is installed by make test")
class PageViews(WebCase):
    """What a developer sees on the page, in headless Chromium: deep links
    that open on load, the message tabs, how sessions ended, the search box,
    the inbox picker and a release with its state, live."""

    def setUp(self):
        super().setUp()
        self.browser = Browser()
        self.addCleanup(self.browser.close)

    def dom(self, page, *wanted, gone=()):
        last = ""

        def check():
            nonlocal last
            last = self.browser.evaluate(page, "document.documentElement ? document.documentElement.outerHTML : ''") or ""
            return all(w in last for w in wanted) and not any(g in last for g in gone)

        self.assertTrue(wait_for(check, timeout=30, interval=0.2),
                        "the page never showed %r without %r:\n%s" % (wanted, gone, last[-3000:]))
        return last

    def send(self, to, subject, html=False, attach=False):
        import email.message
        m = email.message.EmailMessage()
        m["From"] = "shop@example.com"
        m["To"] = to
        m["Subject"] = subject
        m.set_content("plain words of %s\n" % subject)
        if html:
            m.add_alternative("<p>rich <b>words</b> of %s</p><script>document.title='ran'</script>" % subject, subtype="html")
        if attach:
            m.add_attachment(b"%PDF-1.4 fake", maintype="application", subtype="pdf", filename="invoice.pdf")
        with self.tb.smtp() as s:
            s.send_message(m)
        return [x for x in self.tb.get("/api/messages")[1] if x["subject"] == subject][0]["id"]

    def test_a_message_deep_link_opens_on_load_with_its_tabs(self):
        mid = self.send("alice@example.org", "Order 1042 shipped", html=True, attach=True)
        self.send("bob@example.org", "Another one")
        page = self.browser.open("http://127.0.0.1:%d/#message=%s" % (self.port, mid))
        html = self.dom(page, 'id="message" data-id="%s"' % mid, "Order 1042 shipped", 'id="html"')
        self.assertIn('sandbox=""', html[html.index('id="html"') - 200:html.index('id="html"') + 200])
        self.assertEqual(self.browser.evaluate(page, "document.title"), "Postern testbed", "the mail's script never ran")
        # The frame shows the HTML part, in a sandbox: no script, an origin of its own.
        self.assertEqual(self.browser.evaluate(page, "document.getElementById('html').srcdoc.includes('rich <b>words</b>')"), True)
        self.browser.evaluate(page, "document.querySelector('[data-tab=source]').click()")
        self.dom(page, 'id="source"', "&lt;b&gt;words&lt;/b&gt;")
        self.browser.evaluate(page, "document.querySelector('[data-tab=text]').click()")
        self.dom(page, 'id="text"', "plain words of Order 1042 shipped")
        self.browser.evaluate(page, "document.querySelector('[data-tab=headers]').click()")
        self.dom(page, 'id="headers"', "Subject", "shop@example.com")
        self.browser.evaluate(page, "document.querySelector('[data-tab=raw]').click()")
        self.dom(page, 'id="raw"', "Content-Type: multipart/mixed")
        self.browser.evaluate(page, "document.querySelector('[data-tab=attachments]').click()")
        html = self.dom(page, 'id="attachments"', "invoice.pdf", "/part/")
        link = self.browser.evaluate(page, "document.querySelector('#attachments a').href")
        status, body = http_request(self.port, "GET", link.split(str(self.port), 1)[1])
        self.assertEqual((status, body), (200, "%PDF-1.4 fake"))
        # Opened: read, as in Mailpit.
        self.assertTrue(wait_for(lambda: [m for m in self.tb.get("/api/messages")[1] if m["id"] == mid][0]["read"], timeout=10))

    def test_a_session_deep_link_and_how_sessions_ended(self):
        self.tb.request("POST", "/api/rules", {"command": "MAIL", "from": "spam@*", "reply": "550 5.7.1 Not you"})
        r = self.tb.raw()
        r.cmd("MAIL FROM:<app@example.com>")
        self.assertEqual(r.cmd("RCPT TO:<locked@example.org>")[0], 450)
        r.cmd("QUIT")
        r.close()
        r = self.tb.raw()
        self.assertEqual(r.cmd("MAIL FROM:<spam@example.com>")[0], 550)
        r.close()
        sessions = self.tb.get("/api/sessions")[1]
        locked = [x for x in sessions if x["last_class"] == "4xx"][0]
        self.assertEqual(locked["last_reply"], "450 4.2.1 Mailbox temporarily unavailable, try again later")
        self.assertEqual(locked["last_cause"], "scenario locked")
        page = self.browser.open("http://127.0.0.1:%d/#session=%s" % (self.port, locked["id"]))
        html = self.dom(page, 'id="session" data-id="%s"' % locked["id"], 'id="outcome"', 'id="transcript"')
        outcome = self.browser.evaluate(page, "document.getElementById('outcome').textContent")
        self.assertIn("450 4.2.1 Mailbox temporarily unavailable", outcome)
        self.assertIn("scenario locked", outcome)
        # The list shows every session's ending at a glance, coloured by class.
        classes = self.browser.evaluate(page, "[...document.querySelectorAll('#sessions .code')].map(e => e.className + ' ' + e.textContent).join('|')")
        self.assertIn("code c4xx 450", classes)
        self.assertIn("code c5xx 550", classes)
        self.assertIn("rule 1: MAIL from spam@*", html)

    def test_search_box_and_inbox_picker(self):
        self.send("alice@example.org", "alpha report")
        self.send("bob@example.org", "beta report")
        page = self.browser.open("http://127.0.0.1:%d/" % self.port)
        self.dom(page, "alpha report", "beta report", 'value="alice@example.org"')
        self.browser.evaluate(page, "const s = document.getElementById('search'); s.value = 'subject:alpha'; "
                                    "s.dispatchEvent(new Event('input')); 1")
        self.dom(page, "alpha report", gone=("beta report",))
        # A query the syntax refuses says why.
        self.browser.evaluate(page, "const b = document.getElementById('search'); b.value = 'before:someday'; "
                                    "b.dispatchEvent(new Event('input')); 1")
        self.dom(page, 'id="search-error"', "expects a date", gone=("alpha report",))
        self.browser.evaluate(page, "const t = document.getElementById('search'); t.value = ''; "
                                    "t.dispatchEvent(new Event('input')); "
                                    "const i = document.getElementById('inbox'); i.value = 'bob@example.org'; "
                                    "i.dispatchEvent(new Event('change')); 1")
        self.dom(page, "beta report", gone=("alpha report",))
        # Live: a new message for that inbox appears without a reload.
        self.send("bob@example.org", "gamma arrives")
        self.dom(page, "gamma arrives", gone=("alpha report",))

    def test_release_form_and_live_status(self):
        peer = Testbed()
        self.addCleanup(peer.cleanup)
        mid = self.send("alice@example.org", "release me from the page")
        page = self.browser.open("http://127.0.0.1:%d/#message=%s" % (self.port, mid))
        self.dom(page, 'id="message" data-id="%s"' % mid)
        self.browser.evaluate(page, "document.querySelector('[data-tab=release]').click()")
        self.dom(page, '<form class="release"', '<p class="hint">Not released yet.</p>')
        self.browser.evaluate(page, """(() => {
            const f = document.querySelector('form.release');
            f.querySelector('[name=to]').value = 'qa@peer.test';
            f.querySelector('[name=server]').value = '127.0.0.1:%d';
            f.querySelector('button').click(); return 1; })()""" % peer.ports["smtp"])
        self.dom(page, 'id="releases"', "s-delivered", "qa@peer.test")
        self.assertEqual(peer.get("/api/wait?to=qa@peer.test&timeout=10")[0], 200)
        # A bad address is refused with the reason, on the page.
        self.browser.evaluate(page, """(() => {
            const f = document.querySelector('form.release');
            f.querySelector('[name=to]').value = 'not-an-address';
            f.querySelector('[name=server]').value = '';
            f.querySelector('button').click(); return 1; })()""")
        self.dom(page, '<span class="error">to: not a mail address: not-an-address')


if __name__ == "__main__":
    unittest.main()
