"""Delivery through LMTP (SPEC §12) into a private Dovecot (dovecot-lmtpd,
passwd-file users, the quota plugin, a Sieve script), over its unix socket
and over TCP: mail sent with smtplib lands in Dovecot's Maildir and
doveadm finds it; an unknown and an over-quota recipient are refused at
RCPT with Dovecot's own codes; a Sieve rule files a message into a folder;
Postern keeps no Maildir of its own. Dovecot runs with its own config and
is stopped by PID."""
import os
import smtplib
import unittest
import uuid
from email.message import EmailMessage

from harness import Server, wait_for
from support import dovecot

USERS = {"alice@example.org": "alice-pw", "bob@example.org": "bob-pw", "carol@example.org": "carol-pw"}
SIEVE = """require ["fileinto", "mailbox"];
if header :contains "subject" "[lists]" { fileinto :create "Lists"; }
"""


def message(to, subject, body="Hello over LMTP.\n"):
    m = EmailMessage()
    m["From"] = "sender@example.com"
    m["To"] = to
    m["Subject"] = subject
    m["Message-ID"] = f"<{uuid.uuid4().hex}@example.com>"
    m.set_content(body)
    return m


@unittest.skipUnless(dovecot.available(), "dovecot is not installed (scripts/deps.sh)")
class LmtpIntoDovecot(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dc = dovecot.Dovecot(USERS, protocols=("lmtp",), lmtp_inet=True, sieve=SIEVE,
                                 user_quota={"bob@example.org": "*:messages=1"})
        cls.addClassCleanup(cls.dc.cleanup)
        cls.servers = {}
        for name, transport in (("unix", f"lmtp:unix:{cls.dc.lmtp_socket}"),
                                ("inet", f"lmtp:inet:127.0.0.1:{cls.dc.lmtp_port}")):
            s = Server(extra={"delivery": {"transport": transport}})
            cls.addClassCleanup(s.cleanup)
            s.start()
            cls.servers[name] = s

    def search(self, user, subject, mailbox="INBOX"):
        out = self.dc.doveadm("search", "-u", user, "mailbox", mailbox, "HEADER", "Subject", subject)
        return [line for line in out.stdout.splitlines() if line.strip()]

    def send(self, server, to, subject):
        with smtplib.SMTP(*server.mx, timeout=30) as s:
            to = [to] if isinstance(to, str) else to
            s.send_message(message(", ".join(to), subject), "sender@example.com", to)

    def test_mail_lands_in_dovecot_and_doveadm_sees_it(self):
        for name, server in self.servers.items():
            with self.subTest(transport=name):
                subject = f"lmtp {name} {uuid.uuid4().hex}"
                self.send(server, ["alice@example.org", "carol@example.org"], subject)
                for user in ("alice@example.org", "carol@example.org"):
                    self.assertTrue(wait_for(lambda: len(self.search(user, subject)) == 1, timeout=20),
                                    self.dc.log()[-2000:] + server.log_text()[-2000:])
                out = self.dc.doveadm("fetch", "-u", "alice@example.org", "hdr", "mailbox", "INBOX",
                                      "HEADER", "Subject", subject, check=True).stdout
                self.assertIn("Return-Path: <sender@example.com>", out)
                self.assertIn("by mx.example.org", out)  # our Received: field came along
                # Delivered by Dovecot, not written by us.
                self.assertFalse(os.path.exists(os.path.join(server.data_dir, "mail")))
                self.assertTrue(wait_for(lambda: "status=delivered" in server.log_text(), timeout=10))

    def test_unknown_recipient_refused_at_rcpt_with_dovecots_code(self):
        for name, server in self.servers.items():
            with self.subTest(transport=name):
                with smtplib.SMTP(*server.mx, timeout=30) as s:
                    s.ehlo("client.example.com")
                    s.mail("sender@example.com")
                    code, text = s.rcpt("nobody@example.org")
                    self.assertEqual(code, 550, text)
                    self.assertTrue(text.startswith(b"5.1.1 "), text)
                    self.assertIn(b"nobody@example.org", text)
                    code, text = s.rcpt("alice@example.org")
                    self.assertEqual(code, 250, text)
                    s.rset()

    def test_over_quota_refused_at_rcpt_with_dovecots_code(self):
        server = self.servers["unix"]
        subject = f"fills bob {uuid.uuid4().hex}"
        self.send(server, "bob@example.org", subject)  # bob's quota is one message
        self.assertTrue(wait_for(lambda: len(self.search("bob@example.org", subject)) == 1, timeout=20),
                        self.dc.log()[-2000:])
        for name, server in self.servers.items():
            with self.subTest(transport=name):
                with smtplib.SMTP(*server.mx, timeout=30) as s:
                    s.ehlo("client.example.com")
                    s.mail("sender@example.com")
                    code, text = s.rcpt("bob@example.org")
                    self.assertEqual(code, 552, text)
                    self.assertTrue(text.startswith(b"5.2.2 "), text)
                    s.rset()
        self.assertEqual(len(self.search("bob@example.org", "")), 1)

    def test_userdb_answers_at_rcpt_when_set(self):
        """With [auth] dovecot_userdb, RCPT asks Dovecot's auth-userdb socket
        (a USER lookup) instead of the LMTP server: our own 550 5.1.1 text
        shows which one answered; Dovecot's users are taken and delivered."""
        server = Server(extra={"delivery": {"transport": f"lmtp:unix:{self.dc.lmtp_socket}"},
                               "auth": {"dovecot_userdb": self.dc.userdb_socket}})
        self.addCleanup(server.cleanup)
        server.start()
        subject = f"userdb {uuid.uuid4().hex}"
        with smtplib.SMTP(*server.mx, timeout=30) as s:
            s.ehlo("client.example.com")
            s.mail("sender@example.com")
            self.assertEqual(s.rcpt("nobody@example.org"), (550, b"5.1.1 No such user"))
            self.assertEqual(s.rcpt("carol@example.org")[0], 250)
            code, _ = s.data(message("carol@example.org", subject).as_string().encode().replace(b"\n", b"\r\n"))
            self.assertEqual(code, 250)
        self.assertTrue(wait_for(lambda: len(self.search("carol@example.org", subject)) == 1, timeout=20),
                        self.dc.log()[-2000:])

    def test_sieve_rule_files_into_a_folder(self):
        subject = f"[lists] weekly {uuid.uuid4().hex}"
        self.send(self.servers["inet"], "carol@example.org", subject)
        self.assertTrue(wait_for(lambda: len(self.search("carol@example.org", subject, "Lists")) == 1, timeout=20),
                        self.dc.log()[-2000:])
        self.assertEqual(self.search("carol@example.org", subject, "INBOX"), [])


class LmtpServerDown(unittest.TestCase):
    """No LMTP server listening: RCPT for a local recipient is 451 4.4.0
    (the client tries again later), never a 5xx; remote rules are untouched."""

    def test_rcpt_gets_451_when_the_lmtp_server_is_down(self):
        from harness import free_port
        from support.scratch import scratch_dir
        d = scratch_dir(test=self)
        for transport in (f"lmtp:unix:{d}/no-such-socket", f"lmtp:inet:127.0.0.1:{free_port()}"):
            with self.subTest(transport=transport):
                with Server(extra={"delivery": {"transport": transport}}) as server:
                    with smtplib.SMTP(*server.mx, timeout=30) as s:
                        s.ehlo("client.example.com")
                        s.mail("sender@example.com")
                        code, text = s.rcpt("alice@example.org")
                        self.assertEqual((code, text[:6]), (451, b"4.4.0 "), text)
                        code, text = s.rcpt("postmaster@example.org")  # RFC 5321 §4.5.1
                        self.assertEqual(code, 250, text)
                    self.assertIn("event=lmtp_unavailable", server.log_text())

    def test_rcpt_gets_451_when_the_userdb_is_down(self):
        from support.scratch import scratch_dir
        d = scratch_dir(test=self)
        with Server(extra={"auth": {"dovecot_userdb": f"{d}/no-auth-userdb"}}) as server:
            with smtplib.SMTP(*server.mx, timeout=30) as s:
                s.ehlo("client.example.com")
                s.mail("sender@example.com")
                code, text = s.rcpt("alice@example.org")
                self.assertEqual((code, text[:6]), (451, b"4.4.0 "), text)
            self.assertIn("event=userdb_unavailable", server.log_text())


if __name__ == "__main__":
    unittest.main()
