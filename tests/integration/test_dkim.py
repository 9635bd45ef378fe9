"""DKIM signing (SPEC §11, RFC 6376, RFC 8463): `postern dkim keygen` makes
an RSA and an Ed25519 key and prints their TXT records; mail an
authenticated user submits, and mail from `postern sendmail`, crosses the
queue to an independent next hop (aiosmtpd) signed with both keys, and
Debian's python3-dkim verifies each signature against the printed records.
Mail from strangers on the MX port is not signed, a changed body fails
verification, and bad keygen arguments get clear errors."""
import os
import re
import stat
import subprocess
import unittest

import dkim

import harness
from queue_peers import NextHop, add_user, submit


def txt_of(zone_line):
    """The TXT text of a zone line: its quoted strings joined (RFC 1035)."""
    return "".join(re.findall(r'"([^"]*)"', zone_line))


class DkimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.hop = NextHop().start()
        cls.server = harness.Server(extra={
            "queue": {"retry_initial": "1s", "retry_max": "2s", "lifetime": "1h"},
            "relay": {"routes": {"remote.test": f"{cls.hop.host}:{cls.hop.port}"}},
        })
        cls.server.write_config()
        cls.records = {}
        for algorithm, selector in (("rsa", "s1"), ("ed25519", "s2")):
            r = cls.server.cli("dkim", "keygen", "example.org", "--selector", selector, "--algorithm", algorithm)
            assert r.returncode == 0, r.stderr
            name, _, rest = r.stdout.strip().partition(" IN TXT ")
            cls.records[name.rstrip(".")] = txt_of(rest)
        cls.server.start()
        add_user(cls.server, "alice@example.org")

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.hop.stop()

    def dns(self, name, timeout=5):
        return self.records.get(name.decode().rstrip("."), "").encode() or None

    def verified(self, message, idx):
        try:
            return dkim.DKIM(message).verify(idx=idx, dnsfunc=self.dns)
        except dkim.ValidationError:
            return False

    def signatures(self, message):
        """(selector, algorithm, verified) for every DKIM-Signature of message."""
        d = dkim.DKIM(message)
        out = []
        fields = [v for k, v in d.headers if k.lower() == b"dkim-signature"]
        for i, field in enumerate(fields):
            tags = dict(t.strip().split(b"=", 1) for t in field.split(b";") if b"=" in t)
            sel, alg = tags[b"s"].strip().decode(), tags[b"a"].strip().decode()
            out.append((sel, alg, self.verified(message, i)))
        return sorted(out)

    def received(self, subject):
        def found():
            return [m[2] for m in self.hop.messages if subject.encode() in m[2]]
        harness.wait_for(lambda: found(), timeout=30)
        self.assertTrue(found(), f"{subject} did not reach the next hop")
        return found()[0]

    def test_keygen_writes_private_key_and_prints_record(self):
        keys = sorted(os.listdir(os.path.join(self.server.data_dir, "dkim")))
        self.assertEqual([k for k in keys if k.startswith("example.org.")], ["example.org.s1.key", "example.org.s2.key"])
        for k in keys:
            mode = os.stat(os.path.join(self.server.data_dir, "dkim", k)).st_mode
            self.assertEqual(stat.S_IMODE(mode), 0o600)
        self.assertRegex(self.records["s1._domainkey.example.org"], r"^v=DKIM1; k=rsa; p=MII[A-Za-z0-9+/=]+$")
        self.assertRegex(self.records["s2._domainkey.example.org"], r"^v=DKIM1; k=ed25519; p=[A-Za-z0-9+/]{43}=$")

    def test_submitted_mail_is_signed_with_both_keys(self):
        submit(self.server, "alice@example.org", ["friend@remote.test"], subject="dkim-submitted",
               body="Line one\r\n.leading dot\r\ntrailing space \r\n\r\n\r\n")
        message = self.received("dkim-submitted")
        self.assertEqual(self.signatures(message), [("s1", "rsa-sha256", True), ("s2", "ed25519-sha256", True)])
        self.assertIn(b"c=relaxed/relaxed", message)
        # Received: is added by each hop and must not be signed; From: is oversigned.
        h = re.search(rb"[;\s]h=([^;]+);", message.replace(b"\r\n\t", b"").replace(b"\r\n ", b"")).group(1)
        self.assertNotIn(b"received", h.lower())
        self.assertEqual(h.lower().replace(b" ", b"").split(b":").count(b"from"), 2)
        tampered = message.replace(b"Line one", b"Line 1")
        self.assertEqual(self.signatures(tampered), [("s1", "rsa-sha256", False), ("s2", "ed25519-sha256", False)])

    def test_sendmail_mail_is_signed(self):
        r = subprocess.run([harness.POSTERN, "sendmail", "--config", self.server.config_path, "-t", "-i",
                            "-f", "cron@example.org"],
                           input="From: Cron Daemon <cron@example.org>\nTo: friend@remote.test\n"
                                 "Subject: dkim-sendmail\n\nnightly report\n",
                           capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        message = self.received("dkim-sendmail")
        self.assertEqual(self.signatures(message), [("s1", "rsa-sha256", True), ("s2", "ed25519-sha256", True)])

    def test_mail_from_strangers_is_not_signed(self):
        import smtplib
        host, port = self.server.mx
        with smtplib.SMTP(host, port, timeout=20) as s:
            # A local recipient is all a stranger may send to; forward it nowhere: check the mailbox.
            s.sendmail("someone@elsewhere.test", ["alice@example.org"],
                       b"From: <alice@example.org>\r\nSubject: dkim-stranger\r\n\r\nforged\r\n")
        msg = self.server.delivered("alice@example.org")[0]
        self.assertNotIn(b"DKIM-Signature", msg)

    def test_keygen_refuses_bad_input_and_existing_keys(self):
        r = self.server.cli("dkim", "keygen", "example.org", "--selector", "s1")
        self.assertEqual(r.returncode, 73, r.stderr)
        self.assertIn("File exists", r.stderr)
        r = self.server.cli("dkim", "keygen", "example.org", "--selector", "bad.selector")
        self.assertEqual(r.returncode, 64)
        self.assertIn("one DNS label", r.stderr)
        r = self.server.cli("dkim", "keygen", "not a domain")
        self.assertEqual(r.returncode, 64)
        r = self.server.cli("dkim", "keygen", "example.org", "--algorithm", "dsa")
        self.assertNotEqual(r.returncode, 0)
        self.assertIn("dsa", r.stderr)
        self.assertEqual(len([k for k in os.listdir(os.path.join(self.server.data_dir, "dkim"))
                              if k.startswith("example.org.")]), 2)

    def test_check_config_names_a_broken_key(self):
        self.assertEqual(self.server.cli("check-config", "--quiet").returncode, 0)
        broken = os.path.join(self.server.data_dir, "dkim", "example.net.bad.key")
        with open(broken, "w") as f:
            f.write("-----BEGIN PRIVATE KEY-----\ntruncated\n")
        self.addCleanup(os.remove, broken)
        r = self.server.cli("check-config", "--quiet")
        self.assertEqual(r.returncode, 78, r.stderr)
        self.assertIn(f"postern: {broken}: not a PEM private key (mail is not signed with it)", r.stderr)


if __name__ == "__main__":
    unittest.main()
