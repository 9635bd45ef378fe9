"""SPEC §5 AUTH replies, one raw dialogue each, against the real binary:
334 challenges, initial responses, cancel, bad base64, line limit, unknown
mechanism, TLS requirement, AUTH twice / in a transaction, bad credentials,
store trouble, success; the EHLO AUTH line; and SCRAM with an independent
client (server-final on a 334, empty answer, 235; the "y" downgrade flag)."""
import os
import time
import unittest

from support.auth import PASSWORD, AuthSMTP
from support.sasl import Scram, b64, unb64
from harness import Server

USER = "alice@example.org"
DEFAULT_MECHS = ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN"]


class AuthReplies(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.server = Server(extra={"auth": {"lockout_failures": 1000, "max_failures_per_session": 3}}).start()
        r = cls.server.cli("user", "add", "--password-stdin", USER, input=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def connect(self, role="submission", tls=True):
        c = AuthSMTP(*getattr(self.server, role))
        self.addCleanup(c.close)
        c.ehlo()
        if tls:
            c.starttls()
        return c

    def assertReply(self, reply, code, enhanced=None):
        got_code, lines = reply
        self.assertEqual(got_code, code, lines)
        if enhanced:
            self.assertTrue(lines[-1].startswith(f"{code} {enhanced} "), lines)

    # ---- EHLO AUTH line ----
    def test_ehlo_lists_nothing_before_tls_and_everything_after(self):
        c = AuthSMTP(*self.server.submission)
        self.addCleanup(c.close)
        c.ehlo()
        self.assertIsNone(c.mechanisms())
        c.starttls()
        self.assertEqual(c.mechanisms(), DEFAULT_MECHS)

    def test_mx_listener_offers_auth_after_tls_too(self):
        c = self.connect("mx")
        self.assertEqual(c.mechanisms(), DEFAULT_MECHS)

    # ---- refusals before the exchange ----
    def test_auth_without_tls_is_538(self):
        c = self.connect(tls=False)
        self.assertReply(c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{PASSWORD}")), 538, "5.7.11")
        self.assertReply(c.cmd("AUTH LOGIN"), 538, "5.7.11")

    def test_unknown_mechanism_is_504(self):
        c = self.connect()
        self.assertReply(c.cmd("AUTH X-UNKNOWN"), 504, "5.5.4")
        self.assertReply(c.cmd("AUTH DIGEST-MD5"), 504, "5.5.4")
        self.assertReply(c.cmd("AUTH CRAM-MD5"), 504, "5.5.4")  # not enabled here
        self.assertReply(c.cmd("NOOP"), 250)

    def test_bad_syntax_is_501(self):
        c = self.connect()
        self.assertReply(c.cmd("AUTH"), 501)
        self.assertReply(c.cmd("AUTH PL@IN"), 501)
        self.assertReply(c.cmd("AUTH PLAIN abc def"), 501)

    # ---- the exchange ----
    def test_empty_first_challenge_is_bare_334_and_star_cancels(self):
        c = self.connect()
        c.send("AUTH PLAIN\r\n")
        self.assertEqual(c.line(), "334 ")
        self.assertReply(c.cmd("*"), 501, "5.7.0")
        # The session goes on and AUTH works afterwards.
        self.assertReply(c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{PASSWORD}")), 235, "2.7.0")

    def test_plain_with_response_after_empty_challenge(self):
        c = self.connect()
        c.send("AUTH plain\r\n")
        self.assertEqual(c.line(), "334 ")
        self.assertReply(c.cmd(b64(f"\0{USER}\0{PASSWORD}")), 235, "2.7.0")

    def test_equals_sign_is_an_empty_initial_response(self):
        # RFC 4954 §4: "=" is a response of zero length, not the absence of one. PLAIN's one
        # message cannot be empty (RFC 4616 §2): the exchange fails there, and no "334 "
        # waits for a second response the client never meant to send.
        c = self.connect()
        self.assertReply(c.cmd("AUTH PLAIN ="), 535, "5.7.8")
        self.assertReply(c.cmd("NOOP"), 250, "2.0.0")

    def test_star_as_initial_response_cancels(self):
        c = self.connect()
        self.assertReply(c.cmd("AUTH PLAIN *"), 501, "5.7.0")

    def test_bad_base64_is_501_5_5_2(self):
        c = self.connect()
        for bad in ["!!!!", "Zh==", "Zm9v=", "Zm9v-_==", "=="]:
            self.assertReply(c.cmd("AUTH PLAIN " + bad), 501, "5.5.2")
        c.send("AUTH LOGIN\r\n")
        self.assertTrue(c.line().startswith("334 "))
        self.assertReply(c.cmd("not base64!"), 501, "5.5.2")
        c.send("AUTH PLAIN\r\n")
        self.assertEqual(c.line(), "334 ")
        self.assertReply(c.cmd("AGFs\x01aWNl"), 501, "5.5.2")
        self.assertReply(c.cmd("NOOP"), 250)

    def test_response_line_over_12288_octets_is_500_5_5_6(self):
        c = self.connect()
        c.send("AUTH PLAIN\r\n")
        self.assertEqual(c.line(), "334 ")
        self.assertReply(c.cmd("QUFB" * 3072), 500, "5.5.6")  # 12288 + CRLF
        self.assertReply(c.cmd("NOOP"), 250)  # still in step
        c.send("AUTH PLAIN\r\n")
        self.assertEqual(c.line(), "334 ")
        self.assertReply(c.cmd("QUFB" * 3071 + "QQ="), 500, "5.5.6")  # 12287 + CRLF
        # At the limit (12286 + CRLF = 12288 octets) the line is read and judged.
        c.send("AUTH PLAIN\r\n")
        self.assertEqual(c.line(), "334 ")
        self.assertReply(c.cmd("QUFB" * 3071 + "QQ"), 501, "5.5.2")

    def test_auth_command_line_over_12288_octets_is_500_5_5_6(self):
        c = self.connect()
        # The initial response on the AUTH line itself is part of the exchange.
        self.assertReply(c.cmd("AUTH PLAIN " + "QUFB" * 3100), 500, "5.5.6")
        self.assertReply(c.cmd("NOOP"), 250)  # still in step
        # Just over the limit: 12289 and 12290 octets with CRLF.
        for extra in (1, 2):
            line = "AUTH PLAIN " + "Q" * (12288 - 2 - len("AUTH PLAIN ") + extra)
            self.assertEqual(len(line) + 2, 12288 + extra)
            self.assertReply(c.cmd(line), 500, "5.5.6")
            self.assertReply(c.cmd("NOOP"), 250)
        # Any other over-long command line stays 500 5.5.2.
        self.assertReply(c.cmd("NOOP " + "x" * 13000), 500, "5.5.2")
        self.assertReply(c.cmd("NOOP"), 250)

    def test_wrong_password_and_unknown_user_are_535_and_take_as_long(self):
        c = self.connect()
        (r1, t_wrong) = c.timed("AUTH PLAIN " + b64(f"\0{USER}\0wrong"))
        self.assertReply(r1, 535, "5.7.8")
        (r2, t_unknown) = c.timed("AUTH PLAIN " + b64(f"\0nobody@example.org\0{PASSWORD}"))
        self.assertReply(r2, 535, "5.7.8")
        self.assertEqual(r1[1], r2[1])
        # Padded: neither answers at once, and the two are alike.
        self.assertGreater(t_wrong, 0.45)
        self.assertGreater(t_unknown, 0.45)
        self.assertLess(abs(t_wrong - t_unknown), 0.5)

    def test_login_exchange(self):
        c = self.connect()
        c.send("AUTH LOGIN\r\n")
        code, lines = c.reply()
        self.assertEqual(code, 334)
        # The de-facto prompts (draft-murchison-sasl-login), which some clients match on.
        self.assertEqual(unb64(lines[0][4:]), b"Username:")
        code, lines = c.cmd(b64(USER))
        self.assertEqual(code, 334)
        self.assertEqual(unb64(lines[0][4:]), b"Password:")
        self.assertReply(c.cmd(b64(PASSWORD)), 235, "2.7.0")

    def test_login_with_initial_response(self):
        c = self.connect()
        code, lines = c.cmd("AUTH LOGIN " + b64(USER))
        self.assertEqual(code, 334, lines)
        self.assertEqual(unb64(lines[0][4:]), b"Password:")
        self.assertReply(c.cmd(b64(PASSWORD)), 235, "2.7.0")

    def test_auth_twice_is_503(self):
        c = self.connect()
        self.assertReply(c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{PASSWORD}")), 235, "2.7.0")
        self.assertReply(c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{PASSWORD}")), 503, "5.5.1")

    def test_auth_in_a_transaction_is_503(self):
        c = self.connect("mx")
        self.assertReply(c.cmd("MAIL FROM:<someone@example.net>"), 250)
        self.assertReply(c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{PASSWORD}")), 503, "5.5.1")
        self.assertReply(c.cmd("RSET"), 250)
        self.assertReply(c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{PASSWORD}")), 235, "2.7.0")

    def test_other_authorization_identity_is_refused(self):
        c = self.connect()
        self.assertReply(c.cmd("AUTH PLAIN " + b64(f"bob@example.org\0{USER}\0{PASSWORD}")), 535, "5.7.8")

    def test_success_then_submission_and_log(self):
        c = self.connect()
        self.assertReply(c.cmd("MAIL FROM:<alice@example.org>"), 530, "5.7.0")
        payload = b64(f"\0{USER}\0{PASSWORD}")
        self.assertReply(c.cmd("AUTH PLAIN " + payload), 235, "2.7.0")
        self.assertReply(c.cmd("MAIL FROM:<alice@example.org> AUTH=alice+40example.org"), 250)
        self.assertReply(c.cmd("RCPT TO:<alice@example.org>"), 250)
        self.assertReply(c.cmd("RSET"), 250)
        log = self.server.log_text()
        self.assertIn("user=alice@example.org", log)
        self.assertNotIn(payload, log)
        self.assertNotIn(PASSWORD, log)

    # ---- SCRAM, with an independent client ----
    def scram(self, mech, hash_name, tamper=False, cbflag="n", user=USER):
        c = self.connect()
        s = Scram(hash_name, user, PASSWORD, cbflag=cbflag)
        code, lines = c.cmd(f"AUTH {mech} " + b64(s.first()))
        if code != 334:
            return c, (code, lines), s
        server_first = unb64(lines[0][4:]).decode()
        code, lines = c.cmd(b64(s.final(server_first, tamper_proof=tamper)))
        if code != 334:
            return c, (code, lines), s
        self.assertEqual(unb64(lines[0][4:]).decode(), s.expected_server)
        # RFC 4954 §4: the server-final message on a 334, an empty answer, then 235.
        return c, c.cmd(""), s

    def test_scram_sha256(self):
        c, r, _ = self.scram("SCRAM-SHA-256", "sha256")
        self.assertReply(r, 235, "2.7.0")

    def test_scram_sha1(self):
        c, r, _ = self.scram("SCRAM-SHA-1", "sha1")
        self.assertReply(r, 235, "2.7.0")

    def test_scram_wrong_proof_is_535(self):
        c, r, _ = self.scram("SCRAM-SHA-256", "sha256", tamper=True)
        self.assertReply(r, 535, "5.7.8")

    def test_scram_unknown_user_looks_like_a_real_one(self):
        def server_first(user):
            c = self.connect()
            s = Scram("sha256", user, PASSWORD)
            code, lines = c.cmd("AUTH SCRAM-SHA-256 " + b64(s.first()))
            self.assertEqual(code, 334, lines)
            first = dict(kv.split("=", 1) for kv in unb64(lines[0][4:]).decode().split(","))
            self.assertReply(c.cmd("*"), 501, "5.7.0")
            return first
        real, ghost, ghost2 = server_first(USER), server_first("ghost@example.org"), server_first("ghost@example.org")
        self.assertEqual(ghost["s"], ghost2["s"])  # stable fake salt
        self.assertEqual(len(unb64(ghost["s"])), len(unb64(real["s"])))
        self.assertEqual(ghost["i"], real["i"])
        c, r, _ = self.scram("SCRAM-SHA-256", "sha256", user="ghost@example.org")
        self.assertReply(r, 535, "5.7.8")

    def test_scram_downgrade_flag_refused_when_plus_offered(self):
        # "y": the client could bind but thinks the server cannot; here the
        # server offered -PLUS, so someone stripped it (RFC 5802 §6).
        c, r, _ = self.scram("SCRAM-SHA-256", "sha256", cbflag="y")
        self.assertReply(r, 535, "5.7.8")

    def test_scram_plus_without_binding_is_refused(self):
        c, r, _ = self.scram("SCRAM-SHA-256-PLUS", "sha256", cbflag="n")
        self.assertReply(r, 535, "5.7.8")


class AuthWithoutTlsRequirement(unittest.TestCase):
    """require_tls = false: clear-text AUTH is allowed, -PLUS still is not."""

    @classmethod
    def setUpClass(cls):
        cls.server = Server(listeners=("submission",),
                            extra={"auth": {"require_tls": False, "lockout_failures": 1000}}).start()
        r = cls.server.cli("user", "add", "--password-stdin", USER, input=PASSWORD + "\n")
        assert r.returncode == 0, r.stderr

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()

    def test_clear_text_auth(self):
        c = AuthSMTP(*self.server.submission)
        self.addCleanup(c.close)
        c.ehlo()
        self.assertEqual(c.mechanisms(), ["SCRAM-SHA-256", "SCRAM-SHA-1", "PLAIN", "LOGIN"])
        code, lines = c.cmd("AUTH SCRAM-SHA-256-PLUS " + b64("p=tls-exporter,,n=x,r=abc"))
        self.assertEqual(code, 538, lines)
        # Without TLS, "y" is an honest flag and passes.
        s = Scram("sha256", USER, PASSWORD, cbflag="y")
        code, lines = c.cmd("AUTH SCRAM-SHA-256 " + b64(s.first()))
        self.assertEqual(code, 334, lines)
        code, lines = c.cmd(b64(s.final(unb64(lines[0][4:]).decode())))
        self.assertEqual(code, 334, lines)
        code, lines = c.cmd("")
        self.assertEqual(code, 235, lines)


class AuthStoreUnavailable(unittest.TestCase):
    def test_unreadable_server_secret_is_454(self):
        server = Server(listeners=("submission",))
        self.addCleanup(server.cleanup)
        # A secret that cannot be read (a short one is replaced: test_durability).
        os.makedirs(os.path.join(server.data_dir, "auth.secret"))
        server.start()
        server.cli("user", "add", "--password-stdin", USER, input=PASSWORD + "\n")
        c = AuthSMTP(*server.submission)
        self.addCleanup(c.close)
        c.ehlo()
        c.starttls()
        code, lines = c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{PASSWORD}"))
        self.assertEqual(code, 454, lines)
        self.assertTrue(lines[0].startswith("454 4.7.0 "), lines)


if __name__ == "__main__":
    unittest.main()
