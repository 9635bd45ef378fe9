"""No open relay (SPEC §5): without AUTH, RCPT outside local_domains gets
554 5.7.1, and so do the old routing tricks that hide one (`%`, `!`,
quoted `@`, source routes). MAIL on the submission listener without AUTH
gets 530 5.7.0."""
import unittest

from harness import RawSMTP, ServerTest


class RelayTest(ServerTest):

    def session(self, listener="mx"):
        s = RawSMTP(*self.server.ports[listener])
        self.addCleanup(s.close)
        s.reply()
        s.cmd("EHLO c.example.net")
        return s

    def test_relay_variants_denied(self):
        s = self.session()
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net>")[0], 250)
        denied = ["<victim@elsewhere.example>", "<victim%elsewhere.example@example.org>",
                  "<elsewhere.example!victim@example.org>", '<"victim@elsewhere.example"@example.org>',
                  "<@example.org:victim@elsewhere.example>", "<@example.org,@example.net:postmaster@example.org>",
                  "<victim@[127.0.0.1]>"]
        for rcpt in denied:
            self.assertEqual(s.cmd(f"RCPT TO:{rcpt}"), (554, ["554 5.7.1 Relay access denied"]), rcpt)
            s.cmd("NOOP")
        # Local domains, in any case, and the bare postmaster are accepted.
        self.assertEqual(s.cmd("RCPT TO:<postmaster@EXAMPLE.org>")[0], 250)

    def test_bare_postmaster(self):
        s = self.session()
        s.cmd("MAIL FROM:<>")
        self.assertEqual(s.cmd("RCPT TO:<Postmaster>")[0], 250)
        self.assertEqual(s.cmd("DATA")[0], 354)
        self.assertEqual(s.cmd("Subject: pm\r\n\r\nhi\r\n.")[0], 250)
        self.assertEqual(len(self.server.delivered("postmaster@example.org")), 1)

    def test_submission_requires_auth(self):
        s = self.session("submission")
        self.assertEqual(s.cmd("MAIL FROM:<a@example.org>"), (530, ["530 5.7.0 Authentication required"]))

    def test_utf8_address_needs_smtputf8(self):
        s = self.session()
        self.assertEqual(s.cmd("MAIL FROM:<δ@example.net>"), (553, ["553 5.6.7 Non-ASCII address requires SMTPUTF8"]))
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net>")[0], 250)
        self.assertEqual(s.cmd("RCPT TO:<δ@example.org>")[0], 553)
        s.cmd("RSET")
        self.assertEqual(s.cmd("MAIL FROM:<δ@example.net> SMTPUTF8")[0], 250)
        self.assertEqual(s.cmd("RCPT TO:<δ@elsewhere.example>")[0], 554)

    def test_unknown_parameters(self):
        s = self.session()
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net> RET=FULL"), (555, ["555 5.5.4 Unsupported parameter RET"]))
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net> BODY=8BITMIME")[0], 250)
        self.assertEqual(s.cmd("RCPT TO:<postmaster@example.org> NOTIFY=NEVER")[0], 555)


if __name__ == "__main__":
    unittest.main()
