"""Authenticated sessions skip greylisting (SPEC §5): with greylisting on,
a client that logs in (STARTTLS + AUTH, smtplib) is accepted at once on
the submission and the mx listener, while the same triplet from an
unauthenticated session is greylisted."""
import smtplib
import ssl
import unittest

from harness import Server
from support.policy import greylist_config, rcpt
from support.users import UserTemplate


class AuthenticatedSkipsGreylistTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.users = UserTemplate(users=("bob@example.org", "carol@example.org"))

    @classmethod
    def tearDownClass(cls):
        cls.users.cleanup()

    def authenticated_rcpt(self, addr, sender, recipient):
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        with smtplib.SMTP(*addr, timeout=15) as c:
            c.ehlo("client.example.net")
            c.starttls(context=ctx)
            c.ehlo("client.example.net")
            c.login("bob@example.org", "secret-pw")
            self.assertEqual(c.mail(sender)[0], 250)
            code, msg = c.rcpt(recipient)
            c.rset()
            return code, msg.decode()

    def test_authenticated_sessions_are_not_greylisted(self):
        s = Server(data_dir=self.users.data_dir(self), listeners=("mx", "submission"),
                   extra={"greylist": greylist_config()})
        s.start()
        self.addCleanup(s.cleanup)
        self.assertEqual(self.authenticated_rcpt(s.submission, "bob@example.org", "carol@example.org")[0], 250)
        self.assertEqual(self.authenticated_rcpt(s.mx, "bob@example.org", "carol@example.org")[0], 250)
        self.assertEqual(rcpt(s.mx, "bob@example.org", "carol@example.org")[0], 450, "not logged in: greylisted")
        listing = s.cli("greylist", "list").stdout
        self.assertEqual(listing.count("<bob@example.org> <carol@example.org>"), 1,
                         "only the unauthenticated try left a triplet")


if __name__ == "__main__":
    unittest.main()
