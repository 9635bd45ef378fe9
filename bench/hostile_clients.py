#!/usr/bin/env python3
"""A well-behaved client's latency while hostile ones press on the server,
Postern against Postfix in one run. Hostile load, held for the whole
measurement: BENCH_HOSTILE_IDLE (1000) idle connections past their banner,
trickling connections that send one octet of a command every 200 ms,
pipelined command floods of unknown verbs, and an AUTH brute force from
the same address (wrong passwords, three per connection; Postern's lockout
answers 454 after ten, the private Postfix has no SASL and answers 5xx).
Measured: time to the 220 banner and time
from the end of DATA to the 250, for BENCH_HOSTILE_PROBES (200) sequential
probe messages from a fresh connection each; medians and 99th percentiles.
A figure, not a test: nothing here asserts a time."""
import os
import signal
import socket
import statistics
import sys
import threading
import time

sys.path.insert(0, os.environ["BENCH_LIB"])
import benchlib  # noqa: E402

IDLE = int(os.environ.get("BENCH_HOSTILE_IDLE", "1000"))
PROBES = int(os.environ.get("BENCH_HOSTILE_PROBES", "200"))
TRICKLERS = 50
FLOODERS = 4
GUESSERS = 4


def recv_reply(s):
    buf = b""
    while True:
        chunk = s.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        buf += chunk
        lines = buf.split(b"\r\n")
        for line in lines[:-1]:
            if len(line) >= 4 and line[3:4] == b" ":
                return buf


def probe(port):
    t0 = time.perf_counter()
    s = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        recv_reply(s)
        banner = time.perf_counter() - t0
        for cmd in (b"EHLO probe.example\r\n", b"MAIL FROM:<probe@load.example>\r\n",
                    b"RCPT TO:<bench@bench.example>\r\n", b"DATA\r\n"):
            s.sendall(cmd)
            recv_reply(s)
        s.sendall(b"Subject: probe\r\n\r\nhello\r\n.\r\n")
        t1 = time.perf_counter()
        reply = recv_reply(s)
        accepted = time.perf_counter() - t1
        if not reply.startswith(b"250"):
            raise RuntimeError(f"probe refused: {reply!r}")
        s.sendall(b"QUIT\r\n")
        return banner, accepted
    finally:
        s.close()


class Hostile:
    def __init__(self, port, v6_port=None):
        self.port, self.v6_port = port, v6_port
        self.stop = threading.Event()
        self.socks = []
        self.threads = []

    def start(self):
        for _ in range(IDLE):
            s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
            self.socks.append(s)
        for target in [self.trickle] * TRICKLERS + [self.flood] * FLOODERS + [self.guess] * GUESSERS:
            t = threading.Thread(target=target, daemon=True)
            t.start()
            self.threads.append(t)
        return self

    def trickle(self):
        while not self.stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
                for c in b"NOOP and then some more of a line that never seems to end":
                    if self.stop.wait(0.2):
                        break
                    s.sendall(bytes([c]))
                s.close()
            except OSError:
                self.stop.wait(0.2)

    def flood(self):
        junk = b"EHLO f\r\n" + b"XYZZY plugh\r\n" * 2000
        while not self.stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
                s.sendall(junk)
                while s.recv(65536):
                    pass
                s.close()
            except OSError:
                self.stop.wait(0.05)

    def guess(self):
        import base64
        n = 0
        while not self.stop.is_set():
            try:
                s = socket.create_connection(("127.0.0.1", self.port), timeout=30)
                recv_reply(s)
                s.sendall(b"EHLO guesser.example\r\n")
                recv_reply(s)
                for _ in range(3):
                    n += 1
                    s.sendall(b"AUTH PLAIN " + base64.b64encode(b"\0bench@bench.example\0guess%d" % n) + b"\r\n")
                    recv_reply(s)
                s.close()
            except OSError:
                self.stop.wait(0.05)

    def close(self):
        self.stop.set()
        for t in self.threads:
            t.join(timeout=10)
        for s in self.socks:
            s.close()


def measure(name, port):
    hostile = Hostile(port).start()
    try:
        samples = [probe(port) for _ in range(PROBES)]
    finally:
        hostile.close()
    banner = sorted(b for b, _ in samples)
    accepted = sorted(a for _, a in samples)
    q = lambda xs, p: xs[min(len(xs) - 1, int(len(xs) * p))] * 1000
    return {"server": name, "banner_p50": statistics.median(banner) * 1000, "banner_p99": q(banner, 0.99),
            "accepted_p50": statistics.median(accepted) * 1000, "accepted_p99": q(accepted, 0.99)}


def main():
    # Interrupted or not, what was started is stopped (the finally below).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    postern = benchlib.Postern("hostile", '[limits]\nmax_connections_per_ip = 5000\nmax_errors = 10\n'
                                          'command_timeout = "5m"\n[auth]\nrequire_tls = false\n')
    postern.start()
    # One smtpd process per connection: it needs as many as the load opens.
    pf = benchlib.Postfix("hostile-postfix", ["smtpd_hard_error_limit = 10",
                                              f"default_process_limit = {IDLE + TRICKLERS + FLOODERS + GUESSERS + 50}"])
    try:
        postern.cli("user", "add", "bench@bench.example", "--password-stdin", input="bench-password\n")
        pf.start()
        rows = [measure("postfix", pf.port), measure("postern", postern.port)]
    finally:
        postern.stop()
        pf.stop()
    print(f"Hostile clients: {IDLE} idle, {TRICKLERS} trickling, {FLOODERS} flooding; "
          f"{PROBES} probe messages, one connection each")
    print(f"{'server':10} {'banner p50 ms':>14} {'banner p99 ms':>14} {'250 p50 ms':>11} {'250 p99 ms':>11}")
    for r in rows:
        print(f"{r['server']:10} {r['banner_p50']:14.2f} {r['banner_p99']:14.2f} "
              f"{r['accepted_p50']:11.2f} {r['accepted_p99']:11.2f}")
    pf, pt = rows
    print(f"banner p99 ratio postern/postfix: {pt['banner_p99'] / pf['banner_p99']:.2f}; "
          f"250 p99 ratio: {pt['accepted_p99'] / pf['accepted_p99']:.2f}")


if __name__ == "__main__":
    main()
