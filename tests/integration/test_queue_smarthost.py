"""Relay through a smarthost with AUTH (SPEC §4 [relay] smarthost,
smarthost_user, smarthost_password_file): the password comes from the file,
a wrong one defers the mail (it is our configuration, not the recipient's
fault), and a static route still wins over the smarthost."""
import os
import unittest

import harness
from queue_peers import NextHop, add_user, queue_list, submit, wait_for

SENDER = "alice@example.org"


class QueueSmarthostTest(unittest.TestCase):
    def start(self, smarthost, password, routes=None):
        server = harness.Server(extra={
            "queue": {"retry_initial": "1s", "retry_max": "2s", "lifetime": "1h"}})
        pw = os.path.join(server.data_dir, "smarthost.password")
        with open(pw, "w") as f:
            f.write(password + "\n")
        server.config["relay"] = {"smarthost": f"{smarthost.host}:{smarthost.port}",
                                  "smarthost_user": "relayuser", "smarthost_password_file": pw,
                                  "routes": routes or {}}
        server.start()
        self.addCleanup(server.cleanup)
        add_user(server, SENDER)
        return server

    def test_auth_to_smarthost(self):
        relay = NextHop(auth=("relayuser", "s3cret")).start()
        self.addCleanup(relay.stop)
        server = self.start(relay, "s3cret")
        submit(server, SENDER, ["bob@anywhere.test", "carol@elsewhere.test"])
        msgs = relay.wait_messages(2)
        self.assertEqual(sorted(r for m in msgs for r in m[1]), ["bob@anywhere.test", "carol@elsewhere.test"])
        self.assertTrue(relay.logins and all(ok for _, ok in relay.logins), relay.logins)
        self.assertIn("event=smarthost_auth", server.log_text())
        self.assertTrue(wait_for(lambda: "Queue is empty" in queue_list(server)))

    def test_wrong_password_defers(self):
        relay = NextHop(auth=("relayuser", "s3cret")).start()
        self.addCleanup(relay.stop)
        server = self.start(relay, "wrong")
        submit(server, SENDER, ["bob@anywhere.test"])
        listing = wait_for(lambda: (lambda t: t if "deferred" in t else None)(queue_list(server)), timeout=10)
        self.assertIsNotNone(listing, queue_list(server))
        self.assertIn("<bob@anywhere.test> deferred", listing)
        self.assertEqual(relay.messages, [])
        self.assertEqual(server.delivered(SENDER, timeout=1), [], "no bounce for our own misconfiguration")

    def test_route_wins_over_smarthost(self):
        relay = NextHop(auth=("relayuser", "s3cret")).start()
        self.addCleanup(relay.stop)
        direct = NextHop().start()
        self.addCleanup(direct.stop)
        server = self.start(relay, "s3cret", routes={"direct.test": f"{direct.host}:{direct.port}"})
        submit(server, SENDER, ["dan@direct.test"])
        self.assertEqual(len(direct.wait_messages(1)), 1)
        self.assertEqual(relay.messages, [])


if __name__ == "__main__":
    unittest.main()
