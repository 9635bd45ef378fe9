"""Independent peers for the outbound queue tests: scripted next-hop SMTP
servers (Debian's python3-aiosmtpd) and a DNS server (dnsmasq) on loopback.

Each peer is started by the test and stopped in cleanup (dnsmasq by PID).
"""
import asyncio
import smtplib
import socket
import subprocess
import threading
import time
import unittest


import harness
from harness import wait_for  # noqa: F401 (re-exported for the queue tests)
from support.peers import SmtpPeer
from support.processes import stop_process
from support.tls import tls_context


class NextHop:
    """An SMTP server on host:port with a scripted behaviour.

    mode: "accept"; "greylist" (450 to the first attempt of each
    sender/recipient pair, 250 after); "reject" (550 5.1.1 at RCPT); "tempfail"
    (450 at RCPT, always); "drop" (close the connection instead of
    answering the end of DATA); "slow" (store the message, then wait `delay`
    seconds before answering the end of DATA).
    """

    def __init__(self, host="127.0.0.1", port=None, mode="accept", delay=0.0, auth=None, starttls_cert=None):
        self.host = host
        self.port = port or harness.free_port(host=host)
        self.mode = mode
        self.delay = delay
        self.messages = []      # (mail_from, [rcpts], bytes) accepted
        self.attempts = []      # (mail_from, rcpt, reply code) per RCPT
        self.seen = set()
        self.lock = threading.Lock()
        self.logins = []        # (user, ok) per AUTH
        hop = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
                key = (envelope.mail_from, address)
                if hop.mode == "reject":
                    code = "550 5.1.1 No such user here"
                elif hop.mode == "tempfail":
                    code = "450 4.2.1 Mailbox busy, try later"
                elif hop.mode == "greylist" and key not in hop.seen:
                    hop.seen.add(key)
                    code = "450 4.2.0 Greylisted, try again in 1 seconds"
                else:
                    code = None
                with hop.lock:
                    hop.attempts.append((envelope.mail_from, address, int((code or "250")[:3])))
                if code:
                    return code
                envelope.rcpt_tos.append(address)
                return "250 2.1.5 OK"

            async def handle_DATA(self, server, session, envelope):
                if hop.mode == "drop":
                    session.transport_dropped = True
                    server.transport.close()
                    return "421 4.4.2 dropping"
                with hop.lock:
                    hop.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content))
                if hop.mode == "slow":
                    await asyncio.sleep(hop.delay)
                return "250 2.0.0 Queued"

        kwargs = {}
        if auth is not None:
            from aiosmtpd.smtp import AuthResult

            def authenticator(server, session, envelope, mechanism, data):
                user = data.login.decode() if isinstance(data.login, bytes) else data.login
                password = data.password.decode() if isinstance(data.password, bytes) else data.password
                ok = (user, password) == auth
                with hop.lock:
                    hop.logins.append((user, ok))
                # handled=False: aiosmtpd then sends its own 535 (with the default it stays silent).
                return AuthResult(success=ok, handled=False)

            kwargs = dict(authenticator=authenticator, auth_require_tls=False, auth_required=True)
        # STARTTLS offered with starttls_cert; a man in the middle uses one the client does not trust.
        self.peer = SmtpPeer(Handler(), host=host, port=self.port, tls="starttls" if starttls_cert else None,
                             cert=starttls_cert, name="next-hop.test", **kwargs)

    @property
    def connections(self):
        return self.peer.connections

    def start(self):
        self.peer.start()
        return self

    def stop(self):
        self.peer.stop()

    def wait_messages(self, count=1, timeout=20.0):
        return self._wait(self.messages, count, timeout)

    def wait_attempts(self, count=1, timeout=20.0):
        return self._wait(self.attempts, count, timeout)

    def _wait(self, records, count, timeout):
        def enough():
            with self.lock:
                return len(records) >= count
        harness.wait_for(enough, timeout)
        with self.lock:
            return list(records)


def shared_port(hosts):
    """A TCP port free on every loopback address in `hosts` (MX deliveries
    all go to one port, POSTERN_OUTGOING_SMTP_PORT)."""
    for _ in range(50):
        port = harness.free_port(host=hosts[0])
        ok = True
        for h in hosts[1:]:
            with socket.socket() as s:
                try:
                    s.bind((h, port))
                except OSError:
                    ok = False
                    break
        if ok:
            return port
    raise RuntimeError("no shared free port")


class Dnsmasq:
    """dnsmasq on a free loopback port, authoritative for `.test`."""

    def __init__(self, records):
        self.records = list(records)
        self.proc = None
        self.port = None

    def start(self):
        for _ in range(5):
            with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
                s.bind(("127.0.0.1", 0))
                port = s.getsockname()[1]
            proc = subprocess.Popen(
                ["/usr/sbin/dnsmasq", "--no-daemon", f"--port={port}", "--listen-address=127.0.0.1",
                 "--bind-interfaces", "--no-resolv", "--no-hosts", "--pid-file=", "--local=/test/",
                 "--log-facility=/dev/null", *self.records],
                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                harness.wait_for_port("127.0.0.1", port, timeout=5, proc=proc)
                self.proc, self.port = proc, port
                return self
            except (RuntimeError, TimeoutError):
                if proc.poll() is None:
                    proc.kill()
                proc.wait()
        raise RuntimeError("dnsmasq did not start")

    @property
    def server(self):
        return f"127.0.0.1:{self.port}"

    def stop(self):
        stop_process(self.proc, timeout=5)
        self.proc = None


def submit(server, sender, recipients, subject="queue test", body="Hello from the queue test.\r\n",
           user=None, password=None):
    """Sends one message through the server's submission listener with
    STARTTLS and AUTH (relaying needs an authenticated user)."""
    msg = (f"From: <{sender}>\r\nTo: {', '.join('<%s>' % r for r in recipients)}\r\n"
           f"Subject: {subject}\r\nMessage-ID: <{time.time_ns()}@example.org>\r\n\r\n{body}")
    host, port = server.submission
    with smtplib.SMTP(host, port, timeout=20) as s:
        s.ehlo("client.test")
        s.starttls(context=tls_context())
        s.ehlo("client.test")
        if not s.has_extn("auth"):
            # Relaying needs an authenticated user (no open relay); without
            # AUTH on the submission listener these scenarios cannot run.
            raise unittest.SkipTest("the submission listener offers no AUTH")
        s.login(user or sender, password or "queue-test-password")
        refused = s.sendmail(sender, recipients, msg.encode())
    return msg, refused


def add_user(server, address, password="queue-test-password"):
    r = server.cli("user", "add", address, "--password-stdin", input=password + "\n")
    if r.returncode != 0:
        raise RuntimeError(f"user add failed: {r.returncode} {r.stderr}")


def queue_list(server):
    r = server.cli("queue", "list")
    if r.returncode != 0:
        raise RuntimeError(f"queue list failed: {r.returncode} {r.stderr}")
    return r.stdout


