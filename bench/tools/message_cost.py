#!/usr/bin/python3
"""Where one message's CPU goes in `postern serve`: a profile, not a race.

    bench/tools/message_cost.py [--postern build/postern] [--messages 10000]
                                [--sessions 20] [--mode new|persistent|both]

For each mode it starts Postern (fresh data directory under $TMPDIR, one
mx listener, 4 KiB messages to one local Maildir user), warms up with
1,000 messages, then sends --messages with Postfix's smtp-source (a new
connection per message, or persistent sessions) while `perf record -g`
samples the server. It prints, per message:

  * the server's CPU and context switches, from /proc, per thread;
  * the journal's fdatasyncs (from the server's stop line);
  * the sampled CPU by system call (the innermost __x64_sys_* or ksys_*
    frame of each sample; "no syscall" is user space, interrupts and the
    scheduler outside a call), each thread's share.

Its files are removed when both modes are done. On ext4 without a journal
a removal slows every new file's allocation on that file system for up to
five minutes (bench/README.md): then `openat` leads the list. Wait that
long after the last removal (another run's, a test suite's).

Needs smtp-source (Debian's postfix package) and perf (linux-perf). Not
run by bench/run: the profiler costs the server a tenth of its speed, so
its rates are no figure to compare; the split is what it is for.
"""
import argparse
import collections
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HZ = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def threads(pid):
    """{tid: (cpu ticks, voluntary, involuntary switches)} of a process."""
    out = {}
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            vol = invol = 0
            with open(f"/proc/{pid}/task/{tid}/status") as f:
                for line in f:
                    if line.startswith("voluntary_ctxt_switches:"):
                        vol = int(line.split()[1])
                    elif line.startswith("nonvoluntary_ctxt_switches:"):
                        invol = int(line.split()[1])
            out[int(tid)] = (int(fields[11]) + int(fields[12]), vol, invol)
        except FileNotFoundError:
            pass
    return out


def smtp_source(port, sessions, messages, persistent):
    args = ["smtp-source", "-s", str(sessions), "-m", str(messages), "-l", "4096",
            "-f", "sender@bench.example", "-t", "user@bench.example"]
    if persistent:
        args.insert(1, "-d")
    subprocess.run(args + [f"127.0.0.1:{port}"], check=True, timeout=600)


def classify(perf_data, messages):
    """(µs per message by syscall, µs per message by tid) from perf samples."""
    script = subprocess.run(["perf", "script", "-i", perf_data, "-F", "comm,tid,period,ip,sym"],
                            capture_output=True, text=True, check=True).stdout
    by_call, by_tid = collections.Counter(), collections.Counter()
    call_tid = collections.Counter()
    tid = period = None
    call = None

    def done():
        if tid is None:
            return
        us = period / 1000 / messages
        by_call[call or "no syscall"] += us
        by_tid[tid] += us
        call_tid[(call or "no syscall", tid)] += us

    for line in script.splitlines():
        if not line.strip():
            done()
            tid = None
            continue
        head = re.match(r"^\s*\S+\s+(\d+)\s+(\d+)\s*$", line)  # comm tid period
        if head:
            tid, period, call = int(head.group(1)), int(head.group(2)), None
            continue
        if call is None:
            m = re.search(r"\b(?:__x64_sys|__ia32_sys|ksys)_(\w+)", line)
            if m:
                call = m.group(1)
    done()
    return by_call, by_tid, call_tid


def run(args, persistent):
    work = tempfile.mkdtemp(prefix="message-cost.")
    port = free_port()
    config = os.path.join(work, "postern.toml")
    with open(config, "w") as f:
        f.write(f'hostname = "postern.bench.example"\ndata_dir = "{work}/data"\n'
                f'local_domains = ["bench.example"]\n\n'
                f'[[listener]]\naddress = "127.0.0.1:{port}"\nrole = "mx"\ntls = "none"\n\n'
                f'[greylist]\nenabled = false\n\n[limits]\nmax_connections_per_ip = 800\n')
    subprocess.run([args.postern, "user", "add", "--config", config, "--password-stdin", "user@bench.example"],
                   input="bench-password\n", text=True, check=True, capture_output=True)
    log = open(os.path.join(work, "server.log"), "wb")
    server = subprocess.Popen([args.postern, "serve", "--config", config], stdout=log, stderr=log)
    perf = None
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with socket.socket() as s:
                if s.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        smtp_source(port, args.sessions, 1000, persistent)
        before = threads(server.pid)
        perf_data = os.path.join(work, "perf.data")
        perf = subprocess.Popen(["perf", "record", "-g", "-q", "-o", perf_data, "-p", str(server.pid)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)
        start = time.monotonic()
        smtp_source(port, args.sessions, args.messages, persistent)
        elapsed = time.monotonic() - start
        perf.send_signal(signal.SIGINT)
        perf.wait(timeout=60)
        perf = None
        after = threads(server.pid)
        server.send_signal(signal.SIGTERM)
        server.wait(timeout=30)
        log.close()
        with open(os.path.join(work, "server.log"), errors="replace") as f:
            m = re.search(r"journal_flushes=(\d+)", f.read())
        flushes = int(m.group(1)) / (args.messages + 1000) if m else float("nan")

        n = args.messages
        print(f"\n== {'persistent sessions' if persistent else 'a new connection per message'}: "
              f"{args.sessions} sessions, {n} messages of 4 KiB, {n / elapsed:,.0f} msg/s under the profiler")
        rows = []
        for tid, (t1, v1, i1) in after.items():
            t0, v0, i0 = before.get(tid, (0, 0, 0))
            rows.append((tid - server.pid, (t1 - t0) / HZ * 1e6 / n, (v1 - v0) / n, (i1 - i0) / n))
        total = sum(r[1] for r in rows)
        print(f"CPU {total:.0f} µs/msg, context switches {sum(r[2] + r[3] for r in rows):.2f}/msg "
              f"(voluntary {sum(r[2] for r in rows):.2f}), journal fdatasyncs {flushes:.2f}/msg")
        print("busiest threads (id relative to the process; 0 is the first I/O thread):")
        for tid, us, vol, invol in sorted(rows, key=lambda r: -r[1])[:6]:
            print(f"  +{tid:<4} {us:6.1f} µs/msg  switches {vol:.2f} voluntary, {invol:.2f} involuntary")
        by_call, by_tid, call_tid = classify(perf_data, n)
        print(f"sampled CPU by system call ({sum(by_call.values()):.0f} µs/msg in all, profiler included):")
        for call, us in by_call.most_common(16):
            tops = sorted(((t, v) for (c, t), v in call_tid.items() if c == call), key=lambda x: -x[1])[:3]
            where = ", ".join(f"+{t - server.pid} {v:.1f}" for t, v in tops)
            print(f"  {call:<18} {us:6.1f} µs/msg   ({where})")
    except BaseException:
        shutil.rmtree(work, ignore_errors=True)
        raise
    finally:
        if perf:
            perf.kill()
            perf.wait()
        if server.poll() is None:
            server.kill()
            server.wait()
    return work


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--postern", default="build/postern")
    p.add_argument("--messages", type=int, default=10000)
    p.add_argument("--sessions", type=int, default=20)
    p.add_argument("--mode", choices=("new", "persistent", "both"), default="both")
    args = p.parse_args()
    if args.messages < 1 or args.sessions < 1:
        p.error("--messages and --sessions must be at least 1")
    for tool in ("smtp-source", "perf"):
        if not shutil.which(tool):
            sys.exit(f"message_cost: {tool} not found (Debian: {'postfix' if tool == 'smtp-source' else 'linux-perf'})")
    args.postern = os.path.abspath(args.postern)
    works = []
    try:
        if args.mode in ("new", "both"):
            works.append(run(args, persistent=False))
        if args.mode in ("persistent", "both"):
            works.append(run(args, persistent=True))
    finally:
        for work in works:  # at the end: a removal would slow the next mode's new files
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
