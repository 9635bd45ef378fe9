"""Relay through a smarthost with AUTH (SPEC §4 [relay] smarthost,
smarthost_user, smarthost_password_file): the password comes from the file,
a wrong one defers the mail (it is our configuration, not the recipient's
fault), and a static route still wins over the smarthost. The password
goes only where [relay] smarthost_tls allows: by default to a smarthost
whose certificate verifies for its name, never to a man in the middle
(untrusted certificate, or no STARTTLS and only PLAIN on offer)."""
import os
import tempfile
import unittest

import harness
from queue_peers import NextHop, add_user, queue_list, submit, wait_for
from send_support import make_cert

SENDER = "alice@example.org"


def start_with_smarthost(test, smarthost, password, routes=None, tls=None, ca=None):
    """A server relaying through `smarthost` as relayuser/`password`; tls and
    ca set [relay] smarthost_tls and smarthost_ca when given."""
    server = harness.Server(extra={"queue": {"retry_initial": "1s", "retry_max": "2s", "lifetime": "1h"}})
    pw = os.path.join(server.data_dir, "smarthost.password")
    with open(pw, "w") as f:
        f.write(password + "\n")
    server.config["relay"] = {"smarthost": f"{smarthost.host}:{smarthost.port}", "smarthost_user": "relayuser",
                              "smarthost_password_file": pw, "routes": routes or {}}
    if tls:
        server.config["relay"]["smarthost_tls"] = tls
    if ca:
        server.config["relay"]["smarthost_ca"] = ca
    server.start()
    test.addCleanup(server.cleanup)
    add_user(server, SENDER)
    return server


class QueueSmarthostTest(unittest.TestCase):
    def start(self, smarthost, password, routes=None):
        # These peers speak clear text on loopback: the operator says so.
        return start_with_smarthost(self, smarthost, password, routes=routes, tls="none")

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



class SmarthostTlsTest(unittest.TestCase):
    """smarthost_tls = "verify" (the default): certificate and name checked."""

    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="postern-ca-")
        self.good = make_cert(self.dir, "smarthost", sans="DNS:localhost,IP:127.0.0.1")
        self.mitm = make_cert(self.dir, "mitm", sans="DNS:localhost,IP:127.0.0.1")

    def start(self, relay, tls=None, ca=None):
        return start_with_smarthost(self, relay, "s3cret", tls=tls, ca=ca)

    def deferred(self, server):
        return wait_for(lambda: (lambda t: t if "deferred" in t else None)(queue_list(server)), timeout=10)

    def test_verified_smarthost_gets_the_password(self):
        relay = NextHop(auth=("relayuser", "s3cret"), starttls_cert=self.good).start()
        self.addCleanup(relay.stop)
        server = self.start(relay, ca=self.good[0])
        submit(server, SENDER, ["bob@anywhere.test"])
        self.assertEqual(len(relay.wait_messages(1)), 1)
        self.assertEqual(relay.logins, [("relayuser", True)])
        log = server.log_text()
        self.assertRegex(log, r"event=relay_connect .*tls=\"?TLSv1\.[23].* verified=yes")

    def test_untrusted_certificate_gets_nothing(self):
        # A man in the middle with a certificate of its own: no AUTH, no message, deferred.
        mitm = NextHop(auth=("relayuser", "s3cret"), starttls_cert=self.mitm).start()
        self.addCleanup(mitm.stop)
        server = self.start(mitm, ca=self.good[0])
        submit(server, SENDER, ["bob@anywhere.test"])
        listing = self.deferred(server)
        self.assertIsNotNone(listing, queue_list(server))
        self.assertIn("did not verify", listing)
        self.assertEqual(mitm.logins, [])
        self.assertEqual(mitm.messages, [])

    def test_no_starttls_and_only_plain_gets_nothing(self):
        mitm = NextHop(auth=("relayuser", "s3cret")).start()  # clear text, AUTH PLAIN LOGIN on offer
        self.addCleanup(mitm.stop)
        server = self.start(mitm, ca=self.good[0])
        submit(server, SENDER, ["bob@anywhere.test"])
        listing = self.deferred(server)
        self.assertIsNotNone(listing, queue_list(server))
        self.assertEqual(mitm.logins, [])
        self.assertEqual(mitm.messages, [])

    def test_encrypt_skips_the_check_when_the_operator_says_so(self):
        relay = NextHop(auth=("relayuser", "s3cret"), starttls_cert=self.mitm).start()
        self.addCleanup(relay.stop)
        server = self.start(relay, tls="encrypt")
        submit(server, SENDER, ["bob@anywhere.test"])
        self.assertEqual(len(relay.wait_messages(1)), 1)
        self.assertRegex(server.log_text(), r"event=relay_connect .* verified=no")

    def test_bad_value_is_a_config_error(self):
        server = harness.Server()
        server.config["relay"] = {"smarthost_tls": "maybe"}
        self.addCleanup(server.cleanup)
        server.write_config()
        r = server.cli("check-config")
        self.assertEqual(r.returncode, 78)
        self.assertIn("relay.smarthost_tls", r.stderr)


if __name__ == "__main__":
    unittest.main()
