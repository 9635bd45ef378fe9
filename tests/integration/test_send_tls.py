"""`postern send` against aiosmtpd over TLS: STARTTLS with certificate
checks (self-signed refused, --insecure, --ca, wrong host name), implicit
TLS, AUTH PLAIN and LOGIN with an authenticator, redacted transcripts, and
no credentials in clear text unless --tls none."""
import base64
import unittest

from send_support import AioServer, Authenticator, make_cert, send, tempdir


class Base(unittest.TestCase):
    def server(self, **kw):
        s = AioServer(**kw).start()
        self.addCleanup(s.stop)
        return s


class Tls(Base):
    def setUp(self):
        self.dir = tempdir(self)
        self.cert = make_cert(self.dir)

    def test_self_signed_is_refused_by_default(self):
        s = self.server(tls="starttls", cert=self.cert)
        r = send("--server", s.address, "--from", "alice@example.net", "--to", "bob@example.org")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("certificate", r.stderr)
        self.assertEqual(s.handler.messages, [])

    def test_insecure_accepts_it(self):
        s = self.server(tls="starttls", cert=self.cert)
        r = send("--server", s.address, "--insecure", "--from", "alice@example.net", "--to", "bob@example.org", "-v")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("-> STARTTLS", r.stderr)
        self.assertIn("TLS established", r.stderr)
        self.assertEqual(len(s.handler.messages), 1)

    def test_ca_file_verifies_it(self):
        s = self.server(tls="starttls", cert=self.cert)
        r = send("--server", s.address, "--ca", self.cert[0], "--tls", "starttls", "--from", "alice@example.net",
                 "--to", "bob@example.org", "-v")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("certificate verified for 127.0.0.1", r.stderr)
        self.assertEqual(len(s.handler.messages), 1)

    def test_ca_file_with_wrong_host_name(self):
        other = make_cert(self.dir, name="other.example", sans="DNS:other.example")
        s = self.server(tls="starttls", cert=other)
        r = send("--server", s.address, "--ca", other[0], "--from", "alice@example.net", "--to", "bob@example.org")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("certificate", r.stderr)

    def test_starttls_required_but_absent(self):
        s = self.server()
        r = send("--server", s.address, "--tls", "starttls", "--from", "alice@example.net", "--to", "bob@example.org")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("STARTTLS", r.stderr)

    def test_implicit_tls(self):
        s = self.server(tls="implicit", cert=self.cert)
        r = send("--server", s.address, "--tls", "implicit", "--ca", self.cert[0], "--from", "alice@example.net",
                 "--to", "bob@example.org")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(s.handler.messages), 1)


class Auth(Base):
    def setUp(self):
        self.dir = tempdir(self)
        self.cert = make_cert(self.dir)
        self.auth = Authenticator("alice@example.net", "s3cret-pw")

    def send_auth(self, s, *extra, password="s3cret-pw"):
        return send("--server", s.address, "--ca", self.cert[0], "--user", "alice@example.net", "--password-stdin",
                    "--from", "alice@example.net", "--to", "bob@example.org", "-v", *extra, input=password + "\n")

    def test_default_mechanism_is_plain(self):
        s = self.server(tls="starttls", cert=self.cert, authenticator=self.auth)
        r = self.send_auth(s)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.auth.seen, [("PLAIN", "alice@example.net")])
        self.assertIn("-> AUTH PLAIN <redacted>", r.stderr)
        self.assertNotIn("s3cret-pw", r.stderr + r.stdout)
        self.assertEqual(len(s.handler.messages), 1)

    def test_login_shows_decoded_challenges(self):
        s = self.server(tls="starttls", cert=self.cert, authenticator=self.auth)
        r = self.send_auth(s, "--mech", "LOGIN")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.auth.seen, [("LOGIN", "alice@example.net")])
        # aiosmtpd asks "User Name\0" and "Password\0"; the transcript shows them decoded.
        self.assertRegex(r.stderr, r"(?m)^<- 334 VXNlciBOYW1lAA== .*decoded: User Name")
        self.assertRegex(r.stderr, r"(?m)^<- 334 UGFzc3dvcmQA .*decoded: Password")
        self.assertRegex(r.stderr, r"(?m)^-> <redacted>")
        self.assertNotIn("s3cret-pw", r.stderr + r.stdout)
        self.assertNotIn(base64.b64encode(b"s3cret-pw").decode(), r.stderr)

    def test_wrong_password_is_77(self):
        s = self.server(tls="starttls", cert=self.cert, authenticator=self.auth)
        r = self.send_auth(s, password="wrong")
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn("535", r.stderr)
        self.assertEqual(s.handler.messages, [])

    def test_password_from_environment(self):
        s = self.server(tls="starttls", cert=self.cert, authenticator=self.auth)
        r = send("--server", s.address, "--ca", self.cert[0], "--user", "alice@example.net", "--from",
                 "alice@example.net", "--to", "bob@example.org", env={"POSTERN_PASSWORD": "s3cret-pw"})
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_no_credentials_in_clear_text(self):
        s = self.server(authenticator=self.auth, auth_require_tls=False)
        r = send("--server", s.address, "--user", "alice@example.net", "--password-stdin", "--from",
                 "alice@example.net", "--to", "bob@example.org", "-v", input="s3cret-pw\n")
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn("without TLS", r.stderr)
        self.assertNotIn("-> AUTH", r.stderr)
        self.assertEqual(self.auth.seen, [])

    def test_clear_text_when_asked(self):
        s = self.server(authenticator=self.auth, auth_require_tls=False)
        r = send("--server", s.address, "--tls", "none", "--user", "alice@example.net", "--password-stdin",
                 "--from", "alice@example.net", "--to", "bob@example.org", input="s3cret-pw\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.auth.seen, [("PLAIN", "alice@example.net")])

    def test_mechanism_not_offered(self):
        s = self.server(tls="starttls", cert=self.cert, authenticator=self.auth)
        r = self.send_auth(s, "--mech", "SCRAM-SHA-256")
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn("does not offer SCRAM-SHA-256", r.stderr)


if __name__ == "__main__":
    unittest.main()
