"""Outbound delivery by MX lookup (RFC 5321 §5.1, RFC 7505) against a real
DNS server (dnsmasq on loopback) and next hops on distinct loopback
addresses: the most preferred MX wins, an unreachable one falls back to the
next, a domain without MX gets its address record, a null MX bounces at
once, an unknown domain bounces."""
import email
import email.policy
import os
import time
import unittest

import harness
from queue_peers import Dnsmasq, NextHop, add_user, queue_list, shared_port, submit, wait_for

SENDER = "alice@example.org"


class QueueMxTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.port = shared_port(["127.0.0.2", "127.0.0.3", "127.0.0.4"])
        cls.dns = Dnsmasq([
            "--mx-host=pref.test,mx1.pref.test,10",
            "--mx-host=pref.test,mx2.pref.test,20",
            "--host-record=mx1.pref.test,127.0.0.2",
            "--host-record=mx2.pref.test,127.0.0.3",
            "--host-record=plain.test,127.0.0.4",
            "--dns-rr=nullmx.test,15,000000",
        ]).start()

    @classmethod
    def tearDownClass(cls):
        cls.dns.stop()

    def setUp(self):
        self.server = harness.Server(
            extra={"queue": {"retry_initial": "1s", "retry_max": "2s", "lifetime": "1h"},
                   "relay": {"dns_servers": [self.dns.server]}},
            env={"POSTERN_OUTGOING_SMTP_PORT": str(self.port)})
        self.server.start()
        self.addCleanup(self.server.cleanup)
        add_user(self.server, SENDER)

    def hop(self, host, mode="accept"):
        hop = NextHop(host=host, port=self.port, mode=mode).start()
        self.addCleanup(hop.stop)
        return hop

    def dsn_status(self):
        msgs = self.server.delivered(SENDER, timeout=15)
        self.assertEqual(len(msgs), 1, "one DSN expected")
        msg = email.message_from_bytes(msgs[0], policy=email.policy.compat32)
        self.assertEqual(msg.get_content_type(), "multipart/report")
        return msg.get_payload()[1].get_payload()[1]

    def test_most_preferred_mx_is_used(self):
        mx1, mx2 = self.hop("127.0.0.2"), self.hop("127.0.0.3")
        submit(self.server, SENDER, ["bob@pref.test"])
        self.assertEqual(len(mx1.wait_messages(1)), 1)
        time.sleep(0.5)
        self.assertEqual(mx2.messages, [])
        self.assertTrue(wait_for(lambda: "Queue is empty" in queue_list(self.server)))

    def test_unreachable_mx_falls_back_to_next(self):
        mx2 = self.hop("127.0.0.3")  # nothing listens on mx1 (127.0.0.2)
        submit(self.server, SENDER, ["bob@pref.test"])
        self.assertEqual(len(mx2.wait_messages(1)), 1)
        self.assertIn("connect_failed", self.server.log_text())

    def test_domain_without_mx_uses_its_address(self):
        plain = self.hop("127.0.0.4")
        submit(self.server, SENDER, ["carol@plain.test"])
        msgs = plain.wait_messages(1)
        self.assertEqual(len(msgs), 1)
        self.assertEqual(msgs[0][1], ["carol@plain.test"])

    def test_null_mx_bounces_at_once(self):
        submit(self.server, SENDER, ["dave@nullmx.test"])
        status = self.dsn_status()
        self.assertEqual(status["Action"], "failed")
        self.assertEqual(status["Status"], "5.1.10")
        self.assertIn("null MX", status["Diagnostic-Code"])
        self.assertIsNone(status["Remote-MTA"])

    def test_unknown_domain_bounces(self):
        submit(self.server, SENDER, ["erin@nosuchdomain.test"])
        status = self.dsn_status()
        self.assertEqual(status["Status"], "5.1.2")
        self.assertIn("NXDOMAIN", status["Diagnostic-Code"])

    def test_all_mx_down_defers(self):
        submit(self.server, SENDER, ["frank@pref.test"])
        listing = wait_for(lambda: (lambda t: t if "deferred" in t else None)(queue_list(self.server)), timeout=10)
        self.assertIsNotNone(listing)
        self.assertIn("<frank@pref.test> deferred", listing)
        self.assertIn("refused", listing.lower())
        # The destination comes back: the next attempt delivers.
        mx2 = self.hop("127.0.0.3")
        self.assertEqual(len(mx2.wait_messages(1, timeout=15)), 1)


if __name__ == "__main__":
    unittest.main()
