"""MTA-STS for outbound mail (RFC 8461) on loopback: dnsmasq serves the MX,
address and `_mta-sts` TXT records, a local HTTPS server (Python's
http.server with ssl) serves the policies under certificates the server
trusts through SSL_CERT_FILE, and aiosmtpd next hops on distinct loopback
addresses stand in for the MX hosts. An enforce policy delivers only over
verified TLS to an MX it names, else defers with 4.7.5 and says why; a
testing policy only logs; a failed fetch (404, a redirect, text/html, over
64 KiB, not a policy) means no policy; a cached policy
is used without fetching again; `mta_sts = false` turns it all off.
Policy hosts that accept the connection and never answer (Blackhole, on
127.0.0.7) delay only their own domains, by one fetch timeout, and a
failed fetch is not tried again for some minutes (RFC 8461 §3.3); nor is
a `_mta-sts` TXT lookup that failed (ServfailDns, behind dnsmasq)."""
import http.server
import os
import socket
import sqlite3
import ssl
import struct
import tempfile
import threading
import time
import unittest

import harness
from queue_peers import Dnsmasq, NextHop, add_user, queue_list, shared_port, submit, wait_for
from send_support import make_cert

SENDER = "alice@example.org"
POLICIES = {
    "sts.test": "version: STSv1\r\nmode: enforce\r\nmx: mx.sts.test\r\nmax_age: 86400\r\n",
    "badmx.test": "version: STSv1\nmode: enforce\nmx: mail.badmx.test\nmx: *.other.badmx.test\nmax_age: 86400\n",
    "badcert.test": "version: STSv1\nmode: enforce\nmx: *.badcert.test\nmax_age: 86400\n",
    "testing.test": "version: STSv1\nmode: testing\nmx: other.testing.test\nmax_age: 86400\n",
}


# What a broken policy host serves instead (RFC 8461 §3.3 says each is no policy).
BROKEN = {
    "redirect.test": (302, "text/plain", ""),                                 # redirects are not followed
    "html.test": (200, "text/html", POLICIES["sts.test"]),                    # not text/plain
    "big.test": (200, "text/plain", POLICIES["sts.test"] + "x" * 70000),      # over 64 KiB
    "garbled.test": (200, "text/plain", "version: STSv1\nmode: enforce\n"),  # no mx, no max_age
}

# Domains whose policy host takes the connection and never answers.
BLACKHOLED = ["black1.test", "black2.test", "black3.test", "black4.test"]
FETCH_TIMEOUT = 5  # seconds, Postern's policy fetch timeout


class PolicyServer:
    """HTTPS on 127.0.0.1: /.well-known/mta-sts.txt by Host, text/plain;
    `fetches` counts the requests per domain."""

    def __init__(self, cert, key, port=0):
        self.fetches = {}
        self.lock = threading.Lock()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                domain = self.headers.get("Host", "").split(":")[0].removeprefix("mta-sts.")
                with outer.lock:
                    outer.fetches[domain] = outer.fetches.get(domain, 0) + 1
                status, ctype, body = BROKEN.get(domain, (200, "text/plain", POLICIES.get(domain)))
                if self.path != "/.well-known/mta-sts.txt" or body is None:
                    self.send_error(404)
                    return
                data = body.encode()
                self.send_response(status)
                if status == 302:
                    self.send_header("Location", "https://mta-sts.sts.test/.well-known/mta-sts.txt")
                self.send_header("Content-Type", ctype)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class Blackhole:
    """A policy host that hangs: accepts TCP connections on host:port and
    holds them without a word; `accepted` counts them."""

    def __init__(self, host, port):
        self.sock = socket.create_server((host, port))
        self.sock.settimeout(0.2)
        self.accepted = 0
        self.held = []
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            self.held.append(conn)
            self.accepted += 1

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.done.set()
        self.thread.join(timeout=5)
        self.sock.close()
        for conn in self.held:
            conn.close()


class ServfailDns:
    """A DNS server on UDP that answers every query SERVFAIL; `queries`
    counts them."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.queries = 0
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)

    def _serve(self):
        while not self.done.is_set():
            try:
                query, peer = self.sock.recvfrom(4096)
            except (socket.timeout, OSError):
                continue
            end = 12
            while end < len(query) and query[end] != 0:  # the question's name, then type and class
                end += 1 + query[end]
            if len(query) < 12 or end + 5 > len(query):
                continue
            self.queries += 1
            flags = 0x8000 | (query[2] & 0x01) << 8 | 0x0080 | 2  # QR, RD as asked, RA, SERVFAIL
            self.sock.sendto(query[:2] + struct.pack(">HHHHH", flags, 1, 0, 0, 0) + query[12:end + 5], peer)

    def start(self):
        self.thread.start()
        return self

    def stop(self):
        self.done.set()
        self.thread.join(timeout=5)
        self.sock.close()


class MtaStsTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="postern-sts-")
        names = [f"mta-sts.{d}" for d in (*POLICIES, *BROKEN, "nopolicy.test")]
        web = make_cert(cls.tmp, "mta-sts", ",".join("DNS:" + n for n in names))
        mx = make_cert(cls.tmp, "mx.sts.test", "DNS:mx.sts.test")
        untrusted = make_cert(cls.tmp, "mx.badcert.test", "DNS:mx.badcert.test")
        cls.trust = os.path.join(cls.tmp, "trusted.pem")
        with open(cls.trust, "w") as out:
            for cert in (web[0], mx[0]):  # not mx.badcert.test's
                with open(cert) as f:
                    out.write(f.read())
        policy_port = shared_port(["127.0.0.1", "127.0.0.7"])
        cls.web = PolicyServer(*web, port=policy_port).start()
        cls.blackhole = Blackhole("127.0.0.7", policy_port).start()
        cls.port = shared_port(["127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5", "127.0.0.6"])
        records = []
        for domain, address in (("sts.test", "127.0.0.2"), ("badmx.test", "127.0.0.3"),
                                ("badcert.test", "127.0.0.4"), ("testing.test", "127.0.0.5"),
                                ("nopolicy.test", "127.0.0.6"), *((d, "127.0.0.6") for d in BROKEN)):
            records += [f"--mx-host={domain},mx.{domain},10", f"--host-record=mx.{domain},{address}",
                        f"--host-record=mta-sts.{domain},127.0.0.1", f"--txt-record=_mta-sts.{domain},v=STSv1; id=1"]
        for domain in BLACKHOLED:
            records += [f"--mx-host={domain},mx.{domain},10", f"--host-record=mx.{domain},127.0.0.6",
                        f"--host-record=mta-sts.{domain},127.0.0.7", f"--txt-record=_mta-sts.{domain},v=STSv1; id=1"]
        cls.servfail = ServfailDns().start()
        records += ["--mx-host=dnsfail.test,mx.dnsfail.test,10", "--host-record=mx.dnsfail.test,127.0.0.6",
                    f"--server=/_mta-sts.dnsfail.test/127.0.0.1#{cls.servfail.port}"]
        cls.dns = Dnsmasq(records).start()
        cls.hops = {
            "sts.test": NextHop(host="127.0.0.2", port=cls.port, starttls_cert=mx).start(),
            "badmx.test": NextHop(host="127.0.0.3", port=cls.port).start(),
            "badcert.test": NextHop(host="127.0.0.4", port=cls.port, starttls_cert=untrusted).start(),
            "testing.test": NextHop(host="127.0.0.5", port=cls.port).start(),
            "nopolicy.test": NextHop(host="127.0.0.6", port=cls.port).start(),
        }

    @classmethod
    def tearDownClass(cls):
        for hop in cls.hops.values():
            hop.stop()
        cls.dns.stop()
        cls.web.stop()
        cls.blackhole.stop()
        cls.servfail.stop()

    def start_server(self, mta_sts=True):
        server = harness.Server(
            extra={"queue": {"retry_initial": "1s", "retry_max": "2s", "lifetime": "1h"},
                   "relay": {"dns_servers": [self.dns.server], "mta_sts": mta_sts}},
            env={"POSTERN_OUTGOING_SMTP_PORT": str(self.port), "POSTERN_MTA_STS_PORT": str(self.web.port),
                 "SSL_CERT_FILE": self.trust})
        server.start()
        self.addCleanup(server.cleanup)
        add_user(server, SENDER)
        return server

    def delivered(self, domain, subject, timeout=30):
        hop = self.hops[domain]
        found = lambda: [m for m in hop.messages if subject.encode() in m[2]]
        wait_for(lambda: found(), timeout=timeout)
        return found()

    def deferred_with(self, server, text):
        listing = wait_for(lambda: (lambda t: t if text in t else None)(queue_list(server)), timeout=30)
        self.assertIsNotNone(listing, queue_list(server))
        return listing

    def test_enforce_delivers_over_verified_tls_and_caches_the_policy(self):
        server = self.start_server()
        before = self.web.fetches.get("sts.test", 0)
        submit(server, SENDER, ["bob@sts.test"], subject="sts-first")
        self.assertEqual(len(self.delivered("sts.test", "sts-first")), 1)
        log = server.log_text()
        self.assertRegex(log, r"event=mta_sts_policy domain=sts.test id=1 mode=enforce mx=mx.sts.test max_age=86400")
        self.assertRegex(log, r'event=relay_connect destination=mx:sts.test relay=mx.sts.test\S* tls="TLSv1\.[23] .*verified=yes')
        with sqlite3.connect(os.path.join(server.data_dir, "postern.db")) as db:
            row = db.execute("SELECT id, mode, mx, max_age FROM mta_sts_policy WHERE domain = 'sts.test'").fetchone()
        self.assertEqual(row, ("1", "enforce", "mx.sts.test\n", 86400))
        # The record's id is unchanged: the second message uses the cached policy.
        submit(server, SENDER, ["bob@sts.test"], subject="sts-second")
        self.assertEqual(len(self.delivered("sts.test", "sts-second")), 1)
        self.assertEqual(self.web.fetches.get("sts.test", 0) - before, 1, "fetched once, then cached")

    def test_enforce_defers_when_no_mx_matches(self):
        server = self.start_server()
        submit(server, SENDER, ["carol@badmx.test"], subject="sts-badmx")
        listing = self.deferred_with(server, "MTA-STS policy of badmx.test (enforce) allows none of its MX hosts")
        self.assertIn("mail.badmx.test, *.other.badmx.test", listing)
        self.assertRegex(server.log_text(), r"event=mta_sts_refused destination=mx:badmx.test relay=mx.badmx.test")
        self.assertEqual([m for m in self.hops["badmx.test"].attempts], [], "never sent to an MX the policy does not name")

    def test_enforce_defers_on_an_unverified_certificate(self):
        server = self.start_server()
        submit(server, SENDER, ["dave@badcert.test"], subject="sts-badcert")
        listing = self.deferred_with(server, "MTA-STS policy of badcert.test (enforce): mx.badcert.test: ")
        self.assertRegex(listing, r"certificate|verify")
        self.assertEqual([m for m in self.hops["badcert.test"].messages if b"sts-badcert" in m[2]], [])

    def test_testing_mode_delivers_and_logs(self):
        server = self.start_server()
        submit(server, SENDER, ["erin@testing.test"], subject="sts-testing")
        self.assertEqual(len(self.delivered("testing.test", "sts-testing")), 1)
        self.assertRegex(server.log_text(), r"event=mta_sts_testing destination=mx:testing.test relay=mx.testing.test")

    def test_failed_fetch_means_no_policy(self):
        server = self.start_server()
        submit(server, SENDER, ["frank@nopolicy.test"], subject="sts-nopolicy")
        self.assertEqual(len(self.delivered("nopolicy.test", "sts-nopolicy")), 1)
        self.assertRegex(server.log_text(),
                         r"event=mta_sts_error domain=nopolicy.test error=\"?https://mta-sts.nopolicy.test:\d+"
                         r"/.well-known/mta-sts.txt: HTTP 404")

    def test_a_broken_policy_host_means_no_policy(self):
        server = self.start_server()
        for domain in BROKEN:
            submit(server, SENDER, [f"henry@{domain}"], subject=f"sts-broken-{domain}")
        for domain in BROKEN:
            self.assertEqual(len(self.delivered("nopolicy.test", f"sts-broken-{domain}")), 1, domain)
        log = server.log_text()
        for domain, why in (("redirect.test", r"HTTP 302 \(only 200 is a policy; redirects are not followed\)"),
                            ("html.test", r'Content-Type \\"text/html\\", not text/plain'),
                            ("big.test", r"policy larger than 64 KiB"),
                            ("garbled.test", r"not a valid policy: no max_age")):
            self.assertRegex(log, rf"event=mta_sts_error domain={domain} error=.*{why}.* using=\"no policy\"")

    def test_policy_hosts_that_never_answer_delay_no_other_domain(self):
        server = self.start_server()
        before = self.blackhole.accepted
        for domain in BLACKHOLED:
            submit(server, SENDER, [f"ivan@{domain}"], subject=f"sts-tarpit-{domain}")
        submitted = time.monotonic()
        submit(server, SENDER, ["bob@sts.test"], subject="sts-unrelated")
        # The four fetches hang at once, each until its own timeout ...
        self.assertTrue(wait_for(lambda: self.blackhole.accepted - before >= 4, timeout=FETCH_TIMEOUT - 1),
                        f"{self.blackhole.accepted - before} of 4 fetches started at once")
        # ... and mail for an unrelated domain (its policy fetched too) waits for none of them.
        self.assertEqual(len(self.delivered("sts.test", "sts-unrelated", timeout=2 * FETCH_TIMEOUT)), 1)
        self.assertLess(time.monotonic() - submitted, 2 * FETCH_TIMEOUT)
        # The hung domains go out without a policy once their fetch times out.
        for domain in BLACKHOLED:
            self.assertEqual(len(self.delivered("nopolicy.test", f"sts-tarpit-{domain}")), 1, domain)
        self.assertRegex(server.log_text(), r"event=mta_sts_error domain=black1.test error=\"https://mta-sts.black1.test:"
                                            r"\d+/.well-known/mta-sts.txt: timed out after 5 s\" using=\"no policy\"")

    def test_a_failed_fetch_is_shared_and_remembered(self):
        server = self.start_server()
        before = self.blackhole.accepted
        # Two messages at once: one fetch for both.
        submit(server, SENDER, ["judy@black1.test"], subject="sts-remembered-1")
        submit(server, SENDER, ["judy@black1.test"], subject="sts-remembered-2")
        for n in (1, 2):
            self.assertEqual(len(self.delivered("nopolicy.test", f"sts-remembered-{n}")), 1)
        self.assertEqual(self.blackhole.accepted - before, 1)
        # Later ones within the hold are not fetched again and do not wait.
        submitted = time.monotonic()
        submit(server, SENDER, ["judy@black1.test"], subject="sts-remembered-3")
        self.assertEqual(len(self.delivered("nopolicy.test", "sts-remembered-3", timeout=FETCH_TIMEOUT)), 1)
        self.assertLess(time.monotonic() - submitted, FETCH_TIMEOUT)
        self.assertEqual(self.blackhole.accepted - before, 1, "a failed fetch is not tried again at once")
        self.assertRegex(server.log_text(), r"event=mta_sts_error domain=black1.test error=\"https://mta-sts.black1.test:"
                                            r"\d+/.well-known/mta-sts.txt: timed out after 5 s \(remembered; tried again in \d+ s\)\" using=\"no policy\"")

    def test_a_failed_record_lookup_is_remembered(self):
        server = self.start_server()
        submit(server, SENDER, ["lee@dnsfail.test"], subject="sts-dnsfail-1")
        self.assertEqual(len(self.delivered("nopolicy.test", "sts-dnsfail-1")), 1)
        asked = self.servfail.queries
        self.assertGreater(asked, 0)
        submit(server, SENDER, ["lee@dnsfail.test"], subject="sts-dnsfail-2")
        self.assertEqual(len(self.delivered("nopolicy.test", "sts-dnsfail-2")), 1)
        self.assertEqual(self.servfail.queries, asked, "the failed TXT lookup is not made again at once")
        log = server.log_text()
        self.assertRegex(log, r'event=mta_sts_error domain=dnsfail.test error="_mta-sts.dnsfail.test: TXT lookup: [^"\n]*"\n')
        self.assertRegex(log, r'event=mta_sts_error domain=dnsfail.test error="_mta-sts.dnsfail.test: TXT lookup: '
                              r'[^"\n]* \(remembered; tried again in \d+ s\)"')

    def test_sigterm_does_not_wait_for_a_hung_policy_fetch(self):
        server = self.start_server()
        before = self.blackhole.accepted
        submit(server, SENDER, ["kim@black2.test"], subject="sts-sigterm")
        self.assertTrue(wait_for(lambda: self.blackhole.accepted > before, timeout=FETCH_TIMEOUT - 1))
        stopping = time.monotonic()
        self.assertEqual(server.stop(), 0)
        self.assertLess(time.monotonic() - stopping, FETCH_TIMEOUT - 1, "waited for the fetch")
        self.assertIn("kim@black2.test", queue_list(server), "the message stays queued")

    def test_off_ignores_policies(self):
        server = self.start_server(mta_sts=False)
        submit(server, SENDER, ["grace@badmx.test"], subject="sts-off")
        self.assertEqual(len(self.delivered("badmx.test", "sts-off")), 1)
        self.assertNotIn("mta_sts", server.log_text())


if __name__ == "__main__":
    unittest.main()
