"""`postern send` authenticating to `postern serve` (submission listener,
STARTTLS): the default is SCRAM-SHA-256-PLUS bound with tls-exporter on
TLS 1.3; SCRAM-SHA-256, PLAIN and LOGIN by --mech; a wrong password is 77."""
import os
import unittest

import harness
from send_support import send


class AuthAgainstPostern(harness.ServerTest):
    def setUp(self):
        super().setUp()
        for user in ("alice@example.org", "bob@example.org"):
            r = self.server.cli("user", "add", user, "--password-stdin", input="pw-" + user + "\n")
            self.assertEqual(r.returncode, 0, r.stderr)

    def send(self, *extra, password="pw-alice@example.org"):
        host, port = self.server.submission
        return send("--server", f"{host}:{port}", "--insecure", "--user", "alice@example.org", "--password-stdin",
                    "--from", "alice@example.org", "--to", "bob@example.org", "-v", *extra, input=password + "\n")

    def test_default_is_scram_plus(self):
        r = self.send()
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("authenticated with SCRAM-SHA-256-PLUS", r.stderr)
        self.assertIn("p=<redacted>", r.stderr)
        self.assertNotIn("pw-alice", r.stderr)
        self.assertEqual(len(self.server.delivered("bob@example.org")), 1)

    def test_each_mechanism(self):
        for mech in ("SCRAM-SHA-256", "PLAIN", "LOGIN"):
            with self.subTest(mech=mech):
                r = self.send("--mech", mech)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertIn("authenticated with " + mech, r.stderr)

    def test_the_generated_certificate_verifies_for_loopback(self):
        # docs/client.md: --ca data_dir/tls/cert.pem instead of --insecure, against 127.0.0.1.
        host, port = self.server.submission
        cert = os.path.join(self.server.data_dir, "tls", "cert.pem")
        r = send("--server", f"{host}:{port}", "--ca", cert, "--user", "alice@example.org", "--password-stdin",
                 "--from", "alice@example.org", "--to", "bob@example.org", "-v", input="pw-alice@example.org\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("certificate verified for 127.0.0.1", r.stderr)

    def test_wrong_password_is_77(self):
        r = self.send("--mech", "SCRAM-SHA-256", password="wrong")
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn("535 5.7.8", r.stderr)


if __name__ == "__main__":
    unittest.main()
