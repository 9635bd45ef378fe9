"""Independent SMTP servers for `postern send` tests: aiosmtpd (Debian's
python3-aiosmtpd) with scripted replies, an authenticator and TLS, plus tiny
raw-socket servers that misbehave on purpose. Certificates come from
`openssl req`. Loopback only; every server is stopped in cleanup."""
import os
import socket
import subprocess
import threading

from aiosmtpd.smtp import AuthResult, LoginPassword

import harness
from support.peers import SmtpPeer
from support.sasl import ScramKeys
from support.scratch import scratch_dir


def make_cert(directory, name="localhost", sans="DNS:localhost,IP:127.0.0.1"):
    """A self-signed certificate (PEM) and key for `name`; returns (cert, key)."""
    cert = os.path.join(directory, name + ".crt")
    key = os.path.join(directory, name + ".key")
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                    "-nodes", "-keyout", key, "-out", cert, "-days", "2", "-subj", "/CN=" + name,
                    "-addext", "subjectAltName=" + sans], check=True, capture_output=True)
    return cert, key


class Handler:
    """Records messages; `rcpt_replies` maps an address to a list of replies
    given in turn (the last one sticks); `mail_reply` refuses MAIL."""

    def __init__(self):
        self.messages = []          # (mail_from, rcpt_tos, content bytes, mail_options)
        self.rcpt_replies = {}
        self.mail_reply = None
        self.attempts = 0
        self.lock = threading.Lock()

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        with self.lock:
            self.attempts += 1
        if self.mail_reply:
            return self.mail_reply
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        with self.lock:
            replies = self.rcpt_replies.get(address)
            if replies:
                reply = replies[0]
                if len(replies) > 1:
                    replies.pop(0)
                if not reply.startswith("250"):
                    return reply
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos), envelope.original_content,
                                  list(envelope.mail_options)))
        return "250 Message accepted for delivery"


class Authenticator:
    """Accepts one user and password; records every attempt."""

    def __init__(self, user, password):
        self.user, self.password = user, password
        self.seen = []

    def __call__(self, server, session, envelope, mechanism, auth_data):
        if not isinstance(auth_data, LoginPassword):
            return AuthResult(success=False, handled=False)
        login = auth_data.login.decode()
        password = auth_data.password.decode()
        self.seen.append((mechanism, login))
        # handled=False: aiosmtpd then answers 535 itself.
        return AuthResult(success=(login == self.user and password == self.password), handled=False)


class AioServer(SmtpPeer):
    """aiosmtpd with a recording Handler (support/peers.py). tls: None, "starttls" or "implicit"."""

    def __init__(self, tls=None, cert=None, authenticator=None, auth_require_tls=True, smtputf8=False,
                 host="127.0.0.1", handler=None, tls12=False):
        kwargs = {"enable_SMTPUTF8": smtputf8, "auth_require_tls": auth_require_tls}
        if authenticator:
            kwargs["authenticator"] = authenticator
        super().__init__(handler or Handler(), host=host, tls=tls, cert=cert, tls12=tls12, **kwargs)


class RawServer:
    """A scripted server on a raw socket for the cases aiosmtpd will not do:
    `script(conn)` runs once per connection in a thread."""

    def __init__(self, script):
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(8)
        self.port = self.sock.getsockname()[1]
        self.script = script
        self.stopped = False
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        self.sock.settimeout(0.2)
        while not self.stopped:
            try:
                conn, _ = self.sock.accept()
            except socket.timeout:
                continue
            except OSError:
                return
            conn.settimeout(10)
            try:
                self.script(conn)
            except OSError:
                pass
            finally:
                conn.close()

    def stop(self):
        self.stopped = True
        self.thread.join(timeout=5)
        self.sock.close()

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"


def read_line(conn):
    buf = b""
    while not buf.endswith(b"\n"):
        c = conn.recv(1)
        if not c:
            break
        buf += c
    return buf.decode("utf-8", "replace").rstrip("\r\n")


def send(*args, input=None, env=None, timeout=60):
    """Runs `postern send ARGS`; the environment never leaks a password unless given."""
    e = {"POSTERN_PASSWORD": ""}
    e.update(env or {})
    base = dict(os.environ)
    base.pop("POSTERN_PASSWORD", None)
    base.update({k: v for k, v in e.items() if v})
    return subprocess.run([harness.POSTERN, "send", *args], input=input, capture_output=True, text=True,
                          env=base, timeout=timeout)


def tempdir(test):
    return scratch_dir("postern-send-", test)


class ScramHandler(Handler):
    """Handler with SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 5802, RFC 7677,
    tls-unique channel binding of RFC 5929) written here from the RFCs with
    hashlib, independent of GNU SASL. `mode`: "ok", "bad_signature" (the
    server's v= is wrong) or "no_signature" (235 without a final challenge)."""

    def __init__(self, user, password, mode="ok"):
        super().__init__()
        self.user, self.password, self.mode = user, password, mode
        self.scram_seen = []   # (mechanism, gs2 header, proof ok)

    async def auth_SCRAM__SHA__256(self, server, args):
        return await self._scram(server, args, plus=False)

    async def auth_SCRAM__SHA__256__PLUS(self, server, args):
        return await self._scram(server, args, plus=True)

    async def _scram(self, server, args, plus):
        import base64
        from aiosmtpd.smtp import MISSING

        if len(args) < 2:
            return AuthResult(success=False, handled=False)
        client_first = base64.b64decode(args[1]).decode()
        cbflag, authzid, bare = client_first.split(",", 2)
        gs2 = cbflag + "," + authzid + ","
        attrs = dict(kv.split("=", 1) for kv in bare.split(","))
        salt, iters = os.urandom(16), 4096
        snonce = attrs["r"] + base64.b64encode(os.urandom(18)).decode()
        server_first = f"r={snonce},s={base64.b64encode(salt).decode()},i={iters}"
        resp = await server.challenge_auth(server_first)
        if resp is MISSING:
            return AuthResult(success=False, handled=True)
        without_proof, proof = resp.decode().rsplit(",p=", 1)
        fattrs = dict(kv.split("=", 1) for kv in without_proof.split(","))
        cbdata = b""
        if plus:
            ssl_object = server.transport.get_extra_info("ssl_object")
            cbdata = ssl_object.get_channel_binding("tls-unique") or b""
        expected_c = base64.b64encode(gs2.encode() + cbdata).decode()
        keys = ScramKeys("sha256", self.password, salt, iters)
        auth_message = bare + "," + server_first + "," + without_proof
        ok = (attrs.get("n") == self.user and fattrs.get("r") == snonce and fattrs.get("c") == expected_c
              and base64.b64decode(proof) == keys.client_proof(auth_message))
        self.scram_seen.append(("SCRAM-SHA-256-PLUS" if plus else "SCRAM-SHA-256", gs2, ok))
        if not ok:
            return AuthResult(success=False, handled=False)
        if self.mode == "no_signature":
            return AuthResult(success=True)
        v = keys.server_signature(auth_message)
        if self.mode == "bad_signature":
            v = bytes(b ^ 0x5A for b in v)
        final = await server.challenge_auth("v=" + base64.b64encode(v).decode())
        if final is MISSING:
            return AuthResult(success=False, handled=True)
        return AuthResult(success=True)
