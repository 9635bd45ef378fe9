"""Rounds of load, `kill -9` and a power cut (powerloss_fs.py), shared by
tests/integration/test_powerloss.py and bench/powerloss.py.

Each round: SESSIONS smtplib clients send to one or two users, small
messages (delivered before their 250) and messages over 256 KiB (spooled,
delivered after); after a random number of 250s the server is killed,
the power is cut, the server restarts on what survived and an AUTH must
still succeed. At the end the spool is drained and every mailbox file is
counted: an acknowledged message must be there exactly once, one without
its 250 at most once, and every copy whole."""
import os
import random
import re
import smtplib
import threading

import harness
from support.tls import tls_context

USERS = ["alice@example.org", "bob@example.org"]
PASSWORD = "power-cut-pw"
SPOOLED_SIZE = 300_000  # over the 256 KiB kept in memory: the spool path
TOKEN = re.compile(rb"Message-ID: <([0-9a-z.-]+)@powerloss\.example>")


def make_server(scratch, data_dir, **kw):
    """A harness.Server whose data dir is on the rig, and whose config and
    log are not (they are the test's, not the server's)."""
    server = harness.Server(data_dir=data_dir, listeners=("mx", "submission"), **kw)
    server.config_path = os.path.join(scratch, "postern.toml")
    server.log_path = os.path.join(scratch, "server.log")
    return server


def sync_dir(path):
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_durable_dir(path):
    """mkdir and fsync of the parent: a data dir made at install time."""
    os.mkdir(path, 0o700)
    sync_dir(os.path.dirname(path))


def message(token, size):
    lines = [f"Subject: power cut {token}", f"Message-ID: <{token}@powerloss.example>", ""]
    filler = f"{token} " + "abcdefghijklmnopqrstuvwxyz0123456789" * 2
    text = "\r\n".join(lines) + "\r\n"
    while len(text) < size:
        text += filler + "\r\n"
    return text.encode()


def auth_works(server):
    """None when AUTH PLAIN succeeds on the submission listener, else what went wrong."""
    try:
        with smtplib.SMTP(*server.submission, timeout=30) as c:
            c.starttls(context=tls_context())
            c.login(USERS[0], PASSWORD)
        return None
    except (OSError, smtplib.SMTPException) as e:
        return repr(e)


def mailbox_copies(server, users=USERS):
    """{(user, token): [file bytes, ...]} over new/ and cur/ of each user."""
    copies = {}
    for user in users:
        for sub in ("new", "cur"):
            d = os.path.join(server.maildir(user), sub)
            for name in os.listdir(d) if os.path.isdir(d) else []:
                with open(os.path.join(d, name), "rb") as f:
                    data = f.read()
                m = TOKEN.search(data)
                copies.setdefault((user, m.group(1).decode() if m else "?"), []).append(data)
    return copies


def spooled(data_dir):
    spool = os.path.join(data_dir, "spool")
    return [n for n in os.listdir(spool) if n.endswith(".msg")] if os.path.isdir(spool) else []


class Rounds:
    """`rounds` rounds on `rig` (a mounted PowerLossMount). fresh: the data
    dir is made by Postern itself (`postern user add`), else by the test
    beforehand, durably, as a package would."""

    def __init__(self, rig, scratch, seed, sessions=4, acks_per_round=(4, 12), big_share=0.3, fresh=False):
        self.rig, self.scratch, self.sessions = rig, scratch, sessions
        self.rng = random.Random(seed)
        self.acks_per_round, self.big_share, self.fresh = acks_per_round, big_share, fresh
        self.data_dir = rig.path("data")
        self.bodies = {}    # token -> bytes sent
        self.acked = []     # (token, recipients) that got their 250
        self.auth_failures = []
        self.refused = []   # replies that refused a message
        self.server = None

    def setup(self):
        if not self.fresh:
            make_durable_dir(self.data_dir)
        self.server = make_server(self.scratch, self.data_dir)
        self.server.write_config()
        for user in USERS:
            r = self.server.cli("user", "add", "--password-stdin", user, input=PASSWORD + "\n")
            if r.returncode != 0:
                raise RuntimeError(f"user add {user}: {r.stderr}")
        self.server.start()

    def client(self, server, session_seed, stop):
        rng = random.Random(session_seed)
        n = 0
        while not stop.is_set():
            try:
                with smtplib.SMTP(*server.mx, timeout=30) as c:
                    for _ in range(2):  # two transactions per connection
                        token = f"{session_seed:x}-{n}"
                        n += 1
                        rcpts = USERS[: rng.choice((1, 2))]
                        size = SPOOLED_SIZE if rng.random() < self.big_share else rng.choice((300, 5000, 60_000))
                        body = self.bodies[token] = message(token, size)
                        c.sendmail("sender@remote.example", rcpts, body)
                        self.acked.append((token, tuple(rcpts)))  # its 250 was read
            except (smtplib.SMTPRecipientsRefused, smtplib.SMTPSenderRefused, smtplib.SMTPDataError) as e:
                self.refused.append(repr(e)[:200])  # an answer, not a dead server: the round ends
                return
            except (OSError, smtplib.SMTPException):
                return  # the server is gone

    def round(self):
        stop = threading.Event()
        want = len(self.acked) + self.rng.randint(*self.acks_per_round)
        threads = [threading.Thread(target=self.client, args=(self.server, self.rng.randrange(1 << 40), stop),
                                    daemon=True) for _ in range(self.sessions)]
        for t in threads:
            t.start()
        if not harness.wait_for(lambda: len(self.acked) >= want or not any(t.is_alive() for t in threads),
                                timeout=120):
            raise RuntimeError("the server did not accept enough messages:\n" + self.server.log_text()[-3000:])
        self.server.kill9()
        stop.set()
        for t in threads:
            t.join(timeout=60)
        self.rig.power_cut()
        self.server = make_server(self.scratch, self.data_dir)
        self.server.start()
        failure = auth_works(self.server)
        if failure:
            self.auth_failures.append(failure)

    def run(self, rounds):
        """Returns the counts (dict); the server is left running."""
        self.setup()
        for _ in range(rounds):
            self.round()
        drained = harness.wait_for(lambda: not spooled(self.data_dir), timeout=120)
        copies = mailbox_copies(self.server)
        acked = {(user, token) for token, rcpts in self.acked for user in rcpts}
        whole, torn = {}, 0  # (user, token) -> intact copies; files that are not one of our messages, whole
        for (user, token), files in copies.items():
            body = self.bodies.get(token)
            n = sum(1 for f in files if body is not None and f.endswith(body))
            torn += len(files) - n
            if n:
                whole[(user, token)] = n
        lost = sorted(acked - set(whole))
        doubled = sorted(k for k, n in whole.items() if n > 1)

        def by_path(keys):  # delivered before the 250, or spooled first
            spooled_n = sum(1 for _, t in keys if len(self.bodies[t]) >= SPOOLED_SIZE)
            return {"direct": len(keys) - spooled_n, "spooled": spooled_n}

        return {"rounds": rounds, "acknowledged": len(acked), "lost": len(lost),
                "duplicated": sum(n - 1 for n in whole.values()), "torn": torn,
                "unacknowledged_kept": len(set(whole) - acked), "refused": len(self.refused),
                "auth_failures": len(self.auth_failures),
                "spool_left": 0 if drained else len(spooled(self.data_dir)),
                "by_path": {"lost": by_path(lost), "duplicated": by_path(doubled)},
                "examples": {"lost": lost[:5], "duplicated": doubled[:5], "auth": self.auth_failures[:3],
                             "refused": self.refused[:3]}}

    def close(self):
        if self.server is not None:
            self.server.stop()
