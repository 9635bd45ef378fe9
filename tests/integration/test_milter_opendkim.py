"""OpenDKIM as a milter in verify mode (SPEC §13): a message signed with a
key made by `postern dkim keygen` (signed here by python3-dkim with that
key file) arrives on the mx listener; OpenDKIM, told the key record
`keygen` printed, verifies it over the message postern hands it at the end
of DATA and its Authentication-Results: reaches the mailbox: dkim=pass for
the message as signed, dkim=fail for one whose body changed on the way.

Then OpenDMARC after it, as Postfix admins chain them (as root only: it
needs its own resolv.conf, see support/opendmarc.py): it is given the
message with OpenDKIM's result, passes the signed message (aligned DKIM)
and refuses an unsigned one from a p=reject domain with its own reply."""
import glob
import os
import shutil
import unittest

import dkim

from harness import Server, run
from support.milter_client import transaction
from support.opendkim import OpenDkimMilter, txt_record
from support import opendmarc
from support.scratch import scratch_dir
from support.users import UserTemplate

MESSAGE = (b"From: Alice <alice@example.net>\r\nTo: bob@example.org\r\nSubject: signed\r\n"
           b"Date: Mon, 07 Dec 2026 09:00:00 +0000\r\nMessage-ID: <signed-1@example.net>\r\n\r\n"
           b"Hello, signed world.\r\n")


class OpenDkimMilterTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.users = UserTemplate()
        cls.keys = scratch_dir("postern-dkim-keys-")
        out = run("dkim", "keygen", "--data-dir", cls.keys, "--selector", "sel1", "example.net")
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        with open(glob.glob(os.path.join(cls.keys, "dkim", "example.net.sel1.key"))[0], "rb") as f:
            cls.key = f.read()
        cls.opendkim = OpenDkimMilter([txt_record(out.stdout + out.stderr)], "mx.example.org")
        cls.server = Server(data_dir=cls.users.data_dir_for_class(), listeners=("mx",), tls_mx="none",
                            extra={"milter": [{"address": cls.opendkim.address, "timeout": "10s"}]})
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.opendkim.cleanup()
        cls.users.cleanup()
        shutil.rmtree(cls.keys, ignore_errors=True)

    def signed(self, message):
        return dkim.sign(message, b"sel1", b"example.net", self.key,
                         include_headers=[b"from", b"to", b"subject", b"date", b"message-id"]) + message

    def results(self, count):
        got = self.server.delivered("bob@example.org", count=count)[count - 1]
        head = got.partition(b"\r\n\r\n")[0].decode()
        fields = [f for f in head.replace("\r\n\t", " ").replace("\r\n ", " ").split("\r\n")
                  if f.lower().startswith("authentication-results:")]
        self.assertEqual(len(fields), 1, head)
        return fields[0], got

    def test_signed_message_passes_and_a_changed_one_fails(self):
        out = transaction(self.server.mx, "alice@example.net", "bob@example.org", self.signed(MESSAGE))
        self.assertEqual(out["data"][0], 250, out)
        field, got = self.results(1)
        self.assertRegex(field, r"^Authentication-Results: mx\.example\.org; +dkim=pass \(2048-bit key\) "
                                r"header\.d=example\.net header\.i=@example\.net header\.a=rsa-sha256 header\.s=sel1")
        # python3-dkim agrees on what was delivered (Return-Path:, Received: and A-R: are not signed).
        self.assertTrue(dkim.verify(got.split(b"\r\n", 1)[1], dnsfunc=lambda name, timeout=5: self.txt(name)))

        forged = self.signed(MESSAGE).replace(b"Hello, signed", b"Hello, forged")
        out = transaction(self.server.mx, "alice@example.net", "bob@example.org", forged)
        self.assertEqual(out["data"][0], 250, out)
        field, _ = self.results(2)
        self.assertIn("dkim=fail reason=\"signature verification failed\"", field)

    def txt(self, name):
        with open(os.path.join(self.opendkim.dir, "keys")) as f:
            for line in f:
                key, value = line.rstrip("\n").split(" ", 1)
                if name.decode().rstrip(".") == key:
                    return value.encode()
        return None


@unittest.skipUnless(opendmarc.usable(), "OpenDMARC needs its own resolv.conf: root and mount namespaces")
class OpenDmarcAfterOpenDkimTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.users = UserTemplate()
        cls.keys = scratch_dir("postern-dkim-keys-")
        out = run("dkim", "keygen", "--data-dir", cls.keys, "--selector", "sel1", "example.net")
        if out.returncode != 0:
            raise RuntimeError(out.stderr)
        with open(os.path.join(cls.keys, "dkim", "example.net.sel1.key"), "rb") as f:
            cls.key = f.read()
        cls.opendkim = OpenDkimMilter([txt_record(out.stdout + out.stderr)], "mx.example.org")
        cls.opendmarc = opendmarc.OpenDmarcMilter({"_dmarc.example.net": "v=DMARC1; p=reject",
                                                   "example.net": "v=spf1 -all"}, "mx.example.org")
        cls.server = Server(data_dir=cls.users.data_dir_for_class(), listeners=("mx",), tls_mx="none",
                            extra={"milter": [{"address": cls.opendkim.address, "timeout": "10s"},
                                              {"address": cls.opendmarc.address, "timeout": "10s"}]})
        cls.server.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.stop()
        cls.opendmarc.cleanup()
        cls.opendkim.cleanup()
        cls.users.cleanup()
        shutil.rmtree(cls.keys, ignore_errors=True)

    def test_aligned_dkim_passes_and_p_reject_refuses(self):
        signed = dkim.sign(MESSAGE, b"sel1", b"example.net", self.key,
                           include_headers=[b"from", b"to", b"subject", b"date", b"message-id"]) + MESSAGE
        # The envelope sender's domain is not example.net: only DKIM can align.
        out = transaction(self.server.mx, "bounces@lists.example.com", "bob@example.org", signed)
        self.assertEqual(out["data"][0], 250, out)
        got = self.server.delivered("bob@example.org")[0].decode()
        self.assertIn("Authentication-Results: mx.example.org; dmarc=pass (p=reject dis=none) header.from=example.net",
                      got)
        out = transaction(self.server.mx, "bounces@lists.example.com", "bob@example.org", MESSAGE)
        self.assertEqual(out["data"], (550, "5.7.1 rejected by DMARC policy for example.net"))
        self.assertEqual(len(self.server.delivered("bob@example.org", count=2, timeout=0.5)), 1)


if __name__ == "__main__":
    unittest.main()
