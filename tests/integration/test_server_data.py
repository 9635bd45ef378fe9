"""DATA defences (SPEC §5): bare CR or LF refused with 550 5.6.0 after the
whole message is read; <LF>.<LF> and <LF>.<CR><LF> never end DATA (SMTP
smuggling, CVE-2023-51764): the smuggled commands are never executed."""
import unittest

from harness import RawSMTP, ServerTest


class DataTest(ServerTest):

    def transaction(self):
        s = RawSMTP(*self.server.mx)
        self.addCleanup(s.close)
        s.reply()
        s.cmd("EHLO c.example.net")
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net>")[0], 250)
        self.assertEqual(s.cmd("RCPT TO:<postmaster@example.org>")[0], 250)
        self.assertEqual(s.cmd("DATA")[0], 354)
        return s

    def test_bare_lf_refused_session_goes_on(self):
        s = self.transaction()
        s.send(b"Subject: x\r\n\r\nbare\nlf\r\n.\r\n")
        self.assertEqual(s.reply(), (550, ["550 5.6.0 Bare CR or LF not allowed"]))
        self.assertEqual(s.cmd("NOOP")[0], 250)
        self.assertEqual(self.server.delivered("postmaster@example.org", timeout=0.5), [])

    def test_bare_cr_refused(self):
        s = self.transaction()
        s.send(b"Subject: x\r\n\r\nbare\rcr\r\n.\r\n")
        self.assertEqual(s.reply(), (550, ["550 5.6.0 Bare CR or LF not allowed"]))

    def smuggle(self, separator):
        s = self.transaction()
        s.send(b"Subject: outer\r\n\r\nouter" + separator +
               b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<postmaster@example.org>\r\nDATA\r\n"
               b"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
        # One reply only, for the whole thing: the smuggled commands were data.
        self.assertEqual(s.reply(), (550, ["550 5.6.0 Bare CR or LF not allowed"]))
        self.assertEqual(s.cmd("NOOP"), (250, ["250 2.0.0 OK"]))
        self.assertEqual(self.server.delivered("postmaster@example.org", timeout=0.5), [])
        self.assertNotIn("evil@example.net", self.server.log_text())

    def test_smuggling_lf_dot_lf(self):
        self.smuggle(b"\n.\n")

    def test_smuggling_lf_dot_crlf(self):
        self.smuggle(b"\n.\r\n")

    def test_dot_stuffing_and_exact_bytes(self):
        s = self.transaction()
        s.send(b"Subject: dots\r\n\r\n..starts with a dot\r\n. \r\n...\r\n.\r\n")
        self.assertEqual(s.reply()[0], 250)
        msg = self.server.delivered("postmaster@example.org")[0]
        self.assertTrue(msg.endswith(b"Subject: dots\r\n\r\n.starts with a dot\r\n \r\n..\r\n"), msg)


if __name__ == "__main__":
    unittest.main()
