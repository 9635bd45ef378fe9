"""Shared pieces for integration tests: start build/postern on free loopback
ports with its own data directory, talk to it, stop it by PID.

Every test drives the real binary (POSTERN_BIN) over real sockets. Nothing
here knows the server's internals; it only writes a config file, runs
commands and reads what a user would see (replies, files, exit codes).
"""
import os
import shutil
import signal
import socket
import subprocess
import time
import unittest

from support.processes import stop_process
from support.scratch import scratch_dir

POSTERN = os.environ.get("POSTERN_BIN") or os.path.join(
    os.path.dirname(__file__), "..", "..", "build-test", "postern")


def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=20.0, interval=0.05):
    """Polls `predicate` until it returns something true or `timeout` passes;
    returns its last value. Tests wait for conditions, never for luck."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        v = predicate()
        if v:
            return v
        time.sleep(interval)
    return predicate()


def wait_for_port(host, port, timeout=20.0, proc=None):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"postern exited early with {proc.returncode}")
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)
    raise TimeoutError(f"nothing listening on {host}:{port}")


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {toml_value(x)}' for k, x in v.items()) + " }"
    raise TypeError(v)


def render_toml(config):
    """config: dict of top-level keys, tables (dict) and `listener` (list of dicts)."""
    out = []
    for k, v in config.items():
        if not isinstance(v, dict) and k != "listener":
            out.append(f"{k} = {toml_value(v)}")
    for k, v in config.items():
        if isinstance(v, dict):
            out.append(f"\n[{k}]")
            for kk, vv in v.items():
                out.append(f"{kk} = {toml_value(vv)}")
    for listener in config.get("listener", []):
        out.append("\n[[listener]]")
        for kk, vv in listener.items():
            out.append(f"{kk} = {toml_value(vv)}")
    return "\n".join(out) + "\n"


def run(*args, input=None, env=None, timeout=60, check=False):
    """Runs `postern ARGS...`; returns CompletedProcess with text output."""
    e = dict(os.environ)
    if env:
        e.update(env)
    return subprocess.run([POSTERN, *args], input=input, capture_output=True, text=True,
                          env=e, timeout=timeout, check=check)


class Server:
    """A `postern serve` on free loopback ports.

    mx / submission / smtps are (host, port) of the listeners created.
    Extra config keys are merged over the base; tables merge key by key.
    """

    def __init__(self, data_dir=None, listeners=("mx", "submission"), extra=None, tls_mx="starttls",
                 env=None):
        self.owns_dir = data_dir is None
        self.data_dir = data_dir or scratch_dir("postern-it-")
        self.config_path = os.path.join(self.data_dir, "postern.toml")
        self.ports = {}
        config = {
            "hostname": "mx.example.org",
            "data_dir": self.data_dir,
            "local_domains": ["example.org", "example.net"],
            "greylist": {"enabled": False},
            "listener": [],
        }
        for role in listeners:
            port = free_port()
            self.ports[role] = ("127.0.0.1", port)
            tls = {"mx": tls_mx, "submission": "starttls", "smtps": "implicit"}[role]
            config["listener"].append({"address": f"127.0.0.1:{port}",
                                       "role": "submission" if role != "mx" else "mx",
                                       "tls": tls})
        for k, v in (extra or {}).items():
            if isinstance(v, dict) and isinstance(config.get(k), dict):
                config[k].update(v)
            else:
                config[k] = v
        self.config = config
        self.env = env or {}
        self.command_prefix = []  # e.g. ["strace", "-f", "-o", FILE]: runs the server under it
        self.proc = None
        self.log_path = os.path.join(self.data_dir, "server.log")

    @property
    def mx(self):
        return self.ports["mx"]

    @property
    def submission(self):
        return self.ports["submission"]

    def write_config(self):
        with open(self.config_path, "w") as f:
            f.write(render_toml(self.config))

    def start(self):
        self.write_config()
        e = dict(os.environ)
        e.update(self.env)
        self.log = open(self.log_path, "ab")
        listens_before = self.log_text().count("event=listen ")
        self.proc = subprocess.Popen([*self.command_prefix, POSTERN, "serve", "--config", self.config_path],
                                     stdout=self.log, stderr=self.log, env=e)
        for host, port in self.ports.values():
            wait_for_port(host, port, proc=self.proc)
        # A port accepts as soon as it listens; start-up (privilege drop,
        # spool recovery, delivery) is over once every listener is logged.
        want = listens_before + len(self.config["listener"])
        if not wait_for(lambda: self.proc.poll() is not None or self.log_text().count("event=listen ") >= want,
                        timeout=20):
            raise TimeoutError("postern did not finish starting")
        if self.proc.poll() is not None:
            raise RuntimeError(f"postern exited early with {self.proc.returncode}")
        return self

    def cli(self, *args, **kw):
        """Runs an admin subcommand against this server's config and data."""
        return run(*args, "--config", self.config_path, **kw)

    def sessions_ended(self):
        """True once every session the server started has ended (per its log)."""
        text = self.log_text()
        return text.count("event=connect ") == text.count("event=disconnect ")

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stop(self, sig=signal.SIGTERM, timeout=40):
        if self.proc is None:
            return None
        rc = stop_process(self.proc, timeout=timeout, sig=sig)
        self.proc = None
        self.log.close()
        return rc

    def kill9(self):
        return self.stop(sig=signal.SIGKILL)

    def cleanup(self):
        self.stop()
        if self.owns_dir:
            shutil.rmtree(self.data_dir, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.cleanup()

    def maildir(self, address):
        local, domain = address.rsplit("@", 1)
        return os.path.join(self.data_dir, "mail", domain.lower(), local)

    def delivered(self, address, timeout=10.0, count=1):
        """Waits until `count` messages are in the Maildir's new/; returns their bytes, oldest first."""
        new = os.path.join(self.maildir(address), "new")
        deadline = time.monotonic() + timeout
        while True:
            names = sorted(os.listdir(new)) if os.path.isdir(new) else []
            if len(names) >= count or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        out = []
        for n in sorted(names, key=lambda n: os.stat(os.path.join(new, n)).st_mtime_ns):
            with open(os.path.join(new, n), "rb") as f:
                out.append(f.read())
        return out


class RawSMTP:
    """A raw socket SMTP conversation: send bytes, read complete replies."""

    def __init__(self, host, port, timeout=10.0, source=None):
        self.sock = socket.create_connection((host, port), timeout=timeout,
                                             source_address=(source, 0) if source else None)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("connection closed; pending: %r" % self.buf)
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def reply(self):
        """Returns (code, [lines]) of one complete reply."""
        lines = []
        while True:
            l = self.line()
            lines.append(l)
            if len(l) < 4 or l[3] == " ":
                return int(l[:3]), lines

    def cmd(self, command):
        self.send(command + "\r\n")
        return self.reply()

    def closed(self, timeout=5.0):
        """True when the server closes the connection (after any pending bytes)."""
        self.sock.settimeout(timeout)
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    return True
                self.buf += chunk
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


class ServerTest(unittest.TestCase):
    """Base class: self.server is started before each test and stopped after."""
    server_kwargs = {}

    def setUp(self):
        self.server = Server(**self.server_kwargs).start()
        self.addCleanup(self.server.cleanup)
