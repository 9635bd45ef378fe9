"""What a hostile client, an operator's SIGHUP and a looping route do to
the real server: no client input ends the process, a reload reaches every
component, mail never loops, postmaster mail always ends somewhere,
secrets stay out of the log and out of other users' reach."""
import base64
import os
import signal
import smtplib
import socket
import stat
import tempfile
import unittest

import harness
from support.tls import tls_context
from harness import RawSMTP, Server, wait_for
from queue_peers import Dnsmasq, NextHop, add_user, submit

SENDER = "alice@example.org"


def reloaded(server, count):
    """True once the server has logged its `count`-th successful reload."""
    return server.log_text().count("event=reload ") >= count


class NoLocalDomains(unittest.TestCase):
    """A pure relay (local_domains = []): bare <postmaster> used to crash the server."""

    def test_postmaster_rcpt_does_not_crash(self):
        server = Server(extra={"local_domains": [], "postmaster": "admin@example.net"}).start()
        self.addCleanup(server.cleanup)
        s = RawSMTP(*server.mx)
        self.addCleanup(s.close)
        self.assertEqual(s.reply()[0], 220)
        s.cmd("EHLO x")
        self.assertEqual(s.cmd("MAIL FROM:<a@b.c>")[0], 250)
        self.assertEqual(s.cmd("RCPT TO:<postmaster>")[0], 250)
        self.assertEqual(s.cmd("RCPT TO:<postmaster@b.c>")[0], 554)  # not ours: relay denied
        self.assertEqual(s.cmd("QUIT")[0], 221)
        self.assertIsNone(server.proc.poll())
        again = RawSMTP(*server.mx)
        self.addCleanup(again.close)
        self.assertEqual(again.reply()[0], 220)


class Reload(unittest.TestCase):
    def test_sighup_reaches_local_delivery_and_the_queue(self):
        # new.test routes back to this very server: before the fix, RCPT took
        # it as local after SIGHUP while the queue relayed it out, in a loop.
        server = Server()
        mx_host, mx_port = server.mx
        server.config["relay"] = {"routes": {"new.test": f"{mx_host}:{mx_port}"}}
        server.start()
        self.addCleanup(server.cleanup)
        server.config["local_domains"] = ["example.org", "example.net", "new.test"]
        server.write_config()
        add_user(server, "bob@new.test")
        server.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: reloaded(server, 1)), server.log_text())
        with smtplib.SMTP(mx_host, mx_port, timeout=10) as c:
            c.sendmail("someone@example.net", ["bob@new.test"], b"Subject: after reload\r\n\r\nhello\r\n")
        msgs = server.delivered("bob@new.test")
        self.assertEqual(len(msgs), 1)
        self.assertTrue(wait_for(lambda: "event=delivery" in server.log_text()))
        self.assertNotIn("event=relay_connect", server.log_text())
        self.assertEqual(len(server.delivered("bob@new.test", timeout=0.5)), 1)

    def test_listener_change_is_logged_as_needing_a_restart(self):
        server = Server().start()
        self.addCleanup(server.cleanup)
        server.config["listener"][0]["address"] = f"127.0.0.1:{harness.free_port()}"
        server.write_config()
        server.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: "event=reload_needs_restart" in server.log_text()), server.log_text())
        self.assertIn("keys=listener", server.log_text())
        # Still serving on the old address.
        still = RawSMTP(*server.mx)
        self.addCleanup(still.close)
        self.assertEqual(still.reply()[0], 220)


class Loops(unittest.TestCase):
    def start(self, **relay):
        server = Server(extra={"queue": {"retry_initial": "1s", "retry_max": "2s", "lifetime": "1h"}})
        server.config["relay"] = relay
        server.start()
        self.addCleanup(server.cleanup)
        add_user(server, SENDER)
        return server

    def test_route_to_our_own_listener_bounces_5_4_6(self):
        server = self.start()
        host, port = server.mx
        server.config["relay"] = {"routes": {"loop.test": f"{host}:{port}"}}
        server.write_config()
        server.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: reloaded(server, 1)))
        submit(server, SENDER, ["x@loop.test"])
        dsn = server.delivered(SENDER, timeout=20)
        self.assertEqual(len(dsn), 1, server.log_text())
        self.assertIn(b"Status: 5.4.6", dsn[0])
        self.assertIn(b"loops back to myself", dsn[0])

    def test_too_many_received_fields(self):
        hop = NextHop().start()
        self.addCleanup(hop.stop)
        server = self.start(routes={"far.test": f"{hop.host}:{hop.port}"})
        received = "".join(f"Received: from hop{i}.test by hop{i + 1}.test; Tue, 1 Dec 2026 10:00:00 +0000\r\n"
                           for i in range(51))
        # 51 on arrival: refused at the end of DATA.
        s = RawSMTP(*server.mx)
        self.addCleanup(s.close)
        s.reply()
        s.cmd("EHLO c.example.net")
        s.cmd("MAIL FROM:<someone@example.net>")
        s.cmd("RCPT TO:<postmaster@example.org>")
        self.assertEqual(s.cmd("DATA")[0], 354)
        self.assertEqual(s.cmd(received + "Subject: loop\r\n\r\nround and round\r\n."),
                         (554, ["554 5.4.6 Too many hops, mail loops"]))
        # 50 on arrival is accepted; with ours it is 51, so the queue bounces it instead of relaying.
        fifty = received.split("\r\n", 1)[1]
        with smtplib.SMTP(*server.submission, timeout=20) as c:
            c.starttls(context=tls_context())
            c.login(SENDER, "queue-test-password")
            c.sendmail(SENDER, ["bob@far.test"], (fifty + "Subject: fifty\r\n\r\nhops\r\n").encode())
        dsn = server.delivered(SENDER, timeout=20)
        self.assertEqual(len(dsn), 1, server.log_text())
        self.assertIn(b"Status: 5.4.6", dsn[0])
        self.assertEqual(hop.messages, [])


class Postmaster(unittest.TestCase):
    def test_remote_postmaster_is_relayed_not_stuck(self):
        hop = NextHop().start()
        self.addCleanup(hop.stop)
        server = Server(extra={"postmaster": "admin@remote.test",
                               "queue": {"retry_initial": "1s", "retry_max": "2s"}})
        server.config["relay"] = {"routes": {"remote.test": f"{hop.host}:{hop.port}"}}
        server.start()
        self.addCleanup(server.cleanup)
        with smtplib.SMTP(*server.mx, timeout=10) as c:
            c.sendmail("someone@example.net", ["postmaster"], b"Subject: one\r\n\r\nbare\r\n")
            c.sendmail("someone@example.net", ["postmaster@example.org"], b"Subject: two\r\n\r\ndomain\r\n")
        msgs = hop.wait_messages(2)
        self.assertEqual(len(msgs), 2, server.log_text())
        self.assertEqual([m[1] for m in msgs], [["admin@remote.test"], ["admin@remote.test"]])
        self.assertTrue(wait_for(lambda: "Queue is empty" in server.cli("queue", "list").stdout))


class SilentDns:
    """A UDP "DNS server" that reads queries and never answers: a slow PTR zone."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.port = self.sock.getsockname()[1]

    def close(self):
        self.sock.close()


def connect_from(source, server):
    s = socket.create_connection(server.mx, timeout=20, source_address=(source, 0))
    return s


class ClientNameLookups(unittest.TestCase):
    """Greylist allow entries by domain need the client's FCrDNS name: looked
    up with c-ares before the greeting, never blocking other sessions."""

    def greylisting_server(self, dns):
        server = Server(extra={"greylist": {"enabled": True, "delay": "1h", "allow": ["allowed.test"]}})
        server.config["relay"] = {"dns_servers": [dns]}
        server.start()
        self.addCleanup(server.cleanup)
        return server

    def rcpt_from(self, source, server):
        s = RawSMTP(*server.mx, timeout=20, source=source)
        self.addCleanup(s.close)
        self.assertEqual(s.reply()[0], 220)
        s.cmd("EHLO c.example.net")
        s.cmd("MAIL FROM:<someone@sender.example>")
        return s.cmd("RCPT TO:<postmaster@example.org>")[0]

    def test_allow_by_confirmed_name(self):
        dns = Dnsmasq(["--ptr-record=9.0.0.127.in-addr.arpa,client.allowed.test",
                       "--host-record=client.allowed.test,127.0.0.9",
                       "--ptr-record=10.0.0.127.in-addr.arpa,liar.allowed.test",
                       "--host-record=liar.allowed.test,127.0.0.99"]).start()
        self.addCleanup(dns.stop)
        server = self.greylisting_server(dns.server)
        self.assertEqual(self.rcpt_from("127.0.0.9", server), 250)
        self.assertIn("allow=allowed.test", server.log_text())
        # A PTR name that does not resolve back to the client is not its name.
        self.assertEqual(self.rcpt_from("127.0.0.10", server), 450)

    def test_a_silent_ptr_zone_stalls_only_its_own_clients(self):
        silent = SilentDns()
        self.addCleanup(silent.close)
        server = self.greylisting_server(f"127.0.0.1:{silent.port}")
        slow = [connect_from(f"127.0.0.{n}", server) for n in (21, 22)]  # one per I/O thread
        for s in slow:
            self.addCleanup(s.close)
        # 127.0.0.1 is "localhost" in /etc/hosts: its name needs no DNS, so it
        # gets its greeting while the two lookups above are still waiting.
        fast = connect_from("127.0.0.1", server)
        self.addCleanup(fast.close)
        self.assertTrue(fast.recv(512).startswith(b"220 "))
        for s in slow:
            s.setblocking(False)
            with self.assertRaises(BlockingIOError):
                s.recv(512)
            s.setblocking(True)
        # The lookups time out; those clients are then served, and greylisted.
        for s in slow:
            self.assertTrue(s.recv(512).startswith(b"220 "))
        self.assertEqual(self.rcpt_from("127.0.0.23", server), 450)


class SecretsInTheLog(unittest.TestCase):
    def test_no_client_octets_after_auth_reach_the_log(self):
        server = Server().start()
        self.addCleanup(server.cleanup)
        secret = base64.b64encode(b"\0user@example.org\0hunter2-password").decode()
        s = RawSMTP(*server.mx)
        self.addCleanup(s.close)
        s.reply()
        s.cmd("EHLO c.example.net")
        s.cmd("AUTH PLAIN\t" + secret)
        s.cmd("AUTH\tPLAIN " + secret)
        s.cmd("AUTH PLAIN " + secret + "\x01")
        s.cmd("QUIT")
        self.assertTrue(wait_for(lambda: "event=disconnect" in server.log_text()))
        log = server.log_text()
        self.assertNotIn(secret, log)
        self.assertNotIn(secret[:20], log)
        self.assertNotIn("hunter2", log)


class FilePermissions(unittest.TestCase):
    def test_secrets_are_for_the_owner_alone(self):
        server = Server().start()
        self.addCleanup(server.cleanup)
        add_user(server, SENDER)
        mode = lambda p: stat.S_IMODE(os.stat(os.path.join(server.data_dir, p)).st_mode)
        self.assertEqual(mode("."), 0o700)
        self.assertEqual(mode("postern.db"), 0o600)
        self.assertEqual(mode("tls/key.pem"), 0o600)
        for extra in ("postern.db-wal", "postern.db-shm"):
            if os.path.exists(os.path.join(server.data_dir, extra)):
                self.assertEqual(mode(extra), 0o600, extra)
        self.assertNotIn("insecure_permissions", server.log_text())

    def test_looser_modes_are_warned_about(self):
        server = Server().start()
        self.addCleanup(server.cleanup)
        server.stop()
        os.chmod(os.path.join(server.data_dir, "postern.db"), 0o644)
        os.chmod(server.data_dir, 0o755)
        server.start()
        log = server.log_text()
        self.assertRegex(log, r"event=insecure_permissions path=\S*postern\.db mode=0644 want=0600")
        self.assertIn("mode=0755", log)

    def test_secret_files_named_in_the_config_are_checked_too(self):
        server = Server()
        self.addCleanup(server.cleanup)
        secrets = {}
        for name in ("smarthost.password", "oauth.secret"):
            secrets[name] = os.path.join(server.data_dir, name)
            with open(secrets[name], "w") as f:
                f.write("hunter2\n")
            os.chmod(secrets[name], 0o644)
        server.config["relay"] = {"smarthost": "127.0.0.1:1", "smarthost_user": "me",
                                  "smarthost_password_file": secrets["smarthost.password"]}
        server.config["auth"] = {"oauth_introspection_url": "https://127.0.0.1:1/introspect",
                                 "oauth_client_secret_file": secrets["oauth.secret"]}
        server.start()
        log = server.log_text()
        for name in secrets:
            self.assertRegex(log, r"event=insecure_permissions path=\S*%s mode=0644 want=0600" % name.replace(".", r"\."))


@unittest.skipUnless(os.geteuid() == 0, "needs root to drop privileges")
class PrivilegeDrop(unittest.TestCase):
    def test_reload_after_the_drop_and_no_symlink_followed(self):
        outside = tempfile.mkdtemp(prefix="postern-outside-")
        self.addCleanup(lambda: os.rmdir(outside))
        server = Server(extra={"user": "nobody"})
        os.chmod(server.data_dir, 0o700)
        os.makedirs(os.path.join(server.data_dir, "mail"), exist_ok=True)
        os.symlink(outside, os.path.join(server.data_dir, "mail", "evil"))
        server.start()
        self.addCleanup(server.cleanup)
        self.assertEqual(os.stat(outside).st_uid, 0, "the link's target stays root's")
        self.assertEqual(os.lstat(os.path.join(server.data_dir, "mail", "evil")).st_uid, 65534)
        server.proc.send_signal(signal.SIGHUP)
        self.assertTrue(wait_for(lambda: reloaded(server, 1)), server.log_text())
        log = server.log_text()
        self.assertNotIn("reload_failed", log)
        self.assertNotIn("reload_tls_kept", log)
        # STARTTLS still works with the reloaded certificate.
        with smtplib.SMTP(*server.mx, timeout=10) as c:
            self.assertEqual(c.starttls(context=tls_context())[0], 220)


if __name__ == "__main__":
    unittest.main()
