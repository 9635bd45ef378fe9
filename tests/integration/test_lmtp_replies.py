"""What each recipient's LMTP reply after the dot does (SPEC §12), against
a small LMTP server of our own that answers on demand (support/lmtp_peer):
a 4xx keeps the recipient in the queue and the next attempt, on the local
schedule, delivers it exactly once; a 2xx is final at once; a 5xx bounces
with a DSN (which itself goes to the sender's mailbox through LMTP). Over
a unix socket and over TCP."""
import os
import shutil
import smtplib
import unittest
import uuid
from email.message import EmailMessage

from harness import Server, run, wait_for
from support.lmtp_peer import LmtpPeer
from support.scratch import scratch_dir


def after_dot(recipient, n):
    if recipient.startswith("alice@"):
        return f"451 4.2.1 <{recipient}> Mailbox is locked, try again later" if n == 1 else f"250 2.0.0 <{recipient}> Saved"
    if recipient.startswith("reject@"):
        return f"554 5.7.1 <{recipient}> Refused by a Sieve rule"
    return f"250 2.0.0 <{recipient}> Saved"


class LmtpRepliesDecide(unittest.TestCase):
    def transports(self):
        d = scratch_dir(test=self)
        os.chmod(d, 0o755)
        unix = LmtpPeer(after_dot, unix_path=os.path.join(d, "lmtp"))
        self.addCleanup(unix.stop)
        inet = LmtpPeer(after_dot)
        self.addCleanup(inet.stop)
        return {"unix": (unix, f"lmtp:unix:{unix.address}"),
                "inet": (inet, f"lmtp:inet:{inet.address[0]}:{inet.address[1]}")}

    def test_4xx_retried_once_2xx_final_5xx_bounced(self):
        for name, (peer, transport) in self.transports().items():
            with self.subTest(transport=name):
                with Server(extra={"delivery": {"transport": transport}}) as server:
                    subject = uuid.uuid4().hex
                    m = EmailMessage()
                    m["From"] = "carol@example.org"
                    m["To"] = "alice@example.org, bob@example.org, reject@example.org"
                    m["Subject"] = subject
                    m.set_content("One message, three fates.\n")
                    rcpts = ["alice@example.org", "bob@example.org", "reject@example.org"]
                    with smtplib.SMTP(*server.mx, timeout=30) as s:
                        self.assertEqual(s.send_message(m, "carol@example.org", rcpts), {})
                    # alice: 451 at the first attempt, 250 at the second, nothing after.
                    self.assertTrue(wait_for(lambda: len(peer.delivered_to("alice@example.org")) == 1, timeout=20),
                                    server.log_text()[-3000:])
                    self.assertEqual(len(peer.delivered_to("bob@example.org")), 1)
                    self.assertEqual(peer.delivered_to("reject@example.org"), [])
                    # reject: a DSN to the sender, delivered through LMTP too.
                    self.assertTrue(wait_for(lambda: len(peer.delivered_to("carol@example.org")) == 1, timeout=20),
                                    server.log_text()[-3000:])
                    dsn = peer.delivered_to("carol@example.org")[0]
                    self.assertEqual(dsn[0], "")  # from <>
                    self.assertIn(b"Action: failed", dsn[2])
                    self.assertIn(b"Final-Recipient: rfc822; reject@example.org", dsn[2])
                    self.assertIn(b"5.7.1", dsn[2])
                    # Every recipient is final: the queue is empty, and no attempt came after.
                    self.assertTrue(wait_for(lambda: run("queue", "list", "--config",
                                                         server.config_path).stdout.strip() == "Queue is empty.", timeout=20))
                    log = server.log_text()
                    self.assertEqual(log.count("to=<alice@example.org> status=deferred"), 1, log[-3000:])
                    self.assertEqual(peer.seen["alice@example.org"], 2)
                    self.assertEqual(peer.seen["bob@example.org"], 1)
                    self.assertEqual(peer.seen["reject@example.org"], 1)
                    self.assertEqual(len(peer.delivered_to("alice@example.org")), 1)
                    self.assertIn(subject.encode(), peer.delivered_to("alice@example.org")[0][2])
                    # Recipients were checked at RCPT: one MAIL/RCPT/RSET each.
                    self.assertGreaterEqual(peer.rcpt_checks, 3)


class RcptChecksKeepTheirConnection(unittest.TestCase):
    """RCPT checks reuse a kept LMTP connection, and take a new one when
    the LMTP server closed the kept one meanwhile: no 451 for that."""

    def check(self, close_after_rset):
        d = scratch_dir(test=self)
        peer = LmtpPeer(after_dot, unix_path=os.path.join(d, "lmtp"), close_after_rset=close_after_rset)
        self.addCleanup(peer.stop)
        server = Server(extra={"delivery": {"transport": f"lmtp:unix:{peer.address}"}})
        self.addCleanup(server.cleanup)
        server.start()
        with smtplib.SMTP(*server.mx, timeout=30) as s:
            s.ehlo("client.example.com")
            s.mail("sender@example.com")
            for rcpt in ("a@example.org", "b@example.org", "c@example.org"):
                self.assertEqual(s.rcpt(rcpt)[0], 250)
            s.rset()
        self.assertEqual(peer.rcpt_checks, 3)
        self.assertEqual(server.stop(), 0)
        self.assertNotIn("AddressSanitizer", server.log_text())
        self.assertNotIn("lmtp_unavailable", server.log_text())
        return peer.connections

    def test_one_connection_for_several_checks(self):
        self.assertEqual(self.check(close_after_rset=False), 1)

    def test_a_closed_connection_is_replaced(self):
        self.assertEqual(self.check(close_after_rset=True), 3)


class OneCopyPerMailbox(unittest.TestCase):
    """Addresses that end at the same mailbox get one LMTP RCPT and one
    copy, as they get one file with the Maildir transport: postmaster@ and
    the address `postmaster` names, two aliases of one user, an alias and
    its user side by side. A non-ASCII recipient, which an LMTP server
    without SMTPUTF8 can never take, is refused at RCPT with 553 5.6.7
    (not 451 again and again)."""

    @classmethod
    def setUpClass(cls):
        cls.dir = d = scratch_dir(prefix="lmtp-once-")
        cls.peer = LmtpPeer(after_dot, unix_path=os.path.join(d, "lmtp"))
        cls.server = Server(extra={"delivery": {"transport": f"lmtp:unix:{cls.peer.address}"},
                                   "postmaster": "admin@example.org"})
        with open(os.path.join(cls.server.data_dir, "aliases"), "w") as f:
            f.write("team@example.org: dora@example.org\n"
                    "crew@example.org: dora@example.org, erin@example.org\n")
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.peer.stop()
        shutil.rmtree(cls.dir, ignore_errors=True)

    def send(self, rcpts):
        subject = uuid.uuid4().hex
        msg = f"From: <carol@example.com>\r\nSubject: {subject}\r\n\r\none copy each\r\n"
        with smtplib.SMTP(*self.server.mx, timeout=30) as s:
            self.assertEqual(s.sendmail("carol@example.com", rcpts, msg.encode()), {})
        self.assertTrue(wait_for(lambda: run("queue", "list", "--config", self.server.config_path)
                                 .stdout.strip() == "Queue is empty.", timeout=20), self.server.log_text()[-3000:])
        return subject.encode()

    def copies(self, rcpt, subject):
        return sum(1 for d in self.peer.delivered_to(rcpt) if subject in d[2])

    def test_postmaster_and_the_address_it_names(self):
        subject = self.send(["postmaster@example.org", "admin@example.org", "Admin@example.org"])
        self.assertEqual(self.copies("admin@example.org", subject), 1, self.peer.delivered)

    def test_two_aliases_of_one_user(self):
        subject = self.send(["team@example.org", "crew@example.org"])
        self.assertEqual(self.copies("dora@example.org", subject), 1, self.peer.delivered)
        self.assertEqual(self.copies("erin@example.org", subject), 1, self.peer.delivered)

    def test_an_alias_beside_its_user(self):
        subject = self.send(["team@example.org", "dora@example.org"])
        self.assertEqual(self.copies("dora@example.org", subject), 1, self.peer.delivered)

    def test_a_non_ascii_recipient_is_refused_at_rcpt(self):
        with smtplib.SMTP(*self.server.mx, timeout=30) as s:
            s.ehlo("client.example.com")
            self.assertEqual(s.mail("carol@example.com", ["SMTPUTF8"])[0], 250)
            code, text = s.rcpt("jos\u00e9@example.org")
            self.assertEqual(code, 553, text)
            self.assertIn(b"5.6.7", text)
            self.assertEqual(s.rcpt("dora@example.org")[0], 250)
            s.rset()
        self.assertNotIn("lmtp_unavailable", self.server.log_text())

    def test_a_spooled_non_ascii_recipient_bounces_once(self):
        # sendmail spools without asking the LMTP server at RCPT: the attempt bounces it, with no retry.
        r = self.server.cli("sendmail", "-f", "carol@example.org", "jos\u00e9@example.org",
                            input="Subject: non-ascii\n\nfor a server without SMTPUTF8\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(wait_for(lambda: len(self.peer.delivered_to("carol@example.org")) == 1, timeout=20),
                        self.server.log_text()[-3000:])
        dsn = self.peer.delivered_to("carol@example.org")[0][2]
        self.assertIn(b"Action: failed", dsn)
        self.assertIn(b"Status: 5.6.7", dsn)
        self.assertTrue(wait_for(lambda: run("queue", "list", "--config", self.server.config_path)
                                 .stdout.strip() == "Queue is empty.", timeout=20))
        self.assertNotIn("status=deferred", self.server.log_text())


if __name__ == "__main__":
    unittest.main()
