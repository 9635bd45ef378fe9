"""Shared by the Python bench scripts: start and stop `postern serve` on a
free loopback port with its own data directory (under BENCH_TMP), by PID.
bench/run exports POSTERN_BIN and BENCH_TMP."""
import os
import signal
import socket
import subprocess
import tempfile
import time

POSTERN = os.environ["POSTERN_BIN"]
TMP = os.environ["BENCH_TMP"]


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def workdir(name):
    return tempfile.mkdtemp(prefix=name + ".", dir=TMP)


def cpu_seconds(pid, children=False):
    """User + system CPU time of a process so far (with `children`, also of
    the children it has reaped), from /proc/PID/stat."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    ticks = int(fields[11]) + int(fields[12])
    if children:
        ticks += int(fields[13]) + int(fields[14])
    return ticks / os.sysconf("SC_CLK_TCK")


def rss_kib(pid, field="VmRSS"):
    """VmRSS (or VmHWM, ...) of a process in KiB, from /proc."""
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    raise RuntimeError(f"{field} not in /proc/{pid}/status")


class Postern:
    """`postern serve` with one mx listener (no TLS, greylisting off) plus extra TOML lines."""

    def __init__(self, name, extra_toml=""):
        self.dir = workdir(name)
        self.port = free_port()
        self.config = os.path.join(self.dir, "postern.toml")
        with open(self.config, "w") as f:
            f.write(f'hostname = "postern.bench.example"\n'
                    f'data_dir = "{self.dir}/data"\n'
                    f'local_domains = ["bench.example"]\n\n'
                    f'[[listener]]\naddress = "127.0.0.1:{self.port}"\nrole = "mx"\ntls = "none"\n\n'
                    f'[greylist]\nenabled = false\n' + extra_toml)
        self.proc = None

    def start(self):
        self.log = open(os.path.join(self.dir, "server.log"), "wb")
        self.proc = subprocess.Popen([POSTERN, "serve", "--config", self.config],
                                     stdout=self.log, stderr=self.log)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"postern exited with {self.proc.returncode}; see {self.dir}/server.log")
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.5).close()
                return self
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("postern did not start listening")

    def cli(self, *args, input=None):
        return subprocess.run([POSTERN, *args, "--config", self.config], input=input,
                              capture_output=True, text=True, timeout=60)

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None
        self.log.close()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


class Postfix:
    """A private Postfix instance (lib/postfix.sh) on a free loopback port;
    extra main.cf lines win over the defaults there."""

    def __init__(self, name, main_cf=()):
        self.dir = workdir(name)
        os.chmod(self.dir, 0o755)  # its daemons run as postfix and must reach their queue
        self.port = free_port()
        self.main_cf = list(main_cf)
        self.lib = os.environ["BENCH_LIB"]

    def _bash(self, script, check=True):
        return subprocess.run(["bash", "-c", f'source "{self.lib}/common.sh"; source "{self.lib}/postfix.sh"; ' + script],
                              check=check, capture_output=True, text=True)

    def start(self):
        quoted = " ".join("'" + line.replace("'", "'\\''") + "'" for line in self.main_cf)
        self._bash(f'postfix_private_start "{self.dir}" {self.port} {quoted}')
        return self

    def stop(self):
        self._bash(f'postfix_private_stop "{self.dir}"', check=False)

    def master_pid(self):
        with open(os.path.join(self.dir, "spool", "pid", "master.pid")) as f:
            return int(f.read().strip())

    def cpu_seconds(self):
        """CPU of the whole instance so far: the master with the children it
        reaped, plus its live children."""
        master = self.master_pid()
        total = cpu_seconds(master, children=True)
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open(f"/proc/{entry}/stat") as f:
                    ppid = int(f.read().rsplit(")", 1)[1].split()[1])
                if ppid == master:
                    total += cpu_seconds(int(entry))
            except (OSError, ValueError):
                pass
        return total

    def queue_count(self, queue):
        """Files in one of its queues ("deferred", "active", "incoming")."""
        n = 0
        for _, _, files in os.walk(os.path.join(self.dir, "spool", queue)):
            n += len(files)
        return n
