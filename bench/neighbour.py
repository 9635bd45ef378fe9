"""A noisy neighbour: what another writer on the same file system does to
the 250 and to delivery, Postern and Postfix (and smtp-sink, which stores
nothing) side by side in one run.

Load: lib/smtp_load.py, 20 persistent sessions, BENCH_NEIGHBOUR_MESSAGES
(6000) messages of 4 KiB to one local Maildir user, as fast as it goes.
Each server gets it twice: quiet (nothing else writes to the file system
on purpose), then while lib/neighbour.py writes BENCH_NEIGHBOUR_MBPS (200)
MB/s to files beside the scratch directories: buffered writes, no O_DIRECT
and no fsync, as a backup or a log shipper writes. The neighbour starts
BENCH_NEIGHBOUR_WARMUP (5) seconds before the first server's run, so its
dirty pages have built up, and runs through all three.

Per server: delivered msg/s (until the Maildir holds every message; for
smtp-sink, until the last 250), the fall in % with the neighbour, the
time from the final "." to its 250, p50 and p99, and the server's CPU per
message (Postfix: the whole instance), quiet and with the neighbour. Postfix runs first in each phase (a warm cache helps the second)."""
import os
import signal
import socket
import subprocess
import sys
import time

sys.path.insert(0, os.environ["BENCH_LIB"])
import benchlib  # noqa: E402
import smtp_load  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_NEIGHBOUR_MESSAGES", "6000"))
MBPS = float(os.environ.get("BENCH_NEIGHBOUR_MBPS", "200"))
WARMUP = float(os.environ.get("BENCH_NEIGHBOUR_WARMUP", "5"))
SESSIONS = 20
SIZE = 4096
USER = "bench@bench.example"


def maildir_count(maildir):
    n = 0
    for sub in ("new", "cur"):
        try:
            with os.scandir(os.path.join(maildir, sub)) as it:
                n += sum(1 for e in it if e.is_file())
        except FileNotFoundError:
            pass
    return n


def wait_for_count(maildir, want, limit=600):
    deadline = time.monotonic() + limit
    while True:
        got = maildir_count(maildir)
        if got >= want:
            return
        if time.monotonic() > deadline:
            raise RuntimeError(f"bench: only {got} of {want} messages in {maildir} after {limit} s")
        time.sleep(0.05)


def wait_for_port(port, proc, limit=20):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"exited with {proc.returncode} before listening on {port}")
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
            return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError(f"nothing listening on 127.0.0.1:{port}")


def run(port, maildir, cpu):
    """(delivered msg/s, latencies, server CPU ms per message) of one load;
    `maildir` None: the 250 is delivery."""
    before = maildir_count(maildir) if maildir else 0
    cpu0 = cpu()
    t0 = time.monotonic()
    lat = smtp_load.send(port, MESSAGES, SESSIONS, SIZE, "load@load.example", USER)
    if maildir:
        wait_for_count(maildir, before + MESSAGES)
    elapsed = time.monotonic() - t0
    return MESSAGES / elapsed, lat, (cpu() - cpu0) * 1000 / MESSAGES


class Neighbour:
    def __init__(self, directory, mbps):
        self.out = directory + ".out"
        self.proc = subprocess.Popen([sys.executable, os.path.join(os.environ["BENCH_LIB"], "neighbour.py"),
                                      directory, "--mbps", format(mbps, "g")],
                                     stdout=open(self.out, "wb"), stderr=subprocess.STDOUT)

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        self.proc.wait(timeout=60)
        with open(self.out) as f:
            return f.read().strip()


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    pt = benchlib.Postern("neighbour-postern", "[limits]\nmax_connections_per_ip = 500\n")
    pf = benchlib.Postfix("neighbour-postfix")
    sink_port = benchlib.free_port()
    sink = None
    neighbour = None
    results = {}
    try:
        pt.start()
        r = pt.cli("user", "add", USER, "--password-stdin", input="bench-password\n")
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        pf.start()
        sink = subprocess.Popen(["smtp-sink", "-u", "nobody", "-m", "1000", f"127.0.0.1:{sink_port}", "1000"],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port(sink_port, sink)
        servers = (("postfix", pf.port, os.path.join(pf.dir, "mail", "bench"), pf.cpu_seconds),
                   ("postern", pt.port, os.path.join(pt.dir, "data", "mail", "bench.example", "bench"),
                    lambda: benchlib.cpu_seconds(pt.proc.pid)),
                   ("smtp-sink", sink_port, None, lambda: benchlib.cpu_seconds(sink.pid)))
        for name, port, maildir, cpu in servers:
            results[name, "quiet"] = run(port, maildir, cpu)
        neighbour = Neighbour(benchlib.workdir("neighbour-writer"), MBPS)
        time.sleep(WARMUP)  # the neighbour's dirty pages build up before the first run
        for name, port, maildir, cpu in servers:
            results[name, "neighbour"] = run(port, maildir, cpu)
        achieved = neighbour.stop()
        neighbour = None
    finally:
        if neighbour:
            neighbour.stop()
        if sink:
            sink.terminate()
            sink.wait()
        pt.stop()
        pf.stop()

    def ms(v, q):
        return smtp_load.percentile(v, q) * 1000

    print(f"Noisy neighbour: {MESSAGES} messages of 4 KiB over {SESSIONS} persistent sessions per run, "
          f"quiet, then while another process writes {MBPS:g} MB/s buffered to the same file system")
    print(f"neighbour: {achieved}")
    print(f"{'server':10} {'quiet msg/s':>12} {'nbr msg/s':>10} {'fall %':>7} "
          f"{'p50 quiet':>10} {'p99 quiet':>10} {'p50 nbr':>10} {'p99 nbr':>10} "
          f"{'CPU quiet':>10} {'CPU nbr':>8}   (ms; CPU per message)")
    for name in ("postern", "postfix", "smtp-sink"):
        q_rate, q_lat, q_cpu = results[name, "quiet"]
        n_rate, n_lat, n_cpu = results[name, "neighbour"]
        fall = (1 - n_rate / q_rate) * 100
        print(f"{name:10} {q_rate:12.1f} {n_rate:10.1f} {fall:7.1f} "
              f"{ms(q_lat, 0.5):10.2f} {ms(q_lat, 0.99):10.2f} {ms(n_lat, 0.5):10.2f} {ms(n_lat, 0.99):10.2f} "
              f"{q_cpu:10.2f} {n_cpu:8.2f}")
    pt_p99 = ms(results["postern", "neighbour"][1], 0.99)
    pf_p99 = ms(results["postfix", "neighbour"][1], 0.99)
    print(f"p99 of the 250 with the neighbour, postern/postfix: {pt_p99 / pf_p99:.2f}")
    print("(msg/s: until every message is in the Maildir, for smtp-sink until the last 250; fall = how much"
          " lower with the neighbour; p50/p99: final \".\" to its 250; CPU: user + system per message, Postern's"
          " and smtp-sink's process, Postfix's whole instance)")


if __name__ == "__main__":
    main()
