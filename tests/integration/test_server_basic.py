"""The server core with real clients: greeting, EHLO keywords, a full
transaction with smtplib, swaks and curl, exact bytes in the Maildir,
the SMTP commands of RFC 5321, PIPELINING and BDAT."""
import os
import re
import shutil
import smtplib
import subprocess
import unittest

from harness import RawSMTP, Server, ServerTest, wait_for


class BasicTest(ServerTest):

    def test_greeting_and_ehlo_keywords(self):
        s = RawSMTP(*self.server.mx)
        code, lines = s.reply()
        self.assertEqual(code, 220)
        self.assertIn("mx.example.org", lines[0])
        code, lines = s.cmd("EHLO client.example.net")
        self.assertEqual(code, 250)
        keywords = [l[4:].split(" ")[0] for l in lines[1:]]
        for k in ("PIPELINING", "SIZE", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "CHUNKING", "STARTTLS"):
            self.assertIn(k, keywords)
        self.assertIn("250-SIZE 26214400", lines)
        self.assertNotIn("AUTH", " ".join(keywords[:0]))  # AUTH only when mechanisms exist
        self.assertEqual(s.cmd("QUIT")[0], 221)
        self.assertTrue(s.closed())

    def test_smtplib_delivers_exact_bytes(self):
        body = b"Subject: hello\r\nFrom: bob@example.net\r\n\r\nline one\r\n.leading dot\r\n..two dots\r\n"
        with smtplib.SMTP(*self.server.mx, timeout=10) as c:
            c.ehlo("client.example.net")
            refused = c.sendmail("bob@example.net", ["postmaster@example.org"], body)
            self.assertEqual(refused, {})
        got = self.server.delivered("postmaster@example.org")
        self.assertEqual(len(got), 1)
        msg = got[0]
        self.assertTrue(msg.startswith(b"Return-Path: <bob@example.net>\r\nReceived: from client.example.net ([127.0.0.1])\r\n"), msg[:200])
        self.assertIn(b"by mx.example.org (Postern) with ESMTP id ", msg)
        self.assertIn(b"for <postmaster@example.org>;", msg)
        # After the trace headers the message is exactly what was sent (dots restored by smtplib's stuffing).
        self.assertTrue(msg.endswith(body), msg)

    def test_helo_gives_smtp_in_received(self):
        s = RawSMTP(*self.server.mx)
        s.reply()
        self.assertEqual(s.cmd("HELO old.example.net")[0], 250)
        self.assertEqual(s.cmd("MAIL FROM:<>")[0], 250)
        self.assertEqual(s.cmd("RCPT TO:<postmaster@example.org>")[0], 250)
        self.assertEqual(s.cmd("DATA")[0], 354)
        code, lines = s.cmd("Subject: x\r\n\r\nhi\r\n.")
        self.assertEqual(code, 250, lines)
        self.assertRegex(lines[0], r"^250 2\.0\.0 OK queued as [0-9a-f]{16}$")
        queue_id = lines[0].rsplit(" ", 1)[1]
        msg = self.server.delivered("postmaster@example.org")[0]
        self.assertTrue(msg.startswith(b"Return-Path: <>\r\n"), msg)
        # The Received: header names the queue id the client was given.
        self.assertIn(b" with SMTP id " + queue_id.encode() + b"\r\n", msg)
        self.assertTrue(msg.endswith(b"\r\n\r\nhi\r\n"))

    def test_swaks_and_curl(self):
        host, port = self.server.mx
        r = subprocess.run(["swaks", "--server", host, "--port", str(port), "--from", "bob@example.net",
                            "--to", "postmaster@example.org", "--helo", "swaks.example.net",
                            "--header", "Subject: via swaks", "--body", "swaks body"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stdout + r.stderr)
        self.assertIn("250 2.0.0 OK queued as", r.stdout)
        msg_path = os.path.join(self.server.data_dir, "curl.eml")
        with open(msg_path, "wb") as f:
            f.write(b"Subject: via curl\r\n\r\ncurl body\r\n")
        r = subprocess.run(["curl", "-sS", f"smtp://{host}:{port}/curl.example.net", "--mail-from", "bob@example.net",
                            "--mail-rcpt", "postmaster@example.org", "--upload-file", msg_path],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 0, r.stderr)
        msgs = self.server.delivered("postmaster@example.org", count=2)
        self.assertEqual(len(msgs), 2)
        self.assertTrue(any(m.endswith(b"Subject: via curl\r\n\r\ncurl body\r\n") for m in msgs))
        self.assertTrue(any(b"Subject: via swaks" in m and b"swaks body" in m for m in msgs))

    def test_commands(self):
        s = RawSMTP(*self.server.mx)
        s.reply()
        self.assertEqual(s.cmd("NOOP"), (250, ["250 2.0.0 OK"]))
        code, lines = s.cmd("VRFY postmaster@example.org")
        self.assertEqual(code, 252)
        self.assertTrue(lines[0].startswith("252 2.5.0 "))
        self.assertEqual(s.cmd("HELP")[0], 214)
        self.assertEqual(s.cmd("EXPN staff")[0], 502)
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net>"), (503, ["503 5.5.1 Send EHLO or HELO first"]))
        s.cmd("EHLO c.example.net")
        self.assertEqual(s.cmd("RCPT TO:<postmaster@example.org>")[1], ["503 5.5.1 Need MAIL before RCPT"])
        self.assertEqual(s.cmd("DATA")[1], ["503 5.5.1 Need MAIL command"])
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net>")[1], ["250 2.1.0 Sender OK"])
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net>")[1], ["503 5.5.1 Nested MAIL command"])
        self.assertEqual(s.cmd("DATA")[1], ["554 5.5.1 No valid recipients"])
        self.assertEqual(s.cmd("RSET")[1], ["250 2.0.0 Reset OK"])
        self.assertEqual(s.cmd("RCPT TO:<postmaster@example.org>")[0], 503)
        self.assertEqual(s.cmd("QUIT")[0], 221)
        # A fresh session: the error count above is near max_errors.
        s = RawSMTP(*self.server.mx)
        s.reply()
        self.assertEqual(s.cmd("DATA extra")[1], ["501 5.5.4 Syntax: DATA takes no parameters"])
        self.assertEqual(s.cmd("EHLO")[1], ["501 5.5.4 Syntax: EHLO hostname"])
        self.assertEqual(s.cmd("MAIL TO:<a@b.example>")[1], ["501 5.5.4 Syntax: MAIL FROM:<address>"])
        self.assertEqual(s.cmd("AUTH PLAIN")[1], ["503 5.5.1 Send EHLO first"])  # RFC 4954 §4: AUTH needs EHLO
        self.assertEqual(s.cmd("QUIT")[0], 221)

    def test_pipelining_replies_in_order(self):
        s = RawSMTP(*self.server.mx)
        s.reply()
        s.cmd("EHLO c.example.net")
        s.send("MAIL FROM:<bob@example.net>\r\nRCPT TO:<postmaster@example.org>\r\nRCPT TO:<nobody@elsewhere.example>\r\n"
               "RCPT TO:<postmaster@example.org>\r\nDATA\r\n")
        self.assertEqual(s.reply()[0], 250)
        self.assertEqual(s.reply()[0], 250)
        self.assertEqual(s.reply()[1], ["554 5.7.1 Relay access denied"])
        self.assertEqual(s.reply()[0], 250)
        self.assertEqual(s.reply()[0], 354)
        # Nothing behind the final dot before its reply: on mx that is 554 (test_input_trust).
        s.send("Subject: p\r\n\r\nbody\r\n.\r\n")
        self.assertEqual(s.reply()[0], 250)
        s.send("NOOP\r\nQUIT\r\n")
        self.assertEqual(s.reply()[0], 250)
        self.assertEqual(s.reply()[0], 221)
        msg = self.server.delivered("postmaster@example.org")[0]
        self.assertTrue(msg.endswith(b"Subject: p\r\n\r\nbody\r\n"))

    def test_bdat_chunks(self):
        s = RawSMTP(*self.server.mx)
        s.reply()
        s.cmd("EHLO c.example.net")
        s.cmd("MAIL FROM:<bob@example.net> BODY=8BITMIME")
        s.cmd("RCPT TO:<postmaster@example.org>")
        part1 = b"Subject: chunks\r\n\r\nfirst\r\n.\r"
        part2 = b"\nsecond chunk, the CRLF split across chunks\r\n"
        s.send(b"BDAT %d\r\n" % len(part1) + part1 + b"BDAT %d LAST\r\n" % len(part2) + part2)
        self.assertEqual(s.reply(), (250, ["250 2.0.0 %d octets received" % len(part1)]))
        code, lines = s.reply()
        self.assertEqual(code, 250, lines)
        self.assertIn("queued as", lines[0])
        msg = self.server.delivered("postmaster@example.org")[0]
        self.assertTrue(msg.endswith(part1 + part2), msg)
        # A bare LF or CR in BDAT is refused as in DATA (SMTP smuggling), after the last chunk.
        for bare in (b"a bare\nLF\r\n", b"a bare\rCR\r\n", b"ends in CR\r"):
            s.cmd("MAIL FROM:<bob@example.net>")
            s.cmd("RCPT TO:<postmaster@example.org>")
            s.send(b"BDAT 3\r\nok\nBDAT %d LAST\r\n" % len(bare) + bare)
            self.assertEqual(s.reply()[0], 250)
            self.assertEqual(s.reply(), (550, ["550 5.6.0 Bare CR or LF not allowed"]))
        self.assertEqual(len(self.server.delivered("postmaster@example.org")), 1)
        # BDAT without a transaction is refused, but its bytes are skipped.
        s.send(b"BDAT 6 LAST\r\nQUIT\r\n")
        self.assertEqual(s.reply()[1], ["503 5.5.1 Need MAIL command"])
        self.assertEqual(s.cmd("NOOP")[0], 250)


class BannerTest(unittest.TestCase):

    def test_the_greylisting_hint_needs_an_mx_listener(self):
        # Greylisting applies to the mx listener only: a server with none
        # does not say that it greylists.
        for listeners, hinted in ((("submission",), False), (("mx", "submission"), True)):
            with Server(listeners=listeners, extra={"greylist": {"enabled": True}}) as server:
                self.assertTrue(wait_for(lambda: "Add a user:" in server.log_text(), timeout=10))
                self.assertEqual("greylists first-time senders" in server.log_text(), hinted, listeners)


if __name__ == "__main__":
    unittest.main()
