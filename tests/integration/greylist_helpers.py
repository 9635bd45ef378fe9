"""Helpers for the greylist, mailbox and policy integration tests: a
throwaway redis-server on a free loopback port (stopped by PID), and
short SMTP dialogues with smtplib that return what a client sees."""
import os
import shutil
import signal
import smtplib
import subprocess
import time

from support.scratch import scratch_dir

from harness import free_port, wait_for_port


class RedisServer:
    def __init__(self):
        self.port = free_port()
        self.dir = scratch_dir("postern-redis-")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port, timeout=10, proc=self.proc)

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)


def greylist_config(**overrides):
    cfg = {"enabled": True, "delay": "2s", "retry_window": "1h", "max_age": "1d",
           "auto_allow_after": 0}
    cfg.update(overrides)
    return cfg


def rcpt(addr, sender, recipient, helo="client.example.net"):
    """One transaction up to RCPT: returns (code, text) of the RCPT reply."""
    with smtplib.SMTP(addr[0], addr[1], timeout=10) as s:
        s.ehlo(helo)
        code, msg = s.mail(sender)
        if code != 250:
            return code, msg.decode()
        code, msg = s.rcpt(recipient)
        s.rset()
        return code, msg.decode()


def send(addr, sender, recipients, body=b"Subject: hi\r\n\r\nhello\r\n"):
    """A whole transaction; returns ({rcpt: (code, text)}, data_reply or None)."""
    if isinstance(recipients, str):
        recipients = [recipients]
    with smtplib.SMTP(addr[0], addr[1], timeout=10) as s:
        s.ehlo("client.example.net")
        code, msg = s.mail(sender)
        if code != 250:
            return {"MAIL": (code, msg.decode())}, None
        replies = {}
        ok = False
        for r in recipients:
            code, msg = s.rcpt(r)
            replies[r] = (code, msg.decode())
            ok = ok or code == 250
        if not ok:
            s.rset()
            return replies, None
        code, msg = s.data(body)
        return replies, (code, msg.decode())


USERS = ("bob@example.org", "carol@example.org", "abuse@example.org", "anyone@example.net")


class UserTemplate:
    """A postern.db with mailbox users, made once per test class (the
    password hash is slow on purpose) and copied into each server's data dir."""

    def __init__(self, users=USERS):
        from harness import run
        self.dir = scratch_dir("postern-users-")
        from concurrent.futures import ThreadPoolExecutor
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
