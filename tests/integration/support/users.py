"""User databases for tests: made once per test class (the password hash
is slow on purpose) and copied into each server's data directory."""
import os
import shutil
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
