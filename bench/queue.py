"""The outbound queue, Postern and Postfix side by side in one run.

Relay: BENCH_RELAY_MESSAGES (5000) messages of 4 KiB for sink.example are
queued while that next hop is down (each is deferred once), then Postfix's
smtp-sink starts there and a queue run is asked for (`postern queue retry`,
`postqueue -f`). Rate = messages / time until smtp-sink has counted them all;
Postern's CPU ms per message over that time; Postern once more with
DKIM keys (RSA 2048 and Ed25519) for the From: domain, every message
signed twice as it leaves (Postfix unsigned: the cost of signing). Each server uses its own
defaults for connections to one destination (20 each: Postern follows Postfix's
default_destination_concurrency_limit).

Idle queue: BENCH_DEFERRED (100000) messages deferred to a hop that stays
down; then the CPU each server spends in BENCH_IDLE_SECONDS (30) with
nothing to do but hold them (retries are minutes away on both), against the
same with an empty queue. A queue that rescans itself grows with its size;
one that is woken only by events stays flat.

The load is lib/smtp_load.py over 20 persistent connections: AUTH PLAIN on
Postern's submission listener (relaying needs it), none on Postfix (its
mynetworks relays for loopback)."""
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.environ["BENCH_LIB"])
import benchlib  # noqa: E402
import smtp_load  # noqa: E402

RELAY = int(os.environ.get("BENCH_RELAY_MESSAGES", "5000"))
DEFERRED = int(os.environ.get("BENCH_DEFERRED", "100000"))
IDLE_SECONDS = float(os.environ.get("BENCH_IDLE_SECONDS", "30"))
SESSIONS = 20
SIZE = 4096
USER, PASSWORD = "bench@bench.example", "bench-password"


def wait_until(what, done, limit):
    deadline = time.monotonic() + limit
    while not done():
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench: {what} did not happen within {limit} s")
        time.sleep(0.1)


class Sink:
    """smtp-sink on `port`, counting messages."""

    def __init__(self, port, workdir):
        self.out = os.path.join(workdir, "sink.out")
        self.proc = subprocess.Popen(["smtp-sink", "-u", "nobody", "-c", f"127.0.0.1:{port}", "1000"],
                                     stdout=open(self.out, "wb"), stderr=subprocess.DEVNULL)

    def count(self):
        with open(self.out, "rb") as f:
            f.seek(max(0, os.path.getsize(self.out) - 200))
            tail = f.read().split(b"\r")
        for record in reversed(tail):
            if b"mesg=" in record:
                return int(record.rsplit(b"mesg=", 1)[1].split()[0] or 0)
        return 0

    def stop(self):
        self.proc.terminate()
        self.proc.wait()


def postern_server(name, hop):
    sub = benchlib.free_port()
    p = benchlib.Postern(name, f'\n[[listener]]\naddress = "127.0.0.1:{sub}"\nrole = "submission"\ntls = "none"\n'
                               f'[auth]\nrequire_tls = false\n'
                               f'[limits]\nmax_connections_per_ip = 500\n'
                               f'[relay]\nroutes = {{ "sink.example" = "127.0.0.1:{hop}" }}\n')
    p.submission = sub
    p.start()
    r = p.cli("user", "add", USER, "--password-stdin", input=PASSWORD + "\n")
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    # The load's MAIL FROM is load@load.example: the user may send as it (SPEC §11).
    r = p.cli("user", "sender", USER, "add", "load@load.example")
    if r.returncode != 0:
        raise RuntimeError(r.stderr)
    return p


def postern_deferred(p):
    spool = os.path.join(p.dir, "data", "spool")
    return sum(1 for n in os.listdir(spool) if n.endswith(".state"))


def postfix_server(name, hop):
    return benchlib.Postfix(name, ["relay_domains = sink.example",
                                   f"transport_maps = inline:{{ sink.example=smtp:[127.0.0.1]:{hop} }}",
                                   "smtp_connect_timeout = 5s"]).start()


def fill(port, count, auth):
    smtp_load.send(port, count, SESSIONS, SIZE, "load@load.example", "rcpt@sink.example", auth=auth)


def postern_drain(name, hop, dkim):
    """(msg/s, CPU ms per message) of one Postern queue drain; with `dkim`,
    load.example has an RSA and an Ed25519 key, so every message leaves
    with two signatures."""
    pt = postern_server(name, hop)
    try:
        if dkim:
            for algorithm in ("rsa", "ed25519"):
                r = pt.cli("dkim", "keygen", "load.example", "--algorithm", algorithm)
                if r.returncode != 0:
                    raise RuntimeError(r.stderr)
        fill(pt.submission, RELAY, (USER, PASSWORD))
        wait_until("Postern deferring every message", lambda: postern_deferred(pt) >= RELAY, 600)
        sink = Sink(hop, pt.dir)
        try:
            cpu0 = benchlib.cpu_seconds(pt.proc.pid)
            t0 = time.monotonic()
            pt.cli("queue", "retry")
            wait_until("smtp-sink receiving Postern's queue", lambda: sink.count() >= RELAY, 600)
            elapsed = time.monotonic() - t0
            return RELAY / elapsed, (benchlib.cpu_seconds(pt.proc.pid) - cpu0) * 1000 / RELAY
        finally:
            sink.stop()
    finally:
        pt.stop()


def relay_row():
    hop = benchlib.free_port()
    results = {}
    pf = postfix_server("queue-relay-postfix", hop)
    try:
        fill(pf.port, RELAY, None)
        wait_until("Postfix deferring every message", lambda: pf.queue_count("deferred") >= RELAY, 600)
        sink = Sink(hop, pf.dir)
        try:
            t0 = time.monotonic()
            subprocess.run(["postqueue", "-c", os.path.join(pf.dir, "etc"), "-f"], check=True)
            wait_until("smtp-sink receiving Postfix's queue", lambda: sink.count() >= RELAY, 600)
            results["postfix"] = RELAY / (time.monotonic() - t0)
        finally:
            sink.stop()
    finally:
        pf.stop()
    results["postern"], results["cpu_ms"] = postern_drain("queue-relay-postern", hop, dkim=False)
    results["dkim"], results["dkim_cpu_ms"] = postern_drain("queue-relay-postern-dkim", hop, dkim=True)
    return results


def idle_cpu(measure):
    c0 = measure()
    time.sleep(IDLE_SECONDS)  # the quantity measured is what happens in this window
    return measure() - c0


def idle_row():
    hop = benchlib.free_port()  # nobody ever listens here
    out = {}
    pf = postfix_server("queue-idle-postfix", hop)
    try:
        out["postfix_empty"] = idle_cpu(pf.cpu_seconds)
        fill(pf.port, DEFERRED, None)
        wait_until("Postfix deferring every message", lambda: pf.queue_count("deferred") >= DEFERRED, 1800)
        out["postfix_full"] = idle_cpu(pf.cpu_seconds)
    finally:
        pf.stop()
    pt = postern_server("queue-idle-postern", hop)
    try:
        pid = pt.proc.pid
        out["postern_empty"] = idle_cpu(lambda: benchlib.cpu_seconds(pid))
        fill(pt.submission, DEFERRED, (USER, PASSWORD))
        wait_until("Postern deferring every message", lambda: postern_deferred(pt) >= DEFERRED, 1800)
        out["postern_full"] = idle_cpu(lambda: benchlib.cpu_seconds(pid))
        out["postern_rss"] = benchlib.rss_kib(pid) / 1024
    finally:
        pt.stop()
    return out


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    relay = relay_row()
    idle = idle_row()
    print(f"Outbound queue: relay of {RELAY} queued 4 KiB messages to smtp-sink; "
          f"CPU while holding {DEFERRED} deferred messages")
    print(f"{'row':44} {'postern':>12} {'postfix':>12} {'ratio':>7}")
    print(f"{'relay drain, msg/s':44} {relay['postern']:12.1f} {relay['postfix']:12.1f} "
          f"{relay['postern'] / relay['postfix']:7.2f}   (postern CPU {relay['cpu_ms']:.2f} ms/msg)")
    print(f"{'relay drain, DKIM-signed (rsa + ed25519), msg/s':44} {relay['dkim']:12.1f} {relay['postfix']:12.1f} "
          f"{relay['dkim'] / relay['postfix']:7.2f}   (postern CPU {relay['dkim_cpu_ms']:.2f} ms/msg; "
          f"Postfix unsigned)")
    per = IDLE_SECONDS
    print(f"{'idle CPU, empty queue, s per ' + format(per, 'g') + ' s':44} {idle['postern_empty']:12.2f} "
          f"{idle['postfix_empty']:12.2f}")
    print(f"{'idle CPU, ' + str(DEFERRED) + ' deferred, s per ' + format(per, 'g') + ' s':44} "
          f"{idle['postern_full']:12.2f} {idle['postfix_full']:12.2f}")
    print(f"(postern resident memory holding them: {idle['postern_rss']:.1f} MiB; "
          f"Postfix's CPU is its master, reaped children and live children)")


if __name__ == "__main__":
    main()
