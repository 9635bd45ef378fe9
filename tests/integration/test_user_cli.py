"""`postern user ...` through the real binary: every subcommand, every
malformed argument, exit codes (sysexits) and what lands in postern.db."""
import concurrent.futures
import os
import sqlite3
import unittest

import harness


class UserCli(unittest.TestCase):
    def setUp(self):
        self.server = harness.Server()  # only for its data dir and config file
        self.server.write_config()
        self.addCleanup(self.server.cleanup)

    def cli(self, sub=None, *args, **kw):
        """`postern user SUB --config FILE ARGS...` (options before a `--`)."""
        if sub is None:
            return harness.run("user", "--config", self.server.config_path, **kw)
        return harness.run("user", sub, "--config", self.server.config_path, *args, **kw)

    def cli_many(self, calls):
        """Runs many independent invocations at once: [(args, input)] -> results, in order.
        Only for calls that change nothing (each fails), so order cannot matter."""
        with concurrent.futures.ThreadPoolExecutor(max_workers=6) as pool:
            return list(pool.map(lambda c: self.cli(*c[0], input=c[1]), calls))

    def add(self, address, password="s3cret pass", *extra):
        return self.cli("add", *extra, "--password-stdin", address, input=password + "\n")

    def listing(self):
        r = self.cli("list")
        self.assertEqual(r.returncode, 0, r.stderr)
        lines = r.stdout.splitlines()
        self.assertEqual(lines[0].split("\t")[0], "ADDRESS")
        return {l.split("\t")[0]: l.split("\t") for l in lines[1:]}

    def db_row(self, address):
        db = sqlite3.connect(os.path.join(self.server.data_dir, "postern.db"))
        db.row_factory = sqlite3.Row
        try:
            return db.execute("SELECT * FROM users WHERE address = ?", (address,)).fetchone()
        finally:
            db.close()

    def assertExit(self, r, code, text=None):
        self.assertEqual(r.returncode, code, f"stdout={r.stdout!r} stderr={r.stderr!r}")
        if text is not None:
            self.assertIn(text, r.stderr)

    def test_add_stores_hash_and_scram_keys_never_the_password(self):
        r = self.add("Alice@Example.ORG", "correct horse")
        self.assertExit(r, 0)
        self.assertIn("added alice@example.org", r.stdout)
        row = self.db_row("alice@example.org")
        self.assertTrue(row["password_hash"].startswith("$y$"))
        for h in ("sha1", "sha256"):
            self.assertGreaterEqual(row[f"scram_{h}_iter"], 4096)
            self.assertTrue(row[f"scram_{h}_salt"] and row[f"scram_{h}_stored"] and row[f"scram_{h}_server"])
        self.assertEqual(row["cram_md5_secret"], "")
        with open(os.path.join(self.server.data_dir, "postern.db"), "rb") as f:
            self.assertNotIn(b"correct horse", f.read())
        self.assertEqual(self.listing()["alice@example.org"][1:4], ["active", "none", "password"])

    def test_duplicate_any_case(self):
        self.assertExit(self.add("bob@example.org"), 0)
        self.assertExit(self.add("BOB@example.org"), 65, "already exists")

    def test_bad_addresses(self):
        bad_addresses = ["", "alice", "@example.org", "alice@", "al ice@example.org", "<alice@example.org>",
                         "alice@exa mple.org", "alice@example..org", "../x@example.org", "a/b@example.org",
                         "a@b@example.org", "x" * 65 + "@example.org", "alice@[127.0.0.1]"]
        calls = [(["add", "--password-stdin", "--", bad], "pw\n") for bad in bad_addresses]
        # Every other subcommand validates the same way (one bad address each).
        for i, sub in enumerate(["passwd", "del", "lock", "unlock", "disable", "enable", "quota"]):
            calls.append(([sub, "--", bad_addresses[i + 1]] + (["1M"] if sub == "quota" else []), "pw\n"))
        for call, r in zip(calls, self.cli_many(calls)):
            with self.subTest(call=call):
                self.assertExit(r, 65, "not a valid mailbox address")
        self.assertEqual(self.listing(), {})

    def test_password_sources(self):
        # Not a terminal and no --password-stdin: a usage error, nothing added.
        r = self.cli("add", "carol@example.org", input="pw\n")
        self.assertExit(r, 64, "--password-stdin")
        # Empty input, an empty line, invalid UTF-8: data errors.
        self.assertExit(self.cli("add", "--password-stdin", "carol@example.org", input=""), 65, "password")
        self.assertExit(self.cli("add", "--password-stdin", "carol@example.org", input="\n"), 65, "empty password")
        self.assertEqual(self.listing(), {})
        # CRLF line ending is not part of the password; only the first line counts.
        self.assertExit(self.cli("add", "--password-stdin", "carol@example.org", input="pw\r\nsecond\n"), 0)

    def test_usage_errors(self):
        calls = [[], ["bogus"], ["add"], ["add", "--password-stdin"], ["quota", "a@example.org"],
                     ["add", "--nope", "a@example.org"], ["del", "a@example.org", "b@example.org"],
                     ["passwd", "--cram-md5", "--no-cram-md5", "--password-stdin", "a@example.org"]]
        for args, r in zip(calls, self.cli_many([(c, "pw\n") for c in calls])):
            with self.subTest(args=args):
                self.assertExit(r, 64)

    def test_reading_commands_refuse_a_missing_data_dir(self):
        # A mistyped --data-dir is an error, not an empty list (and nothing is created there).
        missing = os.path.join(self.server.data_dir, "typo")
        for args in (["user", "list"], ["queue", "list"], ["queue", "show", "0123456789abcdef"],
                     ["greylist", "list"]):
            with self.subTest(args=args):
                self.assertExit(harness.run(*args, "--data-dir", missing), 78, "no data directory at " + missing)
        self.assertFalse(os.path.exists(missing))

    def test_unknown_user(self):
        calls = [["passwd", "--password-stdin", "ghost@example.org"], ["del", "ghost@example.org"],
                     ["lock", "ghost@example.org"], ["unlock", "ghost@example.org"],
                     ["disable", "ghost@example.org"], ["enable", "ghost@example.org"],
                     ["quota", "ghost@example.org", "1M"]]
        for args, r in zip(calls, self.cli_many([(c, "pw\n") for c in calls])):
            with self.subTest(args=args):
                self.assertExit(r, 67, "no such user: ghost@example.org")

    def test_lock_disable_quota_cycle(self):
        self.assertExit(self.add("dave@example.org"), 0)
        self.assertExit(self.cli("lock", "dave@example.org", "--reason", "moving to new disk"), 0)
        row = self.listing()["dave@example.org"]
        self.assertEqual(row[1], "active,locked")
        self.assertEqual(row[4], "moving to new disk")
        self.assertExit(self.cli("unlock", "DAVE@example.org"), 0)
        self.assertEqual(self.listing()["dave@example.org"][1], "active")
        self.assertExit(self.cli("disable", "dave@example.org"), 0)
        self.assertEqual(self.listing()["dave@example.org"][1], "disabled")
        self.assertExit(self.cli("enable", "dave@example.org"), 0)
        self.assertEqual(self.listing()["dave@example.org"][1], "active")
        for size, shown, octets in [("25M", "25M", 25 << 20), ("512K", "512K", 512 << 10), ("1G", "1G", 1 << 30),
                                    ("1000", "1000", 1000), ("none", "none", 0), ("0", "none", 0)]:
            with self.subTest(size=size):
                r = self.cli("quota", "dave@example.org", size)
                self.assertExit(r, 0)
                self.assertIn(f"set to {shown}", r.stdout)
                self.assertEqual(self.db_row("dave@example.org")["quota_bytes"], octets)
        self.assertEqual(self.listing()["dave@example.org"][2], "none")

    def test_bad_sizes(self):
        self.assertExit(self.add("erin@example.org"), 0)
        bad_sizes = ["", "abc", "10X", "1.5M", "M", "25 M", "99999999999999999999", "-1"]
        results = self.cli_many([(["quota", "--", "erin@example.org", bad], None) for bad in bad_sizes])
        for bad, r in zip(bad_sizes, results):
            with self.subTest(size=bad):
                self.assertExit(r, 65, "invalid size")
        self.assertEqual(self.listing()["erin@example.org"][2], "none")

    def test_passwd_replaces_secrets(self):
        self.assertExit(self.add("frank@example.org", "old"), 0)
        before = dict(self.db_row("frank@example.org"))
        self.assertExit(self.cli("passwd", "--password-stdin", "frank@example.org", input="new\n"), 0)
        after = dict(self.db_row("frank@example.org"))
        for k in ("password_hash", "scram_sha1_stored", "scram_sha256_stored", "scram_sha256_salt"):
            self.assertNotEqual(before[k], after[k], k)

    def test_del(self):
        self.assertExit(self.add("gina@example.org"), 0)
        self.assertExit(self.cli("del", "Gina@Example.org"), 0)
        self.assertEqual(self.listing(), {})
        self.assertExit(self.cli("del", "gina@example.org"), 67)

    def test_cram_md5_only_when_enabled(self):
        r = self.add("hank@example.org", "pw", "--cram-md5")
        self.assertExit(r, 78, "CRAM-MD5 is not enabled")
        self.assertEqual(self.listing(), {})
        self.server.config["auth"] = {"mechanisms": ["SCRAM-SHA-256", "PLAIN", "CRAM-MD5"]}
        self.server.write_config()
        self.assertExit(self.add("hank@example.org", "pw", "--cram-md5"), 0)
        self.assertEqual(self.listing()["hank@example.org"][3], "password,cram-md5")
        self.assertExit(self.cli("passwd", "--no-cram-md5", "--password-stdin", "hank@example.org", input="pw2\n"), 0)
        self.assertEqual(self.listing()["hank@example.org"][3], "password")

    def test_non_local_domain_warns(self):
        r = self.add("ivan@elsewhere.example")
        self.assertExit(r, 0, "not in local_domains")

    def test_config_errors(self):
        with open(self.server.config_path, "a") as f:
            f.write("no_such_key = 1\n")
        self.assertExit(self.add("judy@example.org"), 78, "no_such_key")

    def test_data_dir_option_creates_dir(self):
        d = os.path.join(self.server.data_dir, "other", "dir")
        r = harness.run("user", "add", "--data-dir", d, "--password-stdin", "kim@localhost", input="pw\n")
        self.assertExit(r, 0)
        self.assertTrue(os.path.exists(os.path.join(d, "postern.db")))
        r = harness.run("user", "list", "--data-dir", d)
        self.assertIn("kim@localhost\tactive", r.stdout)


if __name__ == "__main__":
    unittest.main()
