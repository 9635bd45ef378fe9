"""The 250 after DATA: its latency at half the maximum rate, Postern and
Postfix side by side in one run.

First each server's maximum is measured with the same generator
(lib/smtp_load.py, 20 persistent sessions, 4 KiB messages to one local
Maildir user, 2,000 messages as fast as it goes). Then both get the same
offered load: half the lower of the two maxima (so neither is pushed past
what it sustains), BENCH_LATENCY_MESSAGES (3000) messages paced over 20
sessions, and the time from the final "." to the 250 is recorded for each.
Both are durable at the 250 (see README "Fairness")."""
import os
import signal
import sys
import time

sys.path.insert(0, os.environ["BENCH_LIB"])
import benchlib  # noqa: E402
import smtp_load  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_LATENCY_MESSAGES", "3000"))
SESSIONS = 20
SIZE = 4096


def max_rate(port):
    t0 = time.monotonic()
    smtp_load.send(port, 2000, SESSIONS, SIZE, "load@load.example", "bench@bench.example")
    return 2000 / (time.monotonic() - t0)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    pt = benchlib.Postern("latency-postern", "[limits]\nmax_connections_per_ip = 500\n")
    pf = benchlib.Postfix("latency-postfix")
    try:
        pt.start()
        r = pt.cli("user", "add", "bench@bench.example", "--password-stdin", input="bench-password\n")
        if r.returncode != 0:
            raise RuntimeError(r.stderr)
        pf.start()
        maxima = {"postfix": max_rate(pf.port), "postern": max_rate(pt.port)}
        rate = min(maxima.values()) / 2
        lat = {}
        for name, port in (("postfix", pf.port), ("postern", pt.port)):
            lat[name] = smtp_load.send(port, MESSAGES, SESSIONS, SIZE, "load@load.example", "bench@bench.example",
                                       rate=rate)
    finally:
        pt.stop()
        pf.stop()
    print(f"250 after DATA at {rate:.0f} msg/s offered (half the lower maximum: postern "
          f"{maxima['postern']:.0f}, postfix {maxima['postfix']:.0f} msg/s with this generator), "
          f"{MESSAGES} messages of 4 KiB over {SESSIONS} sessions")
    print(f"{'server':10} {'p50 ms':>9} {'p99 ms':>9}")
    for name in ("postern", "postfix"):
        v = lat[name]
        print(f"{name:10} {smtp_load.percentile(v, 0.5) * 1000:9.2f} {smtp_load.percentile(v, 0.99) * 1000:9.2f}")
    print(f"p99 ratio postern/postfix: {smtp_load.percentile(lat['postern'], 0.99) / smtp_load.percentile(lat['postfix'], 0.99):.2f}")


if __name__ == "__main__":
    main()
