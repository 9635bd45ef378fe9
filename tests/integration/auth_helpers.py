"""Helpers for the AUTH integration tests: a raw SMTP conversation that can
STARTTLS, and an independent SCRAM client (RFC 5802/7677) written from the
RFC with hashlib/hmac, so the server is checked against code it does not
share. Nothing here knows the server's internals."""
import base64
import hashlib
import hmac
import os
import ssl
import time

from harness import RawSMTP

PASSWORD = "correct horse battery"


def tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text, validate=True)


class AuthSMTP(RawSMTP):
    """RawSMTP plus EHLO parsing, STARTTLS and timing of replies."""

    def __init__(self, host, port, timeout=15.0):
        super().__init__(host, port, timeout=timeout)
        self.greeting = self.reply()

    def ehlo(self, name="client.example.net"):
        code, lines = self.cmd("EHLO " + name)
        assert code == 250, lines
        self.ehlo_lines = lines
        return lines

    def mechanisms(self):
        """The AUTH keyword's mechanisms from the last EHLO, or None."""
        for line in self.ehlo_lines:
            words = line[4:].split()
            if words and words[0].upper() == "AUTH":
                return words[1:]
        return None

    def starttls(self):
        code, lines = self.cmd("STARTTLS")
        assert code == 220, lines
        self.sock = tls_context().wrap_socket(self.sock, server_hostname="mx.example.org")
        self.buf = b""
        return self.ehlo()

    def timed(self, command):
        t = time.monotonic()
        r = self.cmd(command)
        return r, time.monotonic() - t


class Scram:
    """A SCRAM client from RFC 5802 §3 and §7."""

    def __init__(self, hash_name, user, password, cbflag="n", cbname=None, cbdata=b""):
        self.h = hash_name  # "sha1" | "sha256"
        self.user = user.replace("=", "=3D").replace(",", "=2C")
        self.password = password
        self.nonce = b64(os.urandom(18))
        if cbflag == "p":
            self.gs2 = f"p={cbname},,"
        else:
            self.gs2 = f"{cbflag},,"
        self.cbdata = cbdata
        self.bare = f"n={self.user},r={self.nonce}"

    def first(self):
        return self.gs2 + self.bare

    def final(self, server_first, tamper_proof=False):
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        assert attrs["r"].startswith(self.nonce), server_first
        salt, iterations = unb64(attrs["s"]), int(attrs["i"])
        salted = hashlib.pbkdf2_hmac(self.h, self.password.encode(), salt, iterations)
        client_key = hmac.new(salted, b"Client Key", self.h).digest()
        stored_key = hashlib.new(self.h, client_key).digest()
        server_key = hmac.new(salted, b"Server Key", self.h).digest()
        without_proof = "c=" + b64(self.gs2.encode() + self.cbdata) + ",r=" + attrs["r"]
        auth_message = ",".join([self.bare, server_first, without_proof]).encode()
        signature = hmac.new(stored_key, auth_message, self.h).digest()
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        if tamper_proof:
            proof = bytes([proof[0] ^ 1]) + proof[1:]
        self.expected_server = "v=" + b64(hmac.new(server_key, auth_message, self.h).digest())
        return without_proof + ",p=" + b64(proof)
