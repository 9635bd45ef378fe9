"""rspamd as a milter (SPEC §13): Debian's rspamd, its proxy worker with
`milter = yes`, its own configuration and Redis, started here on loopback.
GTUBE is refused at the end of DATA with rspamd's own reply; a clean
message is delivered with rspamd's headers; rspamd's greylisting reaches
the client as its 451 4.7.1; with rspamd stopped the client gets
451 4.7.1 (on_error = "tempfail") or the message is delivered unfiltered
(on_error = "accept")."""
import re
import unittest

from harness import Server, wait_for
from support.milter_client import message, transaction
from support.rspamd import RspamdMilter
from support.users import UserTemplate

GTUBE = "XJS*C4JDBQADN1.NSBN3*2IDNEN*GTUBE-STANDARD-ANTI-UBE-TEST-EMAIL*C.34X"


def milter_server(users, test, address, on_error="tempfail", data_dir=None):
    s = Server(data_dir=data_dir or users.data_dir(test), listeners=("mx",),
               extra={"milter": [{"address": address, "roles": ["mx"], "on_error": on_error, "timeout": "10s"}]},
               tls_mx="none")
    s.start()
    return s


def queue_id(reply_text):
    m = re.search(r"queued as ([0-9a-f]{16})", reply_text)
    return m.group(1) if m else None


class RspamdMilterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.users = UserTemplate()
        cls.rspamd = RspamdMilter()
        cls.server = milter_server(cls.users, None, cls.rspamd.address, data_dir=cls.users.data_dir_for_class())

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.rspamd.cleanup()
        cls.users.cleanup()

    def test_gtube_is_refused_at_end_of_data_with_rspamds_reply(self):
        out = transaction(self.server.mx, "alice@sender.example", "carol@example.org",
                          message("gtube", GTUBE, to="carol@example.org"))
        self.assertEqual(out["rcpt"], [(250, "2.1.5 Recipient OK")])
        self.assertEqual(out["data"], (554, "5.7.1 Gtube pattern"))
        # The refusal's session ended with nothing accepted, so nothing can reach the Maildir later.
        def refusal():
            for line in self.server.log_text().splitlines():
                if "event=milter_reject stage=eom filter=" + self.rspamd.address in line and "Gtube" in line:
                    return re.search(r"\bsession=(\w+)", line).group(1)
            return None
        session = wait_for(refusal, timeout=20)
        self.assertTrue(session, "no milter_reject in the log")
        self.assertTrue(wait_for(lambda: f"session={session} " in self.server.log_text()
                                 and any("event=disconnect" in l for l in self.server.log_text().splitlines()
                                         if f"session={session} " in l), timeout=20))
        self.assertFalse([l for l in self.server.log_text().splitlines()
                          if "event=accepted" in l and f"session={session} " in l])
        self.assertEqual(self.server.delivered("carol@example.org", timeout=0), [])

    def test_clean_message_is_delivered_with_rspamds_headers(self):
        out = transaction(self.server.mx, "alice@sender.example", "bob@example.org",
                          message("lunch on friday", "Shall we meet at noon?\r\nAlice"))
        code, text = out["data"]
        self.assertEqual(code, 250, out)
        qid = queue_id(text)
        delivered = self.server.delivered("bob@example.org")
        self.assertEqual(len(delivered), 1)
        head, _, body = delivered[0].partition(b"\r\n\r\n")
        head += b"\r\n"
        self.assertIn(f"X-Rspamd-Queue-Id: {qid}\r\n".encode(), head, "rspamd was told the queue id (macro i)")
        self.assertRegex(head, rb"\r\nX-Spam-Status: No, score=-?[0-9.]+\r\n")
        self.assertIn(b"\r\nX-Rspamd-Server: ", head)
        self.assertIn(b"\r\nX-Spamd-Bar: ", head)
        self.assertEqual(body, b"Shall we meet at noon?\r\nAlice\r\n")
        self.assertTrue(head.startswith(b"Return-Path: <alice@sender.example>\r\nReceived: from client.example.net"))
        # rspamd logged the queue id, the client and the envelope it was sent.
        log = [l for l in self.rspamd.log_text().splitlines() if qid in l and "rspamd_task_write_log" in l]
        self.assertEqual(len(log), 1, self.rspamd.log_text()[-3000:])
        self.assertIn("ip: 127.0.0.1", log[0])
        self.assertIn("from: <alice@sender.example>", log[0])
        self.assertIn("rcpts: <bob@example.org>", log[0])
        self.assertIn("TO_MATCH_ENVRCPT_ALL", log[0])

    def test_greylisting_gives_the_client_451(self):
        out = transaction(self.server.mx, "grey@sender.example", "bob@example.org",
                          message("please greylist-me", "first sight"))
        self.assertEqual(out["data"], (451, "4.7.1 Try again later"))
        self.assertIn('reply="451 4.7.1 Try again later"', self.server.log_text())


class RspamdStoppedTest(unittest.TestCase):
    def setUp(self):
        self.users = UserTemplate()
        self.addCleanup(self.users.cleanup)
        self.rspamd = RspamdMilter()
        self.addCleanup(self.rspamd.cleanup)

    def test_on_error_tempfail_and_accept(self):
        strict = milter_server(self.users, self, self.rspamd.address, on_error="tempfail")
        self.addCleanup(strict.cleanup)
        lenient = milter_server(self.users, self, self.rspamd.address, on_error="accept")
        self.addCleanup(lenient.cleanup)
        # Up: both deliver through rspamd.
        for s in (strict, lenient):
            out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("up", "while rspamd runs"))
            self.assertEqual(out["data"][0], 250, out)
            self.assertIn(b"X-Rspamd-Queue-Id: ", s.delivered("bob@example.org")[0])
        self.rspamd.stop()
        out = transaction(strict.mx, "alice@sender.example", "bob@example.org", message("down", "rspamd is gone"))
        self.assertEqual(out["mail"], (451, "4.7.1 Service unavailable - try again later"))
        self.assertRegex(strict.log_text(), r"event=milter_error filter=inet:127\.0\.0\.1:\d+ stage=connect "
                                            r"error=\"connect: Connection refused\" action=tempfail")
        out = transaction(lenient.mx, "alice@sender.example", "bob@example.org", message("down", "rspamd is gone"))
        self.assertEqual(out["data"][0], 250, out)
        second = lenient.delivered("bob@example.org", count=2)[1]
        self.assertNotIn(b"X-Rspamd", second)
        self.assertIn(b"action=accept", lenient.log_text().encode())
        # The refused session is over and only the first message was accepted.
        self.assertTrue(wait_for(strict.sessions_ended, timeout=20))
        self.assertEqual(strict.log_text().count("event=accepted "), 1)
        self.assertEqual(len(strict.delivered("bob@example.org", timeout=0)), 1)


if __name__ == "__main__":
    unittest.main()
