"""`postern send`: every malformed argument gets 64 (usage) or 65 (bad
message file) with a clear message and nothing is sent."""
import os
import unittest

from send_support import AioServer, send, tempdir


class Arguments(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.srv = AioServer().start()

    @classmethod
    def tearDownClass(cls):
        cls.srv.stop()

    def setUp(self):
        self.dir = tempdir(self)
        self.before = len(self.srv.handler.messages)
        self.attempts = self.srv.handler.attempts

    def base(self, *drop):
        args = {"--server": self.srv.address, "--tls": "none", "--from": "alice@example.net",
                "--to": "bob@example.org"}
        out = []
        for k, v in args.items():
            if k not in drop:
                out += [k, v]
        return out

    def check(self, r, code, phrase):
        self.assertEqual(r.returncode, code, f"stdout={r.stdout!r} stderr={r.stderr!r}")
        self.assertIn(phrase.lower(), r.stderr.lower())
        self.assertEqual(len(self.srv.handler.messages), self.before)
        self.assertEqual(self.srv.handler.attempts, self.attempts, "nothing may reach the server")

    def test_missing_from(self):
        self.check(send(*self.base("--from")), 64, "--from")

    def test_missing_to(self):
        self.check(send(*self.base("--to")), 64, "--to")

    def test_missing_server(self):
        self.check(send(*self.base("--server")), 64, "--server")

    def test_bad_addresses(self):
        for bad in ["alice", "alice@", "@example.org", "a b@example.org", "a..b@example.org",
                    "a@example.org\r\nRCPT TO:<x@y>"]:
            with self.subTest(address=bad):
                self.check(send(*self.base("--to"), "--to", bad), 64, "bad --to address")
        self.check(send(*self.base("--from"), "--from", "a@exa mple.org"), 64, "bad --from address")
        self.check(send(*self.base(), "--to", "second-bad"), 64, "bad --to address")

    def test_bad_server(self):
        for bad in ["", "host:port", "host:70000", "::1:25", "[::1"]:
            with self.subTest(server=bad):
                self.check(send(*self.base("--server"), "--server", bad), 64, "--server")

    def test_bad_tls_mode(self):
        self.check(send(*self.base("--tls"), "--tls", "sometimes"), 64, "--tls")

    def test_bad_duration(self):
        for bad in ["soon", "5x", "-5s", "", "m5"]:
            with self.subTest(duration=bad):
                self.check(send(*self.base(), "--retry-for", bad), 64, "--retry-for")

    def test_unreadable_body_file(self):
        self.check(send(*self.base(), "--body", os.path.join(self.dir, "missing.txt")), 65, "cannot read")

    def test_unreadable_message_file(self):
        self.check(send(*self.base(), "--message", self.dir + "/nope.eml"), 65, "cannot read")

    def test_directory_as_message(self):
        self.check(send(*self.base(), "--message", self.dir), 65, "cannot read")

    def test_bad_message_files(self):
        cases = {
            "no headers": (b"just a line of text\n", "not a header field"),
            "empty": (b"", "empty"),
            "blank first line": (b"\nbody\n", "no header section"),
            "nul byte": (b"From: a@b\n\nnul\x00here\n", "NUL"),
            "long line": (b"From: a@b\n\n" + b"x" * 1200 + b"\n", "998"),
        }
        for name, (content, phrase) in cases.items():
            with self.subTest(case=name):
                path = os.path.join(self.dir, "bad.eml")
                with open(path, "wb") as f:
                    f.write(content)
                self.check(send(*self.base(), "--message", path), 65, phrase)

    def test_bad_body(self):
        path = os.path.join(self.dir, "body")
        with open(path, "wb") as f:
            f.write(b"x" * 2000)
        self.check(send(*self.base(), "--body", path), 65, "998")

    def test_message_and_body(self):
        path = os.path.join(self.dir, "m")
        with open(path, "w") as f:
            f.write("From: a@b\n\nx\n")
        self.check(send(*self.base(), "--message", path, "--body", path), 64, "cannot be used together")

    def test_subject_with_message(self):
        path = os.path.join(self.dir, "m")
        with open(path, "w") as f:
            f.write("From: a@b\n\nx\n")
        self.check(send(*self.base(), "--message", path, "--subject", "x"), 64, "--subject")

    def test_subject_header_injection(self):
        self.check(send(*self.base(), "--subject", "hi\r\nBcc: eve@example.com"), 64, "one line")

    def test_user_without_password(self):
        self.check(send(*self.base(), "--user", "alice@example.net"), 64, "password")

    def test_password_stdin_without_user(self):
        self.check(send(*self.base(), "--password-stdin", input="x\n"), 64, "--user")

    def test_unknown_mechanism(self):
        self.check(send(*self.base(), "--user", "alice@example.net", "--mech", "MAGIC",
                        env={"POSTERN_PASSWORD": "x"}), 64, "--mech")

    def test_mech_without_user(self):
        self.check(send(*self.base(), "--mech", "PLAIN"), 64, "--user")

    def test_unreadable_ca_file(self):
        self.check(send(*self.base(), "--ca", os.path.join(self.dir, "none.pem")), 64, "CA file")

    def test_password_stdin_with_body_stdin(self):
        self.check(send(*self.base(), "--user", "a@b.c", "--password-stdin", "--body", "-", input="x\n"), 64,
                   "standard input")

    def test_unknown_option(self):
        self.check(send(*self.base(), "--frobnicate"), 64, "frobnicate")


if __name__ == "__main__":
    unittest.main()
