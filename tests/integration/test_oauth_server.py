"""OAuth 2.0 SASL on the server side (SPEC §14, §10): OAUTHBEARER (RFC
7628) and XOAUTH2 against `postern serve` with a local RFC 7662 token
introspection endpoint (Python's http.server over TLS with a certificate
the test makes with openssl, HTTP Basic client authentication), driven by
smtplib (a custom authobject; the JSON error 334 answered by hand with
docmd) and raw sockets; and against the testbed's token rules."""
import base64
import http.server
import json
import os
import shutil
import smtplib
import socket
import ssl
import tempfile
import threading
import time
import unittest
import urllib.parse

from harness import Server, free_port, wait_for
from send_support import make_cert
from support.auth import AuthSMTP
from support.tls import tls_context
from test_testbed import Testbed

USER = "alice@example.org"
SECRET = "client-s3cret-value"
SCOPE = "mail"


def b64(s):
    return base64.b64encode(s.encode() if isinstance(s, str) else s).decode()


def oauthbearer(user, token):
    return f"n,a={user},\x01host=127.0.0.1\x01port=587\x01auth=Bearer {token}\x01\x01"


def xoauth2(user, token):
    return f"user={user}\x01auth=Bearer {token}\x01\x01"


MESSAGES = {"OAUTHBEARER": oauthbearer, "XOAUTH2": xoauth2}


class Introspection:
    """An RFC 7662 endpoint: tokens "good-USER..." are active for USER,
    "sub-USER..." name USER only in "sub", "inactive..." are not active,
    "nonsense..." get a non-JSON answer, "hang..." get no answer."""

    def __init__(self, cert, key):
        self.requests = []  # (token, Authorization header)
        self.release = threading.Event()
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0))).decode()
                token = urllib.parse.parse_qs(body).get("token", [""])[0]
                outer.requests.append((token, self.headers.get("Authorization", "")))
                if token.startswith("hang"):
                    outer.release.wait(30)
                    return
                if token.startswith("nonsense"):
                    answer = b"<html>surprise</html>"
                elif token.startswith("nobody"):
                    answer = json.dumps({"active": True, "exp": int(time.time()) + 3600, "scope": SCOPE}).encode()
                elif token.startswith("good-") or token.startswith("sub-"):
                    kind, user = token.split("-", 1)
                    user = user.split("+")[0]
                    claims = {"active": True, "exp": int(time.time()) + 3600, "scope": SCOPE}
                    claims["username" if kind == "good" else "sub"] = user
                    answer = json.dumps(claims).encode()
                else:
                    answer = b'{"active": false}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.httpd.socket = ctx.wrap_socket(self.httpd.socket, server_side=True)
        self.url = f"https://127.0.0.1:{self.httpd.server_address[1]}/introspect"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    def count(self, token):
        return sum(1 for t, _ in self.requests if t == token)

    def stop(self):
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


def oauth_config(url, ca, secret_file):
    return {"auth": {"oauth_introspection_url": url, "oauth_client_id": "postern-mx",
                     "oauth_client_secret_file": secret_file, "oauth_introspection_ca": ca,
                     "oauth_scope": SCOPE, "lockout_failures": 1000, "max_failures_per_session": 100}}


class OAuthServe(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        # Class cleanups run even when setUpClass fails part-way.
        cls.tmp = tempfile.mkdtemp(prefix="postern-oauth-")
        cls.addClassCleanup(shutil.rmtree, cls.tmp, True)
        cls.cert, key = make_cert(cls.tmp, "introspect", "IP:127.0.0.1,DNS:localhost")
        cls.endpoint = Introspection(cls.cert, key)
        cls.addClassCleanup(cls.endpoint.stop)
        cls.secret_file = os.path.join(cls.tmp, "client.secret")
        with open(cls.secret_file, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(cls.secret_file, 0o600)
        cls.server = Server(extra=oauth_config(cls.endpoint.url, cls.cert, cls.secret_file))
        cls.addClassCleanup(cls.server.cleanup)
        cls.server.start()

    def smtp(self, server=None):
        s = smtplib.SMTP(*(server or self.server).submission, timeout=30)
        self.addCleanup(s.close)
        s.ehlo("client.example.net")
        s.starttls(context=tls_context())
        s.ehlo("client.example.net")
        return s

    def auth(self, s, mech, user, token):
        """smtplib's AUTH with a custom authobject; the JSON error is answered as each mechanism wants."""
        seen = []

        def authobject(challenge=None):
            if challenge is None:
                return MESSAGES[mech](user, token)
            seen.append(json.loads(challenge))
            return "\x01" if mech == "OAUTHBEARER" else ""
        try:
            code, text = s.auth(mech, authobject)
        except smtplib.SMTPAuthenticationError as e:
            code, text = e.smtp_code, e.smtp_error
        return code, text.decode(), seen

    def test_mechanisms_are_offered_only_after_starttls(self):
        c = AuthSMTP(*self.server.submission)
        self.addCleanup(c.close)
        c.ehlo()
        self.assertIsNone(c.mechanisms())
        code, lines = c.cmd("AUTH XOAUTH2 " + b64(xoauth2(USER, "good-" + USER)))
        self.assertEqual(code, 538, lines)
        c.starttls()
        self.assertIn("OAUTHBEARER", c.mechanisms())
        self.assertIn("XOAUTH2", c.mechanisms())

    def test_a_good_token_authenticates_and_mail_goes_out_as_that_user(self):
        for mech in MESSAGES:
            with self.subTest(mech=mech):
                s = self.smtp()
                code, text, seen = self.auth(s, mech, USER, f"good-{USER}+{mech}")
                self.assertEqual((code, seen), (235, []), text)
                self.assertEqual(s.sendmail(USER, ["friend@example.com"], b"Subject: hi\r\n\r\nhello\r\n"), {})
                s.quit()
        token, authorization = self.endpoint.requests[-1]
        self.assertEqual(authorization, "Basic " + b64("postern-mx:" + SECRET))
        self.assertIn(f"user={USER}", self.server.log_text())

    def test_the_token_may_name_its_user_in_sub(self):
        s = self.smtp()
        self.assertEqual(self.auth(s, "XOAUTH2", USER, "sub-" + USER)[0], 235)

    def test_a_token_of_another_user_is_535(self):
        for mech in MESSAGES:
            with self.subTest(mech=mech):
                s = self.smtp()
                code, text, seen = self.auth(s, mech, USER, "good-mallory@example.org")
                self.assertEqual((code, seen), (535, []), text)
                self.assertTrue(text.startswith("5.7.8"), text)

    def test_a_valid_token_that_names_nobody_is_535(self):
        # RFC 7662 makes "username" and "sub" optional: such a token authenticates nobody, whatever a= says.
        for mech in MESSAGES:
            with self.subTest(mech=mech):
                s = self.smtp()
                code, text, seen = self.auth(s, mech, USER, "nobody-" + mech)
                self.assertEqual((code, seen), (535, []), text)
                self.assertTrue(text.startswith("5.7.8"), text)
        self.assertIn("reason=no-user", self.server.log_text())

    def test_an_inactive_token_gets_the_json_error_then_535(self):
        want = {"OAUTHBEARER": {"status": "invalid_token", "schemes": "bearer", "scope": SCOPE},
                "XOAUTH2": {"status": "401", "schemes": "bearer", "scope": SCOPE}}
        answer = {"OAUTHBEARER": b64("\x01"), "XOAUTH2": ""}
        for mech in MESSAGES:
            with self.subTest(mech=mech):
                s = self.smtp()
                # By hand: the 334 and its JSON, then the answer each mechanism requires.
                code, text = s.docmd("AUTH", f"{mech} {b64(MESSAGES[mech](USER, 'inactive-' + mech))}")
                self.assertEqual(code, 334, text)
                self.assertEqual(json.loads(base64.b64decode(text)), want[mech])
                code, text = s.docmd(answer[mech])
                self.assertEqual(code, 535, text)
                self.assertTrue(text.startswith(b"5.7.8 "), text)
                # smtplib's own loop gets the same and the session goes on.
                code, text, seen = self.auth(s, mech, USER, "inactive-again-" + mech)
                self.assertEqual((code, seen), (535, [want[mech]]))
                self.assertEqual(s.noop()[0], 250)

    def test_a_token_without_an_initial_response(self):
        s = self.smtp()
        code, text = s.docmd("AUTH", "OAUTHBEARER")
        self.assertEqual((code, text), (334, b""))
        code, text = s.docmd(b64(oauthbearer(USER, "good-" + USER)))
        self.assertEqual(code, 235, text)

    def test_malformed_messages_fail_cleanly(self):
        for message in ["n,a=x,no separators", "user=\x01auth=Bearer t\x01\x01", "p=tls-unique,,\x01auth=Bearer t\x01\x01",
                        f"user={USER}\x01auth=Basic abc\x01\x01", "\x01" * 5, ""]:
            s = self.smtp()  # a fresh session: failures count towards max_errors
            for mech in MESSAGES:
                code, text = s.docmd("AUTH", f"{mech} {b64(message) or '='}")
                self.assertEqual(code, 535, (mech, message, text))
            self.assertEqual(s.noop()[0], 250)

    def test_an_endpoint_answering_nonsense_is_454(self):
        s = self.smtp()
        code, text, _ = self.auth(s, "XOAUTH2", USER, "nonsense-1")
        self.assertEqual(code, 454, text)
        self.assertTrue(text.startswith("4.7.0"), text)

    def test_a_hanging_endpoint_is_454_within_the_deadline(self):
        s = self.smtp()
        started = time.monotonic()
        code, text, _ = self.auth(s, "OAUTHBEARER", USER, "hang-1")
        elapsed = time.monotonic() - started
        self.assertEqual(code, 454, text)
        self.assertLess(elapsed, 8)
        # The server's other sessions went on meanwhile (the I/O thread never waited).
        self.assertEqual(s.noop()[0], 250)

    def test_other_sessions_are_served_while_a_token_is_checked(self):
        s = self.smtp()
        s.putcmd("AUTH", "XOAUTH2 " + b64(xoauth2(USER, "hang-2")))
        started = time.monotonic()
        for _ in range(4):  # sessions are spread over the I/O threads: some share the waiting one's
            other = self.smtp()
            self.assertEqual(other.noop()[0], 250)
        self.assertLess(time.monotonic() - started, 3)
        self.assertEqual(s.getreply()[0], 454)

    def test_an_active_answer_is_cached_for_the_tokens_lifetime(self):
        token = f"good-{USER}+cached"
        for _ in range(3):
            s = self.smtp()
            self.assertEqual(self.auth(s, "XOAUTH2", USER, token)[0], 235)
            s.quit()
        self.assertEqual(self.endpoint.count(token), 1)
        # An inactive token is asked about each time.
        for _ in range(2):
            self.assertEqual(self.auth(self.smtp(), "XOAUTH2", USER, "inactive-uncached")[0], 535)
        self.assertEqual(self.endpoint.count("inactive-uncached"), 2)

    def test_neither_token_nor_client_secret_reaches_the_log(self):
        tokens = [f"good-{USER}+logcheck", "inactive-logcheck", "nonsense-logcheck"]
        for token in tokens:
            self.auth(self.smtp(), "OAUTHBEARER", USER, token)
        log = self.server.log_text()
        self.assertIn("auth_failed", log)
        self.assertIn("introspection", log)
        for secret in [*tokens, *(b64(oauthbearer(USER, t)) for t in tokens), SECRET, b64("postern-mx:" + SECRET)]:
            self.assertNotIn(secret, log)

    def test_failures_count_towards_the_session_limit_and_the_lockout(self):
        config = oauth_config(self.endpoint.url, self.cert, self.secret_file)
        config["auth"].update(max_failures_per_session=2, lockout_failures=3)
        server = Server(extra=config).start()
        self.addCleanup(server.cleanup)
        s = self.smtp(server)
        self.assertEqual(self.auth(s, "XOAUTH2", USER, "inactive-1")[0], 535)
        code, text, _ = self.auth(s, "XOAUTH2", USER, "inactive-2")
        self.assertEqual(code, 421, text)
        s = self.smtp(server)
        self.assertEqual(self.auth(s, "OAUTHBEARER", USER, "good-mallory@example.org")[0], 535)
        # The third failure from this IP locks AUTH out, a good token included.
        code, text, _ = self.auth(s, "OAUTHBEARER", USER, f"good-{USER}")
        self.assertEqual(code, 454, text)

    def test_a_cancel_after_the_error_counts_as_that_failure(self):
        # The 334 with the JSON error is already the verdict (RFC 7628 §3.2.3):
        # "*" instead of the dummy response gets RFC 4954's 501 and still counts.
        config = oauth_config(self.endpoint.url, self.cert, self.secret_file)
        config["auth"].update(max_failures_per_session=2, lockout_failures=3)
        server = Server(extra=config).start()
        self.addCleanup(server.cleanup)
        s = self.smtp(server)
        code, text = s.docmd("AUTH", f"XOAUTH2 {b64(xoauth2(USER, 'inactive-c1'))}")
        self.assertEqual(code, 334, text)
        code, text = s.docmd("*")
        self.assertEqual((code, text[:6]), (501, b"5.7.0 "), text)
        code, text = s.docmd("AUTH", f"OAUTHBEARER {b64(oauthbearer(USER, 'inactive-c2'))}")
        self.assertEqual(code, 334, text)
        code, text = s.docmd("*")
        self.assertEqual(code, 421, text)  # the session's second failure
        self.assertEqual(server.log_text().count("event=auth_failed "), 2)
        # A cancel before any verdict is no failure: the third failure locks out.
        s = self.smtp(server)
        self.assertEqual(s.docmd("AUTH", "OAUTHBEARER")[0], 334)
        self.assertEqual(s.docmd("*")[0], 501)
        self.assertEqual(self.auth(s, "OAUTHBEARER", USER, f"good-{USER}")[0], 235)
        s = self.smtp(server)
        self.assertEqual(self.auth(s, "XOAUTH2", USER, "inactive-c3")[0], 535)
        self.assertEqual(self.auth(s, "OAUTHBEARER", USER, f"good-{USER}")[0], 454)


class OAuthServeEndpointTrouble(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.mkdtemp(prefix="postern-oauth-")
        self.addCleanup(shutil.rmtree, self.tmp, True)
        self.cert, _ = make_cert(self.tmp, "introspect", "IP:127.0.0.1")
        self.secret_file = os.path.join(self.tmp, "client.secret")
        with open(self.secret_file, "w") as f:
            f.write(SECRET + "\n")
        os.chmod(self.secret_file, 0o600)

    def auth_reply(self, url):
        server = Server(extra=oauth_config(url, self.cert, self.secret_file)).start()
        self.addCleanup(server.cleanup)
        s = smtplib.SMTP(*server.submission, timeout=30)
        self.addCleanup(s.close)
        s.starttls(context=tls_context())
        s.ehlo("client.example.net")
        code, text = s.docmd("AUTH", "XOAUTH2 " + b64(xoauth2(USER, "good-" + USER)))
        return server, code, text.decode()

    def test_an_endpoint_that_is_down_is_454(self):
        server, code, text = self.auth_reply(f"https://127.0.0.1:{free_port()}/introspect")
        self.assertEqual(code, 454, text)
        self.assertTrue(text.startswith("4.7.0"), text)
        self.assertIn("introspection-unavailable", server.log_text())

    def test_a_world_readable_client_secret_is_refused(self):
        os.chmod(self.secret_file, 0o644)
        server, code, text = self.auth_reply(f"https://127.0.0.1:{free_port()}/introspect")
        self.assertEqual(code, 454, text)
        self.assertIn("chmod 600", server.log_text())
        self.assertNotIn(SECRET, server.log_text())


class OAuthTestbed(unittest.TestCase):
    def setUp(self):
        self.tb = Testbed()
        self.addCleanup(self.tb.cleanup)

    def auth(self, mech, token, user="dev@example.com"):
        s = self.tb.smtp()  # no TLS: the testbed offers every mechanism in clear
        self.addCleanup(s.close)
        code, text = s.docmd("AUTH", f"{mech} {b64(MESSAGES[mech](user, token))}")
        exchange = None
        if code == 334:
            exchange = json.loads(base64.b64decode(text))
            code, text = s.docmd(b64("\x01") if mech == "OAUTHBEARER" else "")
        return code, text.decode(), exchange

    def test_offered_without_tls(self):
        s = self.tb.smtp()
        self.addCleanup(s.close)
        mechs = s.esmtp_features["auth"].split()
        self.assertIn("OAUTHBEARER", mechs)
        self.assertIn("XOAUTH2", mechs)

    def test_any_token_passes_invalid_gets_the_exchange_expired_454(self):
        for mech in MESSAGES:
            with self.subTest(mech=mech):
                self.assertEqual(self.auth(mech, "ya29.anything")[:1], (235,))
                code, text, exchange = self.auth(mech, "invalid-token-1")
                self.assertEqual((code, text[:6]), (535, "5.7.8 "))
                self.assertEqual(exchange["schemes"], "bearer")
                self.assertEqual(exchange["status"], "invalid_token" if mech == "OAUTHBEARER" else "401")
                code, text, exchange = self.auth(mech, "expired-token-1")
                self.assertEqual((code, text[:6], exchange), (454, "4.7.0 ", None))

    def test_failed_logins_never_lock_the_address_out(self):
        # Deterministic: a dozen invalid tokens (a real server's lockout is 10) leave AUTH as it was.
        for i in range(12):
            self.assertEqual(self.auth("XOAUTH2", f"invalid-{i}")[0], 535)
        self.assertEqual(self.auth("XOAUTH2", "ya29.good")[0], 235)
        s = self.tb.smtp()
        self.addCleanup(s.close)
        self.assertEqual(s.login("dev@example.com", "any")[0], 235)
        self.assertNotIn("event=auth_lockout", self.tb.log())

    def test_configured_users_restrict_tokens_too(self):
        tb = Testbed(config='[testbed]\nusers = { "app@example.com" = "app-password" }\n')
        self.addCleanup(tb.cleanup)
        self.tb = tb
        for mech in MESSAGES:
            with self.subTest(mech=mech):
                self.assertEqual(self.auth(mech, "ya29.any", user="App@Example.com")[0], 235)
                code, text, _ = self.auth(mech, "ya29.any", user="stranger@example.com")
                self.assertEqual((code, text[:6]), (535, "5.7.8 "))

    def test_transcript_shows_the_json_and_redacts_the_token(self):
        self.auth("XOAUTH2", "invalid-S3CRET-TOKEN")
        self.auth("OAUTHBEARER", "ya29.S3CRET-TOKEN")
        sessions = self.tb.get("/api/sessions")[1]
        transcripts = [self.tb.get("/api/sessions/" + s["id"])[1]["transcript"] for s in sessions]
        text = json.dumps(transcripts)
        self.assertNotIn("S3CRET", text)
        self.assertNotIn(b64(xoauth2("dev@example.com", "invalid-S3CRET-TOKEN")), text)
        lines = [l for t in transcripts for l in t]
        json_334 = [l for l in lines if l["line"].startswith("334 ")]
        self.assertEqual(json.loads(json_334[0]["decoded"])["status"], "401")
        auth_lines = [l for l in lines if l["line"].startswith("AUTH ")]
        self.assertEqual({l["line"] for l in auth_lines}, {"AUTH XOAUTH2 <redacted>", "AUTH OAUTHBEARER <redacted>"})
        self.assertIn("auth=Bearer <redacted>", " ".join(l["decoded"] for l in auth_lines))


if __name__ == "__main__":
    unittest.main()
