"""The AUTH lockout shared through Redis (SPEC §12: with greylist.store =
"redis://...", the lockout is counted there too): two `postern serve`
processes on one real redis-server stop a brute force spread over both,
which each alone would not have seen. When Redis goes away, AUTH neither
hangs nor is refused for it: each node's own count decides again."""
import time
import unittest

from harness import Server
from support.auth import AuthSMTP
from support.redis import RedisServer
from support.sasl import b64
from support.users import UserTemplate

USER, PASSWORD = "bob@example.org", "secret-pw"  # support/users.py


def auth(node, password):
    c = AuthSMTP(*node.submission, timeout=20)
    try:
        c.ehlo()
        c.starttls()
        return c.cmd("AUTH PLAIN " + b64(f"\0{USER}\0{password}"))[0]
    finally:
        c.close()


class SharedLockout(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.users = UserTemplate((USER,))
        cls.addClassCleanup(cls.users.cleanup)

    def node(self, redis, db):
        s = Server(data_dir=self.users.data_dir(self), listeners=("submission",), extra={
            "greylist": {"enabled": False, "store": redis.url(db)},
            "auth": {"lockout_failures": 4, "lockout_window": "10m", "lockout_duration": "20s",
                     "max_failures_per_session": 10}})
        s.start()
        self.addCleanup(s.cleanup)
        return s

    def redis(self):
        r = RedisServer()
        self.addCleanup(lambda: r.proc and r.stop())
        return r

    def test_brute_force_spread_over_two_nodes_is_stopped(self):
        redis = self.redis()
        a, b = self.node(redis, 1), self.node(redis, 1)
        self.assertEqual(auth(a, PASSWORD), 235)
        for node in (a, b, a):  # three failures: each node has seen at most two of four
            self.assertEqual(auth(node, "guess"), 535)
        self.assertEqual(auth(b, PASSWORD), 235)  # not locked yet
        self.assertEqual(auth(b, "guess"), 535)   # the fourth, on B
        self.assertRegex(b.log_text(), r"event=auth_lockout(\n| )")
        for node in (a, b):  # locked on both, right password or not
            self.assertEqual(auth(node, PASSWORD), 454)

    def test_nodes_on_other_databases_count_alone(self):
        redis = self.redis()
        a, b = self.node(redis, 2), self.node(redis, 3)
        for node in (a, b, a, b):
            self.assertEqual(auth(node, "guess"), 535)
        self.assertEqual(auth(a, PASSWORD), 235)
        self.assertEqual(auth(b, PASSWORD), 235)

    def test_redis_down_falls_back_to_each_nodes_count(self):
        redis = self.redis()
        a = self.node(redis, 4)
        redis.stop()
        start = time.monotonic()
        self.assertEqual(auth(a, PASSWORD), 235)  # Redis down is not a reason to refuse
        self.assertLess(time.monotonic() - start, 10)
        self.assertIn("event=auth_lockout_store_unavailable fallback=local", a.log_text())
        for _ in range(4):
            self.assertEqual(auth(a, "guess"), 535)
        self.assertEqual(auth(a, PASSWORD), 454)  # the node's own count locked it


if __name__ == "__main__":
    unittest.main()
