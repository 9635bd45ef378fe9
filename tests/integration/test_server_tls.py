"""STARTTLS (RFC 3207) with openssl s_client and smtplib, the plaintext
injection defence (CVE-2011-0411), implicit TLS, TLS 1.2 as the floor,
the self-signed certificate generated on first start, and IPv6."""
import ctypes
import os
import smtplib
import socket
import ssl
import subprocess
import unittest

from harness import RawSMTP, Server, ServerTest, free_port, wait_for_port
from support.tls import tls_context


def server_fd_connected_to(pid, client_port):
    """The server process's socket whose peer is 127.0.0.1:client_port, as a
    socket object of this process (pidfd_getfd(2); needs ptrace rights)."""
    inodes = {}
    with open("/proc/net/tcp") as table:
        for line in table.readlines()[1:]:
            fields = line.split()
            if int(fields[2].split(":")[1], 16) == client_port:
                inodes[fields[9]] = True
    pidfd = os.pidfd_open(pid)
    try:
        for name in os.listdir(f"/proc/{pid}/fd"):
            try:
                target = os.readlink(f"/proc/{pid}/fd/{name}")
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                libc = ctypes.CDLL(None, use_errno=True)
                fd = libc.syscall(438, pidfd, int(name), 0)  # SYS_pidfd_getfd on x86-64 and arm64
                if fd < 0:
                    raise OSError(ctypes.get_errno(), "pidfd_getfd")
                return socket.socket(fileno=fd)
    finally:
        os.close(pidfd)
    return None


class TlsTest(ServerTest):
    server_kwargs = {"listeners": ("mx", "submission", "smtps")}

    def test_certificate_generated(self):
        cert = os.path.join(self.server.data_dir, "tls", "cert.pem")
        key = os.path.join(self.server.data_dir, "tls", "key.pem")
        self.assertTrue(os.path.exists(cert) and os.path.exists(key))
        self.assertEqual(os.stat(key).st_mode & 0o777, 0o600)
        r = subprocess.run(["openssl", "x509", "-in", cert, "-noout", "-ext", "subjectAltName"],
                           capture_output=True, text=True)
        self.assertIn("DNS:mx.example.org", r.stdout)

    def test_openssl_s_client_starttls(self):
        host, port = self.server.mx
        r = subprocess.run(["openssl", "s_client", "-connect", f"{host}:{port}", "-starttls", "smtp",
                            "-tls1_2", "-quiet"], input="EHLO after.example.net\r\nQUIT\r\n",
                           capture_output=True, text=True, timeout=30)
        self.assertIn("250-mx.example.org", r.stdout)
        self.assertNotIn("STARTTLS", r.stdout)  # not offered again once active
        self.assertIn("221 2.0.0 Bye", r.stdout)

    def test_tls_1_1_refused(self):
        host, port = self.server.ports["smtps"]
        ctx = tls_context()
        ctx.minimum_version = ssl.TLSVersion.TLSv1
        ctx.maximum_version = ssl.TLSVersion.TLSv1_1
        try:
            ctx.set_ciphers("DEFAULT:@SECLEVEL=0")
        except ssl.SSLError:
            pass
        with socket.create_connection((host, port), timeout=5) as raw:
            with self.assertRaises((ssl.SSLError, OSError)):
                ctx.wrap_socket(raw).recv(100)

    def test_smtplib_starttls_delivers_esmtps(self):
        with smtplib.SMTP(*self.server.mx, timeout=10) as c:
            c.ehlo("tls.example.net")
            c.starttls(context=tls_context())
            c.ehlo("tls.example.net")
            c.sendmail("a@example.net", ["postmaster@example.org"], b"Subject: tls\r\n\r\nsecret\r\n")
        msg = self.server.delivered("postmaster@example.org")[0]
        self.assertIn(b" with ESMTPS id ", msg)
        self.assertIn(b"(using TLSv1.", msg)

    def test_session_sockets_send_without_waiting_for_acks(self):
        # TLS 1.3 sends its session tickets right after the handshake; with
        # Nagle's algorithm on, the reply to the next EHLO would wait for the
        # client's delayed ACK of them (tens of ms per STARTTLS session).
        with smtplib.SMTP(*self.server.mx, timeout=10) as c:
            c.ehlo("nodelay.example.net")
            local_port = c.sock.getsockname()[1]
            fd = server_fd_connected_to(self.server.proc.pid, local_port)
            self.assertIsNotNone(fd, "the server's socket for this session")
            with fd:
                self.assertEqual(fd.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY), 1)

    def test_implicit_tls(self):
        host, port = self.server.ports["smtps"]
        with smtplib.SMTP_SSL(host, port, timeout=10, context=tls_context()) as c:
            code, text = c.ehlo("implicit.example.net")
            self.assertEqual(code, 250)
            self.assertNotIn(b"STARTTLS", text)

    def test_starttls_injection_discarded(self):
        s = RawSMTP(*self.server.mx)
        self.addCleanup(s.close)
        s.reply()
        s.cmd("EHLO c.example.net")
        # Commands pipelined behind STARTTLS in the same packet (CVE-2011-0411).
        s.send("STARTTLS\r\nMAIL FROM:<injected@example.net>\r\nRCPT TO:<postmaster@example.org>\r\n")
        self.assertEqual(s.reply(), (220, ["220 2.0.0 Ready to start TLS"]))
        tls = tls_context().wrap_socket(s.sock, server_hostname="mx.example.org")
        s.sock = tls
        s.buf = b""
        # Had MAIL been executed, a new MAIL would be "nested" and RCPT would work.
        self.assertEqual(s.cmd("EHLO c.example.net")[0], 250)
        self.assertEqual(s.cmd("RCPT TO:<postmaster@example.org>"), (503, ["503 5.5.1 Need MAIL before RCPT"]))
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net>")[0], 250)
        self.assertIn("event=starttls_pipelined", self.server.log_text())

    def test_state_reset_after_starttls(self):
        s = RawSMTP(*self.server.mx)
        self.addCleanup(s.close)
        s.reply()
        s.cmd("EHLO c.example.net")
        s.cmd("MAIL FROM:<a@example.net>")
        self.assertEqual(s.cmd("STARTTLS")[0], 220)
        s.sock = tls_context().wrap_socket(s.sock)
        self.assertEqual(s.cmd("MAIL FROM:<a@example.net>"), (503, ["503 5.5.1 Send EHLO or HELO first"]))
        self.assertEqual(s.cmd("STARTTLS")[0], 503)


class Ipv6Test(unittest.TestCase):

    def test_ipv6_loopback(self):
        try:
            port = free_port(socket.AF_INET6, "::1")
        except OSError:
            self.skipTest("no IPv6 loopback")
        server = Server(listeners=())
        server.config["listener"] = [{"address": f"[::1]:{port}", "role": "mx", "tls": "starttls"}]
        server.start()
        self.addCleanup(server.cleanup)
        wait_for_port("::1", port, proc=server.proc)
        with smtplib.SMTP("::1", port, timeout=10) as c:
            c.ehlo("v6.example.net")
            c.sendmail("a@example.net", ["postmaster@example.org"], b"Subject: v6\r\n\r\nover IPv6\r\n")
        msg = server.delivered("postmaster@example.org")[0]
        self.assertIn(b"([::1])", msg)
        self.assertIn("client=::1", server.log_text())


if __name__ == "__main__":
    unittest.main()
