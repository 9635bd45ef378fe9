"""The server side of OAUTHBEARER (RFC 7628) and XOAUTH2 (as Gmail speaks
it), written here for the client tests on aiosmtpd: a token in
`good_tokens` passes; any other gets the JSON error 334 (Gmail's
{"status":"401",...} or RFC 7628's {"status":"invalid_token",...}), then,
after the client's answer, 535 5.7.8. Everything the client sent is
recorded, decoded, in `seen`."""
import base64
import json
import threading

from aiosmtpd.smtp import MISSING, AuthResult

GMAIL_ERROR = {"status": "401", "schemes": "bearer", "scope": "https://mail.google.com/"}
RFC7628_ERROR = {"status": "invalid_token", "scope": "mail",
                 "openid-configuration": "https://auth.example.net/.well-known/openid-configuration"}


def oauthbearer_fields(message):
    """gs2 header and the key=value pairs of an OAUTHBEARER client message (bytes)."""
    gs2, _, rest = message.partition(b"\x01")
    pairs = {}
    for kv in rest.split(b"\x01"):
        if kv:
            k, _, v = kv.partition(b"=")
            pairs[k.decode()] = v.decode()
    return gs2.decode(), pairs


def xoauth2_fields(message):
    pairs = {}
    for kv in message.split(b"\x01"):
        if kv:
            k, _, v = kv.partition(b"=")
            pairs[k.decode()] = v.decode()
    return pairs


class OAuthHandlerMixin:
    """Mix into a recording Handler (send_support.Handler)."""

    def setup_oauth(self, user, good_tokens, error=None):
        self.oauth_user = user
        self.good_tokens = set(good_tokens)
        self.oauth_error = error or GMAIL_ERROR
        self.seen = []       # dicts: mechanism, initial (bytes), token, answer (bytes or None), ok
        self.oauth_lock = threading.Lock()

    async def auth_OAUTHBEARER(self, server, args):
        return await self._oauth(server, args, "OAUTHBEARER")

    async def auth_XOAUTH2(self, server, args):
        return await self._oauth(server, args, "XOAUTH2")

    async def _oauth(self, server, args, mechanism):
        if len(args) < 2:
            return AuthResult(success=False, handled=False, message="501 5.5.2 an initial response is required")
        initial = base64.b64decode(args[1])
        if mechanism == "OAUTHBEARER":
            gs2, pairs = oauthbearer_fields(initial)
            user = gs2[len("n,a="):-1] if gs2.startswith("n,a=") else None
        else:
            pairs = xoauth2_fields(initial)
            user = pairs.get("user")
        auth = pairs.get("auth", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else None
        record = {"mechanism": mechanism, "initial": initial, "token": token, "answer": None, "ok": False}
        with self.oauth_lock:
            self.seen.append(record)
        if user == self.oauth_user and token in self.good_tokens and initial.endswith(b"\x01\x01"):
            record["ok"] = True
            return AuthResult(success=True)
        answer = await server.challenge_auth(json.dumps(self.oauth_error))
        if answer is MISSING:
            return AuthResult(success=False, handled=True)
        record["answer"] = answer
        return AuthResult(success=False, handled=False, message="535 5.7.8 Username and Password not accepted")
