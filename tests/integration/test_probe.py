"""`postern probe` (SPEC §14) against real servers on loopback: Postern with
AUTH offered in clear, with its default self-signed certificate, with a
trusted certificate that expires in two days, with greylisting (`--rcpt
--wait`: the retry passes and nothing is delivered), the testbed's
greylist+N address, a tiny server with the STARTTLS injection bug
(CVE-2011-0411), and mail domains served by dnsmasq (MX, MTA-STS with its
policy over HTTPS, TLSRPT, SPF, DMARC). Every --json output is validated
against docs/probe.schema.json; --lang tr gives the Turkish texts."""
import hashlib
import http.server
import json
import os
import socket
import ssl
import subprocess
import tempfile
import threading
import unittest
import warnings

import jsonschema

import harness
from harness import POSTERN, Server
from queue_peers import Dnsmasq, add_user
from send_support import make_cert
from test_testbed import Testbed

SCHEMA_PATH = os.path.join(os.path.dirname(__file__), "..", "..", "docs", "probe.schema.json")
with open(SCHEMA_PATH) as f:
    SCHEMA = json.load(f)


def probe(*args, env=None, timeout=60):
    e = dict(os.environ)
    e.update(env or {})
    return subprocess.run([POSTERN, "probe", *args], capture_output=True, text=True, timeout=timeout, env=e)


def make_long_cert(directory, name, sans, days=365):
    cert, key = os.path.join(directory, name + ".crt"), os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", str(days), "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=" + sans], check=True, capture_output=True)
    return cert, key


class ProbeCase(unittest.TestCase):
    def probe_json(self, *args, env=None, expect_rc=None):
        r = probe(*args, "--json", env=env)
        self.assertEqual(r.stderr, "")
        out = json.loads(r.stdout)
        jsonschema.Draft202012Validator(SCHEMA).validate(out)
        self.assertEqual(out["exit_code"], r.returncode)
        if expect_rc is not None:
            self.assertEqual(r.returncode, expect_rc, r.stdout)
        return out

    def ids(self, out):
        return sorted(f["id"] for f in out["findings"])


class InjectableServer:
    """A tiny SMTP server; with `vulnerable`, what follows STARTTLS in the
    same read is kept and answered inside TLS (CVE-2011-0411)."""

    def __init__(self, cert, key, vulnerable, starttls=True, enhanced=True, tls_version=None):
        self.vulnerable, self.starttls, self.enhanced = vulnerable, starttls, enhanced
        self.ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        if tls_version is not None:  # an old server: only this version
            self.ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", DeprecationWarning)
                self.ctx.minimum_version = self.ctx.maximum_version = tls_version
        self.ctx.load_cert_chain(cert, key)
        self.sock = socket.create_server(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.done.is_set():
            try:
                conn, _ = self.sock.accept()
            except (socket.timeout, OSError):
                continue
            threading.Thread(target=self._session, args=(conn,), daemon=True).start()

    def _session(self, conn):
        conn.settimeout(10)
        buf, tls = b"", False
        try:
            conn.sendall(b"220 injectable.test ESMTP\r\n")
            while True:
                while b"\n" not in buf:
                    data = conn.recv(4096)
                    if not data:
                        return
                    buf += data
                line, buf = buf.split(b"\n", 1)
                verb = line.strip().upper()
                if verb.startswith(b"EHLO"):
                    conn.sendall(b"250-injectable.test\r\n" +
                                 (b"" if tls or not self.starttls else b"250-STARTTLS\r\n") +
                                 (b"250 ENHANCEDSTATUSCODES\r\n" if self.enhanced else b"250 8BITMIME\r\n"))
                elif verb == b"STARTTLS":
                    conn.sendall(b"220 2.0.0 Ready to start TLS\r\n")
                    if not self.vulnerable:
                        buf = b""
                    conn = self.ctx.wrap_socket(conn, server_side=True)
                    tls = True
                elif verb == b"NOOP":
                    conn.sendall(b"250 2.0.0 OK\r\n")
                elif verb == b"QUIT":
                    conn.sendall(b"221 2.0.0 Bye\r\n")
                    return
                else:
                    conn.sendall(b"500 5.5.1 Unknown command\r\n")
        except (OSError, ssl.SSLError):
            pass
        finally:
            conn.close()

    def stop(self):
        self.done.set()
        self.thread.join(timeout=5)
        self.sock.close()


class PolicyServer:
    """HTTPS on 127.0.0.1 serving /.well-known/mta-sts.txt per Host."""

    def __init__(self, cert, key, policies):
        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self):
                domain = self.headers.get("Host", "").split(":")[0].removeprefix("mta-sts.")
                body = policies.get(domain)
                if self.path != "/.well-known/mta-sts.txt" or body is None:
                    self.send_error(404)
                    return
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body.encode())

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def stop(self):
        self.httpd.shutdown()
        self.httpd.server_close()


class ProbePosternTest(ProbeCase):
    def test_auth_offered_in_clear_is_a_finding(self):
        with Server(extra={"auth": {"require_tls": False}}) as server:
            host, port = server.submission
            out = self.probe_json(f"{host}:{port}", expect_rc=1)
        h = out["hosts"][0]
        self.assertTrue(h["answered"])
        self.assertIn("PLAIN", h["ehlo_before_tls"]["auth"])
        self.assertTrue(h["ehlo_before_tls"]["starttls"])
        self.assertIn("SCRAM-SHA-256-PLUS", h["ehlo_after_tls"]["auth_plus"])
        self.assertEqual(h["tls"]["version"], "TLSv1.3")
        self.assertIs(h["starttls_injection"], False)
        self.assertIn("auth_before_tls", self.ids(out))
        finding = next(f for f in out["findings"] if f["id"] == "auth_before_tls")
        self.assertEqual(finding["severity"], "critical")
        self.assertIn("PLAIN", finding["detail"])

    def test_default_postern_self_signed_and_turkish_output(self):
        with Server() as server:
            host, port = server.mx
            out = self.probe_json(f"{host}:{port}", expect_rc=1)
            r = probe(f"{host}:{port}", "--lang", "tr")
            en = probe(f"{host}:{port}", "--lang", "en")
        # AUTH only after TLS by default; the generated certificate is self-signed.
        self.assertEqual(self.ids(out), ["certificate_not_verified"])
        h = out["hosts"][0]
        self.assertEqual(h["ehlo_before_tls"]["auth"], [])
        self.assertIn("self-signed", h["tls"]["verify_error"])
        self.assertTrue(h["ehlo_after_tls"]["enhancedstatuscodes"])
        self.assertEqual(r.returncode, 1)
        self.assertIn("Bulgular (1)", r.stdout)
        self.assertIn("Sertifika doğrulanmıyor", r.stdout)
        self.assertIn("STARTTLS enjeksiyonu (CVE-2011-0411): kabul edilmiyor", r.stdout)
        self.assertIn("Findings (1)", en.stdout)
        self.assertIn("Certificate does not verify", en.stdout)
        self.assertIn("Bare-LF line endings are not probed", en.stdout)

    def test_trusted_certificate_that_expires_soon(self):
        tmp = tempfile.mkdtemp(prefix="postern-probe-")
        cert, key = make_cert(tmp)  # two days, for localhost and 127.0.0.1
        with Server(extra={"tls": {"cert": cert, "key": key}}) as server:
            host, port = server.mx
            out = self.probe_json(f"{host}:{port}", env={"SSL_CERT_FILE": cert}, expect_rc=1)
        h = out["hosts"][0]
        self.assertTrue(h["tls"]["verified"], h["tls"])
        self.assertLessEqual(h["tls"]["days_left"], 2)
        self.assertEqual(self.ids(out), ["certificate_expires_soon"])

    def test_greylisting_with_wait_passes_and_delivers_nothing(self):
        with Server(extra={"greylist": {"enabled": True, "delay": "1s"}}) as server:
            add_user(server, "bob@example.org")
            host, port = server.mx
            out = self.probe_json(f"{host}:{port}", "--rcpt", "bob@example.org", "--wait", "2s", expect_rc=1)
            new = os.path.join(server.maildir("bob@example.org"), "new")
            self.assertEqual(os.listdir(new) if os.path.isdir(new) else [], [])
            self.assertNotIn("event=deliver", server.log_text())
        rcpt = out["hosts"][0]["rcpt"]
        self.assertEqual(rcpt["mail"]["code"], 250)
        self.assertEqual(rcpt["rcpt"]["code"], 450)
        self.assertEqual(rcpt["rcpt"]["enhanced"], "4.2.0")
        self.assertTrue(rcpt["greylisted"])
        self.assertEqual(rcpt["waited_seconds"], 2)
        self.assertEqual(rcpt["retry"]["code"], 250)
        self.assertTrue(rcpt["retry_passed"])
        self.assertEqual(self.ids(out), ["certificate_not_verified", "greylisting"])
        self.assertIn("the retry passed", next(f for f in out["findings"] if f["id"] == "greylisting")["detail"])

    def test_bad_usage(self):
        self.assertEqual(probe("127.0.0.1:99999").returncode, 64)
        self.assertEqual(probe("127.0.0.1:25", "--lang", "fr").returncode, 64)
        self.assertEqual(probe("127.0.0.1:25", "--wait", "2s").returncode, 64)

    def test_refusing_or_garbled_greeting_is_no_answer(self):
        for greeting, rc in ((b"554 5.7.1 go away\r\n", 69), (b"421 4.3.2 busy\r\n", 75),
                             (b"hello, this is not SMTP\r\n", 75)):
            with socket.create_server(("127.0.0.1", 0)) as listener:
                port = listener.getsockname()[1]

                def serve():
                    conn, _ = listener.accept()
                    with conn:
                        conn.sendall(greeting)
                        conn.settimeout(5)
                        try:
                            conn.recv(100)
                        except OSError:
                            pass

                t = threading.Thread(target=serve, daemon=True)
                t.start()
                out = self.probe_json(f"127.0.0.1:{port}", expect_rc=rc)
                t.join(timeout=10)
            self.assertFalse(out["hosts"][0]["answered"])
            self.assertNotEqual(out["hosts"][0]["error"], "")

    def test_no_answer_is_temporary(self):
        port = harness.free_port()
        r = probe(f"127.0.0.1:{port}")
        self.assertEqual(r.returncode, 75, r.stdout)
        self.assertIn("No mail server answered: nothing could be checked.", r.stdout)
        self.assertNotIn("nothing wrong was seen", r.stdout)

    def test_a_refusing_greeting_is_explained(self):
        with socket.create_server(("127.0.0.1", 0)) as listener:
            port = listener.getsockname()[1]

            def serve():
                conn, _ = listener.accept()
                with conn:
                    conn.sendall(b"554 5.7.1 go away\r\n")
                    conn.settimeout(5)
                    try:
                        conn.recv(100)
                    except OSError:
                        pass

            t = threading.Thread(target=serve, daemon=True)
            t.start()
            r = probe(f"127.0.0.1:{port}")
            t.join(timeout=10)
        self.assertEqual(r.returncode, 69, r.stdout)
        self.assertRegex(r.stdout, r"554 5\.7\.1 go away\n +→ \S")  # the reply, then what it means
        self.assertIn("No mail server answered", r.stdout)

    def one_session_server(self, script):
        """A listener whose one session runs `script(conn)`; records what the client sent."""
        listener = socket.create_server(("127.0.0.1", 0))
        self.addCleanup(listener.close)
        received = []

        def serve():
            conn, _ = listener.accept()
            with conn:
                conn.settimeout(5)
                script(conn, received)

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        self.addCleanup(t.join, 10)
        return listener.getsockname()[1], received

    def test_a_dialogue_that_breaks_off_after_the_greeting_is_a_finding(self):
        def close_after_ehlo(conn, received):
            conn.sendall(b"220 half.example ESMTP\r\n")
            received.append(conn.recv(100))
            conn.sendall(b"250-half.example\r\n")  # and closes mid-reply

        def refuse_ehlo(conn, received):
            conn.sendall(b"220 picky.example ESMTP\r\n")
            received.append(conn.recv(100))
            conn.sendall(b"500 5.5.1 no EHLO\r\n")
            try:
                received.append(conn.recv(100))
            except OSError:
                pass

        for script in (close_after_ehlo, refuse_ehlo):
            with self.subTest(script=script.__name__):
                port, _ = self.one_session_server(script)
                out = self.probe_json(f"127.0.0.1:{port}", expect_rc=1)
                self.assertEqual(self.ids(out), ["dialogue_failed"])
                self.assertIn("EHLO", out["findings"][0]["detail"])

    def test_rcpt_must_be_one_mailbox(self):
        # The argument becomes a command line: anything but one mailbox is refused before connecting.
        def record(conn, received):
            conn.sendall(b"220 rec.example ESMTP\r\n")
            try:
                while (data := conn.recv(4096)):
                    received.append(data)
                    if b"QUIT" in data:
                        conn.sendall(b"221 bye\r\n")
                        break
                    conn.sendall(b"".join(b"250 ok\r\n" for line in data.split(b"\r\n")[:-1]))
            except OSError:
                pass

        port, received = self.one_session_server(record)
        for bad in ("bob@example.org>\r\nDATA\r\nSubject: x\r\n\r\nhi\r\n.\r\nRCPT TO:<x@y", "not-an-address",
                    "a@b> NOTIFY=NEVER", "<>", "@relay.example:bob@example.org"):
            with self.subTest(rcpt=bad):
                r = probe(f"127.0.0.1:{port}", "--rcpt", bad)
                self.assertEqual(r.returncode, 64, r.stdout + r.stderr)
                self.assertIn("--rcpt: not a mailbox address", r.stderr)
        # Angle brackets around a good address are fine; this is the one session the listener serves.
        out = self.probe_json(f"127.0.0.1:{port}", "--rcpt", "<bob@example.org>")
        self.assertEqual(out["hosts"][0]["rcpt"]["recipient"], "bob@example.org")
        sent = b"".join(received)
        self.assertIn(b"RCPT TO:<bob@example.org>\r\n", sent)
        self.assertNotIn(b"DATA", sent)


class ProbeTestbedTest(ProbeCase):
    def test_testbed_greylist_scenario(self):
        tb = Testbed()
        try:
            out = self.probe_json(f"127.0.0.1:{tb.ports['smtp']}", "--rcpt", "greylist+2@probe.test",
                                  "--wait", "3s", expect_rc=1)
        finally:
            tb.cleanup()
        h = out["hosts"][0]
        self.assertIn("PLAIN", h["ehlo_before_tls"]["auth"])  # the testbed offers AUTH in clear on purpose
        self.assertTrue(h["rcpt"]["greylisted"])
        self.assertTrue(h["rcpt"]["retry_passed"], h["rcpt"])
        self.assertIn("greylisting", self.ids(out))
        self.assertIn("auth_before_tls", self.ids(out))


class ProbeInjectionTest(ProbeCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="postern-probe-inj-")
        cls.cert, cls.key = make_cert(cls.tmp)

    def test_vulnerable_server_is_found(self):
        server = InjectableServer(self.cert, self.key, vulnerable=True)
        try:
            out = self.probe_json(f"127.0.0.1:{server.port}", env={"SSL_CERT_FILE": self.cert}, expect_rc=1)
        finally:
            server.stop()
        self.assertIs(out["hosts"][0]["starttls_injection"], True)
        self.assertIn("starttls_injection", self.ids(out))

    def test_fixed_server_is_not(self):
        server = InjectableServer(self.cert, self.key, vulnerable=False)
        try:
            out = self.probe_json(f"127.0.0.1:{server.port}", env={"SSL_CERT_FILE": self.cert})
        finally:
            server.stop()
        self.assertIs(out["hosts"][0]["starttls_injection"], False)
        self.assertNotIn("starttls_injection", self.ids(out))


    def test_no_starttls_and_no_enhanced_status_codes(self):
        server = InjectableServer(self.cert, self.key, vulnerable=False, starttls=False, enhanced=False)
        try:
            out = self.probe_json(f"127.0.0.1:{server.port}", expect_rc=1)
        finally:
            server.stop()
        self.assertEqual(self.ids(out), ["no_enhancedstatuscodes", "no_starttls"])
        self.assertIsNone(out["hosts"][0]["starttls_injection"])

    def test_tls_1_1_is_a_finding(self):
        try:
            server = InjectableServer(self.cert, self.key, vulnerable=False, tls_version=ssl.TLSVersion.TLSv1_1)
        except ssl.SSLError as e:
            self.skipTest(f"this OpenSSL cannot serve TLS 1.1: {e}")
        try:
            out = self.probe_json(f"127.0.0.1:{server.port}", env={"SSL_CERT_FILE": self.cert})
        finally:
            server.stop()
        tls = out["hosts"][0]["tls"]
        if not tls["ok"]:
            self.skipTest(f"this OpenSSL cannot speak TLS 1.1: {tls['error']}")
        self.assertEqual(tls["version"], "TLSv1.1")
        self.assertIn("tls_below_1_2", self.ids(out))


def spki_sha256(cert):
    """The DANE "3 1 1" association data of a PEM certificate."""
    key = subprocess.run(["openssl", "x509", "-in", cert, "-pubkey", "-noout"], check=True,
                         capture_output=True, timeout=10).stdout
    der = subprocess.run(["openssl", "pkey", "-pubin", "-outform", "DER"], input=key, check=True,
                         capture_output=True, timeout=10).stdout
    return hashlib.sha256(der).hexdigest()


class ProbeDomainTest(ProbeCase):
    STALE_HASH = "ab" * 32

    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.mkdtemp(prefix="postern-probe-dns-")
        domains = ["good.test", "weak.test", "broken.test"]
        web = make_long_cert(cls.tmp, "mta-sts", ",".join(f"DNS:mta-sts.{d}" for d in domains))
        mx = make_long_cert(cls.tmp, "mx", ",".join(f"DNS:mx.{d}" for d in domains))
        cls.mx_cert = mx[0]
        cls.trust = os.path.join(cls.tmp, "trusted.pem")
        with open(cls.trust, "w") as out:
            for cert in (web[0], mx[0]):
                with open(cert) as f:
                    out.write(f.read())
        cls.web = PolicyServer(*web, {
            "good.test": "version: STSv1\nmode: enforce\nmx: mx.good.test\nmax_age: 86400\n",
            "weak.test": "version: STSv1\nmode: testing\nmx: mx.weak.test\nmax_age: 86400\n",
        })
        records = []
        for d in domains:
            records += [f"--mx-host={d},mx.{d},10", f"--host-record=mx.{d},127.0.0.1",
                        f"--host-record=mta-sts.{d},127.0.0.1", f"--txt-record=_mta-sts.{d},v=STSv1; id=1"]
        records += ["--txt-record=_smtp._tls.good.test,v=TLSRPTv1; rua=mailto:tls@good.test",
                    "--txt-record=good.test,v=spf1 mx -all", "--txt-record=_dmarc.good.test,v=DMARC1; p=reject",
                    "--txt-record=weak.test,v=spf1 mx ~all", "--txt-record=_dmarc.weak.test,v=DMARC1; p=none",
                    "--dns-rr=_25._tcp.mx.good.test,52,030101" + spki_sha256(mx[0]),
                    "--dns-rr=_25._tcp.mx.weak.test,52,030101" + cls.STALE_HASH]
        cls.dns = Dnsmasq(records).start()
        cls.server = Server(extra={"tls": {"cert": mx[0], "key": mx[1]}}).start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.dns.stop()
        cls.web.stop()

    def probe_domain(self, domain, *args, expect_rc=None):
        env = {"SSL_CERT_FILE": self.trust, "POSTERN_MTA_STS_PORT": str(self.web.port)}
        return self.probe_json(domain, "--port", str(self.server.mx[1]), "--dns", self.dns.server, *args,
                               env=env, expect_rc=expect_rc)

    def test_a_domain_with_everything_in_place(self):
        out = self.probe_domain("good.test", expect_rc=0)
        self.assertEqual(out["findings"], [])
        d = out["domain"]
        self.assertEqual(d["mx"], ["10 mx.good.test"])
        self.assertTrue(d["mta_sts"]["policy_ok"], d["mta_sts"])
        self.assertEqual(d["mta_sts"]["mode"], "enforce")
        self.assertEqual(d["dmarc_policy"], "reject")
        self.assertEqual(d["spf"], ["v=spf1 mx -all"])
        h = out["hosts"][0]
        self.assertEqual(h["host"], "mx.good.test")
        self.assertTrue(h["tls"]["verified"], h["tls"])

    def test_dane_tlsa_records_of_each_mx_host(self):
        out = self.probe_domain("good.test", expect_rc=0)
        served = spki_sha256(self.mx_cert)
        self.assertEqual(out["domain"]["tlsa"], [{"host": "mx.good.test", "dane": "present",
                                                  "records": ["3 1 1 " + served], "dnssec": False}])
        broken = self.probe_domain("broken.test", expect_rc=1)
        self.assertEqual(broken["domain"]["tlsa"], [{"host": "mx.broken.test", "dane": "none", "records": [],
                                                     "dnssec": False}])
        r = probe("good.test", "--port", str(self.server.mx[1]), "--dns", self.dns.server,
                  env={"SSL_CERT_FILE": self.trust, "POSTERN_MTA_STS_PORT": str(self.web.port)})
        self.assertIn("TLSA _25._tcp.mx.good.test: 3 1 1 " + served + "; DNSSEC: no AD", r.stdout)

    def test_dane_record_not_matching_the_served_key(self):
        out = self.probe_domain("weak.test", expect_rc=1)
        dane = [f for f in out["findings"] if f["id"] == "dane_mismatch"]
        self.assertEqual(len(dane), 1, out["findings"])
        self.assertEqual(dane[0]["host"], "mx.weak.test")
        self.assertEqual(dane[0]["severity"], "critical")
        r = probe("weak.test", "--port", str(self.server.mx[1]), "--dns", self.dns.server, "--lang", "tr",
                  env={"SSL_CERT_FILE": self.trust, "POSTERN_MTA_STS_PORT": str(self.web.port)})
        self.assertIn("DANE TLSA kayıtları sertifikayla eşleşmiyor", r.stdout)

    def test_testing_policy_no_tlsrpt_and_dmarc_none(self):
        out = self.probe_domain("weak.test", expect_rc=1)
        self.assertEqual(self.ids(out), ["dane_mismatch", "dmarc_none", "mta_sts_testing", "no_tlsrpt"])
        self.assertTrue(all(f["host"] == "" for f in out["findings"] if f["id"] != "dane_mismatch"))

    def test_record_without_policy_and_no_spf_or_dmarc(self):
        out = self.probe_domain("broken.test", expect_rc=1)
        self.assertEqual(self.ids(out), ["dmarc_missing", "mta_sts_policy_invalid", "no_tlsrpt", "spf_missing"])
        r = probe("broken.test", "--port", str(self.server.mx[1]), "--dns", self.dns.server, "--lang", "tr",
                  env={"SSL_CERT_FILE": self.trust, "POSTERN_MTA_STS_PORT": str(self.web.port)})
        self.assertIn("SPF kaydı yok", r.stdout)
        self.assertIn("Geçerli politikası olmayan MTA-STS kaydı", r.stdout)

    def test_unknown_domain_is_permanent(self):
        r = probe("nothing-here.test", "--dns", self.dns.server)
        self.assertEqual(r.returncode, 69, r.stdout)


if __name__ == "__main__":
    unittest.main()
