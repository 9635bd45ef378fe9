"""SPEC §5 limits through raw sockets: line length, recipients, message
size (at MAIL SIZE= and the real size), max_errors, timeouts, connection
limits per IP, NUL bytes and garbage."""
import socket
import time
import unittest

from harness import RawSMTP, ServerTest, wait_for


class LimitsTest(ServerTest):
    server_kwargs = {"extra": {"limits": {"max_message_size": "2K", "max_recipients": 3, "max_errors": 4,
                                          "command_timeout": "2s", "data_timeout": "2s",
                                          "max_connections_per_ip": 3}}}

    def session(self):
        s = RawSMTP(*self.server.mx)
        self.addCleanup(s.close)
        self.assertEqual(s.reply()[0], 220)
        self.assertEqual(s.cmd("EHLO c.example.net")[0], 250)
        return s

    def free_session(self):
        """A session once a slot is free (a slot frees when the server has ended its session)."""
        def attempt():
            s = RawSMTP(*self.server.mx)
            if s.reply()[0] == 220:
                return s
            s.close()
            return None
        s = wait_for(attempt, timeout=15, interval=0.1)
        self.assertIsNotNone(s, "no connection slot came free")
        self.addCleanup(s.close)
        self.assertEqual(s.cmd("EHLO c.example.net")[0], 250)
        return s

    def test_line_too_long_keeps_session_in_step(self):
        s = self.session()
        self.assertEqual(s.cmd("NOOP " + "x" * 600), (500, ["500 5.5.2 Line too long"]))
        self.assertEqual(s.cmd("X" * 20000), (500, ["500 5.5.2 Line too long"]))
        self.assertEqual(s.cmd("NOOP"), (250, ["250 2.0.0 OK"]))
        # MAIL may carry its extensions beyond 512 octets (AUTH= up to 500).
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net> AUTH=" + "x" * 480)[0], 250)

    def test_too_many_recipients(self):
        s = self.session()
        s.cmd("MAIL FROM:<a@example.net>")
        for _ in range(3):
            self.assertEqual(s.cmd("RCPT TO:<postmaster@example.org>")[0], 250)
        self.assertEqual(s.cmd("RCPT TO:<postmaster@example.org>"), (452, ["452 4.5.3 Too many recipients"]))

    def test_size_too_big_at_mail(self):
        s = self.session()
        code, lines = s.cmd("EHLO c.example.net")
        self.assertIn("250-SIZE 2048", lines)
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net> SIZE=2049"), (552, ["552 5.3.4 Message too big"]))
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net> SIZE=2048")[0], 250)

    def test_real_size_too_big(self):
        s = self.session()
        s.cmd("MAIL FROM:<a@example.net>")
        s.cmd("RCPT TO:<postmaster@example.org>")
        self.assertEqual(s.cmd("DATA")[0], 354)
        s.send(("x" * 70 + "\r\n") * 40 + ".\r\n")
        self.assertEqual(s.reply(), (552, ["552 5.3.4 Message too big"]))
        self.assertEqual(s.cmd("NOOP")[0], 250)
        self.assertEqual(self.server.delivered("postmaster@example.org", timeout=0.5), [])

    def test_bdat_too_big(self):
        s = self.session()
        s.cmd("MAIL FROM:<a@example.net>")
        s.cmd("RCPT TO:<postmaster@example.org>")
        s.send(b"BDAT 3000 LAST\r\n" + b"y" * 3000)
        self.assertEqual(s.reply(), (552, ["552 5.3.4 Message too big"]))
        self.assertEqual(s.cmd("NOOP")[0], 250)

    def test_max_errors_closes(self):
        s = self.session()
        for _ in range(3):
            self.assertEqual(s.cmd("BOGUS")[0], 500)
        self.assertEqual(s.cmd("BOGUS"), (421, ["421 4.7.0 Too many errors, closing connection"]))
        self.assertTrue(s.closed())

    def test_command_timeout(self):
        s = self.session()
        start = time.monotonic()
        self.assertEqual(s.reply(), (421, ["421 4.4.2 Timeout, closing connection"]))
        self.assertLess(time.monotonic() - start, 6)
        self.assertTrue(s.closed())

    def test_data_timeout(self):
        s = self.session()
        s.cmd("MAIL FROM:<a@example.net>")
        s.cmd("RCPT TO:<postmaster@example.org>")
        self.assertEqual(s.cmd("DATA")[0], 354)
        s.send("Subject: slow\r\n")
        self.assertEqual(s.reply(), (421, ["421 4.4.2 Timeout, closing connection"]))
        self.assertTrue(s.closed())

    def test_connections_per_ip(self):
        # Sessions of earlier tests (and the start-up port probes) hold slots until the server has ended them.
        self.assertTrue(wait_for(self.server.sessions_ended, timeout=15))
        held = [self.free_session() for _ in range(3)]
        extra = socket.create_connection(self.server.mx, timeout=5)
        self.addCleanup(extra.close)
        data = b""
        while not data.endswith(b"\r\n"):
            chunk = extra.recv(1024)
            if not chunk:
                break
            data += chunk
        self.assertEqual(data, b"421 4.7.0 Too many connections, try again later\r\n")
        held[0].cmd("QUIT")
        self.assertTrue(held[0].closed())
        # A slot is free again once the server has finished the session.
        deadline = time.monotonic() + 10
        while True:
            s = RawSMTP(*self.server.mx)
            self.addCleanup(s.close)
            code, _ = s.reply()
            if code == 220 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        self.assertEqual(code, 220)

    def test_nul_and_garbage(self):
        s = self.session()
        self.assertEqual(s.cmd("NO\0OP"), (500, ["500 5.5.2 Syntax error, NUL characters are not allowed"]))
        s.send(b"\xff\xfe\x00\x01garbage\r\n")
        self.assertEqual(s.reply()[0], 500)
        self.assertEqual(s.cmd("NOOP")[0], 250)


if __name__ == "__main__":
    unittest.main()
