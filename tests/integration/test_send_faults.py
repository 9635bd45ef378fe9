"""`postern send` against servers that misbehave on purpose (raw sockets):
garbage replies give 76, a greeting of 554 gives 69, 421 and a dropped
connection give 75, and --retry-for comes back after a drop."""
import unittest

from send_support import RawServer, read_line, send


class MisbehavingServers(unittest.TestCase):
    def serve(self, script):
        s = RawServer(script)
        self.addCleanup(s.stop)
        return s

    def args(self, s):
        return ["--server", s.address, "--tls", "none", "--from", "alice@example.net", "--to", "bob@example.org"]

    def test_garbage_greeting_is_protocol_error(self):
        def script(conn):
            conn.sendall(b"HELLO I AM NOT SMTP\r\n")
            read_line(conn)
        r = send(*self.args(self.serve(script)))
        self.assertEqual(r.returncode, 76, r.stderr)
        self.assertIn("malformed reply line", r.stderr)

    def test_bad_reply_inside_multiline(self):
        def script(conn):
            conn.sendall(b"220 ok\r\n")
            read_line(conn)
            conn.sendall(b"250-hello\r\n251 changed\r\n")
            read_line(conn)
        r = send(*self.args(self.serve(script)))
        self.assertEqual(r.returncode, 76, r.stderr)

    def test_dropped_after_mail_is_75(self):
        def script(conn):
            conn.sendall(b"220 ok\r\n")
            read_line(conn)
            conn.sendall(b"250 hello\r\n")
            read_line(conn)  # MAIL; then hang up
        r = send(*self.args(self.serve(script)))
        self.assertEqual(r.returncode, 75, r.stderr)
        self.assertIn("closed the connection", r.stderr)

    def test_greeting_554_is_69(self):
        def script(conn):
            conn.sendall(b"554 5.3.2 No SMTP service here\r\n")
            read_line(conn)
        r = send(*self.args(self.serve(script)))
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertIn("554 5.3.2 No SMTP service here", r.stderr)

    def test_421_is_75(self):
        def script(conn):
            conn.sendall(b"421 4.3.2 Shutting down\r\n")
        r = send(*self.args(self.serve(script)))
        self.assertEqual(r.returncode, 75, r.stderr)

    def test_dropped_then_retried(self):
        calls = []

        def script(conn):
            calls.append(1)
            if len(calls) == 1:
                return  # hang up at once
            conn.sendall(b"220 ok\r\n")
            while True:
                line = read_line(conn)
                if not line:
                    return
                verb = line.split(" ")[0].upper()
                if verb == "DATA":
                    conn.sendall(b"354 go\r\n")
                    while read_line(conn) != ".":
                        pass
                    conn.sendall(b"250 2.0.0 queued\r\n")
                elif verb == "QUIT":
                    conn.sendall(b"221 bye\r\n")
                    return
                else:
                    conn.sendall(b"250 ok\r\n")
        r = send(*self.args(self.serve(script)), "--retry-for", "20s")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(calls), 2)
        self.assertIn("trying again in", r.stderr)


if __name__ == "__main__":
    unittest.main()
