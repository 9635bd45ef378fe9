"""The disk's own bounds for a durable 4 KiB message, printed beside the
throughput figures so each can be read against what the hardware allows:
  * a durable Maildir delivery one at a time: new file, write, fsync,
    rename into new/, fsync new/ (what a per-message design pays);
  * a group-committed append: 32 messages per write + fdatasync (what the
    journal pays per message at best).
Usage: disk_bounds.py SCRATCH_DIR"""
import os
import sys
import time

SIZE = 4096


def durable_one_at_a_time(root, n=300):
    tmp, new = os.path.join(root, "tmp"), os.path.join(root, "new")
    os.makedirs(tmp)
    os.makedirs(new)
    data = b"x" * SIZE
    start = time.monotonic()
    for i in range(n):
        path = os.path.join(tmp, str(i))
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        os.write(fd, data)
        os.fsync(fd)
        os.close(fd)
        os.rename(path, os.path.join(new, str(i)))
        dfd = os.open(new, os.O_RDONLY)
        os.fsync(dfd)
        os.close(dfd)
    return n / (time.monotonic() - start)


def group_committed_append(root, batches=200, per_batch=32):
    fd = os.open(os.path.join(root, "journal"), os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    chunk = b"x" * (SIZE * per_batch)
    start = time.monotonic()
    for _ in range(batches):
        os.write(fd, chunk)
        os.fdatasync(fd)
    os.close(fd)
    return batches * per_batch / (time.monotonic() - start)


def main():
    root = sys.argv[1]
    os.makedirs(root, exist_ok=True)
    one = durable_one_at_a_time(os.path.join(root, "maildir"))
    group = group_committed_append(root)
    print(f"  durable Maildir file one at a time (fsync file + new/): {one:10.1f} msg/s")
    print(f"  group-committed append (32 x 4 KiB per fdatasync):      {group:10.1f} msg/s")


if __name__ == "__main__":
    main()
