"""A noisy neighbour on the file system: buffered writes at a steady rate,
as a backup or a log shipper makes them (no O_DIRECT, no fsync: the kernel's
writeback flushes them, and a file-system-wide barrier such as syncfs(2)
waits for them).

Writes 1 MiB at a time, paced by the clock to MBPS (10^6 bytes/s), into
FILES files of FILE_MIB MiB each in DIR, in turn; a file is truncated when
its turn comes again, so the disk space used stays at most FILES x FILE_MIB.
A write that falls behind its slot (the kernel throttles a writer whose
dirty pages outrun the disk) is not made up for by a burst of more than
a quarter of a second. Runs until SIGTERM or SIGINT, then prints the rate
it achieved on stdout, removes its files and exits 0.

Usage: neighbour.py DIR [--mbps 200] [--files 4] [--file-mib 512]
Standard library only; the benches start it in the background and stop it by PID."""
import argparse
import os
import signal
import sys
import time

CHUNK = 1 << 20


class Stop(Exception):
    pass


def _stop(*_):
    raise Stop()


def run(directory, mbps, files, file_mib):
    paths = [os.path.join(directory, f"neighbour.{i}") for i in range(files)]
    chunk = os.urandom(CHUNK)
    interval = CHUNK / (mbps * 1e6)
    written = 0
    start = time.monotonic()
    due = start
    fd = -1
    try:
        os.makedirs(directory, exist_ok=True)
        turn = 0
        while True:
            fd = os.open(paths[turn % files], os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
            for _ in range(file_mib):
                now = time.monotonic()
                if due > now:
                    time.sleep(due - now)
                elif now - due > 0.25:
                    due = now - 0.25
                view = memoryview(chunk)
                while view:
                    view = view[os.write(fd, view):]
                written += CHUNK
                due += interval
            os.close(fd)
            fd = -1
            turn += 1
    except Stop:
        pass
    finally:
        if fd >= 0:
            os.close(fd)
    elapsed = time.monotonic() - start
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
    return written, elapsed


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("dir")
    ap.add_argument("--mbps", type=float, default=200)
    ap.add_argument("--files", type=int, default=4)
    ap.add_argument("--file-mib", type=int, default=512)
    args = ap.parse_args()
    if args.mbps <= 0 or args.files < 1 or args.file_mib < 1:
        sys.exit("neighbour: --mbps, --files and --file-mib must be positive")
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGINT, _stop)
    written, elapsed = run(args.dir, args.mbps, args.files, args.file_mib)
    achieved = written / 1e6 / elapsed if elapsed > 0 else 0.0
    print(f"{achieved:.1f} MB/s achieved of {args.mbps:g} asked, {written / 1e6:.0f} MB buffered in {elapsed:.1f} s",
          flush=True)


if __name__ == "__main__":
    main()
