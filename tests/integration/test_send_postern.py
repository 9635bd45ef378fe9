"""`postern send` against `postern serve`: delivery through the mx listener
over STARTTLS lands in the Maildir, an unknown user gives 550 and exit 69.
(AUTH against Postern comes with the server's AUTH.)"""
import unittest

import harness
from send_support import send


class AgainstPostern(harness.ServerTest):
    def setUp(self):
        super().setUp()
        r = self.server.cli("user", "add", "bob@example.org", "--password-stdin", input="pw-of-bob\n")
        self.assertEqual(r.returncode, 0, r.stderr)

    def test_delivered_to_maildir(self):
        host, port = self.server.mx
        r = send("--server", f"{host}:{port}", "--insecure", "--tls", "starttls", "--from", "alice@example.net",
                 "--to", "bob@example.org", "--subject", "via postern", "--body", "-", "-v",
                 input="hello from postern send\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("TLS established", r.stderr)
        msgs = self.server.delivered("bob@example.org")
        self.assertEqual(len(msgs), 1)
        self.assertIn(b"Subject: via postern\r\n", msgs[0])
        self.assertIn(b"hello from postern send", msgs[0])

    def test_unknown_user_is_69(self):
        host, port = self.server.mx
        r = send("--server", f"{host}:{port}", "--insecure", "--from", "alice@example.net",
                 "--to", "nobody@example.org")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("550 5.1.1", r.stderr)


if __name__ == "__main__":
    unittest.main()
