"""Outbound queue over real sockets: `postern serve` relays an authenticated
user's mail to an independent next hop (aiosmtpd) through a static route,
retries 4xx with backoff, bounces 5xx and expired mail with an RFC 3464 DSN
into the local sender's Maildir, obeys `postern queue retry`, and loses
nothing when killed with SIGKILL in the middle of a delivery."""
import email
import json
import email.policy
import os
import re
import time
import unittest

import harness
from queue_peers import NextHop, add_user, queue_list, submit, wait_for

SENDER = "alice@example.org"


class QueueRelayTest(unittest.TestCase):
    def start(self, hop, queue=None, data_dir=None):
        q = {"retry_initial": "1s", "retry_max": "2s", "lifetime": "1h"}
        q.update(queue or {})
        server = harness.Server(data_dir=data_dir, extra={
            "queue": q,
            "relay": {"routes": {"remote.test": f"{hop.host}:{hop.port}"}},
        })
        server.start()
        self.addCleanup(server.cleanup)
        return server

    def hop(self, mode, **kw):
        hop = NextHop(mode=mode, **kw).start()
        self.addCleanup(hop.stop)
        return hop

    def dsn(self, server, timeout=20):
        msgs = server.delivered(SENDER, timeout=timeout)
        self.assertEqual(len(msgs), 1, "one DSN expected in the sender's Maildir")
        return email.message_from_bytes(msgs[0], policy=email.policy.compat32)

    def check_dsn(self, msg, recipient, action, status_prefix, diagnostic_part):
        self.assertEqual(msg.get_content_type(), "multipart/report")
        self.assertEqual(msg.get_param("report-type"), "delivery-status")
        self.assertIn(SENDER, msg["To"])
        self.assertEqual(msg["Auto-Submitted"], "auto-replied")
        parts = msg.get_payload()
        self.assertEqual([p.get_content_type() for p in parts],
                         ["text/plain", "message/delivery-status", "text/rfc822-headers"])
        human = parts[0].get_payload(decode=True).decode()
        self.assertIn(f"<{recipient}>", human)
        # message/delivery-status: per-message block, then one per recipient.
        blocks = parts[1].get_payload()
        self.assertGreaterEqual(len(blocks), 2)
        per_message, per_rcpt = blocks[0], blocks[1]
        self.assertEqual(per_message["Reporting-MTA"], "dns; mx.example.org")
        self.assertIsNotNone(per_message["Arrival-Date"])
        self.assertEqual(per_rcpt["Final-Recipient"], f"rfc822; {recipient}")
        self.assertEqual(per_rcpt["Action"], action)
        self.assertTrue(per_rcpt["Status"].startswith(status_prefix), per_rcpt["Status"])
        self.assertIn(diagnostic_part, " ".join(per_rcpt["Diagnostic-Code"].split()))
        headers = parts[2].get_payload()
        self.assertIn("Subject: queue test", headers)
        self.assertNotIn("Hello from the queue test", headers)  # headers only
        return per_rcpt, human

    def test_greylisted_next_hop_delivered_once_after_retry(self):
        hop = self.hop("greylist")
        server = self.start(hop, {"retry_initial": "3s", "retry_max": "3s"})
        add_user(server, SENDER)
        submit(server, SENDER, ["bob@remote.test"])
        # First attempt: 450. The queue shows the recipient deferred with that reply.
        self.assertTrue(hop.wait_attempts(1))
        listing = wait_for(lambda: (lambda t: t if "deferred" in t else None)(queue_list(server)), timeout=10)
        self.assertIsNotNone(listing, queue_list(server))
        self.assertIn("<bob@remote.test> deferred, 1 attempt", listing)
        self.assertIn("450 4.2.0 Greylisted, try again in 1 seconds", listing)
        self.assertIn(f"<{SENDER}>", listing)
        self.assertRegex(listing, r"next attempt \d{4}-\d\d-\d\d \d\d:\d\d:\d\d UTC")
        # The hint (1 s) is honoured: the retry comes well before retry_initial ... or at it.
        msgs = hop.wait_messages(1, timeout=15)
        self.assertEqual(len(msgs), 1)
        self.assertEqual(msgs[0][1], ["bob@remote.test"])
        self.assertIn(b"Subject: queue test", msgs[0][2])
        self.assertTrue(wait_for(lambda: "Queue is empty" in queue_list(server), timeout=10), queue_list(server))
        time.sleep(1.5)
        self.assertEqual(len(hop.messages), 1, "delivered exactly once")
        self.assertEqual([a[2] for a in hop.attempts], [450, 250])
        log = server.log_text()
        self.assertRegex(log, r"queue_id=\w+ event=delivery to=<bob@remote.test> .*status=deferred")
        self.assertRegex(log, r"queue_id=\w+ event=delivery to=<bob@remote.test> .*status=sent")

    def test_550_bounces_with_dsn_to_local_sender(self):
        hop = self.hop("reject")
        server = self.start(hop)
        add_user(server, SENDER)
        submit(server, SENDER, ["nobody@remote.test"])
        msg = self.dsn(server)
        self.assertEqual(msg["Subject"], "Undelivered Mail Returned to Sender")
        per_rcpt, human = self.check_dsn(msg, "nobody@remote.test", "failed", "5.1.1",
                                         "smtp; 550 5.1.1 No such user here")
        self.assertEqual(per_rcpt["Remote-MTA"], f"dns; {hop.host}")
        self.assertEqual(len(hop.attempts), 1, "a 5xx is never retried")
        # For people: the knowledge base's meaning, when and fix, as `postern explain` has them.
        kb = json.loads(harness.run("explain", "550 5.1.1 No such user here", "--json").stdout)["explanation"]
        unfolded = " ".join(human.split())
        self.assertIn("Meaning: permanent failure", unfolded)
        self.assertIn("When you see it: " + kb["enhanced"]["when"], unfolded)
        fix = kb["recognised"][0]["advice"] if kb["recognised"] else kb["enhanced"]["fix"]["sender"]
        self.assertIn("How to fix it: " + fix, unfolded)
        self.assertTrue(all(len(line) <= 78 for line in human.splitlines()), human)
        self.assertTrue(wait_for(lambda: "Queue is empty" in queue_list(server), timeout=10))
        # The DSN came with the null reverse-path.
        raw = server.delivered(SENDER)[0]
        self.assertTrue(raw.startswith(b"Return-Path: <>"), raw[:80])

    def test_lifetime_expiry_bounces(self):
        hop = self.hop("tempfail")
        server = self.start(hop, {"lifetime": "3s"})
        add_user(server, SENDER)
        submit(server, SENDER, ["busy@remote.test"])
        msg = self.dsn(server, timeout=25)
        _, human = self.check_dsn(msg, "busy@remote.test", "failed", "4.4.7", "450 4.2.1 Mailbox busy")
        self.assertIn("When you see it:", human)  # our own 4.4.7 (no reply of the hop's) is explained too
        self.assertIn("How to fix it:", human)
        self.assertGreaterEqual(len(hop.attempts), 2, "retried before giving up")
        self.assertLessEqual(len(hop.attempts), 6, "backoff, not hammering")

    def test_queue_retry_forces_an_attempt(self):
        hop = self.hop("tempfail")
        server = self.start(hop, {"retry_initial": "1h", "retry_max": "2h"})
        add_user(server, SENDER)
        submit(server, SENDER, ["later@remote.test"])
        self.assertTrue(hop.wait_attempts(1))
        listing = wait_for(lambda: (lambda t: t if "deferred" in t else None)(queue_list(server)), timeout=10)
        qid = re.search(r"^([0-9a-f]{16}) ", listing, re.M).group(1)
        show = server.cli("queue", "show", qid)
        self.assertEqual(show.returncode, 0, show.stderr)
        self.assertIn("later@remote.test", show.stdout)
        self.assertIn("Subject: queue test", show.stdout)
        time.sleep(1.5)
        self.assertEqual(len(hop.attempts), 1, "next attempt is an hour away")
        hop.mode = "accept"
        r = server.cli("queue", "retry", qid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(len(hop.wait_messages(1, timeout=10)), 1)
        self.assertTrue(wait_for(lambda: "Queue is empty" in queue_list(server), timeout=10))

    def test_queue_cli_bad_input(self):
        hop = self.hop("accept")
        server = self.start(hop)
        for args, code in [(("queue", "show", "nothex"), 64), (("queue", "show", "0123456789abcdef"), 65),
                           (("queue", "retry", "0123456789abcdef"), 65), (("queue", "delete", "xyz"), 64),
                           (("queue",), 64), (("queue", "frobnicate"), 64)]:
            r = server.cli(*args)
            self.assertEqual(r.returncode, code, f"{args}: {r.stdout} {r.stderr}")
            if code != 64 or len(args) > 2:
                self.assertIn("postern:", r.stderr)

    def test_queue_delete(self):
        hop = self.hop("tempfail")
        server = self.start(hop, {"retry_initial": "1h", "retry_max": "2h"})
        add_user(server, SENDER)
        submit(server, SENDER, ["gone@remote.test"])
        listing = wait_for(lambda: (lambda t: t if "deferred" in t else None)(queue_list(server)), timeout=10)
        qid = re.search(r"^([0-9a-f]{16}) ", listing, re.M).group(1)
        r = server.cli("queue", "delete", qid)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("Queue is empty", queue_list(server))
        self.assertEqual(server.cli("queue", "show", qid).returncode, 65)

    def test_kill9_during_delivery_loses_nothing(self):
        hop = self.hop("slow", delay=30)
        server = self.start(hop)
        add_user(server, SENDER)
        submit(server, SENDER, ["carol@remote.test"])
        # The next hop has the message but has not answered the final dot yet.
        self.assertEqual(len(hop.wait_messages(1, timeout=15)), 1)
        server.kill9()
        hop.mode = "accept"
        server.start()
        msgs = hop.wait_messages(2, timeout=20)
        # Re-sent after restart: the unavoidable duplicate, and it is counted.
        self.assertEqual(len(msgs), 2)
        self.assertTrue(wait_for(lambda: "Queue is empty" in queue_list(server), timeout=10))
        self.assertRegex(server.log_text(), r"event=queue_recover .*possible_duplicates=1")


if __name__ == "__main__":
    unittest.main()
