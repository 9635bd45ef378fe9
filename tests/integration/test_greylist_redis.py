"""Greylisting and the rate limit shared through Redis (SPEC §4 store =
"redis://..."): two `postern serve` processes on one real redis-server
(started here on a free loopback port, stopped by PID). A triplet
greylisted on node A passes on node B after the delay; an allow entry
added through one node's config is seen by the other; the MAIL rate is
counted across nodes; state outlives a node restart."""
import time
import unittest

from harness import Server
from support.policy import greylist_config, rcpt, send
from support.redis import RedisServer
from support.users import UserTemplate


class RedisGreylistTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.users = UserTemplate()
        cls.redis = RedisServer()

    @classmethod
    def tearDownClass(cls):
        cls.redis.stop()
        cls.users.cleanup()

    db = 0

    def node(self, db, **extra):
        cfg = {"greylist": greylist_config(delay="3s", store=self.redis.url(db))}
        cfg.update(extra)
        s = Server(data_dir=self.users.data_dir(self), listeners=("mx",), extra=cfg)
        s.start()
        self.addCleanup(s.cleanup)
        return s

    def test_two_nodes_share_the_greylist(self):
        a = self.node(1)
        b = self.node(1)
        code, text = rcpt(a.mx, "alice@sender.example", "bob@example.org")
        first = time.monotonic()
        self.assertEqual((code, text), (450, "4.2.0 Greylisted, try again in 3 seconds"))
        code, text = rcpt(b.mx, "alice@sender.example", "bob@example.org")
        if time.monotonic() - first < 2.5:
            self.assertEqual(code, 450, "node B knows the triplet A saw")
            self.assertIn(text, [f"4.2.0 Greylisted, try again in {n} seconds" for n in (1, 2, 3)])
        time.sleep(max(0.0, first + 3.1 - time.monotonic()))
        replies, data = send(b.mx, "alice@sender.example", "bob@example.org")
        self.assertEqual(replies["bob@example.org"][0], 250, replies)
        self.assertEqual(data[0], 250, data)
        self.assertEqual(len(b.delivered("bob@example.org")), 1)
        self.assertEqual(rcpt(a.mx, "alice@sender.example", "bob@example.org")[0], 250)
        # Both nodes list the same state from Redis.
        for node in (a, b):
            out = node.cli("greylist", "list")
            self.assertEqual(out.returncode, 0, out.stderr)
            rows = [l.split("\t") for l in out.stdout.splitlines() if "<bob@example.org>" in l]
            self.assertEqual(len(rows), 1, out.stdout)
            self.assertEqual(rows[0][0], "127.0.0.0/24 <alice@sender.example> <bob@example.org>")
            self.assertEqual(rows[0][3:], ["2", "passed"])

    def test_allow_entry_reaches_every_node(self):
        a = self.node(2)
        b = self.node(2)
        self.assertEqual(rcpt(a.mx, "x@sender.example", "carol@example.org")[0], 450)
        out = b.cli("greylist", "allow", "rcpt:carol@example.org")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual(rcpt(a.mx, "y@sender.example", "carol@example.org")[0], 250)
        self.assertEqual(rcpt(b.mx, "z@sender.example", "carol@example.org")[0], 250)
        self.assertEqual(rcpt(a.mx, "y@sender.example", "bob@example.org")[0], 450)

    def test_state_outlives_a_node_and_purge_all_clears_it(self):
        a = self.node(3)
        self.assertEqual(rcpt(a.mx, "p@sender.example", "bob@example.org")[0], 450)
        first = time.monotonic()
        self.assertEqual(a.stop(), 0)
        time.sleep(max(0.0, first + 3.1 - time.monotonic()))
        a.start()
        self.assertEqual(rcpt(a.mx, "p@sender.example", "bob@example.org")[0], 250)
        out = a.cli("greylist", "purge", "--all")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stdout, r"^removed [1-9]\d* entr")
        self.assertEqual(rcpt(a.mx, "p@sender.example", "bob@example.org")[0], 450)

    def test_rate_limit_is_shared(self):
        policy = {"max_messages_per_ip": 2, "rate_window": "8s"}
        a = self.node(4, policy=policy)
        b = self.node(4, policy=policy)
        self.assertEqual(rcpt(a.mx, "m1@sender.example", "bob@example.org")[0], 450)  # MAIL ok, greylisted
        first = time.monotonic()
        self.assertEqual(rcpt(b.mx, "m2@sender.example", "bob@example.org")[0], 450)
        code, text = rcpt(a.mx, "m3@sender.example", "bob@example.org")
        self.assertEqual((code, text), (450, "4.7.1 Too many messages, try again later"))
        time.sleep(max(0.0, first + 8.1 - time.monotonic()))
        self.assertEqual(rcpt(b.mx, "m3@sender.example", "bob@example.org")[0], 450, "window slid: MAIL accepted")
        self.assertIn("event=rate_limit", a.log_text())

    def test_unreachable_redis_is_a_clear_start_error(self):
        from harness import free_port
        s = Server(data_dir=self.users.data_dir(self), listeners=("mx",),
                   extra={"greylist": greylist_config(store=f"redis://127.0.0.1:{free_port()}/0")})
        self.addCleanup(s.cleanup)
        try:
            s.start()  # the listeners may be bound before the store is opened
        except RuntimeError:
            pass
        rc = s.proc.wait(timeout=30)
        self.assertNotEqual(rc, 0, "serve must not run without its greylist store")
        self.assertIn("redis", s.log_text().lower())
        out = s.cli("greylist", "list")
        self.assertEqual(out.returncode, 75, out.stderr)
        self.assertIn("greylist store", out.stderr)


if __name__ == "__main__":
    unittest.main()
