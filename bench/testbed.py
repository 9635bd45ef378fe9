#!/usr/bin/env python3
"""The testbed's own figures (issue 26, "Measured"): messages per second
`postern testbed` accepts, lists per second of `/api/v1/messages` and
`/api/messages` with 500 kept, its memory with 500 kept messages of
100 KiB, the `/api/wait` answer against the 250, and POP3 RETR of those
messages. No Postfix: there is nothing of the kind to compare with.

Each run starts a fresh testbed (every listener on port 0, its data dir in
scratch) per accept row, and measures the rest on the last one (500 kept
messages of 100 KiB). Every figure is printed as min / median / max over
the runs, with the load average before each run: on a shared machine the
spread says how far to trust it. Usage:

    POSTERN_BIN=build/postern python3 bench/testbed.py
    bench/run testbed
    BENCH_TESTBED_RUNS=5 BENCH_TESTBED_PROBES=500 bench/run testbed

Knobs: BENCH_TESTBED_RUNS (3), BENCH_TESTBED_MESSAGES (500, per accept
row: the default max_messages, so each row ends with 500 kept),
BENCH_TESTBED_LIST_SECONDS (2 per list row), BENCH_TESTBED_PROBES (200
waits per run).
"""
import base64
import http.client
import json
import os
import poplib
import shutil
import smtplib
import statistics
import subprocess
import sys
import tempfile
import threading
import time

BIN = os.environ.get("POSTERN_BIN", "build/postern")
RUNS = int(os.environ.get("BENCH_TESTBED_RUNS", "3"))
MESSAGES = int(os.environ.get("BENCH_TESTBED_MESSAGES", "500"))
LIST_SECONDS = float(os.environ.get("BENCH_TESTBED_LIST_SECONDS", "2"))
PROBES = int(os.environ.get("BENCH_TESTBED_PROBES", "200"))
INBOX = "inbox@example.org"  # every accept-row message goes there: POP3 reads them all from one login

ACCEPT_ROWS = [(4096, 1), (4096, 8), (102400, 1), (102400, 8)]  # (octets, connections); the last stays for the rest
LIST_ROWS = [  # (label, path, concurrent clients, a new connection per request)
    ("GET /api/v1/messages (50 of {n}), 1 client", "/api/v1/messages", 1),
    ("GET /api/v1/messages (50 of {n}), 1 client, new connection per list", "/api/v1/messages", 1, True),
    ("GET /api/v1/messages (50 of {n}), 4 clients", "/api/v1/messages", 4),
    ("GET /api/v1/messages?limit={n}, 1 client", "/api/v1/messages?limit={n}", 1),
    ("GET /api/messages (all {n}), 1 client", "/api/messages", 1),
    ("GET /api/messages (all {n}), 4 clients", "/api/messages", 4),
]


def message(n, size):
    """A multipart message of about `size` octets: a short text part and a base64 attachment."""
    head = ("From: Sender <sender@example.com>\r\nTo: <%s>\r\nSubject: bench message %d\r\n"
            "Message-ID: <bench-%d-%d@example.com>\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\n"
            "Hello, this is message %d of the testbed benchmark.\r\n--B\r\n"
            "Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=data.bin\r\n\r\n" % (INBOX, n, n, size, n))
    tail = "--B--\r\n"
    room = max(0, size - len(head) - len(tail))
    encoded = base64.encodebytes(os.urandom(room * 3 // 4 + 3)).decode().replace("\n", "\r\n")
    return head + encoded[:max(0, room - room % 78)] + tail  # whole lines of 76 + CRLF


def smaps(pid):
    """Rss and Pss in KiB from /proc/PID/smaps_rollup, VmHWM from /proc/PID/status."""
    out = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("Rss", "Pss"):
                out[key] = int(value.split()[0])
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmHWM:"):
                out["VmHWM"] = int(line.split()[1])
    return out


def cpu_seconds(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Testbed:
    def __init__(self, scratch):
        self.dir = tempfile.mkdtemp(prefix="testbed.", dir=scratch)
        ports_file = os.path.join(self.dir, "ports.json")
        self.log = open(os.path.join(self.dir, "testbed.log"), "wb")
        self.proc = subprocess.Popen(
            [BIN, "testbed", "--smtp", "127.0.0.1:0", "--smtps", "127.0.0.1:0", "--http", "127.0.0.1:0",
             "--pop3", "127.0.0.1:0", "--ports-file", ports_file, "--data-dir", os.path.join(self.dir, "data")],
            stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 30
        while not os.path.exists(ports_file):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                sys.exit("the testbed did not start; see its log in " + self.dir)
            time.sleep(0.02)
        with open(ports_file) as f:
            self.ports = json.load(f)
        self.pid = self.proc.pid

    def http(self):
        return http.client.HTTPConnection("127.0.0.1", self.ports["http"], timeout=60)

    def get(self, conn, path):
        conn.request("GET", path)
        r = conn.getresponse()
        body = r.read()
        if r.status != 200:
            raise RuntimeError("GET %s: %d %s" % (path, r.status, body[:200]))
        return body

    def waiting(self, conn):
        for line in self.get(conn, "/metrics").decode().splitlines():
            if line.startswith("postern_testbed_http_waiting "):
                return int(line.split()[1])
        raise RuntimeError("no postern_testbed_http_waiting in /metrics")

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def accept(tb, size, connections):
    """Sends MESSAGES messages over `connections` persistent sessions; msg/s to the last 250, server CPU ms/msg."""
    bodies = [message(n, size) for n in range(MESSAGES)]
    errors = []

    def sender(first):
        try:
            with smtplib.SMTP("127.0.0.1", tb.ports["smtp"], timeout=120) as s:
                for n in range(first, MESSAGES, connections):
                    s.sendmail("sender@example.com", [INBOX], bodies[n])
        except Exception as e:  # noqa: BLE001 - reported below
            errors.append(e)

    threads = [threading.Thread(target=sender, args=(i,)) for i in range(connections)]
    cpu0, t0 = cpu_seconds(tb.pid), time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(tb.pid) - cpu0
    if errors:
        raise RuntimeError("sending failed: %r" % errors[0])
    return MESSAGES / elapsed, cpu * 1000 / MESSAGES


def lists(tb, path, clients, reconnect=False):
    """Lists/s for LIST_SECONDS with `clients` keep-alive connections (or a new connection per list);
    server CPU ms per list."""
    counts = [0] * clients
    stop_at = time.monotonic() + LIST_SECONDS

    def client(i):
        conn = tb.http()
        while time.monotonic() < stop_at:
            tb.get(conn, path)
            counts[i] += 1
            if reconnect:
                conn.close()
                conn = tb.http()
        conn.close()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(clients)]
    cpu0, t0 = cpu_seconds(tb.pid), time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(tb.pid) - cpu0
    total = sum(counts)
    return total / elapsed, cpu * 1000 / total


def waits(tb):
    """PROBES times: a GET /api/wait for a new address is open (the /metrics gauge says so), one 4 KiB
    message to it over a persistent session; ms from the 250 to the wait's answer (negative: the answer
    came first) and from the final dot's send to the answer."""
    from_250, from_dot = [], []
    metrics = tb.http()
    smtp = smtplib.SMTP("127.0.0.1", tb.ports["smtp"], timeout=60)
    smtp.ehlo()
    sent_at = [0.0]
    plain_send = smtp.send

    def timed_send(data):
        plain_send(data)
        sent_at[0] = time.monotonic()

    smtp.send = timed_send
    body = message(0, 4096)
    for n in range(PROBES):
        to = "probe%d@example.org" % n
        answer = {}

        def wait():
            conn = tb.http()
            conn.request("GET", "/api/wait?to=%s&timeout=30" % to)
            r = conn.getresponse()
            r.read()
            answer["at"], answer["status"] = time.monotonic(), r.status
            conn.close()

        waiter = threading.Thread(target=wait)
        waiter.start()
        deadline = time.monotonic() + 10
        while tb.waiting(metrics) < 1:
            if time.monotonic() > deadline:
                raise RuntimeError("the wait never started")
            time.sleep(0.001)
        if smtp.mail("sender@example.com")[0] != 250 or smtp.rcpt(to)[0] != 250:
            raise RuntimeError("probe %d: MAIL or RCPT refused" % n)
        code, _ = smtp.data(body)
        got_250 = time.monotonic()
        dot = sent_at[0]
        waiter.join()
        if code != 250 or answer.get("status") != 200:
            raise RuntimeError("probe %d: DATA %s, wait %s" % (n, code, answer.get("status")))
        from_250.append((answer["at"] - got_250) * 1000)
        from_dot.append((answer["at"] - dot) * 1000)
        while tb.waiting(metrics) > 0:  # the slot is given back after the answer is written
            time.sleep(0.001)
    smtp.quit()
    metrics.close()
    return from_250, from_dot


def percentile(values, p):
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, int(round(p / 100 * len(ordered) + 0.5)) - 1))]


def pop3_retr(tb):
    """One login as INBOX: USER/PASS + STAT (the first login reads every message once for its size), then
    RETR of every message; msg/s and MiB/s of the RETRs, server CPU ms per RETR."""
    t0 = time.monotonic()
    pop = poplib.POP3("127.0.0.1", tb.ports["pop3"], timeout=60)
    pop.user(INBOX)
    pop.pass_("x")
    count, octets = pop.stat()
    login = time.monotonic() - t0
    cpu0, t0 = cpu_seconds(tb.pid), time.monotonic()
    for n in range(1, count + 1):
        pop.retr(n)
    elapsed, cpu = time.monotonic() - t0, cpu_seconds(tb.pid) - cpu0
    pop.quit()
    return count, login * 1000, count / elapsed, octets / elapsed / 1048576, cpu * 1000 / count


def main():
    scratch = os.environ.get("BENCH_TMP") or tempfile.mkdtemp(prefix="postern-bench-testbed-")
    own_scratch = "BENCH_TMP" not in os.environ
    figures = {}

    def record(row, value):
        figures.setdefault(row, []).append(value)

    loads = []
    try:
        for run in range(RUNS):
            loads.append(os.getloadavg())
            for size, connections in ACCEPT_ROWS:
                tb = Testbed(scratch)
                try:
                    fresh = smaps(tb.pid)
                    rate, cpu = accept(tb, size, connections)
                    label = "accept %d KiB, %d connection%s" % (size // 1024, connections, "s" if connections > 1 else "")
                    record(("accept", label + ", msg/s"), rate)
                    record(("accept", label + ", server CPU ms/msg"), cpu)
                    if (size, connections) != ACCEPT_ROWS[-1]:
                        continue
                    idle = smaps(tb.pid)
                    record(("memory", "fresh, nothing kept: Rss MiB"), fresh["Rss"] / 1024)
                    record(("memory", "fresh, nothing kept: Pss MiB"), fresh["Pss"] / 1024)
                    record(("memory", "all kept, after the accept: Rss MiB"), idle["Rss"] / 1024)
                    record(("memory", "all kept, after the accept: Pss MiB"), idle["Pss"] / 1024)
                    record(("memory", "all kept, after the accept: VmHWM (peak) MiB"), idle["VmHWM"] / 1024)
                    for label, path, clients, *reconnect in LIST_ROWS:
                        rate, cpu = lists(tb, path, clients, bool(reconnect))
                        record(("list", label.format(n=MESSAGES) + ", lists/s"), rate)
                        record(("list", label.format(n=MESSAGES) + ", server CPU ms/list"), cpu)
                    after = smaps(tb.pid)
                    record(("memory", "after the list rows: Rss MiB"), after["Rss"] / 1024)
                    record(("memory", "after the list rows: Pss MiB"), after["Pss"] / 1024)
                    record(("memory", "after the list rows: VmHWM (peak) MiB"), after["VmHWM"] / 1024)
                    count, login_ms, rate, mib, cpu = pop3_retr(tb)
                    if count != MESSAGES:
                        raise RuntimeError("POP3 STAT says %d messages, %d were sent" % (count, MESSAGES))
                    record(("pop3", "first login + STAT, ms"), login_ms)
                    record(("pop3", "RETR 100 KiB, msg/s"), rate)
                    record(("pop3", "RETR 100 KiB, MiB/s"), mib)
                    record(("pop3", "RETR, server CPU ms/msg"), cpu)
                    from_250, from_dot = waits(tb)
                    record(("wait", "answer - 250, p50 ms"), percentile(from_250, 50))
                    record(("wait", "answer - 250, p99 ms"), percentile(from_250, 99))
                    record(("wait", "answer - final dot sent, p50 ms"), percentile(from_dot, 50))
                    record(("wait", "answer - final dot sent, p99 ms"), percentile(from_dot, 99))
                    record(("wait", "answers before the 250, %"), 100 * sum(1 for v in from_250 if v < 0) / len(from_250))
                finally:
                    tb.stop()
    finally:
        if own_scratch:
            shutil.rmtree(scratch, ignore_errors=True)

    print("postern testbed (%s): %d runs, %d messages per accept row, lists for %.1f s each, %d waits per run"
          % (BIN, RUNS, MESSAGES, LIST_SECONDS, PROBES))
    print("load average (1, 5, 15 min) before each run: " +
          "; ".join("%.2f %.2f %.2f" % l for l in loads) + "; after: %.2f %.2f %.2f" % os.getloadavg())
    titles = [("accept", "SMTP accept, persistent sessions (smtplib)"),
              ("memory", "memory with 500 kept x 100 KiB, from /proc"),
              ("list", "lists with 500 kept (http.client, keep-alive unless said)"),
              ("pop3", "POP3, one login, 500 kept x 100 KiB (poplib)"),
              ("wait", "/api/wait, 4 KiB probes, 500 kept")]
    for group, title in titles:
        print("%-80s %9s %9s %9s" % (title.replace("500", str(MESSAGES)), "min", "median", "max"))
        for (g, row), values in figures.items():
            if g == group:
                print("  %-78s %9.2f %9.2f %9.2f" % (row, min(values), statistics.median(values), max(values)))

if __name__ == "__main__":
    main()
