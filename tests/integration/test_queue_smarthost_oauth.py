"""The queue's smarthost with an OAuth 2.0 token ([relay]
smarthost_oauth_token_command, SPEC §14): the token comes from the
command; a refused token (the JSON error 334, then 535) runs the command
once more and AUTH is tried once more, so a token that expired just now
costs nothing; the token reaches no log."""
import os
import unittest

import harness
from queue_peers import add_user, queue_list, submit, wait_for
from send_support import AioServer, Handler
from support.oauth_peer import OAuthHandlerMixin

SENDER = "alice@example.org"
RELAY_USER = "relay@example.org"
OLD, NEW = "ya29.old-expired-token-111", "ya29.fresh-token-222"


class OAuthHandler(OAuthHandlerMixin, Handler):
    pass


class SmarthostOAuth(unittest.TestCase):
    def start(self, good_tokens, first=OLD, later=NEW):
        handler = OAuthHandler()
        handler.setup_oauth(RELAY_USER, good_tokens)
        relay = AioServer(handler=handler, auth_require_tls=False).start()
        self.addCleanup(relay.stop)
        server = harness.Server(extra={"queue": {"retry_initial": "1s", "retry_max": "2s", "lifetime": "1h"}})
        self.runs = os.path.join(server.data_dir, "token-runs")
        script = os.path.join(server.data_dir, "token.sh")
        with open(script, "w") as f:
            # Counts its runs; the first prints the old token, later runs the fresh one.
            f.write(f'echo run >> {self.runs}\nif [ "$(wc -l < {self.runs})" -eq 1 ]; then echo {first}; '
                    f'else echo {later}; fi\n')
        server.config["relay"] = {"smarthost": f"{relay.host}:{relay.port}", "smarthost_user": RELAY_USER,
                                  "smarthost_oauth_token_command": "sh " + script, "smarthost_tls": "none"}
        server.start()
        self.addCleanup(server.cleanup)
        add_user(server, SENDER)
        return server, relay

    def run_count(self):
        try:
            with open(self.runs) as f:
                return len(f.read().splitlines())
        except FileNotFoundError:
            return 0

    def test_refused_token_is_fetched_again_once(self):
        server, relay = self.start([NEW])
        submit(server, SENDER, ["bob@anywhere.test"])
        self.assertTrue(wait_for(lambda: len(relay.handler.messages) == 1, timeout=20), relay.handler.seen)
        self.assertEqual(self.run_count(), 2)
        seen = relay.handler.seen
        self.assertEqual([s["token"] for s in seen], [OLD, NEW])
        self.assertEqual(seen[0]["mechanism"], "OAUTHBEARER")  # offered beside XOAUTH2: the standard one
        self.assertEqual(seen[0]["answer"], b"\x01")
        self.assertTrue(wait_for(lambda: "Queue is empty" in queue_list(server)))
        log = server.log_text()
        self.assertIn("event=smarthost_token_refused", log)
        self.assertIn("event=smarthost_auth", log)
        self.assertNotIn(OLD, log)
        self.assertNotIn(NEW, log)

    def test_token_refused_twice_defers(self):
        server, relay = self.start([], first=OLD, later=OLD)
        submit(server, SENDER, ["bob@anywhere.test"])
        listing = wait_for(lambda: (lambda t: t if "deferred" in t else None)(queue_list(server)), timeout=15)
        self.assertIsNotNone(listing, queue_list(server))
        self.assertIn("535 5.7.8", listing)
        self.assertIn("refused the OAuth token", server.log_text())
        self.assertEqual(relay.handler.messages, [])
        self.assertEqual(len(relay.handler.seen) % 2, 0, "each connection tries twice")
        self.assertNotIn(OLD, server.log_text() + listing)


if __name__ == "__main__":
    unittest.main()
