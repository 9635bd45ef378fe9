"""SIGTERM (SPEC §2): stop accepting, 421 to idle sessions, let an open
transaction finish with its 250 honoured, exit 0."""
import signal
import socket
import unittest

from harness import RawSMTP, Server, wait_for


class SignalTest(unittest.TestCase):

    def test_sigterm_graceful(self):
        server = Server().start()
        self.addCleanup(server.cleanup)
        idle = RawSMTP(*server.mx)
        idle.reply()
        busy = RawSMTP(*server.mx)
        busy.reply()
        busy.cmd("EHLO c.example.net")
        busy.cmd("MAIL FROM:<a@example.net>")
        busy.cmd("RCPT TO:<postmaster@example.org>")
        self.assertEqual(busy.cmd("DATA")[0], 354)
        server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(idle.reply(), (421, ["421 4.3.2 Service shutting down, try again later"]))
        def refused():
            try:
                socket.create_connection(server.mx, timeout=2).close()
                return False
            except ConnectionRefusedError:
                return True
        self.assertTrue(wait_for(refused, timeout=10), "still accepting after SIGTERM")
        # The open transaction still completes and its 250 is honoured.
        code, lines = busy.cmd("Subject: late\r\n\r\nfinished after SIGTERM\r\n.")
        self.assertEqual(code, 250, lines)
        self.assertEqual(busy.reply()[0], 421)
        self.assertEqual(server.proc.wait(timeout=20), 0)
        # Delivered before the stop, or from the spool on the next start.
        again = Server(data_dir=server.data_dir).start()
        self.addCleanup(again.cleanup)
        msgs = again.delivered("postmaster@example.org")
        self.assertEqual(len(msgs), 1)
        self.assertTrue(msgs[0].endswith(b"finished after SIGTERM\r\n"))


if __name__ == "__main__":
    unittest.main()
