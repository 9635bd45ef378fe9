"""The power-loss rig (powerloss_fs.py) from a test's side: mount it on a
scratch directory, cut the power (unmount: only what was made durable
stays) and mount again, and unmount for good at the end, even on failure."""
import os
import subprocess
import sys
import time

from support.processes import stop_process

DAEMON = os.path.join(os.path.dirname(os.path.abspath(__file__)), "powerloss_fs.py")
# Debian's python3-fusepy is installed for Debian's python3.
PYTHON = "/usr/bin/python3" if os.path.exists("/usr/bin/python3") else sys.executable


def unusable_reason():
    """Why FUSE cannot be mounted here (a reason to skip), or None."""
    try:
        fd = os.open("/dev/fuse", os.O_RDWR)
    except OSError as e:
        return f"/dev/fuse is unusable here ({e.strerror}): the power-loss rig needs FUSE"
    os.close(fd)
    return None


def fusermount():
    for name in ("fusermount3", "fusermount"):
        for d in os.environ.get("PATH", "/usr/bin:/bin").split(":"):
            if os.access(os.path.join(d, name), os.X_OK):
                return os.path.join(d, name)
    raise RuntimeError("fusermount3 not found: install fuse3 (scripts/deps.sh --test)")


class PowerLossMount:
    """powerloss_fs.py on `<scratch>/mnt`, its durable image in
    `<scratch>/disk`, its log in `<scratch>/fs.log`."""

    def __init__(self, scratch, trace=False):
        self.mountpoint = os.path.join(scratch, "mnt")
        self.disk = os.path.join(scratch, "disk")
        self.log_path = os.path.join(scratch, "fs.log")
        os.makedirs(self.mountpoint, exist_ok=True)
        self.env = dict(os.environ, POWERLOSS_TRACE="1" if trace else "0")
        self.proc = None
        self.cuts = 0

    def path(self, *parts):
        return os.path.join(self.mountpoint, *parts)

    def log_text(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def mount(self, timeout=20):
        mounted_before = self.log_text().count("mounted\n")
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen([PYTHON, DAEMON, self.mountpoint, self.disk],
                                         stdout=log, stderr=log, env=self.env)
        deadline = time.monotonic() + timeout
        while self.log_text().count("mounted\n") <= mounted_before:
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.close()
                raise RuntimeError("the power-loss file system did not mount (it needs python3-fusepy and fuse3: "
                                   "scripts/deps.sh --test):\n" + self.log_text()[-2000:])
            time.sleep(0.02)
        return self

    def unmount(self, timeout=30):
        """The power cut: every process using the mount must be gone."""
        deadline = time.monotonic() + timeout
        while True:
            r = subprocess.run([fusermount(), "-u", self.mountpoint], capture_output=True, text=True)
            if r.returncode == 0:
                break
            # A process killed a moment ago may still be closing its files.
            if time.monotonic() > deadline:
                raise RuntimeError(f"cannot unmount {self.mountpoint}: {r.stderr.strip()}")
            time.sleep(0.05)
        try:
            rc = self.proc.wait(timeout=timeout)
        finally:
            proc, self.proc = self.proc, None
            stop_process(proc)
        if rc != 0 or not self.log_text().rstrip().splitlines()[-1].startswith("power cut:"):
            raise RuntimeError("the power-loss file system failed:\n" + self.log_text()[-2000:])

    def power_cut(self):
        """Drops every write not made durable (see powerloss_fs.py) and
        mounts what survived. Kill the processes using the mount first."""
        self.unmount()
        self.cuts += 1
        return self.mount()

    def control(self, command):
        with open(self.path(".powerloss"), "w") as f:
            f.write(command)

    def held(self):
        return "held fsync " in self.log_text()

    def close(self):
        """Unmounts whatever happens; safe to call twice."""
        if self.proc is not None and self.proc.poll() is None:
            try:
                self.control("drop-held")
            except OSError:
                pass
            try:
                self.unmount(timeout=10)
            except RuntimeError:
                pass
        if os.path.ismount(self.mountpoint):
            subprocess.run([fusermount(), "-u", "-z", self.mountpoint], capture_output=True)
        if self.proc is not None:
            stop_process(self.proc, timeout=5)
            self.proc = None

    def __enter__(self):
        return self.mount()

    def __exit__(self, *exc):
        self.close()
