"""Faults the server must survive (SPEC §5: a 250 means the message is on
stable storage): a full disk gets 452 4.3.1 with nothing half-written and
the server accepts again once space returns; a failing fsync gets
451 4.3.0, never a 250; hostile input floods leave the server serving."""
import os
import shutil
import smtplib
import socket
import subprocess
import tempfile
import unittest

import harness
from harness import RawSMTP, Server, wait_for

FAULT_INJECT = os.environ.get("POSTERN_FAULT_INJECT") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build-test", "tests", "libpostern_fault_inject.so")


def spool_files(server):
    spool = os.path.join(server.data_dir, "spool")
    return sorted(os.listdir(spool)) if os.path.isdir(spool) else []


def send_raw(server, body, rcpt="postmaster@example.org"):
    s = RawSMTP(*server.mx)
    try:
        s.reply()
        s.cmd("EHLO c.example.net")
        s.cmd("MAIL FROM:<someone@example.net>")
        s.cmd("RCPT TO:<%s>" % rcpt)
        code, _ = s.cmd("DATA")
        assert code == 354, code
        s.send(body + b"\r\n.\r\n")
        return s.reply()
    finally:
        s.close()


def can_mount():
    if os.geteuid() != 0 or not shutil.which("mount"):
        return False
    probe = tempfile.mkdtemp(prefix="postern-mount-")
    try:
        ok = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", probe], capture_output=True).returncode == 0
        if ok:
            subprocess.run(["umount", probe], capture_output=True)
        return ok
    finally:
        os.rmdir(probe)


@unittest.skipUnless(can_mount(), "needs root and tmpfs mounts for a small filesystem")
class DiskFull(unittest.TestCase):
    def test_full_spool_filesystem(self):
        server = Server(listeners=("mx",))
        spool = os.path.join(server.data_dir, "spool")
        # The mailboxes too: a large message for a local Maildir streams there, not to the spool.
        mail = os.path.join(server.data_dir, "mail")
        for d in (spool, mail):
            os.makedirs(d)
            subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", d], check=True)
            self.addCleanup(lambda d=d: subprocess.run(["umount", "-l", d], capture_output=True))
        server.start()
        self.addCleanup(server.cleanup)
        big = b"Subject: too big for the disk\r\n\r\n" + (b"x" * 998 + b"\r\n") * 2000  # about 2 MB
        self.assertEqual(send_raw(server, big), (452, ["452 4.3.1 Insufficient system storage"]))
        # The journal's directory may exist; nothing may be in it.
        self.assertEqual([f for f in spool_files(server) if f not in ("lost+found", "journal")], [],
                         "nothing half-written survives")
        journal = os.path.join(spool, "journal")
        self.assertEqual(os.listdir(journal) if os.path.isdir(journal) else [], [], "nothing half-written survives")
        self.assertIn("event=spool_failed", server.log_text())
        box = server.maildir("postmaster@example.org")
        self.assertEqual(os.listdir(os.path.join(box, "tmp")) + os.listdir(os.path.join(box, "new")), [],
                         "nothing half-written survives in the mailbox")
        # The space came back with the discarded file: a message that fits is taken and delivered.
        small = b"Subject: fits\r\n\r\nsmall enough\r\n"
        code, lines = send_raw(server, small)
        self.assertEqual(code, 250, lines)
        self.assertEqual(len(server.delivered("postmaster@example.org")), 1)


    def test_full_mailbox_filesystem_sends_a_large_message_to_the_spool(self):
        server = Server(listeners=("mx",), extra={"queue": {"retry_initial": "1s", "retry_max": "2s"}})
        mail = os.path.join(server.data_dir, "mail")
        os.makedirs(mail)
        subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m,mode=0700", "tmpfs", mail], check=True)
        self.addCleanup(lambda: subprocess.run(["umount", "-l", mail], capture_output=True))
        server.start()
        self.addCleanup(server.cleanup)
        big = b"Subject: too big for the mailbox\r\n\r\n" + (b"x" * 998 + b"\r\n") * 2000  # about 2 MB
        # The stream into the mailbox fills its disk; what it held moves to the spool, which has room.
        code, lines = send_raw(server, big)
        self.assertEqual(code, 250, lines)
        self.assertIn("event=direct_stream_failed", server.log_text())
        box = server.maildir("postmaster@example.org")
        self.assertEqual(os.listdir(os.path.join(box, "tmp")) + os.listdir(os.path.join(box, "new")), [])
        # Kept in the spool, deferred while the mailbox is full: never lost.
        self.assertTrue(wait_for(lambda: "postmaster@example.org" in server.cli("queue", "list").stdout, timeout=20))
        self.assertIn("event=delivery_error", server.log_text())


@unittest.skipUnless(os.path.exists(FAULT_INJECT), "fault injection shim not built")
class FsyncFails(unittest.TestCase):
    def test_no_250_for_a_message_whose_fsync_failed(self):
        flag = os.path.join(tempfile.mkdtemp(prefix="postern-fault-"), "fail-fsync")
        self.addCleanup(lambda: shutil.rmtree(os.path.dirname(flag), ignore_errors=True))
        server = Server(listeners=("mx",), env={
            "LD_PRELOAD": os.path.abspath(FAULT_INJECT),
            "POSTERN_FAULT_FILE": flag,
            "ASAN_OPTIONS": "verify_asan_link_order=0:detect_leaks=1"})
        server.start()
        self.addCleanup(server.cleanup)
        open(flag, "w").close()
        self.assertEqual(send_raw(server, b"Subject: lost disk\r\n\r\nnever acknowledged\r\n"),
                         (451, ["451 4.3.0 Local error in processing, try again later"]))
        self.assertEqual([f for f in spool_files(server) if f.endswith(".msg")], [])
        os.unlink(flag)
        code, lines = send_raw(server, b"Subject: disk back\r\n\r\nacknowledged\r\n")
        self.assertEqual(code, 250, lines)
        msgs = server.delivered("postmaster@example.org")
        self.assertEqual(len(msgs), 1)
        self.assertIn(b"acknowledged", msgs[0])
        self.assertNotIn(b"never acknowledged", msgs[0])


class HostileClients(unittest.TestCase):
    """Floods and idle connections (the timing figures are in bench/, not here)."""

    def test_floods_leave_the_server_serving(self):
        server = Server(listeners=("mx",), extra={"limits": {"max_connections_per_ip": 400, "max_errors": 5}}).start()
        self.addCleanup(server.cleanup)
        idle = []
        for _ in range(200):
            s = socket.create_connection(server.mx, timeout=10)
            idle.append(s)
            self.addCleanup(s.close)
        # A command flood, pipelined without reading: the session ends after max_errors.
        flood = socket.create_connection(server.mx, timeout=10)
        self.addCleanup(flood.close)
        try:
            flood.sendall(b"EHLO f\r\n" + b"XYZZY\r\n" * 5000 + b"NOOP " + b"x" * 100000 + b"\r\n")
        except OSError:
            pass  # the server may close before taking it all
        # Garbage, NULs and an unterminated line.
        junk = socket.create_connection(server.mx, timeout=10)
        self.addCleanup(junk.close)
        junk.sendall(bytes(range(256)) * 64)
        # A well-behaved client still gets its banner and its 250.
        with smtplib.SMTP(*server.mx, timeout=20) as c:
            c.sendmail("someone@example.net", ["postmaster@example.org"], b"Subject: still here\r\n\r\nok\r\n")
        self.assertEqual(len(server.delivered("postmaster@example.org")), 1)
        self.assertIsNone(server.proc.poll())


if __name__ == "__main__":
    unittest.main()
