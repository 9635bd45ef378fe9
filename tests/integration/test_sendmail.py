"""`postern sendmail` and the `sendmail`/`mailq` links (SPEC §11), the way
cron, scripts and Python's subprocess call /usr/sbin/sendmail: -t with
To/Cc/Bcc (Bcc removed), -i, -f, -F, -v, -bp; queued durably without a
network round trip and delivered by the running server, or by the next one
that starts; git send-email pointed at the link (--smtp-server=PATH)."""
import os
import shutil
import subprocess
import tempfile
import unittest

from harness import POSTERN, Server, wait_for


class Sendmail(unittest.TestCase):
    def setUp(self):
        self.server = Server(listeners=("mx",))
        self.server.start()
        self.addCleanup(self.server.cleanup)
        for u in ("alice@example.org", "bob@example.org", "carol@example.net"):
            self.server.cli("user", "add", "--password-stdin", u, input="pw\n")
        self.bin = tempfile.mkdtemp(prefix="postern-sendmail-")
        for name in ("sendmail", "mailq"):
            os.symlink(os.path.abspath(POSTERN), os.path.join(self.bin, name))

    def mail(self, address):
        return self.server.delivered(address)[0].decode("utf-8", "replace")

    def sendmail(self, *args, input, link=False):
        cmd = [os.path.join(self.bin, "sendmail")] if link else [POSTERN, "sendmail", "--config", self.server.config_path]
        env = dict(os.environ, POSTERN_CONFIG=self.server.config_path)
        return subprocess.run([*cmd, *args], input=input, capture_output=True, text=True, env=env, timeout=60)

    def test_cron_style_t_i_with_bcc(self):
        # A shell pipeline, as cron runs it.
        out = subprocess.run("printf 'To: Alice <alice@example.org>\\nCc: carol@example.net\\nBcc: bob@example.org\\n"
                             "Subject: cron job\\n\\nfirst\\n.\\nlast\\n' | %s -t -i -v" % os.path.join(self.bin, "sendmail"),
                             shell=True, capture_output=True, text=True, timeout=60,
                             env=dict(os.environ, POSTERN_CONFIG=self.server.config_path))
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertRegex(out.stderr, r"queued as [0-9a-f]{16} for 3 recipient")
        for address in ("alice@example.org", "bob@example.org", "carol@example.net"):
            msg = self.mail(address)
            self.assertIn("Subject: cron job", msg)
            self.assertIn("first\n.\nlast", msg.replace("\r\n", "\n"), "-i: the lone dot is text")
            self.assertNotIn("Bcc:", msg)
            self.assertRegex(msg, r"Message-ID: <[0-9a-f]{16}\.[0-9a-f]{8}@mx\.example\.org>")
            self.assertIn("Date: ", msg)
            self.assertIn("(Postern sendmail, from userid %d)" % os.getuid(), msg)

    def test_subprocess_with_sender_name_and_dot_end(self):
        out = self.sendmail("-f", "app@example.org", "-F", "The App", "--", "bob", input="Subject: hi\n\nbody\n.\nnot sent\n",
                            link=True)
        self.assertEqual(out.returncode, 0, out.stderr)
        msg = self.mail("bob@example.org")
        self.assertIn("Return-Path: <app@example.org>", msg)
        self.assertIn('From: "The App" <app@example.org>', msg)
        self.assertNotIn("not sent", msg, "without -i a lone dot ends the message")

    def test_mailq_and_bp_list_the_queue(self):
        for cmd in ([os.path.join(self.bin, "mailq")], [os.path.join(self.bin, "sendmail"), "-bp"]):
            out = subprocess.run(cmd, capture_output=True, text=True, timeout=60,
                                 env=dict(os.environ, POSTERN_CONFIG=self.server.config_path))
            self.assertEqual(out.returncode, 0, out.stderr)
            self.assertIn("Queue is empty.", out.stdout)

    @unittest.skipUnless(shutil.which("git"), "git (and Debian's git-email) are installed by scripts/deps.sh --test")
    def test_git_send_email_through_the_sendmail_link(self):
        repo = tempfile.mkdtemp(prefix="postern-git-")
        self.addCleanup(shutil.rmtree, repo, True)
        env = dict(os.environ, POSTERN_CONFIG=self.server.config_path, GIT_AUTHOR_NAME="Alice",
                   GIT_AUTHOR_EMAIL="alice@example.org", GIT_COMMITTER_NAME="Alice",
                   GIT_COMMITTER_EMAIL="alice@example.org", HOME=repo)
        git = lambda *a: subprocess.run(["git", "-C", repo, *a], capture_output=True, text=True, env=env, timeout=60)
        self.assertEqual(git("init", "-q").returncode, 0)
        with open(os.path.join(repo, "README"), "w") as f:
            f.write("hello\n")
        git("add", "README")
        self.assertEqual(git("commit", "-q", "-m", "Add the README").returncode, 0)
        out = git("send-email", "--smtp-server=" + os.path.join(self.bin, "sendmail"), "--to=bob@example.org",
                  "--from=Alice <alice@example.org>", "--envelope-sender=alice@example.org", "--confirm=never",
                  "--quiet", "--no-validate", "-1")
        if "send-email' is not a git command" in out.stderr:
            self.skipTest("git send-email is in Debian's git-email package")
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)
        msg = self.mail("bob@example.org")
        self.assertIn("Subject: [PATCH] Add the README", msg)
        self.assertIn("Return-Path: <alice@example.org>", msg)
        self.assertIn("+hello", msg)
        self.assertIn("Subject: [PATCH] Add the README", self.mail("alice@example.org"))  # the author's Cc

    def test_bad_input_is_refused_with_a_reason(self):
        cases = [(("-X",), "unknown option -X", 64), (("-f",), "needs a value", 64),
                 (("-bs",), "not supported", 64), ((), "no recipients", 64),
                 (("bad address@x",), "bad recipient address", 64), (("-f", "a b@c", "bob"), "bad sender", 64)]
        for args, why, code in cases:
            out = self.sendmail(*args, input="Subject: x\n\ny\n")
            self.assertEqual(out.returncode, code, (args, out.stderr))
            self.assertIn(why, out.stderr, args)
        self.assertEqual(self.server.cli("queue", "list").stdout.strip(), "Queue is empty.", "nothing half-queued")

    def test_queued_while_the_server_is_down_is_delivered_at_start(self):
        self.server.stop()
        out = self.sendmail("alice@example.org", input="Subject: while down\n\nx\n")
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn("while down", self.server.cli("queue", "list").stdout + self.server.cli("queue", "show",
                      self.server.cli("queue", "list").stdout.split()[0]).stdout)
        self.server.start()
        self.assertIn("Subject: while down", self.mail("alice@example.org"))


if __name__ == "__main__":
    unittest.main()
