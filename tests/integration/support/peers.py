"""The one SMTP peer of the integration tests: aiosmtpd (Debian's
python3-aiosmtpd) on a free loopback port, with the handler the test
gives it, optional STARTTLS or implicit TLS, and a count of connections.
The next hops of the queue tests (queue_peers.NextHop) and the servers of
the `postern send` tests (send_support.AioServer) are this peer with
their own handlers."""
import socket
import ssl
import threading

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

import harness


def server_tls_context(cert, tls12=False):
    """A server TLS context for (cert, key); TLS 1.2 at most with tls12."""
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(*cert)
    if tls12:
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    return ctx


class SmtpPeer:
    """tls: None, "starttls" or "implicit" (with cert = (cert, key)).
    name: what the peer calls itself in its greeting. Other keyword
    arguments go to aiosmtpd's SMTP (authenticator, auth_require_tls,
    enable_SMTPUTF8, ...)."""

    def __init__(self, handler, host="127.0.0.1", port=None, tls=None, cert=None, tls12=False, name="aio.example",
                 **smtp_kwargs):
        self.handler = handler
        self.host = host
        self.port = port or harness.free_port(socket.AF_INET6 if ":" in host else socket.AF_INET, host)
        self.implicit = tls == "implicit"
        self.connections = 0
        self._count_lock = threading.Lock()
        if tls:
            smtp_kwargs["tls_context" if tls == "starttls" else "ssl_context"] = server_tls_context(cert, tls12)
        peer = self

        class CountingSMTP(SMTP):
            def connection_made(self, transport):
                with peer._count_lock:
                    peer.connections += 1
                super().connection_made(transport)

        class PeerController(Controller):
            def factory(self):
                return CountingSMTP(self.handler, **self.SMTP_kwargs)

        self.controller = PeerController(handler, hostname=host, port=self.port, server_hostname=name,
                                         ready_timeout=10, **smtp_kwargs)

    def start(self):
        self.controller.start()
        harness.wait_for_port(self.host, self.port)
        return self

    def stop(self):
        try:
            self.controller.stop()
        except Exception:
            pass

    @property
    def address(self):
        return f"[{self.host}]:{self.port}" if ":" in self.host else f"{self.host}:{self.port}"
