"""Inbound mail through rspamd as a milter: Postern without a filter,
Postern with rspamd, and Postfix with the same rspamd (smtpd_milters), in
one run. rspamd is the private instance of the tests
(tests/integration/support/rspamd.py: its proxy worker with milter = yes,
one process, its own Redis, no network lookups). Load: lib/smtp_load.py,
BENCH_MILTER_MESSAGES (2000) messages of 4 KiB over 20 persistent
sessions to one local Maildir user. Figures: messages per second until the
last 250, and Postern's own CPU per message (the filter's is not counted)."""
import os
import signal
import sys
import time

sys.path.insert(0, os.environ["BENCH_LIB"])
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "integration"))
import benchlib  # noqa: E402
import smtp_load  # noqa: E402
from support.rspamd import RspamdMilter  # noqa: E402

MESSAGES = int(os.environ.get("BENCH_MILTER_MESSAGES", "2000"))
SESSIONS = 20
SIZE = 4096


def run(port, pid=None):
    cpu0 = benchlib.cpu_seconds(pid) if pid else 0.0
    t0 = time.monotonic()
    smtp_load.send(port, MESSAGES, SESSIONS, SIZE, "load@load.example", "bench@bench.example")
    elapsed = time.monotonic() - t0
    cpu = (benchlib.cpu_seconds(pid) - cpu0) if pid else None
    return MESSAGES / elapsed, (cpu * 1000 / MESSAGES if cpu is not None else None)


def main():
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(130))
    rspamd = RspamdMilter()
    milter = f"\n[[milter]]\naddress = \"{rspamd.address}\"\ntimeout = \"60s\"\n"
    limits = "[limits]\nmax_connections_per_ip = 500\n"
    plain = benchlib.Postern("milter-none", limits)
    filtered = benchlib.Postern("milter-rspamd", limits + milter)
    postfix = benchlib.Postfix("milter-postfix", [f"smtpd_milters = {rspamd.address}",
                                                  "milter_default_action = tempfail", "milter_protocol = 6"])
    rows = []
    try:
        for name, server in (("postern, no milter", plain), ("postern + rspamd", filtered)):
            server.start()
            r = server.cli("user", "add", "bench@bench.example", "--password-stdin", input="bench-password\n")
            if r.returncode != 0:
                raise RuntimeError(r.stderr)
            rate, cpu = run(server.port, server.proc.pid)
            rows.append((name, rate, cpu))
            server.stop()
        postfix.start()
        rate, _ = run(postfix.port)
        rows.append(("postfix + rspamd", rate, None))
    finally:
        plain.stop()
        filtered.stop()
        postfix.stop()
        rspamd.cleanup()
    print(f"milter_rspamd: {MESSAGES} messages of {SIZE} octets, {SESSIONS} sessions")
    print(f"{'server':<22} {'msg/s':>8} {'postern CPU ms/msg':>19}")
    for name, rate, cpu in rows:
        print(f"{name:<22} {rate:8.0f} {('%.2f' % cpu) if cpu is not None else '-':>19}")


if __name__ == "__main__":
    main()
