"""What a power loss could take, seen in the system calls of the real
binary (docs/store.md "Durability rules"): `postern serve` runs under
strace, and the test reads which directories were fsynced after a mkdir,
how auth.secret came to be, and whether syncfs or per-file fsync made the
mailboxes durable. Then a spool-path delivery repeated after a crash (the
spool entry brought back as a power loss may bring it back) must leave one
copy, in a Maildir and in an mbox."""
import os
import re
import shutil
import smtplib
import subprocess
import unittest

import harness
from harness import Server, wait_for

STRACE = shutil.which("strace")
SYSCALLS = "mkdir,mkdirat,open,openat,fsync,fdatasync,syncfs,rename,renameat,renameat2,link,linkat"
MESSAGE = b"Subject: durable\r\nMessage-ID: <durable@example.net>\r\n\r\nkept\r\n"


class Trace:
    """The lines of an `strace -f -y` log, in the order the calls started."""

    def __init__(self, path):
        with open(path, errors="replace") as f:
            self.lines = f.read().splitlines()

    def find(self, pattern, after=-1):
        """Index of the first line after `after` that matches `pattern`, or None."""
        rx = re.compile(pattern)
        for i in range(after + 1, len(self.lines)):
            if rx.search(self.lines[i]):
                return i
        return None

    def count(self, pattern):
        rx = re.compile(pattern)
        return sum(1 for l in self.lines if rx.search(l))

    def mkdir(self, path, after=-1):
        return self.find(r'mkdir(at)?\((AT_FDCWD, )?"%s"' % re.escape(path), after)

    def fsync_of(self, path, after=-1):
        """The first fsync of an fd open on exactly `path` (strace -y shows it)."""
        return self.find(r"\bf(data)?sync\(\d+<%s>" % re.escape(path), after)


class TracedServer:
    """A TestCase mixin: `postern serve` under strace, and its trace."""

    def start(self, extra=None, fresh=True, prepare=None):
        self.server = Server(listeners=("mx", "submission"),
                             extra=dict({"auth": {"require_tls": False}}, **(extra or {})),
                             env={"ASAN_OPTIONS": "detect_leaks=0"})  # LeakSanitizer cannot run under ptrace
        self.addCleanup(self.server.cleanup)
        # A data dir that does not exist yet, as on a first start.
        self.data = os.path.join(self.server.data_dir, "fresh") if fresh else self.server.data_dir
        self.server.config["data_dir"] = self.data
        if prepare:
            prepare(self.data)
        self.trace_path = os.path.join(self.server.data_dir, "strace.log")
        self.server.command_prefix = [STRACE, "-f", "-y", "-qq", "-e", "trace=" + SYSCALLS, "-o", self.trace_path]
        self.server.start()

    def stop(self):
        # SIGTERM to postern itself (strace's child); strace ends with it.
        children = open("/proc/%d/task/%d/children" % (self.server.proc.pid, self.server.proc.pid)).read().split()
        for pid in children:
            os.kill(int(pid), 15)
        self.assertEqual(self.server.stop(timeout=40), 0, self.server.log_text()[-3000:])
        return Trace(self.trace_path)

    def send(self, rcpt="postmaster@example.org"):
        with smtplib.SMTP(*self.server.mx, timeout=30) as c:
            c.sendmail("sender@remote.example", [rcpt], MESSAGE)

    def mailbox(self, local="postmaster", sub="new"):
        d = os.path.join(self.data, "mail", "example.org", local, sub)
        return sorted(os.listdir(d)) if os.path.isdir(d) else []


@unittest.skipUnless(STRACE, "strace not installed (scripts/deps.sh --test)")
class Traced(TracedServer, unittest.TestCase):
    # -------------------------------------------------------------- item 21

    def test_fresh_directories_are_synced_in_their_parents_before_the_250(self):
        self.start()
        self.send()
        self.assertEqual(len(self.mailbox()), 1)
        t = self.stop()
        parent = os.path.dirname(self.data)
        made = t.mkdir(self.data)
        self.assertIsNotNone(made, "data_dir made by the server")
        self.assertIsNotNone(t.fsync_of(parent, made), "data_dir's name synced in its parent")
        spool = t.mkdir(os.path.join(self.data, "spool"))
        self.assertIsNotNone(spool)
        synced = t.fsync_of(self.data, spool)
        self.assertIsNotNone(synced, "spool/'s name synced in data_dir")
        # The same thread, before it goes on to use the spool (not left to a
        # later SQLite write that happens to sync the directory).
        pid = t.lines[spool].split()[0]
        between = [l for l in t.lines[spool + 1:synced] if l.split()[0] == pid and "postern.db" in l]
        self.assertEqual(between, [], "synced as part of making spool/")
        # Before the message's own commit, which comes before its 250.
        commit = t.find(r"fdatasync\(\d+<%s/spool/journal/" % re.escape(self.data))
        self.assertIsNotNone(commit, "delivered before the 250 through the journal")
        self.assertLess(synced, commit)
        for sub in ("mail", "mail/example.org", "mail/example.org/postmaster"):
            made = t.mkdir(os.path.join(self.data, sub))
            self.assertIsNotNone(made, sub)
            self.assertIsNotNone(t.fsync_of(os.path.dirname(os.path.join(self.data, sub)), made), sub)

    # -------------------------------------------------------------- item 22

    def login(self, user="alice@example.org", password="pw"):
        with smtplib.SMTP(*self.server.submission, timeout=30) as c:
            c.ehlo("client.example.net")
            c.login(user, password)

    def add_user(self, data, secret=None):
        os.makedirs(data)
        self.server.write_config()
        r = self.server.cli("user", "add", "--password-stdin", "alice@example.org", input="pw\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        if secret is not None:
            with open(os.path.join(data, "auth.secret"), "wb") as f:
                f.write(secret)

    def test_auth_secret_is_written_to_a_temporary_synced_then_linked(self):
        self.start(prepare=self.add_user)
        self.login()
        t = self.stop()
        secret = os.path.join(self.data, "auth.secret")
        self.assertEqual(os.path.getsize(secret), 32)
        tmp = r"%s/\.auth\.secret\.[0-9a-f]+\.tmp" % re.escape(self.data)
        created = t.find(r'open(at)?\(.*"%s", [^)]*O_CREAT\|O_EXCL' % tmp)
        self.assertIsNotNone(created, "a temporary file, never auth.secret itself, is created")
        self.assertIsNone(t.find(r'open(at)?\(.*"%s", [^)]*O_CREAT' % re.escape(secret)))
        synced = t.find(r"\bfsync\(\d+<%s>" % tmp, created)
        self.assertIsNotNone(synced, "its bytes are synced")
        named = t.find(r'(link|rename)(at|at2)?\(.*"%s", .*"%s"' % (tmp, re.escape(secret)), synced)
        self.assertIsNotNone(named, "then it gets its name")
        self.assertIsNotNone(t.fsync_of(self.data, named), "and the name is synced")

    def test_an_empty_auth_secret_is_replaced_and_auth_works(self):
        # What a power loss during its creation in place left: 0 octets.
        self.start(prepare=lambda data: self.add_user(data, secret=b""))
        self.login()  # smtplib raises on 454
        with self.assertRaises(smtplib.SMTPAuthenticationError) as e:
            self.login(password="wrong")
        self.assertEqual(e.exception.smtp_code, 535)
        t = self.stop()
        self.assertEqual(os.path.getsize(os.path.join(self.data, "auth.secret")), 32)
        self.assertIn("event=auth_secret_replaced", self.server.log_text())
        self.assertIsNotNone(t.find(r'rename(at|at2)?\(.*"%s/\.auth\.secret\.[0-9a-f]+\.tmp", .*"%s/auth\.secret"'
                                    % (re.escape(self.data), re.escape(self.data))))

    # -------------------------------------------------------------- item 24

    def assert_file_and_new_synced_after_the_250(self, t, box, name):
        """The file (renamed into new/ before the 250) and new/ are synced in the
        round, after the journal's fdatasync that allowed the 250."""
        commit = t.find(r"fdatasync\(\d+<%s/spool/journal/" % re.escape(self.data))
        self.assertIsNotNone(commit, "the journal holds the message first")
        synced = t.fsync_of(os.path.join(box, "new", name), commit)
        self.assertIsNotNone(synced, "the file itself is synced")
        self.assertIsNotNone(t.fsync_of(os.path.join(box, "new"), synced), "then the directory that names it")

    def test_per_file_mode_fsyncs_each_mailbox_file_instead_of_syncfs(self):
        self.start(extra={"mailbox_sync": "fsync"})
        self.send()
        self.assertEqual(len(self.mailbox()), 1)
        t = self.stop()
        self.assertRegex(self.server.log_text(), r"event=sync_mode mailboxes=\S+ fs=\S+ mode=fsync")
        self.assertEqual(t.count(r"\bsyncfs\("), 0, "no syncfs round")
        box = os.path.join(self.data, "mail", "example.org", "postmaster")
        self.assert_file_and_new_synced_after_the_250(t, box, self.mailbox()[0])
        self.assertEqual(os.listdir(os.path.join(self.data, "spool", "journal")), [], "then retired")

    def test_auto_mode_on_a_local_file_system_syncs_each_file_never_syncfs(self):
        # syncfs would wait for every other program's dirty pages as well.
        self.start()
        self.send()
        self.assertEqual(len(self.mailbox()), 1)
        t = self.stop()
        self.assertRegex(self.server.log_text(), r"event=sync_mode mailboxes=\S+ fs=\S+ mode=fsync")
        self.assertEqual(t.count(r"\bsyncfs\("), 0)
        box = os.path.join(self.data, "mail", "example.org", "postmaster")
        self.assert_file_and_new_synced_after_the_250(t, box, self.mailbox()[0])

    def test_syncfs_mode_uses_syncfs(self):
        self.start(extra={"mailbox_sync": "syncfs"})
        self.send()
        self.assertEqual(len(self.mailbox()), 1)
        t = self.stop()
        self.assertRegex(self.server.log_text(), r"event=sync_mode mailboxes=\S+ fs=\S+ mode=syncfs")
        self.assertGreater(t.count(r"\bsyncfs\("), 0)


BINDFS = shutil.which("bindfs")


@unittest.skipUnless(STRACE and BINDFS and os.path.exists("/dev/fuse"), "needs strace, bindfs and /dev/fuse")
class OnFuse(TracedServer, unittest.TestCase):
    """Mailboxes on a FUSE file system (bindfs, a pass-through one): with the
    default mailbox_sync = "auto" the server sees FUSE with statfs and
    fsyncs each file; syncfs would return 0 there without flushing."""

    def mount(self):
        base = harness.scratch_dir("postern-fuse-")
        self.addCleanup(shutil.rmtree, base, True)
        backing, mnt = os.path.join(base, "backing"), os.path.join(base, "mnt")
        os.makedirs(backing)
        os.makedirs(mnt)
        fuse = subprocess.Popen([BINDFS, "-f", backing, mnt], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

        def unmount():
            subprocess.run(["fusermount", "-u", mnt], capture_output=True, timeout=20)
            harness.stop_process(fuse, timeout=10)
        self.addCleanup(unmount)
        if not wait_for(lambda: os.path.ismount(mnt) or fuse.poll() is not None, timeout=10) or not os.path.ismount(mnt):
            self.skipTest("cannot mount a FUSE file system here")
        return mnt

    def test_auto_mode_on_fuse_fsyncs_each_file(self):
        mnt = self.mount()
        self.start(extra={"mailbox_path": mnt + "/{domain}/{localpart}"})
        self.send()
        t = self.stop()
        box = os.path.join(mnt, "example.org", "postmaster")
        names = os.listdir(os.path.join(box, "new"))
        self.assertEqual(len(names), 1)
        log = self.server.log_text()
        self.assertRegex(log, r"event=sync_mode mailboxes=%s fs=fuse mode=fsync" % re.escape(mnt))
        self.assertRegex(log, r"event=sync_mode mailbox=%s fs=fuse mode=fsync" % re.escape(box))
        self.assertEqual(t.count(r"\bsyncfs\("), 0, "no syncfs on FUSE")
        self.assertIsNotNone(t.fsync_of(os.path.join(box, "new", names[0])), "the file itself is synced")
        self.assertIsNotNone(t.fsync_of(os.path.join(box, "new")))


class RepeatedAfterCrash(unittest.TestCase):
    """A spooled message delivered, then its spool entry brought back (what a
    power loss before the removal was durable, or a crash between the
    mailbox write and the state update, leaves): delivered again, the copy
    is found and kept."""

    def run_case(self, extra, copies, move_to_cur=False):
        server = Server(listeners=("mx",), extra=extra)
        self.addCleanup(server.cleanup)
        server.write_config()
        r = server.cli("user", "add", "--password-stdin", "alice@example.org", input="pw\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        # Spooled with no server running: the server delivers it at start.
        r = harness.run("sendmail", "--config", server.config_path, "-f", "app@example.org", "alice@example.org",
                        input="Subject: once\n\nonly once\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        spool = os.path.join(server.data_dir, "spool")
        kept = os.path.join(server.data_dir, "kept")
        os.makedirs(kept)
        for n in os.listdir(spool):
            if n.endswith(".msg"):
                shutil.copy2(os.path.join(spool, n), kept)
        self.assertEqual(len(os.listdir(kept)), 1)
        server.start()
        self.assertTrue(wait_for(lambda: "status=delivered" in server.log_text(), timeout=20))
        self.assertTrue(wait_for(lambda: not [n for n in os.listdir(spool) if n.endswith(".msg")], timeout=20))
        server.stop()
        if move_to_cur:
            box = server.maildir("alice@example.org")
            for n in os.listdir(os.path.join(box, "new")):
                os.rename(os.path.join(box, "new", n), os.path.join(box, "cur", n + ":2,S"))
        for n in os.listdir(kept):
            shutil.copy2(os.path.join(kept, n), spool)  # the crash brings it back
        server.start()
        self.assertTrue(wait_for(lambda: server.log_text().count("status=delivered") >= 2, timeout=20))
        self.assertTrue(wait_for(lambda: not [n for n in os.listdir(spool) if n.endswith(".msg")], timeout=20))
        server.stop()
        return server, copies(server)

    def test_maildir(self):
        def copies(server):
            box = server.maildir("alice@example.org")
            return [n for sub in ("new", "cur") for n in os.listdir(os.path.join(box, sub))]
        _, files = self.run_case({}, copies)
        self.assertEqual(len(files), 1, files)

    def test_maildir_copy_a_reader_moved_to_cur(self):
        def copies(server):
            box = server.maildir("alice@example.org")
            return [n for sub in ("new", "cur") for n in os.listdir(os.path.join(box, sub))]
        _, files = self.run_case({}, copies, move_to_cur=True)
        self.assertEqual(len(files), 1, files)
        self.assertTrue(files[0].endswith(":2,S"))

    def test_mbox(self):
        def copies(server):
            with open(server.maildir("alice@example.org"), "rb") as f:
                return f.read().count(b"only once")
        _, n = self.run_case({"mailbox_format": "mbox"}, copies)
        self.assertEqual(n, 1)


if __name__ == "__main__":
    unittest.main()
