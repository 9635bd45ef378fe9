#!/usr/bin/env python3
"""Memory of `postern testbed` listing its messages (issue 23, item 6).

Starts POSTERN_BIN testbed on free ports, sends BENCH_MESSAGES messages of
about BENCH_MESSAGE_MB MiB each (a multipart with a base64 attachment), then
asks GET /api/messages BENCH_LISTS times at once and prints the process's
resident memory (VmRSS) and its peak (VmHWM, from /proc) before and after,
and how long the lists took. Usage:

    POSTERN_BIN=build/postern bench/testbed_memory.py
"""
import base64
import json
import os
import shutil
import smtplib
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

BIN = os.environ.get("POSTERN_BIN", "build/postern")
MESSAGES = int(os.environ.get("BENCH_MESSAGES", "40"))
MESSAGE_MB = float(os.environ.get("BENCH_MESSAGE_MB", "4"))
LISTS = int(os.environ.get("BENCH_LISTS", "4"))


def status(pid):
    fields = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, value = line.partition(":")
            if key in ("VmRSS", "VmHWM"):
                fields[key] = int(value.split()[0]) // 1024  # MiB
    return fields


def message(n):
    payload = base64.encodebytes(os.urandom(int(MESSAGE_MB * 1024 * 1024 * 3 / 4))).decode().replace("\n", "\r\n")
    return ("From: bench@example.com\r\nTo: n%d@example.org\r\nSubject: bench %d\r\nMIME-Version: 1.0\r\n"
            "Content-Type: multipart/mixed; boundary=B\r\n\r\n--B\r\nContent-Type: text/plain\r\n\r\nhello\r\n"
            "--B\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n"
            "Content-Disposition: attachment; filename=data.bin\r\n\r\n%s--B--\r\n" % (n, n, payload))


def main():
    work = tempfile.mkdtemp(prefix="postern-bench-testbed-")
    ports_file = os.path.join(work, "ports.json")
    config = os.path.join(work, "testbed.toml")
    with open(config, "w") as f:
        f.write('[limits]\nmax_message_size = "%dM"\n' % (int(MESSAGE_MB) + 2))
    proc = subprocess.Popen([BIN, "testbed", "--smtp", "127.0.0.1:0", "--smtps", "127.0.0.1:0", "--pop3", "127.0.0.1:0", "--http",
                             "127.0.0.1:0", "--ports-file", ports_file, "--data-dir", os.path.join(work, "data"),
                             "--config", config], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while not os.path.exists(ports_file):
            if proc.poll() is not None or time.monotonic() > deadline:
                sys.exit("the testbed did not start")
            time.sleep(0.05)
        with open(ports_file) as f:
            ports = json.load(f)
        with smtplib.SMTP("127.0.0.1", ports["smtp"], timeout=120) as s:
            for n in range(MESSAGES):
                s.sendmail("bench@example.com", ["n%d@example.org" % n], message(n))
        kept = sum(os.path.getsize(os.path.join(work, "data", "spool", f))
                   for f in os.listdir(os.path.join(work, "data", "spool")))
        before = status(proc.pid)
        url = "http://127.0.0.1:%d/api/messages" % ports["http"]
        counts = []

        def list_messages():
            with urllib.request.urlopen(url, timeout=600) as r:
                counts.append(len(json.load(r)))

        t0 = time.monotonic()
        threads = [threading.Thread(target=list_messages) for _ in range(LISTS)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        elapsed = time.monotonic() - t0
        after = status(proc.pid)
        print("binary %s: %d messages, %.0f MiB kept; %d x GET /api/messages at once (%s listed) in %.2f s"
              % (BIN, MESSAGES, kept / 1048576, LISTS, counts, elapsed))
        print("  before the lists: VmRSS %d MiB, VmHWM %d MiB" % (before["VmRSS"], before["VmHWM"]))
        print("  after the lists:  VmRSS %d MiB, VmHWM %d MiB" % (after["VmRSS"], after["VmHWM"]))
    finally:
        proc.terminate()
        proc.wait(timeout=60)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
