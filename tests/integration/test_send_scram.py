"""`postern send` with SCRAM against an independent server: aiosmtpd with a
SCRAM-SHA-256 / -PLUS mechanism written in the test from RFC 5802/7677
(hashlib, no GNU SASL). The client picks SCRAM over PLAIN, binds to the TLS
channel (tls-unique on TLS 1.2) when -PLUS is offered, keeps the proof out
of the transcript, and refuses a server whose signature is wrong or absent
(exit 77) before sending any mail."""
import unittest

from send_support import AioServer, Authenticator, ScramHandler, make_cert, send, tempdir

USER, PASSWORD = "alice@example.net", "correct horse battery"


class Scram(unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self)
        self.cert = make_cert(self.dir)

    def server(self, mode="ok", tls12=False):
        handler = ScramHandler(USER, PASSWORD, mode)
        s = AioServer(tls="starttls", cert=self.cert, handler=handler, tls12=tls12,
                      authenticator=Authenticator(USER, PASSWORD)).start()
        self.addCleanup(s.stop)
        return s

    def send(self, s, *extra, password=PASSWORD):
        return send("--server", s.address, "--ca", self.cert[0], "--user", USER, "--password-stdin",
                    "--from", USER, "--to", "bob@example.org", "-v", *extra, input=password + "\n")

    def test_scram_sha_256(self):
        s = self.server()
        r = self.send(s, "--mech", "SCRAM-SHA-256")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(s.handler.scram_seen, [("SCRAM-SHA-256", "n,,", True)])
        self.assertEqual(len(s.handler.messages), 1)
        # The transcript: client-first shown, server-first and v= decoded, proof redacted.
        self.assertRegex(r.stderr, r"(?m)^-> AUTH SCRAM-SHA-256 \S+ +\[n,,n=alice@example.net,r=")
        self.assertRegex(r.stderr, r"(?m)^<- 334 \S+ +\[decoded: r=.*,s=.*,i=4096\]")
        self.assertRegex(r.stderr, r"(?m)^-> <redacted> +\[c=biws,r=.*,p=<redacted>\]")
        self.assertRegex(r.stderr, r"(?m)^<- 334 \S+ +\[decoded: v=")
        self.assertNotIn(PASSWORD, r.stderr)

    def test_strongest_is_plus_over_tls12(self):
        s = self.server(tls12=True)
        r = self.send(s)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(s.handler.scram_seen, [("SCRAM-SHA-256-PLUS", "p=tls-unique,,", True)])
        self.assertIn("authenticated with SCRAM-SHA-256-PLUS", r.stderr)

    def test_wrong_password_is_77(self):
        s = self.server()
        r = self.send(s, "--mech", "SCRAM-SHA-256", password="wrong")
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn("535", r.stderr)
        self.assertEqual(s.handler.messages, [])

    def test_wrong_server_signature_is_77(self):
        s = self.server(mode="bad_signature")
        r = self.send(s, "--mech", "SCRAM-SHA-256")
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn("signature", r.stderr.lower())
        self.assertNotIn("-> MAIL", r.stderr)
        self.assertEqual(s.handler.messages, [])

    def test_missing_server_signature_is_77(self):
        s = self.server(mode="no_signature")
        r = self.send(s, "--mech", "SCRAM-SHA-256")
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertNotIn("-> MAIL", r.stderr)
        self.assertEqual(s.handler.messages, [])


if __name__ == "__main__":
    unittest.main()
