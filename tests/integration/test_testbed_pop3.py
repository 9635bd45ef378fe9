"""POP3 in `postern testbed` (SPEC §10): mail sent with smtplib, read back
with clients we did not write: Python's poplib (USER/PASS, STLS, AUTH PLAIN
and SCRAM-SHA-256 through its raw commands), curl's pop3:// and fetchmail
(STLS, -v, an MDA writing to a file). A login sees its own inbox only;
DELE+QUIT removes from that inbox only; malformed input gets -ERR and the
session goes on; the session cap, the idle deadline and the error limit."""
import base64
import hashlib
import hmac
import os
import poplib
import socket
import ssl
import subprocess
import time
import unittest

from harness import POSTERN, wait_for
from support.tls import tls_context
from test_testbed import Testbed


def send(tb, recipients, subject, body="hello\r\n", sender="app@example.com"):
    with tb.smtp() as s:
        s.sendmail(sender, recipients, "Subject: %s\r\n\r\n%s" % (subject, body))


class RawPOP3:
    """A POP3 client that sends exactly what it is given."""

    def __init__(self, port, timeout=20):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def line(self):
        while b"\r\n" not in self.buf:
            data = self.sock.recv(65536)
            if not data:
                raise EOFError("closed; read so far: %r" % self.buf)
            self.buf += data
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line.decode("utf-8", "replace")

    def cmd(self, text):
        self.sock.sendall(text.encode() + b"\r\n" if isinstance(text, str) else text + b"\r\n")
        return self.line()

    def multiline(self):
        lines = []
        while True:
            line = self.line()
            if line == ".":
                return lines
            lines.append(line)

    def closed(self, timeout=10):
        self.sock.settimeout(timeout)
        try:
            while True:
                data = self.sock.recv(4096)
                if not data:
                    return True
                self.buf += data
        except (ConnectionResetError, BrokenPipeError):
            return True
        except socket.timeout:
            return False

    def close(self):
        self.sock.close()


def b64(data):
    return base64.b64encode(data).decode()


def scram_sha256(conn, user, password):
    """AUTH SCRAM-SHA-256 (RFC 5802, RFC 7677) over conn.cmd/line: the last reply."""
    nonce = b64(os.urandom(18))
    first_bare = "n=%s,r=%s" % (user, nonce)
    reply = conn.cmd("AUTH SCRAM-SHA-256 " + b64(("n,," + first_bare).encode()))
    if not reply.startswith("+ "):
        return reply
    server_first = base64.b64decode(reply[2:]).decode()
    fields = dict(item.split("=", 1) for item in server_first.split(","))
    if not fields["r"].startswith(nonce):
        raise AssertionError("the server nonce does not extend ours")
    salted = hashlib.pbkdf2_hmac("sha256", password.encode(), base64.b64decode(fields["s"]), int(fields["i"]))
    client_key = hmac.new(salted, b"Client Key", hashlib.sha256).digest()
    stored_key = hashlib.sha256(client_key).digest()
    without_proof = "c=biws,r=" + fields["r"]
    auth_message = ",".join([first_bare, server_first, without_proof]).encode()
    signature = hmac.new(stored_key, auth_message, hashlib.sha256).digest()
    proof = bytes(a ^ b for a, b in zip(client_key, signature))
    reply = conn.cmd(b64((without_proof + ",p=" + b64(proof)).encode()))
    if not reply.startswith("+ "):
        return reply
    server_final = base64.b64decode(reply[2:]).decode()
    server_key = hmac.new(salted, b"Server Key", hashlib.sha256).digest()
    expected = b64(hmac.new(server_key, auth_message, hashlib.sha256).digest())
    if server_final != "v=" + expected:
        raise AssertionError("the server's signature is wrong: %s" % server_final)
    return conn.cmd("")  # RFC 5034 §4: the empty answer after the server's final message


class Pop3Case(unittest.TestCase):
    args = ()
    config = None

    def setUp(self):
        self.tb = Testbed(*self.args, config=self.config)
        self.addCleanup(self.tb.cleanup)
        self.port = self.tb.ports["pop3"]

    def pop(self, user=None, password="any"):
        p = poplib.POP3("127.0.0.1", self.port, timeout=20)
        self.addCleanup(p.close)
        if user:
            p.user(user)
            p.pass_(password)
        return p

    def raw(self):
        r = RawPOP3(self.port)
        self.addCleanup(r.close)
        self.assertTrue(r.line().startswith("+OK "))
        return r

    def message_ids(self):
        _, messages = self.tb.get("/api/messages")
        return {m["subject"]: m["id"] for m in messages}


class Inboxes(Pop3Case):
    def test_a_login_reads_its_own_inbox_with_poplib(self):
        send(self.tb, ["alice@example.org", "bob@example.org"], "to both", ".leading dot\r\n..two\r\nend\r\n")
        send(self.tb, ["carol@example.org"], "to carol")
        send(self.tb, ["Alice@Example.org"], "to alice again")
        ids = self.message_ids()

        p = self.pop("alice@example.org")
        count, octets = p.stat()
        self.assertEqual(count, 2)
        _, listing, _ = p.list()
        sizes = [int(line.split()[1]) for line in listing]
        self.assertEqual(sum(sizes), octets)
        _, uidl, _ = p.uidl()
        self.assertEqual([line.decode().split()[1] for line in uidl], [ids["to both"], ids["to alice again"]])

        _, lines, size = p.retr(1)
        self.assertEqual(size, sizes[0], "LIST's size is what RETR sends")
        raw = self.tb.get("/api/messages/%s/raw" % ids["to both"])[1]
        self.assertEqual(b"\r\n".join(lines).decode() + "\r\n", raw, "byte-stuffing undone by poplib: the message as kept")
        self.assertIn(b".leading dot", lines)
        self.assertIn(b"..two", lines)

        _, top, _ = p.top(2, 0)
        self.assertIn(b"Subject: to alice again", top)
        self.assertEqual(top[-1], b"", "headers and the empty line, no body")
        self.assertEqual(p.quit(), b"+OK Bye")

        q = self.pop("carol@example.org")
        _, uidl, _ = q.uidl()
        self.assertEqual([line.decode().split()[1] for line in uidl], [ids["to carol"]])
        self.assertEqual(self.pop("nobody@example.org").stat(), (0, 0))

    def test_a_message_from_the_send_api_is_listed_with_the_size_retr_sends(self):
        status, _ = self.tb.request("POST", "/api/v1/send", {
            "From": {"Email": "api@example.com"}, "To": [{"Email": "alice@example.org"}],
            "Subject": "via api", "Text": "line 1\nline 2\n.dot line\n"})
        self.assertEqual(status, 200)
        p = self.pop("alice@example.org")
        _, listing, _ = p.list()
        _, lines, octets = p.retr(1)
        self.assertEqual(int(listing[0].split()[1]), octets)
        self.assertIn(b".dot line", lines)

    def test_dele_then_quit_removes_from_that_inbox_only(self):
        send(self.tb, ["alice@example.org", "bob@example.org"], "shared")
        send(self.tb, ["alice@example.org"], "alice only")

        p = self.pop("alice@example.org")
        self.assertEqual(p.dele(1), b"+OK Message 1 deleted")
        self.assertEqual(p.stat()[0], 1)
        p.rset()
        self.assertEqual(p.stat()[0], 2, "RSET unmarks")
        p.dele(1)
        self.assertEqual(p.quit(), b"+OK Bye, 1 message removed")

        self.assertEqual(self.pop("alice@example.org").stat()[0], 1)
        _, uidl, _ = self.pop("alice@example.org").uidl()
        self.assertEqual([line.decode().split()[1] for line in uidl], [self.message_ids()["alice only"]])
        self.assertEqual(self.pop("bob@example.org").stat()[0], 1, "bob's inbox keeps it")
        self.assertEqual(set(self.message_ids()), {"shared", "alice only"}, "the API keeps it")
        status, listed = self.tb.get("/api/messages?inbox=alice@example.org")
        self.assertEqual([m["subject"] for m in listed], ["alice only"], "the API's inbox agrees")

        p = self.pop("alice@example.org")
        p.dele(1)
        p.quit()
        self.assertEqual(set(self.message_ids()), {"shared"}, "out of its last inbox, a message is gone")

    def test_quit_counts_only_what_it_removed(self):
        send(self.tb, ["carol@example.org"], "first")
        send(self.tb, ["carol@example.org"], "second")
        a = self.pop("carol@example.org")
        b = self.pop("carol@example.org")
        a.dele(1)
        a.dele(2)
        b.dele(1)
        self.assertEqual(b.quit(), b"+OK Bye, 1 message removed")
        self.assertEqual(a.quit(), b"+OK Bye, 1 message removed", "the other session removed one meanwhile")

    def test_the_authenticated_sender_reads_what_it_sent(self):
        with self.tb.smtp() as s:
            s.login("sender@example.org", "x")
            s.sendmail("sender@example.org", ["rcpt@example.org"], "Subject: sent\r\n\r\nx\r\n")
        for user in ("sender@example.org", "rcpt@example.org"):
            _, uidl, _ = self.pop(user).uidl()
            self.assertEqual([line.decode().split()[1] for line in uidl], [self.message_ids()["sent"]], user)

    def test_dele_without_quit_removes_nothing(self):
        send(self.tb, ["alice@example.org"], "stays")
        r = self.raw()
        r.cmd("USER alice@example.org")
        self.assertTrue(r.cmd("PASS x").startswith("+OK Logged in, 1 message"))
        self.assertEqual(r.cmd("DELE 1"), "+OK Message 1 deleted")
        r.close()  # the connection ends without QUIT: no UPDATE state (RFC 1939 §6)
        self.assertTrue(wait_for(lambda: "event=pop3_disconnect" in self.tb.log(), timeout=10))
        self.assertEqual(self.pop("alice@example.org").stat()[0], 1)


class OffTheIoThread(Pop3Case):
    """What a POP3 session reads from disk never holds up SMTP: the SMTP
    acceptor and sessions share the POP3 listener's I/O thread."""

    def test_smtp_answers_while_a_pop3_login_waits_on_the_disk(self):
        send(self.tb, ["held@example.org"], "held")
        msg_id = self.message_ids()["held"]
        paths = [os.path.join(d, f) for d, _, files in os.walk(os.path.join(self.tb.dir, "data"))
                 for f in files if f == msg_id + ".msg"]
        self.assertEqual(len(paths), 1)
        # A FIFO in the message's place: the server's open() of it waits until we open its other end.
        os.unlink(paths[0])
        os.mkfifo(paths[0])

        def release():
            try:
                os.close(os.open(paths[0], os.O_WRONLY | os.O_NONBLOCK))
            except OSError:
                pass  # nobody is waiting on it
        self.addCleanup(release)

        r = self.raw()
        self.assertTrue(r.cmd("USER held@example.org").startswith("+OK"))
        r.sock.sendall(b"PASS any\r\n")
        # Logged in: the next step is the inbox's list, which opens the FIFO and waits.
        self.assertTrue(wait_for(lambda: "event=pop3_login" in self.tb.log(), timeout=10))
        smtp = RawPOP3(self.tb.ports["smtp"], timeout=10)
        self.addCleanup(smtp.close)
        self.assertTrue(smtp.line().startswith("220 "))
        self.assertTrue(smtp.cmd("EHLO client.example").startswith("250"))
        release()
        # The login ends either way (the FIFO is no message file) and the session goes on.
        self.assertRegex(r.line(), r"^(\+OK|-ERR)")
        self.assertTrue(r.cmd("QUIT").startswith("+OK"))


class Logins(Pop3Case):
    def test_stls_then_user_pass(self):
        send(self.tb, ["alice@example.org"], "over tls")
        p = self.pop()
        self.assertIn("STLS", p.capa())
        self.assertNotIn("SCRAM-SHA-256-PLUS", p.capa()["SASL"])
        p.stls(tls_context())
        capa = p.capa()
        self.assertNotIn("STLS", capa)
        self.assertIn("SCRAM-SHA-256-PLUS", capa["SASL"], "channel binding once there is a channel")
        p.user("alice@example.org")
        self.assertTrue(p.pass_("x").startswith(b"+OK Logged in, 1 message"))
        self.assertEqual(p.retr(1)[1][-1], b"hello")

    def test_stls_twice_and_after_login_is_refused(self):
        p = self.pop()
        p.stls(tls_context())
        with self.assertRaises(poplib.error_proto):
            p._shortcmd("STLS")
        p.user("a@example.org")
        p.pass_("x")
        with self.assertRaisesRegex(poplib.error_proto, "STLS only before login"):
            p._shortcmd("STLS")

    def test_auth_plain_with_and_without_initial_response(self):
        send(self.tb, ["alice@example.org"], "plain")
        r = self.raw()
        self.assertTrue(r.cmd("AUTH PLAIN " + b64(b"\0alice@example.org\0x")).startswith("+OK Logged in, 1 message"))
        r = self.raw()
        self.assertEqual(r.cmd("AUTH PLAIN"), "+ ")
        self.assertTrue(r.cmd(b64(b"\0alice@example.org\0x")).startswith("+OK Logged in"))
        r = self.raw()
        self.assertTrue(r.cmd("AUTH LOGIN").startswith("+ "))
        self.assertTrue(r.cmd(b64(b"alice@example.org")).startswith("+ "))
        self.assertTrue(r.cmd(b64(b"x")).startswith("+OK Logged in"))

    def test_the_scenario_users_fail_as_in_smtp(self):
        p = self.pop()
        p.user("fail@example.org")
        with self.assertRaisesRegex(poplib.error_proto, r"-ERR \[AUTH\] Authentication credentials invalid"):
            p.pass_("x")
        p.user("tempfail@example.org")
        with self.assertRaisesRegex(poplib.error_proto, r"-ERR \[SYS/TEMP\] Temporary authentication failure"):
            p.pass_("x")
        r = self.raw()
        self.assertEqual(r.cmd("AUTH PLAIN " + b64(b"\0fail@example.org\0x")),
                         "-ERR [AUTH] Authentication credentials invalid")
        p.user("alice@example.org")
        self.assertTrue(p.pass_("x").startswith(b"+OK"), "the session goes on")

    def test_oauth_tokens_as_in_smtp(self):
        def xoauth2(token):
            return "AUTH XOAUTH2 " + b64(b"user=dev@example.org\x01auth=Bearer " + token + b"\x01\x01")
        r = self.raw()
        challenge = r.cmd(xoauth2(b"invalid-1"))
        self.assertTrue(challenge.startswith("+ "))
        self.assertIn(b'"status":"401"', base64.b64decode(challenge[2:]))
        self.assertEqual(r.cmd(""), "-ERR [AUTH] Authentication credentials invalid")
        self.assertEqual(r.cmd(xoauth2(b"expired-1")), "-ERR [SYS/TEMP] Temporary authentication failure")
        self.assertTrue(r.cmd(xoauth2(b"any-token")).startswith("+OK Logged in"))

    def test_auth_errors_then_the_session_goes_on(self):
        r = self.raw()
        self.assertEqual(r.cmd("AUTH PLAIN not*base64"), "-ERR Cannot decode response")
        self.assertEqual(r.cmd("AUTH PLAIN"), "+ ")
        self.assertEqual(r.cmd("%%%"), "-ERR Cannot decode response")
        self.assertEqual(r.cmd("AUTH PLAIN"), "+ ")
        self.assertEqual(r.cmd("*"), "-ERR Authentication cancelled")
        self.assertEqual(r.cmd("AUTH NOSUCH"), "-ERR Unrecognized authentication type")
        self.assertEqual(r.cmd("AUTH SCRAM-SHA-256-PLUS " + b64(b"p=tls-exporter,,n=a,r=x")),
                         "-ERR [AUTH] Encryption required for requested authentication mechanism")
        self.assertEqual(r.cmd("AUTH PLAIN"), "+ ")
        self.assertEqual(r.cmd("A" * 13000), "-ERR Authentication exchange line is too long")
        self.assertEqual(r.cmd("USER alice@example.org"), "+OK Send the password with PASS")
        self.assertTrue(r.cmd("PASS x").startswith("+OK Logged in"))


class ConfiguredUsers(Pop3Case):
    config = '[testbed]\nusers = { "alice@example.org" = "alice-pw", "bob@example.org" = "bob-pw" }\n'

    def test_scram_sha_256_and_passwords_are_checked(self):
        send(self.tb, ["alice@example.org"], "for alice")
        r = self.raw()
        self.assertTrue(scram_sha256(r, "alice@example.org", "alice-pw").startswith("+OK Logged in, 1 message"))
        self.assertEqual(r.cmd("UIDL 1"), "+OK 1 " + self.message_ids()["for alice"])

        r = self.raw()
        self.assertEqual(scram_sha256(r, "alice@example.org", "wrong"), "-ERR [AUTH] Authentication credentials invalid")
        self.assertEqual(scram_sha256(r, "bob@example.org", "bob-pw"), "+OK Logged in, 0 messages (0 octets)")

        p = self.pop()
        p.user("alice@example.org")
        with self.assertRaisesRegex(poplib.error_proto, r"-ERR \[AUTH\]"):
            p.pass_("bob-pw")
        p.user("alice@example.org")
        self.assertTrue(p.pass_("alice-pw").startswith(b"+OK Logged in, 1 message"))


class Curl(Pop3Case):
    def test_curl_lists_and_retrieves(self):
        send(self.tb, ["dev@example.org"], "for curl", "curl body\r\n")
        url = "pop3://127.0.0.1:%d/" % self.port
        out = subprocess.run(["curl", "-sS", "--max-time", "20", "-u", "dev@example.org:secret", url],
                             capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        size = len(self.tb.get("/api/messages/%s/raw" % self.message_ids()["for curl"])[1])
        self.assertEqual(out.stdout, b"1 %d\r\n" % size)
        out = subprocess.run(["curl", "-sS", "--max-time", "20", "--ssl-reqd", "-k", "-u", "dev@example.org:secret",
                              url + "1"], capture_output=True, timeout=30)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertIn(b"Subject: for curl\r\n", out.stdout)
        self.assertTrue(out.stdout.endswith(b"\r\ncurl body\r\n"))
        self.assertEqual(self.pop("dev@example.org").stat()[0], 1, "curl reads, removes nothing")


class Fetchmail(Pop3Case):
    def test_fetchmail_over_stls_delivers_to_its_mda_and_deletes(self):
        send(self.tb, ["fm@example.org", "other@example.org"], "for fetchmail", "fetched body\r\n")
        home = os.path.join(self.tb.dir, "fmhome")
        os.makedirs(home, mode=0o700)
        delivered = os.path.join(home, "delivered.mbox")
        rc = os.path.join(home, "fetchmailrc")
        with open(rc, "w") as f:
            f.write('poll 127.0.0.1 service %d protocol pop3 auth password:\n'
                    '  user "fm@example.org" there with password "secret" is "nobody" here\n'
                    '  sslproto "TLS1.2+" no sslcertck\n'
                    '  mda "/bin/sh -c \'cat >> %s\'"\n' % (self.port, delivered))
        os.chmod(rc, 0o600)
        env = dict(os.environ, HOME=home, FETCHMAILHOME=home)
        out = subprocess.run(["fetchmail", "-f", rc, "-v", "--nodetach", "--idfile", os.path.join(home, "ids"),
                              "--pidfile", os.path.join(home, "pid")],
                             capture_output=True, text=True, timeout=60, env=env)
        self.assertIn(out.returncode, (0,), out.stdout + out.stderr)
        log = out.stdout + out.stderr
        self.assertIn("POP3> STLS", log)
        self.assertIn("1 message for fm@example.org", log)
        with open(delivered) as f:
            mail = f.read()
        self.assertIn("Subject: for fetchmail", mail)
        self.assertIn("fetched body", mail)
        self.assertEqual(self.pop("fm@example.org").stat()[0], 0, "fetchmail deleted it from fm's inbox")
        self.assertEqual(self.pop("other@example.org").stat()[0], 1, "and from fm's inbox only")


class Options(unittest.TestCase):
    def run_testbed(self, *args):
        return subprocess.run([POSTERN, "testbed", "--smtp", "127.0.0.1:0", "--smtps", "127.0.0.1:0",
                               "--http", "127.0.0.1:0", *args], capture_output=True, text=True, timeout=30)

    def test_help_names_the_pop3_options(self):
        out = subprocess.run([POSTERN, "testbed", "--help"], capture_output=True, text=True, timeout=30)
        self.assertIn("--pop3", out.stdout)
        self.assertIn("127.0.0.1:1110", out.stdout)
        self.assertIn("--pop3-sessions", out.stdout)

    def test_a_bad_pop3_address_is_a_usage_error(self):
        out = self.run_testbed("--pop3", "nowhere")
        self.assertEqual(out.returncode, 78, out.stderr)
        self.assertTrue(out.stderr.startswith("postern: --pop3: "), out.stderr)
        out = self.run_testbed("--pop3", "127.0.0.1:0", "--pop3-sessions", "0")
        self.assertNotEqual(out.returncode, 0)
        self.assertIn("--pop3-sessions", out.stderr)

    def test_a_pop3_port_in_use_stops_the_start(self):
        taken = socket.socket()
        self.addCleanup(taken.close)
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        out = self.run_testbed("--pop3", "127.0.0.1:%d" % taken.getsockname()[1])
        self.assertEqual(out.returncode, 69, out.stderr)
        self.assertIn("cannot listen on 127.0.0.1:%d" % taken.getsockname()[1], out.stderr)


class Shutdown(Pop3Case):
    def test_sigterm_with_pop3_sessions_open_exits_0_at_once(self):
        send(self.tb, ["alice@example.org"], "kept")
        idle, busy, auth = self.raw(), self.raw(), self.raw()
        busy.cmd("USER alice@example.org")
        self.assertTrue(busy.cmd("PASS x").startswith("+OK Logged in"))
        self.assertEqual(busy.cmd("DELE 1"), "+OK Message 1 deleted")
        self.assertEqual(auth.cmd("AUTH PLAIN"), "+ ")
        started = time.monotonic()
        self.assertEqual(self.tb.stop(), 0)
        self.assertLess(time.monotonic() - started, 5)
        for r in (idle, busy, auth):
            self.assertTrue(r.closed())
        with open(os.path.join(self.tb.dir, "out.log"), errors="replace") as f:
            log = f.read()
        self.assertNotIn("internal_error", log)
        self.assertNotIn("Sanitizer", log)


class Bounds(Pop3Case):
    args = ("--pop3-sessions", "2")
    config = '[limits]\ncommand_timeout = "2s"\nmax_errors = 4\n'

    def test_malformed_lines_get_err_and_the_session_goes_on(self):
        r = self.raw()
        self.assertEqual(r.cmd("HELO there"), "-ERR Unknown command")
        self.assertEqual(r.cmd("USER " + "a" * 300), "-ERR Line too long")
        self.assertEqual(r.cmd(b"NOOP " + b"x" * 20000), "-ERR Line too long")
        self.assertEqual(r.cmd("USER alice@example.org"), "+OK Send the password with PASS")
        self.assertTrue(r.cmd("PASS x").startswith("+OK Logged in"))
        self.assertEqual(r.cmd("RETR 1"), "-ERR No such message", "not counted as an error")
        self.assertEqual(r.cmd("QUIT now"), "-ERR Too many errors, closing connection")
        self.assertTrue(r.closed())

    def test_a_binary_flood_never_crashes_it(self):
        r = self.raw()
        r.sock.sendall(bytes(range(256)) * 200)
        r.closed(timeout=10)
        s = self.raw()
        self.assertEqual(s.cmd("CAPA"), "+OK Capability list follows")
        self.assertIn("IMPLEMENTATION Postern", s.multiline())

    def test_the_session_cap(self):
        first, second = self.raw(), self.raw()
        third = RawPOP3(self.port)
        self.addCleanup(third.close)
        self.assertEqual(third.line(), "-ERR [SYS/TEMP] Too many POP3 sessions, try again later")
        self.assertTrue(third.closed())
        self.assertEqual(first.cmd("QUIT"), "+OK Bye")

        def a_new_session_is_greeted():
            r = RawPOP3(self.port)
            try:
                return r.line().startswith("+OK ")
            finally:
                r.close()
        self.assertTrue(wait_for(a_new_session_is_greeted, timeout=10))
        self.assertEqual(second.cmd("NOOP"), "-ERR Log in first (USER and PASS, or AUTH)")

    def test_idle_sessions_are_closed(self):
        r = self.raw()
        started = time.monotonic()
        self.assertEqual(r.line(), "-ERR Disconnected for inactivity")
        self.assertTrue(r.closed())
        self.assertLess(time.monotonic() - started, 10)


if __name__ == "__main__":
    unittest.main()
