"""`postern check-config` through the real binary: good files print the
effective configuration and exit 0; every kind of bad key or value exits 78
with "postern: FILE:LINE: KEY: MESSAGE" on stderr; --config, ./postern.toml
and --data-dir are found the way SPEC §2 says. Also checks that a harness
config (what every other integration test writes) loads.
"""
import concurrent.futures
import os
import re
import shutil
import tempfile
import unittest

import subprocess

import harness


def run_in(cwd, *args):
    """Runs `postern ARGS...` in directory cwd (for ./postern.toml discovery)."""
    return subprocess.run([harness.POSTERN, *args], cwd=cwd, capture_output=True, text=True, timeout=60)


class CheckConfigTest(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp(prefix="postern-config-it-")
        self.addCleanup(shutil.rmtree, self.dir, True)

    def write(self, text, name="postern.toml"):
        path = os.path.join(self.dir, name)
        os.makedirs(os.path.dirname(path), exist_ok=True)
        with open(path, "w") as f:
            f.write(text)
        return path

    def check(self, text, *extra):
        path = self.write(text)
        return harness.run("check-config", "--config", path, *extra), path

    def effective(self, stdout):
        """Parses the printed TOML (stdlib tomllib when present, else python3-toml)."""
        try:
            import tomllib
            return tomllib.loads(stdout)
        except ImportError:
            import toml
            return toml.loads(stdout)

    def test_good_file_prints_effective_config(self):
        r, _ = self.check(
            'hostname = "mx.example.org"\n'
            'data_dir = "state"\n'
            'local_domains = ["Example.ORG"]\n'
            '[[listener]]\naddress = "[::1]:2525"\nrole = "mx"\n'
            '[[listener]]\naddress = "127.0.0.1:2465"\nrole = "submission"\ntls = "implicit"\n'
            '[limits]\nmax_message_size = "10M"\ncommand_timeout = 90\n'
            '[greylist]\nallow = ["192.0.2.0/24", "rcpt:postmaster@example.org"]\n'
            '[relay]\nroutes = { "example.com" = "127.0.0.1:2526" }\n')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")
        c = self.effective(r.stdout)
        self.assertEqual(c["hostname"], "mx.example.org")
        self.assertEqual(c["data_dir"], os.path.join(self.dir, "state"))
        self.assertEqual(c["local_domains"], ["example.org"])
        self.assertEqual(c["postmaster"], "postmaster@example.org")
        self.assertEqual([(l["address"], l["role"], l["tls"]) for l in c["listener"]],
                         [("[::1]:2525", "mx", "starttls"), ("127.0.0.1:2465", "submission", "implicit")])
        self.assertEqual(c["tls"]["cert"], os.path.join(self.dir, "state", "tls", "cert.pem"))
        self.assertEqual(c["limits"]["max_message_size"], "10M")
        self.assertEqual(c["limits"]["command_timeout"], "90s")
        self.assertEqual(c["limits"]["max_recipients"], 100)  # a default, shown too
        self.assertEqual(c["relay"]["routes"], {"example.com": "127.0.0.1:2526"})
        # The effective config is itself a valid config that means the same.
        again = self.write(r.stdout, "again.toml")
        r2 = harness.run("check-config", "--config", again)
        self.assertEqual(r2.returncode, 0, r2.stderr)
        self.assertEqual(r2.stdout.split("\n", 1)[1], r.stdout.split("\n", 1)[1])

    def test_quiet(self):
        r, _ = self.check('hostname = "mx.example.org"\n', "--quiet")
        self.assertEqual((r.returncode, r.stdout, r.stderr), (0, "", ""))

    def test_defaults_without_config(self):
        r = run_in(self.dir, "check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        c = self.effective(r.stdout)
        self.assertEqual(c["data_dir"], os.path.join(self.dir, "postern-data"))
        self.assertEqual(c["local_domains"], ["localhost"])
        self.assertEqual([(l["address"], l["role"], l["tls"]) for l in c["listener"]],
                         [("127.0.0.1:2525", "mx", "starttls"), ("127.0.0.1:2587", "submission", "starttls")])
        self.assertTrue(c["greylist"]["enabled"])
        self.assertEqual(c["greylist"]["store"], "sqlite")
        self.assertEqual(r.stdout.splitlines()[0], "# Effective configuration (embedded defaults)")

    def test_an_unknown_system_user_names_its_line(self):
        r, path = self.check('hostname = "x.example"\n\nuser = "no-such-system-user"\n')
        self.assertEqual(r.returncode, 78)
        self.assertIn(path + ':3: user: no such user "no-such-system-user" on this system', r.stderr)

    def test_files_the_configuration_names_must_be_readable(self):
        base = 'hostname = "x.example"\ndata_dir = "%s"\n' % os.path.join(self.dir, "data")
        missing = os.path.join(self.dir, "letsencrypt", "live", "x.example")
        for table, key, value in (("tls", "cert", missing + "/fullchain.pem"),
                                  ("auth", "oauth_introspection_ca", "/nonexistent-ca-dir/ca.pem"),
                                  ("auth", "oauth_client_secret_file", os.path.join(self.dir, "no-secret")),
                                  ("relay", "smarthost_password_file", os.path.join(self.dir, "no-password"))):
            if table == "relay":
                value += '"\nsmarthost = "relay.example:587"\nsmarthost_user = "u'
            with self.subTest(key=key):
                extra = '\nkey = "%s/privkey.pem"\n' % missing if key == "cert" else "\n"
                r, _ = self.check(base + '[%s]\n%s = "%s"%s' % (table, key, value, extra))
                self.assertEqual(r.returncode, 78, r.stderr)
                self.assertIn("[%s] %s: cannot read it (no such file)" % (table, key), r.stderr)
        self.assertFalse(os.path.exists("/nonexistent-ca-dir"))

    def test_serve_refuses_a_named_certificate_that_is_missing(self):
        # A mistyped path is an error, not a place to generate a certificate.
        missing = os.path.join(self.dir, "letsencrypt", "live", "x.example")
        path = self.write('hostname = "x.example"\ndata_dir = "%s"\n[[listener]]\naddress = "127.0.0.1:%d"\n'
                          'role = "submission"\n[tls]\ncert = "%s/fullchain.pem"\nkey = "%s/privkey.pem"\n'
                          % (os.path.join(self.dir, "data"), harness.free_port(), missing, missing))
        r = harness.run("serve", "--config", path, timeout=30)
        self.assertEqual(r.returncode, 78, r.stdout + r.stderr)
        self.assertIn(missing + "/fullchain.pem does not exist", r.stderr)
        self.assertFalse(os.path.exists(os.path.join(self.dir, "letsencrypt")))

    def test_an_unknown_command_is_named(self):
        r = harness.run("bogus")
        self.assertEqual(r.returncode, 64)
        self.assertIn('unknown command "bogus"', r.stderr)
        r = harness.run("user", "frob", "x@example.org")
        self.assertEqual(r.returncode, 64)
        self.assertIn('unknown command "user frob" (see postern user --help)', r.stderr)

    def test_postern_toml_in_current_directory_is_used(self):
        self.write('local_domains = ["example.net"]\n')
        r = run_in(self.dir, "check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.effective(r.stdout)["local_domains"], ["example.net"])
        self.write('bogus = 1\n')
        r = run_in(self.dir, "check-config")
        self.assertEqual(r.returncode, 78)
        self.assertEqual(r.stderr.strip(), "postern: postern.toml:1: bogus: unknown key")

    def test_data_dir_option_wins(self):
        r, _ = self.check('data_dir = "/nonexistent/state"\n', "--data-dir", os.path.join(self.dir, "other"))
        self.assertEqual(r.returncode, 0, r.stderr)
        c = self.effective(r.stdout)
        self.assertEqual(c["data_dir"], os.path.join(self.dir, "other"))
        self.assertEqual(c["tls"]["key"], os.path.join(self.dir, "other", "tls", "key.pem"))

    def test_missing_file(self):
        path = os.path.join(self.dir, "nope.toml")
        r = harness.run("check-config", "--config", path)
        self.assertEqual(r.returncode, 78)
        self.assertEqual(r.stderr.strip(), f"postern: {path}: cannot read: No such file or directory")

    def test_harness_config_loads(self):
        server = harness.Server(extra={"greylist": {"delay": "2s"}})
        self.addCleanup(server.cleanup)
        server.write_config()
        r = server.cli("check-config")
        self.assertEqual(r.returncode, 0, r.stderr)
        c = self.effective(r.stdout)
        self.assertEqual(c["greylist"]["delay"], "2s")
        self.assertFalse(c["greylist"]["enabled"])

    # (name, file text, line, dotted key, part of the message)
    BAD = [
        ("syntax", 'hostname = "a"\ndata_dir =\n', 2, None, "TOML syntax"),
        ("duplicate key", 'hostname = "a.example"\nhostname = "b.example"\n', 2, None, "hostname"),
        ("unknown top-level key", 'hostname = "a.example"\nhost = "b"\n', 2, "host", "unknown key"),
        ("unknown table", '[limit]\nmax_errors = 5\n', 1, "limit", "unknown key"),
        ("unknown key in table", '[limits]\nmax_errors = 5\nmax_eror = 5\n', 3, "limits.max_eror", "unknown key"),
        ("unknown key in listener",
         '[[listener]]\naddress = "127.0.0.1:25"\nrole = "mx"\n[[listener]]\naddress = "127.0.0.1:26"\n'
         'role = "mx"\nport = 26\n', 7, "listener[2].port", "unknown key"),
        ("string not a table", 'limits = "none"\n', 1, "limits", "expected a table, got a string"),
        ("integer not a string", 'hostname = 42\n', 1, "hostname", "expected a string, got an integer"),
        ("string not an integer", '[limits]\nmax_recipients = "100"\n', 2, "limits.max_recipients",
         "expected an integer, got a string"),
        ("float not an integer", '[limits]\nmax_errors = 2.5\n', 2, "limits.max_errors",
         "expected an integer, got a floating-point number"),
        ("integer not a boolean", '[greylist]\nenabled = 1\n', 2, "greylist.enabled", "expected a boolean"),
        ("string not an array", 'local_domains = "example.org"\n', 1, "local_domains",
         "expected an array of strings, got a string"),
        ("array element type", 'local_domains = [\n "example.org",\n 7,\n]\n', 3, "local_domains",
         "element 2: expected a string, got an integer"),
        ("date not a duration", '[queue]\nlifetime = 2024-01-01\n', 2, "queue.lifetime", "got a date"),
        ("integer out of range", '[limits]\nmax_recipients = 0\n', 2, "limits.max_recipients", "out of range"),
        ("negative integer", '[greylist]\nauto_allow_after = -1\n', 2, "greylist.auto_allow_after", "out of range"),
        ("duration unit", '[limits]\ncommand_timeout = "5 minutes"\n', 2, "limits.command_timeout",
         'unknown unit " minutes"'),
        ("duration unit M", '[limits]\ndata_timeout = "10M"\n', 2, "limits.data_timeout", 'unknown unit "M"'),
        ("duration fraction", '[greylist]\ndelay = "1.5m"\n', 2, "greylist.delay", 'unknown unit ".5m"'),
        ("duration empty", '[greylist]\ndelay = ""\n', 2, "greylist.delay", "empty"),
        ("duration negative", '[greylist]\ndelay = -5\n', 2, "greylist.delay", "cannot be negative"),
        ("duration zero timeout", '[limits]\ncommand_timeout = "0s"\n', 2, "limits.command_timeout",
         "must be at least 1s"),
        ("duration huge", '[queue]\nlifetime = "100000d"\n', 2, "queue.lifetime", "longer than 3650d"),
        ("size unit", '[limits]\nmax_message_size = "25MB"\n', 2, "limits.max_message_size", 'unknown unit "MB"'),
        ("size no number", '[limits]\nmax_message_size = "M"\n', 2, "limits.max_message_size", "expected a number"),
        ("size too small", '[limits]\nmax_message_size = 10\n', 2, "limits.max_message_size", "at least 1K"),
        ("size huge", '[limits]\nmax_message_size = "2048G"\n', 2, "limits.max_message_size", "larger than 1024G"),
        ("listener as table", '[listener]\naddress = "127.0.0.1:25"\n', 1, "listener", "[[listener]]"),
        ("listener without address", '[[listener]]\nrole = "mx"\n', 1, "listener[1].address", "missing"),
        ("listener without role", '[[listener]]\naddress = "127.0.0.1:25"\n', 1, "listener[1].role", "missing"),
        ("listener port range", '[[listener]]\naddress = "127.0.0.1:65536"\nrole = "mx"\n', 2,
         "listener[1].address", "out of range"),
        ("listener port zero", '[[listener]]\naddress = "127.0.0.1:0"\nrole = "mx"\n', 2,
         "listener[1].address", "out of range"),
        ("listener no port", '[[listener]]\naddress = "127.0.0.1"\nrole = "mx"\n', 2,
         "listener[1].address", "and a port"),
        ("listener ipv6 brackets", '[[listener]]\naddress = "::1:25"\nrole = "mx"\n', 2,
         "listener[1].address", "in brackets"),
        ("listener host name", '[[listener]]\naddress = "localhost:25"\nrole = "mx"\n', 2,
         "listener[1].address", "not an IP address"),
        ("listener role", '[[listener]]\naddress = "127.0.0.1:25"\nrole = "relay"\n', 3,
         "listener[1].role", 'expected "mx" or "submission"'),
        ("listener tls", '[[listener]]\naddress = "127.0.0.1:25"\nrole = "mx"\ntls = "ssl"\n', 4,
         "listener[1].tls", 'expected "none", "starttls" or "implicit"'),
        ("listener twice", '[[listener]]\naddress = "127.0.0.1:25"\nrole = "mx"\n'
         '[[listener]]\naddress = "127.0.0.1:25"\nrole = "submission"\n', 5, "listener[2].address", "already used"),
        ("mechanism unknown", '[auth]\nmechanisms = ["SCRAM-SHA-256", "DIGEST-MD5"]\n', 2, "auth.mechanisms",
         '"DIGEST-MD5" is not a known mechanism'),
        ("mechanism twice", '[auth]\nmechanisms = ["PLAIN", "plain"]\n', 2, "auth.mechanisms", "listed twice"),
        ("no mechanisms with submission", '[auth]\nmechanisms = []\n', 2, "auth.mechanisms", "requires AUTH"),
        ("greylist store", '[greylist]\nstore = "postgres://x"\n', 2, "greylist.store",
         'expected "sqlite" or "redis://HOST:PORT/DB"'),
        ("greylist redis port", '[greylist]\nstore = "redis://127.0.0.1:99999/0"\n', 2, "greylist.store",
         "out of range"),
        ("greylist allow cidr", '[greylist]\nallow = ["10.0.0.0/33"]\n', 2, "greylist.allow", "prefix length"),
        ("greylist allow domain", '[greylist]\nallow = ["*.example.net"]\n', 2, "greylist.allow", "expected a CIDR"),
        ("greylist allow rcpt", '[greylist]\nallow = ["rcpt:bob@"]\n', 2, "greylist.allow", "rcpt:user@"),
        ("greylist prefix", '[greylist]\nipv6_prefix = 129\n', 2, "greylist.ipv6_prefix", "out of range"),
        ("greylist windows", '[greylist]\ndelay = "3d"\n', 2, "greylist.retry_window", "longer than greylist.delay"),
        ("local domain", 'local_domains = ["exa mple.org"]\n', 1, "local_domains", "not a domain name"),
        ("hostname", 'hostname = "-mx.example.org"\n', 1, "hostname", "not a host name"),
        ("mailbox format", 'mailbox_format = "mh"\n', 1, "mailbox_format", 'expected "maildir" or "mbox"'),
        ("mailbox path", 'mailbox_path = "mail/{domain}"\n', 1, "mailbox_path", "{localpart}"),
        ("postmaster", 'postmaster = "root"\n', 1, "postmaster", "expected an address"),
        ("user name", 'user = "no body"\n', 1, "user", "not a user name"),
        ("queue backoff", '[queue]\nretry_initial = "2h"\nretry_max = "1h"\n', 3, "queue.retry_max",
         "queue.retry_initial"),
        ("delay warning", '[queue]\ndelay_warning = "6d"\n', 2, "queue.delay_warning", "shorter than queue.lifetime"),
        ("smarthost port", '[relay]\nsmarthost = "smtp.example.net:smtp"\n', 2, "relay.smarthost", "not a number"),
        ("smarthost user without file", '[relay]\nsmarthost = "smtp.example.net"\nsmarthost_user = "u"\n', 3,
         "relay.smarthost_user", "smarthost_password_file"),
        ("route domain", '[relay.routes]\n"bad domain" = "10.0.0.1:25"\n', 2, 'relay.routes."bad domain"',
         "not a domain name"),
        ("route target", '[relay]\nroutes = { "example.com" = "[::1:25" }\n', 2, 'relay.routes."example.com"',
         "missing ']'"),
        ("dns server name", '[relay]\ndns_servers = ["dns.example.net"]\n', 2, "relay.dns_servers",
         "not an IP address"),
        ("log format", '[log]\nformat = "syslog"\n', 2, "log.format", 'expected "text" or "json"'),
        ("connections per ip", '[limits]\nmax_connections = 5\n', 2, "limits.max_connections_per_ip",
         "must not exceed limits.max_connections"),
    ]

    def test_every_bad_key_exits_78_naming_file_line_and_key(self):
        def attempt(i, text):
            path = self.write(text, f"bad{i}.toml")
            return harness.run("check-config", "--config", path), path
        # The cases are independent processes: run a few at once to keep the file quick.
        with concurrent.futures.ThreadPoolExecutor(max_workers=4) as pool:
            results = list(pool.map(attempt, range(len(self.BAD)), [case[1] for case in self.BAD]))
        for (name, text, line, key, part), (r, path) in zip(self.BAD, results):
            with self.subTest(name):
                self.assertEqual(r.returncode, 78, f"{name}: stdout={r.stdout!r} stderr={r.stderr!r}")
                self.assertEqual(r.stdout, "")
                err = r.stderr.strip()
                self.assertEqual(len(err.splitlines()), 1, err)
                prefix = f"postern: {path}:{line}: " + (f"{key}: " if key else "")
                self.assertTrue(err.startswith(prefix), f"{name}: got {err!r}, want it to start with {prefix!r}")
                self.assertIn(part, err)


if __name__ == "__main__":
    unittest.main()
