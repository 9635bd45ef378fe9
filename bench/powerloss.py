"""Power loss: rounds of load, `kill -9` and a power cut, counting what an
acknowledged message became.

Postern's data dir is on the project's power-loss rig
(tests/integration/support/powerloss_fs.py, a FUSE file system that keeps
at a cut only what fsync made durable: a file's data after its own fsync,
a name after its directory's; syncfs flushes nothing there, as on every
FUSE mount). Each round, BENCH_POWERLOSS_SESSIONS (8) clients send small
messages (delivered before their 250) and messages over 256 KiB (spooled)
to one or two users; after a random number of 250s Postern is killed, the
power is cut, Postern restarts on what survived and one AUTH must succeed.
After the last round the spool is drained and the mailboxes are counted.

Two passes: BENCH_POWERLOSS_ROUNDS (30) rounds on a data dir made durably
beforehand (as a package does), then BENCH_POWERLOSS_FRESH_ROUNDS (5) on a
data dir Postern makes itself (`postern user add` on an empty place).
BENCH_POWERLOSS_SEED repeats a run. Needs /dev/fuse, python3-fusepy and
fuse3 (scripts/deps.sh --test)."""
import os
import random
import shutil
import sys
import tempfile
import time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "tests", "integration"))
os.environ.setdefault("POSTERN_BIN", os.path.join(here, "..", "build", "postern"))
from support import powerloss  # noqa: E402
from support.powerloss_rounds import Rounds  # noqa: E402

ROUNDS = int(os.environ.get("BENCH_POWERLOSS_ROUNDS", "30"))
FRESH_ROUNDS = int(os.environ.get("BENCH_POWERLOSS_FRESH_ROUNDS", "5"))
SESSIONS = int(os.environ.get("BENCH_POWERLOSS_SESSIONS", "8"))
SEED = int(os.environ.get("BENCH_POWERLOSS_SEED", str(random.randrange(1 << 32))))


def one_pass(name, rounds, fresh, seed):
    scratch = tempfile.mkdtemp(prefix=f"powerloss-{name}.", dir=os.environ.get("BENCH_TMP"))
    rig = powerloss.PowerLossMount(scratch)
    runner = None
    try:
        rig.mount()
        runner = Rounds(rig, scratch, seed, sessions=SESSIONS, acks_per_round=(5, 40), fresh=fresh)
        started = time.monotonic()
        c = runner.run(rounds)
        c["seconds"] = time.monotonic() - started
        return c
    finally:
        if runner is not None:
            runner.close()
        rig.close()
        shutil.rmtree(scratch, ignore_errors=True)


def main():
    reason = powerloss.unusable_reason()
    if reason:
        print(f"powerloss: skipped: {reason}")
        return 0
    print(f"power loss: {os.environ['POSTERN_BIN']}, {SESSIONS} sessions, seed {SEED} "
          f"(BENCH_POWERLOSS_SEED={SEED} repeats it)")
    print(f"{'data dir':<10} {'rounds':>6} {'acknowledged':>12} {'lost':>6} {'duplicated':>10} {'torn':>5} "
          f"{'unacked kept':>12} {'refused':>7} {'AUTH failed':>11} {'spool left':>10} {'seconds':>8}")
    bad = False
    for name, rounds, fresh in (("installed", ROUNDS, False), ("fresh", FRESH_ROUNDS, True)):
        if rounds <= 0:
            continue
        c = one_pass(name, rounds, fresh, SEED)
        print(f"{name:<10} {c['rounds']:>6} {c['acknowledged']:>12} {c['lost']:>6} {c['duplicated']:>10} "
              f"{c['torn']:>5} {c['unacknowledged_kept']:>12} {c['refused']:>7} {c['auth_failures']:>11} "
              f"{c['spool_left']:>10} {c['seconds']:>8.1f}")
        lost, doubled = c["by_path"]["lost"], c["by_path"]["duplicated"]
        print(f"  by path: lost {lost['direct']} delivered before their 250 + {lost['spooled']} spooled; "
              f"messages with more than one copy {doubled['direct']} + {doubled['spooled']}")
        for what, examples in c["examples"].items():
            if examples:
                print(f"  {what}, for example: {examples}")
        bad = bad or any(c[k] for k in ("lost", "duplicated", "torn", "refused", "auth_failures", "spool_left"))
    # A benchmark reports; it fails only when it could not run.
    print("power loss: " + ("acknowledged messages were lost, repeated or torn" if bad else "nothing lost or repeated"))
    return 0


if __name__ == "__main__":
    sys.exit(main())
