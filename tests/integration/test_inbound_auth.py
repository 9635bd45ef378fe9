"""Built-in message authentication on an mx listener ([inbound], SPEC §13):
SPF, DKIM and DMARC against records served by a private dnsmasq on
loopback, the Authentication-Results header on top of the delivered
message, a forged one for our name removed, dmarc_enforce (550 5.7.1 for
p=reject, X-Postern-Quarantine for p=quarantine) and a DNS block list
(554 5.7.1 with the list's TXT at RCPT). Messages are signed by
independent signers: python3-dkim (with keys from `postern dkim keygen`,
RSA and Ed25519) and Mail::DKIM (libmail-dkim-perl); python3-dkim also
verifies a delivered message to cross-check our verdict. A zone whose
server never answers (a silent UDP socket behind dnsmasq) gives
spf=temperror, not a hang."""
import base64
import email
import os
import shutil
import smtplib
import socket
import subprocess
import unittest

import dkim

import harness
from queue_peers import Dnsmasq, add_user

HOST = "mx.example.org"
RCPT = "bob@example.org"


def txt_option(name, text):
    parts = [text[i:i + 250] for i in range(0, len(text), 250)]
    # No shell: dnsmasq takes the text as it is, each comma starting a new string.
    return "--txt-record=" + name + "," + ",".join(parts)


def der_public_key(pem_path):
    der = subprocess.run(["openssl", "pkey", "-in", pem_path, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return base64.b64encode(der).decode()


def ed25519_seed(pem_path):
    der = subprocess.run(["openssl", "pkey", "-in", pem_path, "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return base64.b64encode(der[-32:])


def ed25519_public(pem_path):
    der = subprocess.run(["openssl", "pkey", "-in", pem_path, "-pubout", "-outform", "DER"],
                         check=True, capture_output=True).stdout
    return base64.b64encode(der[-32:]).decode()


MAIL_DKIM_SIGN = r'''
use Mail::DKIM::Signer;
my $signer = Mail::DKIM::Signer->new(Algorithm => "rsa-sha256", Method => "relaxed/relaxed",
  Domain => "example.test", Selector => "perl", KeyFile => $ARGV[0]);
binmode STDIN;
while (<STDIN>) { s/\r?\n$/\r\n/; $signer->PRINT($_); }
$signer->CLOSE;
print $signer->signature->as_string, "\r\n";
'''


class SilentDns:
    """A UDP socket that reads queries and never answers."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def message(sender, subject="inbound test", body="Hello.\r\nSecond line.\r\n", extra=""):
    return (f"From: <{sender}>\r\nTo: <{RCPT}>\r\nSubject: {subject}\r\n"
            f"Message-ID: <{subject.replace(' ', '.')}@example.test>\r\n{extra}\r\n{body}").encode()


class InboundAuthTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.keys = harness.scratch_dir("postern-dkim-")
        for selector, algorithm in (("rsa1", "rsa"), ("ed1", "ed25519")):
            r = harness.run("dkim", "keygen", "example.test", "--selector", selector, "--algorithm", algorithm,
                            "--data-dir", cls.keys)
            assert r.returncode == 0, r.stderr
        cls.rsa_key = os.path.join(cls.keys, "dkim", "example.test.rsa1.key")
        cls.ed_key = os.path.join(cls.keys, "dkim", "example.test.ed1.key")
        with open(cls.rsa_key, "rb") as f:
            cls.rsa_pem = f.read()
        cls.perl_key = os.path.join(cls.keys, "perl.key")
        subprocess.run(["openssl", "genrsa", "-traditional", "-out", cls.perl_key, "2048"], check=True,
                       capture_output=True)
        cls.records = {
            "rsa1._domainkey.example.test": "v=DKIM1; k=rsa; p=" + der_public_key(cls.rsa_key),
            "ed1._domainkey.example.test": "v=DKIM1; k=ed25519; p=" + ed25519_public(cls.ed_key),
            "perl._domainkey.example.test": "v=DKIM1; k=rsa; p=" + der_public_key(cls.perl_key),
            "_dmarc.example.test": "v=DMARC1; p=reject",
            "_dmarc.quar.test": "v=DMARC1; p=quarantine",
            "_dmarc.pass.test": "v=DMARC1; p=reject; aspf=s",
            "pass.test": "v=spf1 ip4:127.0.0.0/8 -all",
            "fail.test": "v=spf1 -all",
            "soft.test": "v=spf1 ~all",
            "ptr.test": "v=spf1 ptr:client.test -all",
            "mx.test": "v=spf1 mx/24 -all",
            "macro.test": "v=spf1 exists:%{ir}.%{l1r-}.allow.macro.test -all",
            "example.test": "v=spf1 -all",
            "quar.test": "v=spf1 -all",
            "client.test": "v=spf1 a:client.test -all",
            "9.0.0.127.bl.test": "Listed: see http://bl.test/lookup?127.0.0.9",
        }
        cls.silent = SilentDns()
        options = [txt_option(n, t) for n, t in cls.records.items()]
        options += ["--host-record=client.test,127.0.0.1", "--host-record=9.0.0.127.bl.test,127.0.0.2",
                    "--mx-host=mx.test,mail.mx.test,10", "--host-record=mail.mx.test,127.0.0.200",
                    "--host-record=1.0.0.127.alice.allow.macro.test,127.0.0.2",
                    f"--server=/timeout.test/127.0.0.1#{cls.silent.port}"]
        cls.dns = Dnsmasq(options).start()
        cls.server = harness.Server(listeners=("mx",), tls_mx="none", extra={
            "relay": {"dns_servers": [cls.dns.server]},
            "inbound": {"spf": True, "dkim": True, "dmarc": True, "dmarc_enforce": True, "dnsbl": ["bl.test"]},
        }).start()
        add_user(cls.server, RCPT)

    @classmethod
    def tearDownClass(cls):
        cls.server.cleanup()
        cls.dns.stop()
        cls.silent.close()
        shutil.rmtree(cls.keys, ignore_errors=True)

    def dnsfunc(self, name, timeout=5):
        return self.records.get(name.decode().rstrip("."), "").encode()

    def send(self, mail_from, data, source="127.0.0.1"):
        count = len(self.server.delivered(RCPT, timeout=0))
        with smtplib.SMTP(*self.server.mx, timeout=30, source_address=(source, 0)) as s:
            s.ehlo("client.test")
            s.sendmail(mail_from, [RCPT], data)
        got = self.server.delivered(RCPT, count=count + 1)
        self.assertEqual(len(got), count + 1)
        return got[-1]

    def results(self, delivered):
        msg = email.message_from_bytes(delivered)
        # Local delivery puts Return-Path: above everything; ours comes next.
        lines = [l for l in delivered.split(b"\r\n") if not l.startswith(b"Return-Path:")]
        first = lines[0].decode()
        self.assertTrue(first.startswith("Authentication-Results: " + HOST + ";"), first)
        ours = [v for v in msg.get_all("Authentication-Results", []) if v.strip().startswith(HOST)]
        self.assertEqual(len(ours), 1, ours)
        return " ".join(ours[0].split())

    def test_spf_pass_fail_softfail(self):
        for domain, want in (("pass.test", "pass"), ("fail.test", "fail"), ("soft.test", "softfail"),
                             ("ptr.test", "pass"), ("mx.test", "pass"), ("macro.test", "pass")):
            ar = self.results(self.send(f"alice@{domain}", message(f"alice@{domain}", "spf " + domain)))
            self.assertIn(f"spf={want} smtp.mailfrom=alice@{domain}", ar)
            self.assertIn("spf=pass smtp.helo=client.test", ar)

    def test_spf_temperror_when_dns_does_not_answer(self):
        ar = self.results(self.send("alice@timeout.test", message("alice@timeout.test", "spf timeout")))
        self.assertIn("spf=temperror", ar)
        self.assertIn("smtp.mailfrom=alice@timeout.test", ar)

    def test_dkim_python_rsa_and_ed25519_mail_dkim_and_cross_check(self):
        data = message("alice@example.test", "dkim signed")
        rsa = dkim.sign(data, b"rsa1", b"example.test", self.rsa_pem)
        ed = dkim.sign(data, b"ed1", b"example.test", ed25519_seed(self.ed_key),
                       signature_algorithm=b"ed25519-sha256", canonicalize=(b"relaxed", b"relaxed"))
        perl = subprocess.run(["perl", "-e", MAIL_DKIM_SIGN, self.perl_key], input=data, check=True,
                              capture_output=True).stdout
        signed = perl + ed + rsa + data
        got = self.send("alice@example.test", signed)
        ar = self.results(got)
        for selector in ("rsa1", "ed1", "perl"):
            self.assertRegex(ar, r"dkim=pass header\.d=example\.test header\.s=%s header\.b=\S{8}" % selector)
        self.assertIn("dmarc=pass", ar)
        self.assertIn("header.from=example.test", ar)
        # An independent verifier agrees on the message as it was stored.
        stored = got.split(b"\r\n", 1)[1] if got.startswith(b"Return-Path:") else got
        self.assertTrue(dkim.verify(stored, dnsfunc=self.dnsfunc))

    def test_tampered_message_fails_dkim_and_dmarc_reject(self):
        data = message("alice@example.test", "tampered")
        sig = dkim.sign(data, b"rsa1", b"example.test", self.rsa_pem)
        tampered = sig + data.replace(b"Hello.", b"Hullo.")
        with smtplib.SMTP(*self.server.mx, timeout=30) as s:
            s.ehlo("client.test")
            s.mail("alice@fail.test")
            s.rcpt(RCPT)
            code, text = s.data(tampered)
        self.assertEqual(code, 550)
        self.assertTrue(text.startswith(b"5.7.1"), text)
        self.assertIn(b"example.test", text)
        log = self.server.log_text()
        self.assertIn("dkim=fail", log)
        self.assertIn("action=reject", log)

    def test_large_message_on_disk_gets_the_header_on_top(self):
        # Over the 256 KiB a session holds in memory: the body streams into
        # the spool file, its DKIM hash is computed on the way, and the
        # Authentication-Results field is put before it at the end.
        line = "All work and no play makes a dull message. " * 2 + "\r\n"
        data = message("alice@example.test", "large", body=line * 6000,
                       extra=f"Authentication-Results: {HOST}; dkim=pass header.d=example.test\r\n")
        self.assertGreater(len(data), 300 * 1024)
        signed = dkim.sign(data, b"ed1", b"example.test", ed25519_seed(self.ed_key),
                           signature_algorithm=b"ed25519-sha256", include_headers=[b"from", b"to", b"subject"])
        got = self.send("alice@pass.test", signed + data)
        ar = self.results(got)
        self.assertIn("dkim=pass header.d=example.test header.s=ed1", ar)
        self.assertIn("dmarc=pass", ar)
        self.assertEqual(got.count(b"Authentication-Results:"), 1)
        self.assertTrue(got.endswith(line.encode() * 3))

    def test_dmarc_pass_by_aligned_spf_alone(self):
        ar = self.results(self.send("alice@pass.test", message("alice@pass.test", "aligned spf")))
        self.assertIn("spf=pass smtp.mailfrom=alice@pass.test", ar)
        self.assertIn("dkim=none", ar)
        self.assertIn("dmarc=pass (p=reject dis=none) header.from=pass.test", ar)

    def test_dmarc_reject_seen_by_swaks(self):
        host, port = self.server.mx
        r = subprocess.run(["swaks", "--server", f"{host}:{port}", "--helo", "client.test",
                            "--from", "mallory@fail.test", "--to", RCPT,
                            "--header", "From: <ceo@example.test>", "--header", "Subject: pay this invoice"],
                           capture_output=True, text=True, timeout=60)
        self.assertIn("<** 550 5.7.1 Message rejected by the DMARC policy of example.test", r.stdout)
        self.assertNotEqual(r.returncode, 0)

    def test_dmarc_quarantine_header(self):
        got = self.send("alice@fail.test", message("alice@quar.test", "quarantine"))
        ar = self.results(got)
        self.assertIn("dmarc=fail", ar)
        self.assertIn("header.from=quar.test", ar)
        self.assertIn(b"\r\nX-Postern-Quarantine: DMARC policy of quar.test", got)

    def test_forged_authentication_results_removed(self):
        extra = (f"Authentication-Results: {HOST}; spf=pass smtp.mailfrom=ceo@example.org\r\n"
                 "Authentication-Results: relay.example.net; dkim=pass header.d=example.net\r\n"
                 "X-Postern-Quarantine: forged\r\n")
        got = self.send("alice@soft.test", message("alice@soft.test", "forged", extra=extra))
        ar = self.results(got)
        self.assertIn("spf=softfail", ar)
        self.assertNotIn(b"ceo@example.org", got)
        self.assertNotIn(b"X-Postern-Quarantine", got)
        self.assertIn(b"Authentication-Results: relay.example.net; dkim=pass", got)

    def test_dnsbl_refuses_at_rcpt_with_the_list_text(self):
        with smtplib.SMTP(*self.server.mx, timeout=30, source_address=("127.0.0.9", 0)) as s:
            s.ehlo("client.test")
            s.mail("alice@pass.test")
            code, text = s.rcpt(RCPT)
        self.assertEqual(code, 554)
        self.assertTrue(text.startswith(b"5.7.1"), text)
        self.assertIn(b"bl.test", text)
        self.assertIn(b"Listed: see http://bl.test/lookup?127.0.0.9", text)
        self.assertIn("from=<alice@pass.test> to=<bob@example.org> list=bl.test", self.server.log_text())


if __name__ == "__main__":
    unittest.main()
