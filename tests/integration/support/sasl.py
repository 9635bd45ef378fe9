"""SASL written here from the RFCs with hashlib and hmac, so that the server
and the client are checked against code they do not share: base64 as RFC
4954 uses it, the SCRAM keys and proofs of RFC 5802 §3, and a SCRAM
client (RFC 5802 §7, RFC 7677)."""
import base64
import hashlib
import hmac
import os


def b64(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.b64encode(data).decode()


def unb64(text):
    return base64.b64decode(text, validate=True)


class ScramKeys:
    """SaltedPassword and the keys derived from it (RFC 5802 §3)."""

    def __init__(self, hash_name, password, salt, iterations):
        self.h = hash_name  # "sha1" | "sha256"
        salted = hashlib.pbkdf2_hmac(hash_name, password.encode(), salt, iterations)
        self.client_key = hmac.new(salted, b"Client Key", hash_name).digest()
        self.stored_key = hashlib.new(hash_name, self.client_key).digest()
        self.server_key = hmac.new(salted, b"Server Key", hash_name).digest()

    def client_proof(self, auth_message):
        signature = hmac.new(self.stored_key, auth_message.encode(), self.h).digest()
        return bytes(a ^ b for a, b in zip(self.client_key, signature))

    def server_signature(self, auth_message):
        return hmac.new(self.server_key, auth_message.encode(), self.h).digest()


class Scram:
    """A SCRAM client (RFC 5802 §7)."""

    def __init__(self, hash_name, user, password, cbflag="n", cbname=None, cbdata=b""):
        self.h = hash_name
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
        keys = ScramKeys(self.h, self.password, unb64(attrs["s"]), int(attrs["i"]))
        without_proof = "c=" + b64(self.gs2.encode() + self.cbdata) + ",r=" + attrs["r"]
        auth_message = ",".join([self.bare, server_first, without_proof])
        proof = keys.client_proof(auth_message)
        if tamper_proof:
            proof = bytes([proof[0] ^ 1]) + proof[1:]
        self.expected_server = "v=" + b64(keys.server_signature(auth_message))
        return without_proof + ",p=" + b64(proof)
