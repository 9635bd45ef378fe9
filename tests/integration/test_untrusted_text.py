"""A next hop's reply text is untrusted: escape sequences in it must never
reach a terminal, a log line or a DSN raw (Postfix passes every remote
reply through printable()). Each place it leaves the process is checked:
`postern send`, `postern queue list/show`, `postern explain` (text and
JSON), the server log, and the DSN the sender gets."""
import json
import os
import re
import signal
import unittest

import harness
from harness import Server, wait_for
from queue_peers import add_user, queue_list, submit
from send_support import AioServer, Handler, RawServer, read_line, send

HOSTILE = "no \x1b]0;pwned\x07\x1b[31mRED\x1b[0m user"
ESCAPED = "no \\x1b]0;pwned\\x07\\x1b[31mRED\\x1b[0m user"
SENDER = "alice@example.org"


class PosternSend(unittest.TestCase):
    def test_reply_escapes_are_shown_escaped(self):
        def script(conn):
            conn.sendall(b"220 hop ESMTP\r\n")
            read_line(conn)
            conn.sendall(b"250 hop\r\n")
            read_line(conn)  # MAIL
            conn.sendall(b"250 2.1.0 ok\r\n")
            read_line(conn)  # RCPT
            conn.sendall(("550 5.1.1 " + HOSTILE + "\r\n").encode())
            read_line(conn)
            conn.sendall(b"221 bye\r\n")
        s = RawServer(script)
        self.addCleanup(s.stop)
        r = send("--server", s.address, "--tls", "none", "--from", "a@example.net", "--to", "b@example.org", "-v",
                 "--subject", "x", "--body", "-", input="hi\n")
        self.assertEqual(r.returncode, 69, r.stderr)
        self.assertNotIn("\x1b", r.stderr + r.stdout)
        self.assertNotIn("\x07", r.stderr + r.stdout)
        self.assertIn(ESCAPED, r.stderr)


class Explain(unittest.TestCase):
    def test_text_is_escaped_and_json_round_trips(self):
        r = harness.run("explain", "550 5.1.1 " + HOSTILE)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn("\x1b", r.stdout)
        self.assertIn("\\x1b[31mRED", r.stdout)
        j = harness.run("explain", "--json", "550 5.1.1 " + HOSTILE)
        self.assertEqual(j.returncode, 0, j.stderr)
        self.assertNotIn("\x1b", j.stdout)  # JSON escapes it as \u001b
        self.assertEqual(json.loads(j.stdout)["explanation"]["text"], HOSTILE)


class QueueAndDsn(unittest.TestCase):
    def test_queue_log_and_dsn_show_it_escaped(self):
        hop = AioServer(handler=Handler())
        # 450 until the queue has been read (a retry may come at any moment),
        # then 550 for the DSN.
        hop.handler.rcpt_replies["bob@far.test"] = ["450 4.2.1 " + HOSTILE]
        hop.start()
        self.addCleanup(hop.stop)
        server = Server(extra={"queue": {"retry_initial": "1s", "retry_max": "1s", "lifetime": "1h"}})
        server.config["relay"] = {"routes": {"far.test": hop.address}}
        server.start()
        self.addCleanup(server.cleanup)
        add_user(server, SENDER)
        submit(server, SENDER, ["bob@far.test"])
        listing = wait_for(lambda: (lambda t: t if "deferred" in t else None)(queue_list(server)), timeout=15)
        self.assertIsNotNone(listing, queue_list(server))
        self.assertNotIn("\x1b", listing)
        self.assertIn("\\x1b[31mRED", listing)
        queue_id = re.search(r"\b([0-9a-f]{16})\b", listing).group(1)
        show = server.cli("queue", "show", queue_id)
        self.assertEqual(show.returncode, 0, show.stderr)
        self.assertNotIn("\x1b", show.stdout)
        self.assertIn("\\x1b[31mRED", show.stdout)
        # The next retry gets the 550: a DSN for the sender, its texts escaped.
        with hop.handler.lock:
            hop.handler.rcpt_replies["bob@far.test"] = ["550 5.1.1 " + HOSTILE]
        dsn = server.delivered(SENDER, timeout=20)
        self.assertEqual(len(dsn), 1, server.log_text())
        report = dsn[0].split(b"Content-Type: text/rfc822-headers")[0]
        self.assertNotIn(b"\x1b", report)
        self.assertNotIn(b"\x07", report)
        self.assertIn(b"\\x1b[31mRED", report)
        log = server.log_text()
        self.assertNotIn("\x1b", log)
        self.assertIn("\\x1b[31mRED", log)


if __name__ == "__main__":
    unittest.main()
