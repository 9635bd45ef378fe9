"""What a client sends that it should not, on the real server: credentials
sent after a refused AUTH or glued to a mistyped verb never reach the log
(only a known verb does); commands pipelined behind the final dot of DATA
by an unauthenticated client on an mx listener get 554 5.5.0 and a
disconnect, as Postfix's smtpd_forbid_unauth_pipelining (MAIL, RCPT and
DATA stay pipelined; an authenticated client may; [limits]
forbid_unauth_pipelining = false turns it off); a NUL in DATA or BDAT
is refused with 550 5.6.0 and nothing is kept; TLS 1.2 offers AEAD suites
only (no CBC: LUCKY13)."""
import base64
import socket
import ssl
import unittest

from harness import RawSMTP, Server, wait_for
from support.auth import PASSWORD, AuthSMTP
from support.tls import tls_context


def ehlo(s, name="client.example.net"):
    s.reply()
    code, lines = s.cmd("EHLO " + name)
    assert code == 250, lines


class SecretsInTheLog(unittest.TestCase):
    def setUp(self):
        self.server = Server(listeners=("mx",)).start()
        self.addCleanup(self.server.cleanup)

    def finished_log(self, s):
        s.cmd("QUIT")
        s.close()
        self.assertTrue(wait_for(self.server.sessions_ended))
        return self.server.log_text()

    def test_base64_lines_after_a_refused_auth_are_not_logged(self):
        secrets = [base64.b64encode(b"\0alice@example.org\0S3cretPassw0rd-%d" % i).decode() for i in range(3)]
        login_password = base64.b64encode(b"hunter").decode()  # letters only: "aHVudGVy"
        s = RawSMTP(*self.server.mx)
        self.addCleanup(s.close)
        ehlo(s)
        code, _ = s.cmd("AUTH PLAIN")  # no TLS: 538
        self.assertEqual(code, 538)
        self.assertEqual(s.cmd(secrets[0])[0], 500)
        self.assertEqual(s.cmd("AUTH NOSUCHMECH")[0], 504)
        self.assertEqual(s.cmd(secrets[1])[0], 500)
        self.assertEqual(s.cmd(login_password)[0], 500)
        s.cmd("MAIL FROM:<a@example.net>")
        self.assertEqual(s.cmd("AUTH LOGIN")[0], 503)  # inside a transaction
        self.assertEqual(s.cmd(secrets[2])[0], 500)
        log = self.finished_log(s)
        for secret in secrets:
            self.assertNotIn(secret, log)
            self.assertNotIn(secret[:16], log)
        self.assertNotIn(login_password, log)
        self.assertNotIn(login_password.upper(), log)
        self.assertEqual(log.count("event=bad_command "), 4, log)

    def test_a_mistyped_auth_verb_logs_no_initial_response(self):
        blob = base64.b64encode(b"\0alice@example.org\0Tr0ub4dor&3").decode()
        s = RawSMTP(*self.server.mx)
        self.addCleanup(s.close)
        ehlo(s)
        self.assertEqual(s.cmd("AUTHPLAIN " + blob)[0], 500)
        self.assertEqual(s.cmd("AUTH-PLAIN " + blob)[0], 500)
        self.assertEqual(s.cmd("MAIL FROM:" + blob)[0], 501)
        log = self.finished_log(s)
        self.assertNotIn(blob[:16], log)
        self.assertNotIn("Tr0ub4dor", log)
        self.assertNotIn("AUTHPLAIN", log)
        self.assertIn("verb=MAIL", log)  # a known verb is still named


class PipeliningBehindTheDot(unittest.TestCase):
    def setUp(self):
        self.server = Server(listeners=("mx", "submission")).start()
        self.addCleanup(self.server.cleanup)

    def open_transaction(self, s, sender="a@example.net", rcpt="postmaster@example.org"):
        # MAIL, RCPT and DATA pipelined in one write: still legal (RFC 2920).
        s.send(f"MAIL FROM:<{sender}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n")
        self.assertEqual([s.reply()[0] for _ in range(3)], [250, 250, 354])

    def test_unauthenticated_commands_behind_the_dot_are_refused(self):
        s = RawSMTP(*self.server.mx)
        self.addCleanup(s.close)
        ehlo(s)
        self.open_transaction(s)
        s.send("Subject: one\r\n\r\nbody\r\n.\r\nMAIL FROM:<b@example.net>\r\nRCPT TO:<postmaster@example.org>\r\n")
        code, lines = s.reply()
        self.assertEqual((code, lines[0]), (554, "554 5.5.0 Error: SMTP protocol synchronization"))
        self.assertTrue(s.closed())
        self.assertTrue(wait_for(self.server.sessions_ended))
        self.assertEqual(self.server.delivered("postmaster@example.org", timeout=0), [])
        self.assertIn("event=pipelining ", self.server.log_text())

    def test_quit_behind_the_dot_is_fine(self):
        s = RawSMTP(*self.server.mx)
        self.addCleanup(s.close)
        ehlo(s)
        self.open_transaction(s)
        s.send("Subject: two\r\n\r\nbody\r\n.\r\nQUIT\r\n")
        self.assertEqual(s.reply()[0], 250)
        self.assertEqual(s.reply()[0], 221)
        self.assertEqual(len(self.server.delivered("postmaster@example.org")), 1)

    def test_an_authenticated_client_may_pipeline_behind_the_dot(self):
        user = "alice@example.org"
        self.server.cli("user", "add", "--password-stdin", user, input=PASSWORD + "\n", check=True)
        s = AuthSMTP(*self.server.mx)
        self.addCleanup(lambda: s.sock.close())
        s.ehlo()
        s.starttls()
        token = base64.b64encode(b"\0" + user.encode() + b"\0" + PASSWORD.encode()).decode()
        self.assertEqual(s.cmd("AUTH PLAIN " + token)[0], 235)
        self.open_transaction(s, sender=user, rcpt=user)
        s.send(f"Subject: one\r\n\r\nfirst\r\n.\r\nMAIL FROM:<{user}>\r\nRCPT TO:<{user}>\r\nDATA\r\n")
        self.assertEqual([s.reply()[0] for _ in range(4)], [250, 250, 250, 354])
        s.send("Subject: two\r\n\r\nsecond\r\n.\r\nQUIT\r\n")
        self.assertEqual([s.reply()[0] for _ in range(2)], [250, 221])
        self.assertEqual(len(self.server.delivered(user, count=2)), 2)


class PipeliningAllowedByConfig(unittest.TestCase):
    def test_forbid_unauth_pipelining_false_lets_it_through(self):
        server = Server(listeners=("mx",), extra={"limits": {"forbid_unauth_pipelining": False}}).start()
        self.addCleanup(server.cleanup)
        s = RawSMTP(*server.mx)
        self.addCleanup(s.close)
        ehlo(s)
        s.send("MAIL FROM:<a@example.net>\r\nRCPT TO:<postmaster@example.org>\r\nDATA\r\n")
        self.assertEqual([s.reply()[0] for _ in range(3)], [250, 250, 354])
        s.send("Subject: one\r\n\r\nbody\r\n.\r\nNOOP\r\n")
        self.assertEqual([s.reply()[0] for _ in range(2)], [250, 250])
        self.assertEqual(len(server.delivered("postmaster@example.org")), 1)


class NulInTheMessage(unittest.TestCase):
    def setUp(self):
        self.server = Server(listeners=("mx",)).start()
        self.addCleanup(self.server.cleanup)

    def test_nul_in_data_and_bdat_is_refused_and_nothing_kept(self):
        s = RawSMTP(*self.server.mx)
        self.addCleanup(s.close)
        ehlo(s)
        for body in (b"Subject: a\r\n\r\nnul\0inside\r\n", b"Subject: b\r\n\r\n\0.\r\n", b"Subject: c\r\n\r\nx\r\n.\0\r\n"):
            self.assertEqual(s.cmd("MAIL FROM:<a@example.net>")[0], 250)
            self.assertEqual(s.cmd("RCPT TO:<postmaster@example.org>")[0], 250)
            self.assertEqual(s.cmd("DATA")[0], 354)
            s.send(body + b".\r\n")
            code, lines = s.reply()
            self.assertEqual((code, lines[0][:9]), (550, "550 5.6.0"), body)
        chunk = b"Subject: d\r\n\r\nnul\0\r\n"
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net>")[0], 250)
        self.assertEqual(s.cmd("RCPT TO:<postmaster@example.org>")[0], 250)
        s.send(b"BDAT %d LAST\r\n" % len(chunk) + chunk)
        code, lines = s.reply()
        self.assertEqual((code, lines[0][:9]), (550, "550 5.6.0"))
        self.assertEqual(s.cmd("NOOP")[0], 250)  # still in step
        s.cmd("QUIT")
        self.assertTrue(wait_for(self.server.sessions_ended))
        self.assertEqual(self.server.delivered("postmaster@example.org", timeout=0), [])


class ObsoleteReceivedFields(unittest.TestCase):
    def test_received_with_white_space_before_the_colon_counts_as_a_hop(self):
        # RFC 5322 §4.5: "Received :" is a Received field; 51 of them are a loop.
        server = Server(listeners=("mx",)).start()
        self.addCleanup(server.cleanup)
        received = "".join(f"Received : from hop{i}.test by hop{i + 1}.test; Tue, 1 Dec 2026 10:00:00 +0000\r\n"
                           for i in range(51))
        s = RawSMTP(*server.mx)
        self.addCleanup(s.close)
        ehlo(s)
        s.cmd("MAIL FROM:<someone@example.net>")
        s.cmd("RCPT TO:<postmaster@example.org>")
        self.assertEqual(s.cmd("DATA")[0], 354)
        self.assertEqual(s.cmd(received + "Subject: loop\r\n\r\nround and round\r\n."),
                         (554, ["554 5.4.6 Too many hops, mail loops"]))


class Tls12Ciphers(unittest.TestCase):
    def setUp(self):
        self.server = Server(listeners=("mx", "smtps")).start()
        self.addCleanup(self.server.cleanup)

    def handshake(self, ciphers):
        ctx = tls_context()
        ctx.minimum_version = ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.set_ciphers(ciphers)
        with socket.create_connection(self.server.ports["smtps"], timeout=5) as raw:
            with ctx.wrap_socket(raw) as tls:
                return tls.cipher()[0]

    def test_cbc_suites_are_refused(self):
        for cbc in ("ECDHE-ECDSA-AES128-SHA", "ECDHE-ECDSA-AES256-SHA384", "ECDHE-RSA-AES128-SHA256",
                    "AES128-SHA", "AES256-SHA256"):
            with self.subTest(cbc), self.assertRaises((ssl.SSLError, OSError)):
                self.handshake(cbc + ":@SECLEVEL=0")

    def test_aead_suites_are_taken(self):
        self.assertEqual(self.handshake("ECDHE-ECDSA-AES128-GCM-SHA256"), "ECDHE-ECDSA-AES128-GCM-SHA256")
        self.assertEqual(self.handshake("ECDHE-ECDSA-CHACHA20-POLY1305"), "ECDHE-ECDSA-CHACHA20-POLY1305")
        # A client's default list still meets the server on an AEAD suite.
        self.assertRegex(self.handshake("DEFAULT"), r"GCM|CHACHA20")


if __name__ == "__main__":
    unittest.main()
