#!/usr/bin/env python3
"""Memory held by idle connections: opens BENCH_IDLE (default 10,000)
connections to one Postern listener, reads the 220 banner on each, keeps
them all open and idle, and reads the server's resident memory (VmRSS, and
the peak VmHWM) from /proc before and after. Then checks every connection
is still open, closes them and stops the server."""
import os
import selectors
import socket
import sys
import time

sys.path.insert(0, os.environ["BENCH_LIB"])
import benchlib  # noqa: E402

COUNT = int(os.environ.get("BENCH_IDLE", "10000"))
BATCH = 250


def open_idle(port, count):
    """Opens `count` connections in batches, each one past its 220 banner."""
    conns = []
    sel = selectors.DefaultSelector()
    while len(conns) < count:
        batch = []
        for _ in range(min(BATCH, count - len(conns))):
            s = socket.socket()
            s.setblocking(False)
            s.connect_ex(("127.0.0.1", port))
            sel.register(s, selectors.EVENT_READ, bytearray())
            batch.append(s)
        pending = set(batch)
        deadline = time.monotonic() + 30
        while pending:
            if time.monotonic() > deadline:
                raise RuntimeError(f"{len(pending)} connections got no banner within 30 s "
                                   f"(after {len(conns)} were open)")
            for key, _ in sel.select(timeout=1):
                s, buf = key.fileobj, key.data
                try:
                    data = s.recv(4096)
                except BlockingIOError:
                    continue
                if not data:
                    raise RuntimeError(f"server closed connection {len(conns) + len(batch) - len(pending) + 1}: "
                                       f"{bytes(buf)!r}")
                buf += data
                if b"\r\n" in buf:
                    if not buf.startswith(b"220"):
                        raise RuntimeError(f"not a 220 banner: {bytes(buf)!r}")
                    sel.unregister(s)
                    pending.discard(s)
        conns.extend(batch)
    sel.close()
    return conns


def still_open(conns):
    """Counts connections without EOF or pending error (idle means nothing to read)."""
    alive = 0
    for s in conns:
        try:
            s.recv(1, socket.MSG_PEEK)  # EOF or unasked words (a 421): not idle any more
        except BlockingIOError:
            alive += 1
        except OSError:
            pass
    return alive


def main():
    server = benchlib.Postern("idle", extra_toml=(
        f"\n[limits]\nmax_connections = {COUNT + 100}\nmax_connections_per_ip = {COUNT + 100}\n"
        f'command_timeout = "10m"\n'))
    conns = []
    try:
        server.start()
        pid = server.proc.pid
        time.sleep(1)
        base = benchlib.rss_kib(pid)
        started = time.monotonic()
        conns = open_idle(server.port, COUNT)
        opened_in = time.monotonic() - started
        time.sleep(2)
        rss = benchlib.rss_kib(pid)
        hwm = benchlib.rss_kib(pid, "VmHWM")
        alive = still_open(conns)
        per_conn = (rss - base) * 1024 / max(COUNT, 1)
        print(f"idle connections: {COUNT} opened (banner read on each) in {opened_in:.1f} s; "
              f"{alive} still open after 2 s")
        print(f"postern RSS: {base / 1024:.1f} MiB before, {rss / 1024:.1f} MiB with {COUNT} idle connections "
              f"(peak {hwm / 1024:.1f} MiB); {per_conn / 1024:.1f} KiB per connection")
        if alive != COUNT:
            print(f"bench: {COUNT - alive} connections were closed by the server", file=sys.stderr)
            return 1
        return 0
    finally:
        for s in conns:
            s.close()
        server.stop()


if __name__ == "__main__":
    sys.exit(main())
