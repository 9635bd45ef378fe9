"""Power loss (docs/store.md, "What 250 means"): Postern's data dir on
support/powerloss_fs.py, a FUSE file system that forgets at a power cut
every write not made durable by fsync of the file (its data) and of its
directory (its name), and on which syncfs flushes nothing, as on every
FUSE file system. `kill -9` alone cannot show this: the page cache
survives a killed process.

RigSemantics checks the layer itself with plain system calls; the other
classes drive the real binary: every message that got its 250 before the
cut is in its mailbox afterwards, once and whole, and AUTH still works.
bench/powerloss.py runs the same rounds longer."""
import ctypes
import os
import random
import smtplib
import subprocess
import threading
import unittest

import harness
from support import powerloss
from support.powerloss_rounds import (PASSWORD, SPOOLED_SIZE, Rounds, auth_works, mailbox_copies, make_durable_dir,
                                      make_server, message, spooled, sync_dir)
from support.scratch import scratch_dir

FUSE_SUPER_MAGIC = "65735546"


def setUpModule():
    reason = powerloss.unusable_reason()
    if reason:
        raise unittest.SkipTest(reason)


class RigTest(unittest.TestCase):
    """A mounted rig per test, unmounted at the end whatever happens."""

    def setUp(self):
        self.scratch = scratch_dir("postern-powerloss-", test=self)
        self.rig = powerloss.PowerLossMount(self.scratch)
        self.addCleanup(self.assert_unmounted)
        self.addCleanup(self.rig.close)
        self.rig.mount()

    def assert_unmounted(self):
        with open("/proc/self/mounts") as f:
            self.assertNotIn(" " + self.rig.mountpoint + " ", f.read(), "the rig is still mounted")


class RigSemantics(RigTest):
    def write(self, name, data, fsync=False):
        fd = os.open(self.rig.path(name), os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            os.write(fd, data)
            if fsync:
                os.fsync(fd)
        finally:
            os.close(fd)

    def read(self, name):
        with open(self.rig.path(name), "rb") as f:
            return f.read()

    def test_a_write_never_synced_is_gone(self):
        self.write("a", b"hello")
        self.assertEqual(self.read("a"), b"hello")
        self.rig.power_cut()
        self.assertFalse(os.path.exists(self.rig.path("a")))

    def test_fsync_of_file_and_directory_keeps_it_as_of_the_fsync(self):
        self.write("a", b"kept", fsync=True)
        sync_dir(self.rig.mountpoint)
        with open(self.rig.path("a"), "ab") as f:
            f.write(b" and this is not")
        self.rig.power_cut()
        self.assertEqual(self.read("a"), b"kept")
        self.rig.power_cut()  # what survived a cut survives the next one
        self.assertEqual(self.read("a"), b"kept")

    def test_fsync_of_the_file_alone_does_not_keep_its_name(self):
        self.write("a", b"data", fsync=True)
        self.rig.power_cut()
        self.assertEqual(os.listdir(self.rig.mountpoint), [])

    def test_fsync_of_the_directory_alone_keeps_an_empty_file(self):
        self.write("a", b"data")
        sync_dir(self.rig.mountpoint)
        self.rig.power_cut()
        self.assertEqual(self.read("a"), b"")

    def test_rename_link_and_unlink_without_directory_fsync_are_undone(self):
        self.write("old", b"one", fsync=True)
        self.write("gone", b"two", fsync=True)
        sync_dir(self.rig.mountpoint)
        os.rename(self.rig.path("old"), self.rig.path("new"))
        os.link(self.rig.path("new"), self.rig.path("linked"))
        os.unlink(self.rig.path("gone"))
        self.rig.power_cut()
        self.assertEqual(sorted(os.listdir(self.rig.mountpoint)), ["gone", "old"])
        # The same with the directory synced: all of it stays.
        os.rename(self.rig.path("old"), self.rig.path("new"))
        os.link(self.rig.path("new"), self.rig.path("linked"))
        os.unlink(self.rig.path("gone"))
        sync_dir(self.rig.mountpoint)
        self.rig.power_cut()
        self.assertEqual(sorted(os.listdir(self.rig.mountpoint)), ["linked", "new"])
        self.assertEqual(os.stat(self.rig.path("new")).st_nlink, 2)

    def test_replacing_a_file_by_rename_keeps_the_old_or_the_new_whole(self):
        self.write("target", b"old", fsync=True)
        sync_dir(self.rig.mountpoint)
        self.write(".target.tmp", b"new", fsync=True)
        os.rename(self.rig.path(".target.tmp"), self.rig.path("target"))
        self.rig.power_cut()
        self.assertEqual(sorted(os.listdir(self.rig.mountpoint)), ["target"])
        self.assertEqual(self.read("target"), b"old")
        self.write(".target.tmp", b"new", fsync=True)
        os.rename(self.rig.path(".target.tmp"), self.rig.path("target"))
        sync_dir(self.rig.mountpoint)
        self.rig.power_cut()
        self.assertEqual(self.read("target"), b"new")

    def test_a_directory_needs_its_parent_synced(self):
        os.makedirs(self.rig.path("a", "b"))
        sync_dir(self.rig.mountpoint)
        self.rig.power_cut()
        self.assertEqual(os.listdir(self.rig.path("a")), [], "a/ was synced into /, b/ never into a/")

    def test_syncfs_and_sync_make_nothing_durable(self):
        out = subprocess.run(["stat", "-f", "-c", "%t", self.rig.mountpoint], capture_output=True, text=True)
        self.assertEqual(out.stdout.strip(), FUSE_SUPER_MAGIC, "statfs must say FUSE")
        self.write("a", b"data")
        libc = ctypes.CDLL(None, use_errno=True)
        fd = os.open(self.rig.mountpoint, os.O_RDONLY | os.O_DIRECTORY)
        try:
            self.assertEqual(libc.syncfs(fd), 0)
        finally:
            os.close(fd)
        os.sync()
        self.rig.power_cut()
        self.assertEqual(os.listdir(self.rig.mountpoint), [])

    def test_an_fsync_held_until_the_cut_keeps_nothing(self):
        self.write("secret", b"data")
        sync_dir(self.rig.mountpoint)
        self.rig.control("hold secret")
        result = {}

        def sync():
            fd = os.open(self.rig.path("secret"), os.O_WRONLY)
            try:
                os.fsync(fd)
                result["rc"] = 0
            except OSError as e:
                result["rc"] = e.errno
            finally:
                os.close(fd)

        t = threading.Thread(target=sync)
        t.start()
        self.assertTrue(harness.wait_for(self.rig.held, timeout=20))
        self.assertNotIn("rc", result)
        self.rig.control("drop-held")
        t.join(timeout=20)
        self.assertEqual(result.get("rc"), 5)  # EIO
        self.rig.power_cut()
        self.assertEqual(self.read("secret"), b"")


class PosternOnTheRig(RigTest):
    def server(self):
        s = make_server(self.scratch, self.rig.path("data"))
        self.addCleanup(s.stop)
        return s

    def add_users(self, server, *users):
        server.write_config()
        for u in users:
            r = server.cli("user", "add", "--password-stdin", u, input=PASSWORD + "\n")
            self.assertEqual(r.returncode, 0, r.stderr)

    def send(self, server, rcpt, tokens, size):
        with smtplib.SMTP(*server.mx, timeout=30) as c:
            for t in tokens:
                c.sendmail("sender@remote.example", [rcpt], message(t, size))

    def restart_after_cut(self, server):
        server.kill9()
        self.rig.power_cut()
        self.after_cut = self.data_listing()
        again = self.server()
        again.start()
        return again

    def data_listing(self):
        data = self.rig.path("data")
        return str(sorted(os.listdir(data))) if os.path.isdir(data) else "gone"

    def assert_each_once(self, server, rcpt, tokens, size, duplicates=True):
        copies = mailbox_copies(server, [rcpt])
        lost = [t for t in tokens if (rcpt, t) not in copies]
        self.assertEqual(lost, [], f"{len(lost)} of {len(tokens)} acknowledged messages lost; "
                         f"the data dir after the cut: {self.after_cut}")
        torn = [t for (_, t), files in copies.items() for f in files if not f.endswith(message(t, size))]
        self.assertEqual(torn, [], "torn or empty mailbox files")
        if duplicates:
            doubled = [t for t in tokens if len(copies[(rcpt, t)]) > 1]
            self.assertEqual(doubled, [], f"{len(doubled)} of {len(tokens)} delivered twice")


class FreshDataDir(PosternOnTheRig):
    """Item 21: on a data dir Postern makes itself, what was acknowledged
    before the first power cut is there after it. Spooled messages only
    (over 256 KiB): this is about directories, not the journal."""

    def check(self, server, rcpt):
        tokens = [f"fresh-{i}" for i in range(3)]
        self.send(server, rcpt, tokens, SPOOLED_SIZE)
        self.assertTrue(harness.wait_for(lambda: len(mailbox_copies(server, [rcpt])) == 3 and
                                         not spooled(server.data_dir), timeout=30))
        again = self.restart_after_cut(server)
        harness.wait_for(lambda: not spooled(again.data_dir), timeout=30)
        # A second copy is item 23's business (InstalledDataDir).
        self.assert_each_once(again, rcpt, tokens, SPOOLED_SIZE, duplicates=False)

    def test_made_by_serve(self):
        server = self.server()
        server.start()
        self.check(server, "postmaster@example.org")

    def test_made_by_user_add(self):
        server = self.server()
        self.add_users(server, "alice@example.org")
        server.start()
        self.check(server, "alice@example.org")


class InstalledDataDir(PosternOnTheRig):
    """The data dir exists and is durable (made at install time)."""

    def setUp(self):
        super().setUp()
        make_durable_dir(self.rig.path("data"))
        self.first = self.server()
        self.add_users(self.first, "alice@example.org")

    def test_spooled_delivery_is_not_repeated_after_a_power_cut(self):
        """Item 23: delivered from the spool, then a cut: no second copy."""
        self.first.start()
        tokens = [f"spooled-{i}" for i in range(3)]
        self.send(self.first, "alice@example.org", tokens, SPOOLED_SIZE)
        self.assertTrue(harness.wait_for(lambda: len(mailbox_copies(self.first, ["alice@example.org"])) == 3 and
                                         not spooled(self.first.data_dir), timeout=30))
        again = self.restart_after_cut(self.first)
        self.assertTrue(harness.wait_for(lambda: not spooled(again.data_dir), timeout=30))
        self.assert_each_once(again, "alice@example.org", tokens, SPOOLED_SIZE)

    def test_direct_deliveries_survive_a_restart_then_a_power_cut(self):
        """Item 24: messages delivered before their 250 are retired from
        the journal once "on stable storage"; a syncfs says nothing of that
        on FUSE. A clean stop retires them all; a message after the restart
        makes the journal's new state durable; then the cut."""
        self.first.start()
        tokens = [f"direct-{i}" for i in range(6)]
        self.send(self.first, "alice@example.org", tokens[:5], 2000)
        self.assertEqual(self.first.stop(), 0)
        second = self.server()
        second.start()
        self.send(second, "alice@example.org", tokens[5:], 2000)
        again = self.restart_after_cut(second)
        self.assert_each_once(again, "alice@example.org", tokens, 2000)

    def test_auth_works_after_a_cut_while_auth_secret_was_written(self):
        """Item 22: the power fails during the fsync of auth.secret (or of
        the temporary file it is written through), after its name reached
        the disk (a directory sync by anyone, or the file system's periodic
        commit): AUTH must work after the restart."""
        self.rig.control("hold auth.secret")
        self.addCleanup(self.rig.control, "drop-held")  # before any server is stopped
        outcome = {}

        def start_and_auth():  # the secret may be made at start-up or at the first AUTH
            try:
                self.first.start()
                outcome["auth"] = auth_works(self.first)
            except (RuntimeError, TimeoutError) as e:
                outcome["auth"] = repr(e)

        t = threading.Thread(target=start_and_auth, daemon=True)
        t.start()
        self.assertTrue(harness.wait_for(self.rig.held, timeout=30), "auth.secret was never fsynced")
        sync_dir(self.rig.path("data"))
        harness.wait_for(lambda: self.first.proc is not None, timeout=10)
        self.first.proc.kill()  # while its fsync is held; then the power fails
        self.rig.control("drop-held")
        t.join(timeout=60)
        self.first.stop()
        self.assertIsNotNone(outcome.get("auth"), "AUTH succeeded before auth.secret was durable")
        self.rig.power_cut()
        again = self.server()
        again.start()
        failure = auth_works(again)
        secret = self.rig.path("data", "auth.secret")
        size = f"{os.path.getsize(secret)} octets" if os.path.exists(secret) else "absent"
        self.assertIsNone(failure, f"AUTH after the cut; auth.secret is {size}")


class LoadRounds(RigTest):
    ROUNDS = 3

    def test_rounds_of_load_kill_and_power_cut(self):
        """Everything together, as bench/powerloss.py does it for longer."""
        seed = int(os.environ.get("POSTERN_POWERLOSS_SEED", str(random.randrange(1 << 32))))
        print(f"\npower-loss seed: {seed} (POSTERN_POWERLOSS_SEED={seed} repeats this run)")
        rounds = Rounds(self.rig, self.scratch, seed)
        self.addCleanup(rounds.close)
        c = rounds.run(self.ROUNDS)
        print(f"power loss: {c['rounds']} rounds, {c['acknowledged']} acknowledged, {c['lost']} lost, "
              f"{c['duplicated']} duplicated, {c['torn']} torn, {c['auth_failures']} AUTH failures")
        problems = {k: c[k] for k in ("lost", "duplicated", "torn", "refused", "auth_failures", "spool_left") if c[k]}
        self.assertEqual(problems, {}, f"seed {seed}: {c['examples']}")


if __name__ == "__main__":
    unittest.main()
