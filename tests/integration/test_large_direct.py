"""Large messages for local Maildirs are written once (docs/store.md,
"Streamed into the mailboxes"): past the 256 KiB a session holds in memory,
a message whose every recipient is a local Maildir streams into tmp/ of the
first mailbox and is hard-linked into the others at the end, so every
mailbox holds the same inode, with the exact octets, when the 250 arrives,
and neither the spool nor the journal sees it. A message with a remote
recipient, or one a mailbox cannot take, still goes through the spool."""
import os
import re
import smtplib
import subprocess
import unittest

from harness import RawSMTP, Server, free_port, wait_for
from queue_peers import NextHop, add_user, tls_context

USERS = ["alice@example.org", "bob@example.org", "carol@example.org"]
SENDER = "sender@remote.example"


def message(size, tag):
    head = ("From: <%s>\r\nTo: <alice@example.org>\r\nSubject: large %s\r\nMessage-ID: <%s@remote.example>\r\n\r\n"
            % (SENDER, tag, tag)).encode()
    line = ("%s 0123456789 abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ\r\n" % tag).encode()
    body = line * ((size - len(head)) // len(line) + 1)
    return head + body


def new_paths(server, address):
    new = os.path.join(server.maildir(address), "new")
    return sorted(os.path.join(new, n) for n in os.listdir(new)) if os.path.isdir(new) else []


def spool_files(server):
    spool = os.path.join(server.data_dir, "spool")
    return [n for n in os.listdir(spool) if n.endswith(".msg")] if os.path.isdir(spool) else []


def journal_segments(server):
    d = os.path.join(server.data_dir, "spool", "journal")
    return sorted(os.listdir(d)) if os.path.isdir(d) else []


def scrape(port):
    out = subprocess.run(["curl", "-sS", "-f", "http://127.0.0.1:%d/metrics" % port], capture_output=True, text=True,
                         timeout=10)
    return out.stdout


def counted(text, transport):
    m = re.search(r'^postern_delivery_attempts_total\{[^}]*transport="%s"[^}]*status="delivered"[^}]*\} (\S+)$'
                  % transport, text, re.M) or re.search(
        r'^postern_delivery_attempts_total\{[^}]*status="delivered"[^}]*transport="%s"[^}]*\} (\S+)$' % transport,
        text, re.M)
    return float(m.group(1)) if m else 0.0


class LargeDirect(unittest.TestCase):
    def setUp(self):
        self.hop = NextHop().start()
        self.addCleanup(self.hop.stop)
        self.http = free_port()
        self.server = Server(extra={"http": {"listen": "127.0.0.1:%d" % self.http},
                                    "relay": {"routes": {"remote.test": f"{self.hop.host}:{self.hop.port}"}},
                                    "queue": {"retry_initial": "1s", "retry_max": "2s", "lifetime": "1h"}})
        self.addCleanup(self.server.cleanup)
        self.server.write_config()
        for u in USERS:
            add_user(self.server, u)

    def check_copy(self, path, msg):
        with open(path, "rb") as f:
            got = f.read()
        rp = ("Return-Path: <%s>\r\n" % SENDER).encode()
        self.assertTrue(got.startswith(rp + b"Received: from "), got[:200])
        self.assertTrue(got.endswith(msg))
        received = got[len(rp):len(got) - len(msg)]
        self.assertTrue(received.endswith(b"\r\n"))
        for line in received.split(b"\r\n")[1:-1]:
            self.assertTrue(line[:1] in (b" ", b"\t"), line)  # only our Received: field between them
        self.assertTrue(os.path.basename(path).endswith(",S=%d" % len(got)), path)
        return got

    def test_all_local_is_written_once_and_linked(self):
        self.server.start()
        sent = []
        with smtplib.SMTP(*self.server.mx, timeout=30) as c:
            for size, tag in ((1 << 20, "one-mib"), (5 << 20, "five-mib")):
                msg = message(size, tag)
                c.sendmail(SENDER, USERS, msg)
                # No waiting: every copy is in new/ when the 250 is read, and nothing was spooled.
                for u in USERS:
                    self.assertEqual(len(new_paths(self.server, u)), len(sent) + 1, u)
                self.assertEqual(spool_files(self.server), [])
                self.assertEqual(journal_segments(self.server), [])
                sent.append(msg)
        for i, msg in enumerate(sent):
            copies = [p for u in USERS for p in new_paths(self.server, u) if self.check_copy_matches(p, msg)]
            self.assertEqual(len(copies), 3)
            bodies = {self.check_copy(p, msg) for p in copies}
            self.assertEqual(len(bodies), 1)
            stats = [os.stat(p) for p in copies]
            self.assertEqual(len({(s.st_dev, s.st_ino) for s in stats}), 1, "one inode for the three mailboxes")
            self.assertEqual({s.st_nlink for s in stats}, {3})
            # Each mailbox has its own name: the recipient's position in the envelope.
            self.assertEqual(sorted(re.search(r"R(\d+)\.", os.path.basename(p)).group(1) for p in copies),
                             ["0", "1", "2"])
        for u in USERS:
            self.assertEqual(os.listdir(os.path.join(self.server.maildir(u), "tmp")), [])
        metrics = scrape(self.http)
        self.assertEqual(counted(metrics, "direct"), 6.0)
        self.assertEqual(counted(metrics, "local"), 0.0)
        self.assertNotIn("event=direct_stream_failed", self.server.log_text())

    def test_bdat_chunks_and_an_abandoned_transaction(self):
        self.server.start()
        msg = message(3 << 20, "chunked")
        c = RawSMTP(*self.server.mx, timeout=30)
        self.addCleanup(c.close)
        c.reply()
        self.assertEqual(c.cmd("EHLO client.example")[0], 250)
        # A transaction reset halfway through its chunks leaves no file behind.
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % SENDER)[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<alice@example.org>")[0], 250)
        c.send(b"BDAT %d\r\n" % len(msg[:1 << 20]) + msg[:1 << 20])
        self.assertEqual(c.reply()[0], 250)
        self.assertEqual(c.cmd("RSET")[0], 250)
        self.assertEqual(os.listdir(os.path.join(self.server.maildir("alice@example.org"), "tmp")), [])
        # Then a whole message in 1 MiB chunks, the last one with LAST.
        self.assertEqual(c.cmd("MAIL FROM:<%s>" % SENDER)[0], 250)
        for u in USERS[:2]:
            self.assertEqual(c.cmd("RCPT TO:<%s>" % u)[0], 250)
        chunks = [msg[i:i + (1 << 20)] for i in range(0, len(msg), 1 << 20)]
        for i, chunk in enumerate(chunks):
            last = " LAST" if i == len(chunks) - 1 else ""
            c.send(b"BDAT %d%s\r\n" % (len(chunk), last.encode()) + chunk)
            code, lines = c.reply()
            self.assertEqual(code, 250, lines)
        self.assertIn("queued as", lines[0])
        paths = [new_paths(self.server, u)[0] for u in USERS[:2]]
        for p in paths:
            self.check_copy(p, msg)
        self.assertEqual(os.stat(paths[0]).st_ino, os.stat(paths[1]).st_ino)
        self.assertEqual(spool_files(self.server), [])

    def check_copy_matches(self, path, msg):
        if os.path.getsize(path) < len(msg):
            return False
        with open(path, "rb") as f:
            f.seek(-len(msg), os.SEEK_END)
            return f.read() == msg

    def test_local_and_remote_goes_through_the_spool(self):
        self.server.start()
        msg = message(1 << 20, "mixed").replace(b"To: <alice@example.org>", b"To: <bob@example.org>")
        host, port = self.server.submission
        with smtplib.SMTP(host, port, timeout=30) as s:
            s.ehlo("client.test")
            s.starttls(context=tls_context())
            s.ehlo("client.test")
            s.login("alice@example.org", "queue-test-password")
            self.assertEqual(s.sendmail("alice@example.org", ["bob@example.org", "dave@remote.test"], msg), {})
        got = self.hop.wait_messages(1, timeout=20)
        self.assertEqual(len(got), 1)
        self.assertTrue(got[0][2].replace(b"\r\n", b"\n").endswith(msg.replace(b"\r\n", b"\n")))
        self.assertTrue(wait_for(lambda: new_paths(self.server, "bob@example.org"), timeout=20))
        path = new_paths(self.server, "bob@example.org")[0]
        with open(path, "rb") as f:
            self.assertTrue(f.read().endswith(msg))
        self.assertEqual(os.stat(path).st_nlink, 1)
        self.assertTrue(wait_for(lambda: counted(scrape(self.http), "local") == 1.0, timeout=20))
        self.assertEqual(counted(scrape(self.http), "direct"), 0.0)

    def test_a_mailbox_that_cannot_take_it_sends_it_to_the_spool(self):
        # carol's Maildir is a plain file: the stream cannot be opened there.
        carol = self.server.maildir("carol@example.org")
        os.makedirs(os.path.dirname(carol), exist_ok=True)
        with open(carol, "w") as f:
            f.write("not a maildir\n")
        self.server.start()
        msg = message(1 << 20, "fallback")
        with smtplib.SMTP(*self.server.mx, timeout=30) as c:
            c.sendmail(SENDER, ["alice@example.org", "carol@example.org"], msg)
        self.assertIn("event=direct_stream_failed", self.server.log_text())
        # The spool's local delivery takes it: alice gets her copy, carol's is retried.
        self.assertTrue(wait_for(lambda: new_paths(self.server, "alice@example.org"), timeout=20))
        path = new_paths(self.server, "alice@example.org")[0]
        self.check_copy(path, msg)
        self.assertEqual(os.stat(path).st_nlink, 1)
        self.assertTrue(wait_for(lambda: "carol@example.org" in self.server.cli("queue", "list").stdout, timeout=20))
        self.assertEqual(os.listdir(os.path.join(self.server.maildir("alice@example.org"), "tmp")), [])


if __name__ == "__main__":
    unittest.main()
