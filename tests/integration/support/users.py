"""User databases for tests: made once per test class (the password hash
is slow on purpose) and copied into each server's data directory."""
import os
import shutil
import sqlite3
from concurrent.futures import ThreadPoolExecutor

from harness import run
from support.scratch import scratch_dir

USERS = ("bob@example.org", "carol@example.org", "abuse@example.org", "anyone@example.net")


class UserTemplate:
    """A postern.db with mailbox users, made once per test class (the
    password hash is slow on purpose) and copied into each server's data dir."""

    def __init__(self, users=USERS):
        self.dir = scratch_dir("postern-users-")
        # Separate processes on one database: SQLite's busy timeout orders them.
        with ThreadPoolExecutor(4) as pool:
            outs = list(pool.map(lambda u: run("user", "add", "--data-dir", self.dir, "--password-stdin", u,
                                               input="secret-pw\n"), users))
        for u, out in zip(users, outs):
            if out.returncode != 0:
                raise RuntimeError(f"user add {u}: {out.returncode} {out.stderr}")
        # Two processes that close at the same moment may each leave the
        # write-ahead log to the other; data_dir() copies postern.db alone,
        # so fold the log into it first.
        db = sqlite3.connect(os.path.join(self.dir, "postern.db"))
        try:
            db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            have = {row[0] for row in db.execute("SELECT address FROM users")}
        finally:
            db.close()
        if not set(users) <= have:
            raise RuntimeError(f"user template lacks {sorted(set(users) - have)}")

    def data_dir(self, testcase):
        d = scratch_dir("postern-it-", testcase)
        shutil.copy(os.path.join(self.dir, "postern.db"), os.path.join(d, "postern.db"))
        return d

    def data_dir_for_class(self):
        """A copy removed by cleanup() (for servers shared by a test class)."""
        d = scratch_dir("postern-it-", parent=self.dir)
        shutil.copy(os.path.join(self.dir, "postern.db"), os.path.join(d, "postern.db"))
        return d

    def cleanup(self):
        shutil.rmtree(self.dir, ignore_errors=True)
