"""`postern send` with OAuth 2.0 tokens (SPEC §14): OAUTHBEARER (RFC 7628)
and XOAUTH2 against aiosmtpd with both mechanisms' server side written in
the test (support/oauth_peer.py). The exact initial responses; a refused
token's JSON error 334 decoded, shown and answered as each mechanism
requires, then exit 77 with the explanation; the token from
--token-command or POSTERN_OAUTH_TOKEN, and never in the transcript, the
error text or the process list."""
import glob
import json
import os
import subprocess
import unittest

import harness
from send_support import AioServer, Handler, make_cert, send, tempdir
from support.oauth_peer import RFC7628_ERROR, OAuthHandlerMixin

USER = "alice@example.net"
GOOD = "ya29.a0AfB_byC-good-token_0123456789"
BAD = "ya29.a0AfB_byC-expired-token_9876543210"


class OAuthHandler(OAuthHandlerMixin, Handler):
    pass


class OAuthSend(unittest.TestCase):
    def setUp(self):
        self.dir = tempdir(self)
        self.cert = make_cert(self.dir)

    def server(self, error=None, tls="starttls"):
        handler = OAuthHandler()
        handler.setup_oauth(USER, [GOOD], error)
        s = AioServer(tls=tls, cert=self.cert, handler=handler, auth_require_tls=tls is not None).start()
        self.addCleanup(s.stop)
        return s

    def token_command(self, token):
        path = os.path.join(self.dir, "token.txt")
        with open(path, "w") as f:
            f.write(token + "\nsecond line is ignored\n")
        return "cat " + path

    def send(self, s, *extra, env=None):
        return send("--server", s.address, "--ca", self.cert[0], "--user", USER, "--from", USER,
                    "--to", "bob@example.org", "-v", *extra, env=env)

    def assertNoToken(self, r, *tokens):
        for t in tokens:
            self.assertNotIn(t, r.stdout + r.stderr)

    def test_oauthbearer_initial_response(self):
        s = self.server()
        r = self.send(s, "--mech", "OAUTHBEARER", "--token-command", self.token_command(GOOD))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(s.handler.messages), 1)
        [seen] = s.handler.seen
        self.assertEqual(seen["initial"], ("n,a=%s,\x01host=127.0.0.1\x01port=%d\x01auth=Bearer %s\x01\x01"
                                           % (USER, s.port, GOOD)).encode())
        self.assertTrue(seen["ok"])
        self.assertRegex(r.stderr, r"(?m)^-> AUTH OAUTHBEARER <redacted> +\[n,a=alice@example.net,\^Ahost=127\.0\.0\.1"
                                   r"\^Aport=\d+\^Aauth=Bearer <redacted>\^A\^A\]$")
        self.assertIn("authenticated with OAUTHBEARER", r.stderr)
        self.assertNoToken(r, GOOD)

    def test_xoauth2_initial_response_from_the_environment(self):
        s = self.server()
        r = self.send(s, "--mech", "XOAUTH2", env={"POSTERN_OAUTH_TOKEN": GOOD})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(s.handler.seen[0]["initial"], ("user=%s\x01auth=Bearer %s\x01\x01" % (USER, GOOD)).encode())
        self.assertEqual(len(s.handler.messages), 1)
        self.assertRegex(r.stderr, r"(?m)^-> AUTH XOAUTH2 <redacted> +\[user=alice@example.net\^Aauth=Bearer <redacted>\^A\^A\]$")
        self.assertNoToken(r, GOOD)

    def test_xoauth2_refused_token_gmail_error(self):
        s = self.server()
        r = self.send(s, "--mech", "XOAUTH2", "--token-command", self.token_command(BAD))
        self.assertEqual(r.returncode, 77, r.stderr)
        [seen] = s.handler.seen
        self.assertEqual(seen["answer"], b"", "XOAUTH2 answers the error with an empty line")
        self.assertEqual(s.handler.messages, [])
        # -v: the 334 decoded, the empty answer, the 535.
        self.assertRegex(r.stderr, r'(?m)^<- 334 \S+ +\[decoded: \{"status": "401", "schemes": "bearer", '
                                   r'"scope": "https://mail.google.com/"\}\]$')
        self.assertRegex(r.stderr, r"(?m)^-> \(empty response\)$")
        self.assertRegex(r.stderr, r"(?m)^<- 535 5\.7\.8 ")
        # The error text: the decoded JSON and the explanation of a refused token.
        self.assertIn("the server refused the OAuth token for alice@example.net (status 401, schemes bearer, "
                      "scope https://mail.google.com/", r.stderr)
        self.assertIn("OAuth token refused", r.stderr)
        self.assertIn("fresh token", r.stderr)
        self.assertNotIn("334", r.stderr.split("\n")[-2], "the error is the refusal, not a 334")
        self.assertNoToken(r, BAD)

    def test_oauthbearer_refused_token_rfc7628_error(self):
        s = self.server(error=RFC7628_ERROR)
        r = self.send(s, "--mech", "OAUTHBEARER", env={"POSTERN_OAUTH_TOKEN": BAD})
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertEqual(s.handler.seen[0]["answer"], b"\x01", "OAUTHBEARER answers the error with ^A")
        self.assertRegex(r.stderr, r"(?m)^-> AQ== +\[\^A\]$")
        self.assertIn('[decoded: ' + json.dumps(RFC7628_ERROR), r.stderr)
        self.assertIn("(status invalid_token, scope mail, openid-configuration "
                      "https://auth.example.net/.well-known/openid-configuration", r.stderr)
        self.assertEqual(s.handler.messages, [])
        self.assertNoToken(r, BAD)

    def test_a_backslash_in_a_challenge_is_escaped_once(self):
        error = dict(RFC7628_ERROR, scope="mail\\admin")
        s = self.server(error=error)
        r = self.send(s, "--mech", "OAUTHBEARER", env={"POSTERN_OAUTH_TOKEN": BAD})
        self.assertEqual(r.returncode, 77, r.stderr)
        [decoded] = [line for line in r.stderr.splitlines() if line.startswith("<- 334 ")]
        self.assertIn('"scope": "mail\\x5c\\x5cadmin"', decoded)  # the JSON's two backslashes, each shown once
        self.assertNotIn("x5cx5c", decoded)

    def test_mechanism_chosen_from_the_offer(self):
        s = self.server()
        r = self.send(s, "--token-command", self.token_command(GOOD))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(s.handler.seen[0]["mechanism"], "OAUTHBEARER")

    def test_token_is_in_no_command_line(self):
        s = self.server()
        token_file = os.path.join(self.dir, "token.txt")
        with open(token_file, "w") as f:
            f.write(GOOD + "\n")
        started = os.path.join(self.dir, "started")
        go = os.path.join(self.dir, "go")
        # The command waits until the test has looked at every process.
        command = f"touch {started}; i=0; while [ ! -e {go} ] && [ $i -lt 400 ]; do sleep 0.05; i=$((i+1)); done; cat {token_file}"
        env = dict(os.environ)
        env.pop("POSTERN_OAUTH_TOKEN", None)
        p = subprocess.Popen([harness.POSTERN, "send", "--server", s.address, "--ca", self.cert[0], "--user", USER,
                              "--mech", "XOAUTH2", "--token-command", command, "--from", USER, "--to", "bob@example.org"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env)
        self.addCleanup(lambda: p.poll() is None and p.kill())
        self.assertTrue(harness.wait_for(lambda: os.path.exists(started), timeout=10))
        lines = []
        for path in glob.glob("/proc/[0-9]*/cmdline"):
            try:
                with open(path, "rb") as f:
                    lines.append(f.read().replace(b"\0", b" ").decode("utf-8", "replace"))
            except OSError:
                pass
        self.assertTrue(any("postern send" in l and "--token-command" in l for l in lines), "postern send is running")
        self.assertFalse([l for l in lines if GOOD in l], "the token is on a command line")
        with open(go, "w"):
            pass
        out, err = p.communicate(timeout=30)
        self.assertEqual(p.returncode, 0, err)
        self.assertEqual(s.handler.seen[0]["token"], GOOD)
        self.assertNotIn(GOOD, out + err)

    def test_token_command_that_fails(self):
        s = self.server()
        r = self.send(s, "--mech", "XOAUTH2", "--token-command", "echo refresh token revoked >&2; exit 3")
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn("the token command exited with status 3", r.stderr)
        self.assertIn("refresh token revoked", r.stderr)  # its own stderr passes through
        self.assertNotIn("connected to", r.stderr, "no connection without a token")

    def test_token_command_that_prints_nothing(self):
        s = self.server()
        r = self.send(s, "--mech", "OAUTHBEARER", "--token-command", "true")
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn("the token command printed no token", r.stderr)
        self.assertNotIn("connected to", r.stderr)

    def test_no_token_at_all_is_a_usage_error(self):
        s = self.server()
        r = self.send(s, "--mech", "XOAUTH2", env={"POSTERN_OAUTH_TOKEN": ""})
        self.assertEqual(r.returncode, 64, r.stderr)
        self.assertIn("--token-command", r.stderr)
        self.assertIn("POSTERN_OAUTH_TOKEN", r.stderr)

    def test_server_without_oauth(self):
        s = AioServer(tls="starttls", cert=self.cert).start()
        self.addCleanup(s.stop)
        r = self.send(s, "--mech", "OAUTHBEARER", env={"POSTERN_OAUTH_TOKEN": GOOD})
        self.assertEqual(r.returncode, 77, r.stderr)
        self.assertIn("the server does not offer OAUTHBEARER", r.stderr)


if __name__ == "__main__":
    unittest.main()
