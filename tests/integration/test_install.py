"""`make install` (SPEC §11) into a DESTDIR, checked file by file, the unit
checked by `systemd-analyze verify`, and the Type=notify protocol the unit
relies on: READY=1 once listening, RELOADING=1/READY=1 around SIGHUP,
STOPPING=1 on SIGTERM, read from a real NOTIFY_SOCKET."""
import os
import shutil
import signal
import socket
import stat
import subprocess
import tempfile
import unittest

from harness import POSTERN, Server, run

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))


class MakeInstall(unittest.TestCase):
    def setUp(self):
        self.dest = tempfile.mkdtemp(prefix="postern-install-")
        self.addCleanup(shutil.rmtree, self.dest, True)
        out = subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + self.dest, "PREFIX=/usr",
                              "BUILD=" + os.path.dirname(os.path.abspath(POSTERN))],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)

    def path(self, p):
        return os.path.join(self.dest, p.lstrip("/"))

    def test_every_file(self):
        binary = self.path("/usr/bin/postern")
        self.assertTrue(os.access(binary, os.X_OK))
        self.assertEqual(stat.S_IMODE(os.stat(binary).st_mode), 0o755)
        self.assertEqual(os.readlink(self.path("/usr/sbin/sendmail")), "/usr/bin/postern")
        self.assertEqual(os.readlink(self.path("/usr/bin/mailq")), "/usr/bin/postern")
        with open(self.path("/lib/systemd/system/postern.service")) as f:
            unit = f.read()
        self.assertIn("Type=notify", unit)
        self.assertIn("ExecStart=/usr/bin/postern serve --config /etc/postern/postern.toml", unit)
        self.assertIn("ExecReload=/bin/kill -HUP $MAINPID", unit)
        for option in ("ProtectSystem=strict", "NoNewPrivileges=yes", "ReadWritePaths=/var/lib/postern"):
            self.assertIn(option, unit)
        config = self.path("/etc/postern/postern.toml")
        self.assertEqual(stat.S_IMODE(os.stat(config).st_mode), 0o640)
        self.assertTrue(os.path.exists(self.path("/usr/share/doc/postern/postern.toml.example")))
        # The example is a valid configuration (once its `user` exists; the
        # test machine has no "postern" user, so a copy names "nobody").
        copy = os.path.join(self.dest, "check.toml")
        with open(config) as f, open(copy, "w") as out:
            out.write(f.read().replace('user = "postern"', 'user = "nobody"'))
        checked = run("check-config", "--config", copy)
        self.assertEqual(checked.returncode, 0, checked.stderr)
        self.assertIn('local_domains = ["example.org"]', checked.stdout)

    def test_an_existing_configuration_is_kept(self):
        config = self.path("/etc/postern/postern.toml")
        with open(config, "w") as f:
            f.write("# mine\n")
        out = subprocess.run(["make", "-s", "-C", ROOT, "install", "DESTDIR=" + self.dest, "PREFIX=/usr",
                              "BUILD=" + os.path.dirname(os.path.abspath(POSTERN))],
                             capture_output=True, text=True, timeout=300)
        self.assertEqual(out.returncode, 0, out.stderr)
        with open(config) as f:
            self.assertEqual(f.read(), "# mine\n")

    @unittest.skipUnless(shutil.which("systemd-analyze"), "systemd-analyze is part of Debian's systemd")
    def test_systemd_analyze_verify(self):
        # The unit as installed, its ExecStart pointed at the binary in DESTDIR
        # (verify checks that the command exists on this system).
        with open(self.path("/lib/systemd/system/postern.service")) as f:
            unit = f.read()
        units = tempfile.mkdtemp(prefix="postern-unit-")
        self.addCleanup(shutil.rmtree, units, True)
        copy = os.path.join(units, "postern.service")
        with open(copy, "w") as f:
            f.write(unit.replace("ExecStart=/usr/bin/postern", "ExecStart=" + self.path("/usr/bin/postern")))
        out = subprocess.run(["systemd-analyze", "verify", copy], capture_output=True, text=True, timeout=120)
        problems = [l for l in (out.stdout + out.stderr).splitlines() if "postern.service" in l]
        self.assertEqual(problems, [])
        self.assertEqual(out.returncode, 0, out.stdout + out.stderr)


class Notify(unittest.TestCase):
    def test_ready_reloading_stopping(self):
        d = tempfile.mkdtemp(prefix="postern-notify-")
        self.addCleanup(shutil.rmtree, d, True)
        path = os.path.join(d, "notify.sock")
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        sock.bind(path)
        sock.settimeout(30)
        self.addCleanup(sock.close)
        server = Server(listeners=("mx",), env={"NOTIFY_SOCKET": path})
        server.start()
        self.addCleanup(server.cleanup)
        ready = sock.recv(4096).decode()
        self.assertIn("READY=1", ready)
        server.proc.send_signal(signal.SIGHUP)
        reloading = sock.recv(4096).decode()
        self.assertIn("RELOADING=1", reloading)
        self.assertRegex(reloading, r"MONOTONIC_USEC=\d+")
        self.assertEqual(sock.recv(4096).decode(), "READY=1")
        server.proc.send_signal(signal.SIGTERM)
        self.assertEqual(sock.recv(4096).decode(), "STOPPING=1")
        self.assertEqual(server.proc.wait(timeout=40), 0)


if __name__ == "__main__":
    unittest.main()
