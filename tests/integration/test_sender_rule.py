"""Who may send as what (SPEC §11) through the real server: an
authenticated user's MAIL FROM must be the login, an alias that reaches
it or an address listed with `postern user sender`, else 553 5.7.1; DKIM
signs only From: domains the user owns that way and never a message with
two From: fields (python3-dkim verifies what was signed); `sendmail` run
by root may use any sender. `postern user sender` add/del/list, its bad
arguments, and a database made before the senders table existed. With
local_domains = [], a bare <postmaster> cannot be delivered: it is
refused, and check-config and the start-up log say why."""
import os
import re
import smtplib
import sqlite3
import subprocess
import unittest

import dkim

import harness
from queue_peers import NextHop, add_user, tls_context

ALIASES = """\
sales@example.org: alice@example.org
team@example.net: alice@example.org, bob@example.org
"""


def txt_of(zone_line):
    return "".join(re.findall(r'"([^"]*)"', zone_line))


class SenderRuleTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hop = NextHop().start()
        cls.server = harness.Server(extra={
            "queue": {"retry_initial": "1s", "retry_max": "2s", "lifetime": "1h"},
            "relay": {"routes": {"remote.test": f"{cls.hop.host}:{cls.hop.port}"}},
        })
        cls.server.write_config()
        with open(os.path.join(cls.server.data_dir, "aliases"), "w") as f:
            f.write(ALIASES)
        cls.records = {}
        for domain in ("example.org", "example.net"):
            r = cls.server.cli("dkim", "keygen", domain, "--selector", "s1", "--algorithm", "ed25519")
            assert r.returncode == 0, r.stderr
            name, _, rest = r.stdout.strip().partition(" IN TXT ")
            cls.records[name.rstrip(".")] = txt_of(rest)
        cls.server.start()
        for user in ("alice@example.org", "bob@example.org", "mallory@example.org"):
            add_user(cls.server, user)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.hop.stop()

    def login(self, user):
        s = smtplib.SMTP(*self.server.submission, timeout=20)
        self.addCleanup(s.close)
        s.ehlo("client.test")
        s.starttls(context=tls_context())
        s.ehlo("client.test")
        s.login(user, "queue-test-password")
        return s

    def mail_from(self, user, sender):
        s = self.login(user)
        return s.mail(sender)

    def sender_cli(self, *args):
        return self.server.cli("user", "sender", *args)

    # -- MAIL FROM -------------------------------------------------------

    def test_another_users_address_is_refused(self):
        self.assertEqual(self.mail_from("mallory@example.org", "alice@example.org"),
                         (553, b"5.7.1 Sender address rejected: not owned by user"))
        self.assertEqual(self.mail_from("mallory@example.org", "ceo@example.net")[0], 553)
        self.assertEqual(self.mail_from("mallory@example.org", "ceo@remote.test")[0], 553)
        # The reason carries the session, so that grepping a session finds it.
        self.assertRegex(self.server.log_text(), r"session=\S+ client=127\.0\.0\.1 event=sender_not_owned "
                                                 r"user=mallory@example\.org from=ceo@remote\.test")

    def test_own_address_alias_and_null_sender_are_accepted(self):
        self.assertEqual(self.mail_from("alice@example.org", "Alice@Example.ORG")[0], 250)
        self.assertEqual(self.mail_from("alice@example.org", "sales@example.org")[0], 250)  # alias to alice alone
        self.assertEqual(self.mail_from("alice@example.org", "team@example.net")[0], 250)   # alias to alice and bob
        self.assertEqual(self.mail_from("bob@example.org", "team@example.net")[0], 250)
        self.assertEqual(self.mail_from("bob@example.org", "sales@example.org")[0], 553)
        self.assertEqual(self.mail_from("bob@example.org", "")[0], 250)  # <>: a bounce or a vacation reply

    def test_listed_sender_is_accepted_until_deleted(self):
        self.assertEqual(self.mail_from("bob@example.org", "bob.smith@remote.test")[0], 553)
        r = self.sender_cli("bob@example.org", "add", "Bob.Smith@Remote.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("bob@example.org may send as bob.smith@remote.test", r.stdout)
        self.assertEqual(self.mail_from("bob@example.org", "bob.smith@remote.test")[0], 250)  # at once
        r = self.sender_cli("bob@example.org", "list")
        self.assertEqual((r.returncode, r.stdout), (0, "bob.smith@remote.test\n"))
        r = self.sender_cli("bob@example.org", "del", "bob.smith@remote.test")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.mail_from("bob@example.org", "bob.smith@remote.test")[0], 553)
        self.assertEqual(self.sender_cli("bob@example.org", "list").stdout, "")

    def test_mx_listener_applies_the_rule_after_auth_too(self):
        with smtplib.SMTP(*self.server.mx, timeout=20) as s:
            s.ehlo("client.test")
            s.starttls(context=tls_context())
            s.ehlo("client.test")
            if not s.has_extn("auth"):
                self.skipTest("the mx listener offers no AUTH")
            s.login("mallory@example.org", "queue-test-password")
            self.assertEqual(s.mail("alice@example.org")[0], 553)
        with smtplib.SMTP(*self.server.mx, timeout=20) as s:  # strangers are not users: inbound mail as before
            s.ehlo("client.test")
            self.assertEqual(s.mail("alice@example.org")[0], 250)

    # -- DKIM ------------------------------------------------------------

    def dns(self, name, timeout=5):
        return self.records.get(name.decode().rstrip("."), "").encode() or None

    def send_and_receive(self, user, envelope_from, headers, subject):
        s = self.login(user)
        msg = f"{headers}To: <friend@remote.test>\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n"
        s.sendmail(envelope_from, ["friend@remote.test"], msg.encode())
        return self.received(subject)

    def received(self, subject):
        def found():
            return [m[2] for m in self.hop.messages if subject.encode() in m[2]]
        self.assertTrue(harness.wait_for(found, timeout=30), f"{subject} did not reach the next hop")
        return found()[0]

    def signed_domains(self, message):
        d = dkim.DKIM(message)
        fields = [v for k, v in d.headers if k.lower() == b"dkim-signature"]
        out = []
        for i, field in enumerate(fields):
            tags = dict(t.strip().split(b"=", 1) for t in field.split(b";") if b"=" in t)
            self.assertTrue(dkim.DKIM(message).verify(idx=i, dnsfunc=self.dns))
            out.append(tags[b"d"].strip().decode())
        return out

    def test_own_domain_is_signed(self):
        m = self.send_and_receive("alice@example.org", "alice@example.org", "From: <alice@example.org>\r\n", "own-domain")
        self.assertEqual(self.signed_domains(m), ["example.org"])
        # example.net through the alias team@example.net that reaches alice
        m = self.send_and_receive("alice@example.org", "alice@example.org", "From: <anyone@example.net>\r\n", "alias-domain")
        self.assertEqual(self.signed_domains(m), ["example.net"])

    def test_domain_the_user_does_not_own_is_not_signed(self):
        m = self.send_and_receive("mallory@example.org", "mallory@example.org", "From: <ceo@example.net>\r\n",
                                  "foreign-domain")
        self.assertNotIn(b"DKIM-Signature", m)
        self.assertIn("event=dkim_not_signed", self.server.log_text())

    def test_two_from_fields_are_never_signed(self):
        m = self.send_and_receive("alice@example.org", "alice@example.org",
                                  "From: <alice@example.org>\r\nFrom: <ceo@example.net>\r\n", "two-from")
        self.assertNotIn(b"DKIM-Signature", m)

    def test_root_sendmail_may_use_any_sender_and_is_signed(self):
        self.assertEqual(os.getuid(), 0, "this test runs as root")
        r = subprocess.run([harness.POSTERN, "sendmail", "--config", self.server.config_path, "-t", "-i",
                            "-f", "ceo@example.net"],
                           input="From: CEO <ceo@example.net>\nTo: friend@remote.test\nSubject: root-sendmail\n\nhi\n",
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        m = self.received("root-sendmail")
        self.assertEqual(self.signed_domains(m), ["example.net"])
        envelope = [e for e in self.hop.messages if b"root-sendmail" in e[2]][0]
        self.assertEqual(envelope[0], "ceo@example.net")


class UserSenderCliTest(unittest.TestCase):
    def setUp(self):
        self.server = harness.Server()
        self.server.write_config()
        self.addCleanup(self.server.cleanup)

    def cli(self, *args):
        return self.server.cli("user", "sender", *args)

    def test_bad_arguments_get_clear_errors(self):
        add_user(self.server, "alice@example.org")
        cases = [
            (("alice@example.org",), 64, "ACTION"),
            (("alice@example.org", "grant", "x@example.org"), 64, "grant"),
            (("alice@example.org", "add"), 64, "needs the address"),
            (("alice@example.org", "list", "x@example.org"), 64, "takes no address"),
            (("not an address", "add", "x@example.org"), 65, "not a valid mailbox address"),
            (("alice@example.org", "add", "bad address"), 65, "not a valid mailbox address"),
            (("ghost@example.org", "add", "x@example.org"), 67, "no such user: ghost@example.org"),
            (("ghost@example.org", "list"), 67, "no such user"),
            (("alice@example.org", "del", "x@example.org"), 65, "x@example.org is not a sender address of alice@example.org"),
            (("alice@example.org", "add", "Alice@example.org"), 65, "the login itself"),
        ]
        for args, code, text in cases:
            with self.subTest(args=args):
                r = self.cli(*args)
                self.assertEqual(r.returncode, code, r.stderr)
                self.assertIn(text, r.stderr)
        self.assertEqual(self.cli("alice@example.org", "add", "x@example.org").returncode, 0)
        r = self.cli("alice@example.org", "add", "X@example.org")
        self.assertEqual(r.returncode, 65)
        self.assertIn("already a sender address", r.stderr)

    def test_deleting_the_user_deletes_its_senders(self):
        add_user(self.server, "alice@example.org")
        self.assertEqual(self.cli("alice@example.org", "add", "other@example.org").returncode, 0)
        self.assertEqual(self.server.cli("user", "del", "alice@example.org").returncode, 0)
        add_user(self.server, "alice@example.org")
        self.assertEqual(self.cli("alice@example.org", "list").stdout, "")

    def test_database_made_before_the_senders_table(self):
        db = sqlite3.connect(os.path.join(self.server.data_dir, "postern.db"))
        db.execute("CREATE TABLE users (address TEXT PRIMARY KEY, password_hash TEXT NOT NULL DEFAULT '',"
                   " scram_sha1_salt TEXT NOT NULL DEFAULT '', scram_sha1_iter INTEGER NOT NULL DEFAULT 0,"
                   " scram_sha1_stored TEXT NOT NULL DEFAULT '', scram_sha1_server TEXT NOT NULL DEFAULT '',"
                   " scram_sha256_salt TEXT NOT NULL DEFAULT '', scram_sha256_iter INTEGER NOT NULL DEFAULT 0,"
                   " scram_sha256_stored TEXT NOT NULL DEFAULT '', scram_sha256_server TEXT NOT NULL DEFAULT '',"
                   " cram_md5_secret TEXT NOT NULL DEFAULT '', locked INTEGER NOT NULL DEFAULT 0,"
                   " lock_reason TEXT NOT NULL DEFAULT '', disabled INTEGER NOT NULL DEFAULT 0,"
                   " quota_bytes INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL DEFAULT 0)")
        db.execute("INSERT INTO users (address) VALUES ('old@example.org')")
        db.commit()
        db.close()
        r = self.cli("old@example.org", "add", "alias@example.org")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.cli("old@example.org", "list").stdout, "alias@example.org\n")


class PostmasterWithoutLocalDomainsTest(unittest.TestCase):
    def test_bare_postmaster_is_refused_and_the_operator_told(self):
        server = harness.Server(extra={"local_domains": []})
        self.addCleanup(server.cleanup)
        server.write_config()
        r = server.cli("check-config", "-q")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("warning: postmaster postmaster@mx.example.org is in this host's name", r.stderr)
        server.start()
        self.assertIn("postmaster@mx.example.org is in this host's name", server.log_text())
        with smtplib.SMTP(*server.mx, timeout=20) as s:
            s.ehlo("client.test")
            s.mail("someone@remote.test")
            self.assertEqual(s.rcpt("<postmaster>"), (550, b"5.1.1 No such user"))

    def test_postmaster_elsewhere_is_still_accepted(self):
        server = harness.Server(extra={"local_domains": [], "postmaster": "admin@remote.test"})
        self.addCleanup(server.cleanup)
        server.write_config()
        r = server.cli("check-config", "-q")
        self.assertEqual((r.returncode, r.stderr), (0, ""))
        server.start()
        with smtplib.SMTP(*server.mx, timeout=20) as s:
            s.ehlo("client.test")
            s.mail("someone@remote.test")
            self.assertEqual(s.rcpt("<postmaster>")[0], 250)


if __name__ == "__main__":
    unittest.main()
