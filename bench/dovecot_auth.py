#!/usr/bin/env python3
"""AUTH PLAIN sessions per second through one private Dovecot: `postern
serve` with [auth] backend = "dovecot" beside Postfix with
smtpd_sasl_type = dovecot, both asking the same Dovecot auth-client socket,
one after the other in one run.

20 concurrent clients repeat: connect, EHLO, AUTH PLAIN (initial
response), 235, QUIT, in the clear on loopback (Dovecot counts loopback as
secured). A session is counted at the 235. The CPU time of the MTA
(Postern: its process; Postfix: its smtpd processes, live and retired) and of Dovecot's auth
process per session are printed too (from /proc).

Usage: bench/dovecot_auth.py [--postern build/postern] [--seconds 10] [--clients 20]
Needs root (Postfix's private instance), dovecot-core and postfix.
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
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "tests", "integration"))

import auth as auth_bench  # noqa: E402  (bench/auth.py: the client loop)
from support.dovecot import Dovecot  # noqa: E402

USER, PASSWORD = auth_bench.USER, auth_bench.PASSWORD


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


def pids_named(name, under_ppid=None):
    out = []
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            with open(f"/proc/{pid}/cmdline", "rb") as f:
                argv = f.read().split(b"\0")
            with open(f"/proc/{pid}/stat") as f:
                ppid = int(f.read().rsplit(")", 1)[1].split()[1])
        except OSError:
            continue
        if argv and os.path.basename(argv[0].decode(errors="replace")).startswith(name):
            if under_ppid is None or ppid == under_ppid:
                out.append(int(pid))
    return out


def cpu_of(pids):
    """CPU seconds of `pids`; a negative pid stands for what that process reaped."""
    total = 0.0
    for pid in pids:
        try:
            total += reaped_children_cpu(-pid) if pid < 0 else auth_bench.cpu_seconds(pid)
        except OSError:
            pass
    return total


def reaped_children_cpu(pid):
    """CPU seconds of children `pid` has reaped (cutime + cstime): the smtpd
    processes Postfix's master retired during the run."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def measure(port, cpu_pids, dovecot_pids, clients, seconds):
    """(sessions/s, errors, MTA CPU ms/session, Dovecot auth CPU ms/session)."""
    mta0, dc0 = cpu_of(cpu_pids()), cpu_of(dovecot_pids())
    rate, errors, _ = auth_bench.run_scenario(port, os.getpid(), False, auth_bench.plain, clients, seconds)
    n = rate * seconds
    mta, dc = cpu_of(cpu_pids()) - mta0, cpu_of(dovecot_pids()) - dc0
    return rate, errors, mta / n * 1000 if n else float("nan"), dc / n * 1000 if n else float("nan")


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--postern", default=os.path.join(HERE, "..", "build", "postern"))
    ap.add_argument("--seconds", type=float, default=10)
    ap.add_argument("--clients", type=int, default=20)
    args = ap.parse_args()

    dovecot = Dovecot({USER: PASSWORD}, mechanisms=("plain", "login"))
    work = tempfile.mkdtemp(prefix="postern-bench-dovecot-")
    os.chmod(work, 0o755)  # Postfix's unprivileged processes reach their directories under it
    postern = postfix_dir = None
    try:
        dovecot_master = dovecot.proc.pid
        dovecot_pids = lambda: pids_named("dovecot/auth", dovecot_master) or pids_named("auth", dovecot_master)

        port = auth_bench.free_port()
        config = os.path.join(work, "postern.toml")
        with open(config, "w") as f:
            f.write(f'hostname = "localhost"\ndata_dir = "{work}/postern"\nlocal_domains = ["example.org"]\n'
                    f'[auth]\nbackend = "dovecot"\ndovecot_socket = "{dovecot.auth_socket}"\nrequire_tls = false\n'
                    f'lockout_failures = 1000000000\nmax_failures_per_session = 1000\n'
                    f'[limits]\nmax_connections_per_ip = 1000\n[greylist]\nenabled = false\n'
                    f'[[listener]]\naddress = "127.0.0.1:{port}"\nrole = "submission"\ntls = "starttls"\n')
        log = open(os.path.join(work, "postern.log"), "wb")
        postern = subprocess.Popen([args.postern, "serve", "--config", config], stdout=log, stderr=log)
        wait_port(port, postern)

        postfix_port = auth_bench.free_port()
        postfix_dir = os.path.join(work, "postfix")
        start = subprocess.run(
            ["bash", "-c", f'source "{HERE}/lib/postfix.sh" && postfix_private_start "$@"', "bench",
             postfix_dir, str(postfix_port), "smtpd_sasl_auth_enable = yes", "smtpd_sasl_type = dovecot",
             f"smtpd_sasl_path = {dovecot.auth_socket}", "smtpd_tls_security_level = none"],
            capture_output=True, text=True)
        if start.returncode != 0:
            sys.exit("postfix: " + start.stdout + start.stderr)
        wait_port(postfix_port)

        def postfix_master():
            with open(os.path.join(postfix_dir, "spool", "pid", "master.pid")) as f:
                return int(f.read().strip())

        print(f"AUTH PLAIN sessions/s through one Dovecot ({subprocess.run(['dovecot', '--version'], capture_output=True, text=True).stdout.split()[0]}), "
              f"{args.clients} concurrent clients, {args.seconds:g} s each, clear text on loopback")
        print(f"{'server':<10} {'sessions/s':>11} {'errors':>7} {'MTA CPU ms/session':>19} {'Dovecot auth CPU ms/session':>28}")
        rows = {}
        for name, p, cpu_pids in (
                ("postern", port, lambda: [postern.pid]),
                ("postfix", postfix_port, lambda: pids_named("smtpd", postfix_master()) + [-postfix_master()])):
            rows[name] = measure(p, cpu_pids, dovecot_pids, args.clients, args.seconds)
            rate, errors, mta_ms, dc_ms = rows[name]
            print(f"{name:<10} {rate:>11.1f} {errors:>7} {mta_ms:>19.2f} {dc_ms:>28.2f}")
        print(f"ratio postern/postfix: {rows['postern'][0] / rows['postfix'][0]:.2f}")
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
