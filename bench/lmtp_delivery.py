#!/usr/bin/env python3
"""Messages per second delivered over LMTP into one private Dovecot:
`postern serve` with [delivery] transport = "lmtp:unix:..." beside Postfix
with virtual_transport = lmtp:unix:..., both on the LMTP socket of the same
Dovecot (passwd-file user, Maildir), one after the other in one run.

20 sessions send 4 KiB messages to one Dovecot user over SMTP on loopback
(MAIL, RCPT, DATA pipelined); a message counts when it is in Dovecot's
Maildir (end to end: accepted, spooled, handed over LMTP, written by
Dovecot). Postern asks Dovecot at each RCPT too (MAIL/RCPT/RSET on the
LMTP socket); Postfix does not. The CPU time of the MTA (Postern: its
process; Postfix: all its processes, live and retired) and of Dovecot
(its lmtp and auth processes, live and retired) per message are printed.

Usage: bench/lmtp_delivery.py [--postern build/postern] [--messages 2000] [--sessions 20] [--size 4096]
Needs root (Postfix's private instance), dovecot-core, dovecot-lmtpd and postfix.
"""
import argparse
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import smtp_load  # noqa: E402
from support.dovecot import Dovecot  # noqa: E402

USER = "bench@bench.example"


def cpu_seconds(pid, children=False):
    """User + system CPU seconds of `pid` (with `children`, also of what it reaped)."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc=None):
    for _ in range(400):
        if proc is not None and proc.poll() is not None:
            sys.exit(f"server exited with {proc.returncode}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    sys.exit(f"nothing listens on {port}")


def descendants(root):
    """Every live process under `root` (its children, theirs, ...)."""
    parent = {}
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            try:
                with open(f"/proc/{pid}/stat") as f:
                    parent[int(pid)] = int(f.read().rsplit(")", 1)[1].split()[1])
            except OSError:
                pass
    out, todo = [], [root]
    while todo:
        p = todo.pop()
        kids = [c for c, pp in parent.items() if pp == p]
        out += kids
        todo += kids
    return out


def tree_cpu(root):
    """CPU seconds of `root`, of what it reaped and of its live descendants
    (with what each of them reaped)."""
    total = 0.0
    for pid in [root] + descendants(root):
        try:
            total += cpu_seconds(pid, children=True)
        except OSError:
            pass
    return total


def delivered(dovecot):
    n = 0
    for sub in ("new", "cur"):
        d = os.path.join(dovecot.maildir(USER), sub)
        if os.path.isdir(d):
            n += len(os.listdir(d))
    return n


def measure(name, port, mta_root, dovecot, args):
    """(messages/s end to end, MTA CPU ms/message, Dovecot CPU ms/message)."""
    before = delivered(dovecot)
    mta0, dc0 = tree_cpu(mta_root), tree_cpu(dovecot.proc.pid)
    t0 = time.perf_counter()
    smtp_load.send(port, args.messages, args.sessions, args.size, "load@load.example", USER)
    accepted = time.perf_counter() - t0
    deadline = time.monotonic() + 600
    while delivered(dovecot) < before + args.messages:
        if time.monotonic() > deadline:
            sys.exit(f"{name}: only {delivered(dovecot) - before} of {args.messages} delivered")
        time.sleep(0.01)
    elapsed = time.perf_counter() - t0
    mta, dc = tree_cpu(mta_root) - mta0, tree_cpu(dovecot.proc.pid) - dc0
    n = args.messages
    return n / elapsed, n / accepted, mta / n * 1000, dc / n * 1000


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    ap.add_argument("--messages", type=int, default=2000)
    ap.add_argument("--sessions", type=int, default=20)
    ap.add_argument("--size", type=int, default=4096)
    args = ap.parse_args()

    dovecot = Dovecot({USER: "unused"}, protocols=("lmtp",))
    work = tempfile.mkdtemp(prefix="postern-bench-lmtp-")
    os.chmod(work, 0o755)  # Postfix's unprivileged processes reach their directories under it
    postern = postfix_dir = None
    try:
        port = free_port()
        config = os.path.join(work, "postern.toml")
        with open(config, "w") as f:
            f.write(f'hostname = "localhost"\ndata_dir = "{work}/postern"\nlocal_domains = ["bench.example"]\n'
                    f'[delivery]\ntransport = "lmtp:unix:{dovecot.lmtp_socket}"\n'
                    f'[limits]\nmax_connections_per_ip = 1000\n[greylist]\nenabled = false\n'
                    f'[[listener]]\naddress = "127.0.0.1:{port}"\nrole = "mx"\ntls = "none"\n')
        log = open(os.path.join(work, "postern.log"), "wb")
        postern = subprocess.Popen([args.postern, "serve", "--config", config], stdout=log, stderr=log)
        wait_port(port, postern)

        postfix_port = free_port()
        postfix_dir = os.path.join(work, "postfix")
        start = subprocess.run(
            ["bash", "-c", f'source "{HERE}/lib/postfix.sh" && postfix_private_start "$@"', "bench",
             postfix_dir, str(postfix_port), f"virtual_transport = lmtp:unix:{dovecot.lmtp_socket}",
             "smtpd_tls_security_level = none"],
            capture_output=True, text=True)
        if start.returncode != 0:
            sys.exit("postfix: " + start.stdout + start.stderr)
        wait_port(postfix_port)
        with open(os.path.join(postfix_dir, "spool", "pid", "master.pid")) as f:
            postfix_master = int(f.read().strip())

        version = subprocess.run(["dovecot", "--version"], capture_output=True, text=True).stdout.split()[0]
        print(f"{args.messages} messages of {args.size} octets over {args.sessions} SMTP sessions, "
              f"delivered over LMTP (unix socket) into one Dovecot {version} Maildir")
        print(f"{'server':<10} {'delivered/s':>12} {'accepted/s':>11} {'MTA CPU ms/msg':>15} {'Dovecot CPU ms/msg':>19}")
        rows = {}
        for name, p, root in (("postern", port, postern.pid), ("postfix", postfix_port, postfix_master)):
            rows[name] = measure(name, p, root, dovecot, args)
            rate, acc, mta_ms, dc_ms = rows[name]
            print(f"{name:<10} {rate:>12.1f} {acc:>11.1f} {mta_ms:>15.2f} {dc_ms:>19.2f}")
        print(f"ratio postern/postfix (delivered/s): {rows['postern'][0] / rows['postfix'][0]:.2f}")
    finally:
        if postern is not None:
            postern.terminate()
            postern.wait(timeout=40)
        if postfix_dir:
            subprocess.run(["bash", "-c", f'source "{HERE}/lib/postfix.sh" && postfix_private_stop "$1"', "bench",
                            postfix_dir], capture_output=True)
        dovecot.cleanup()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
