"""The milter client (SPEC §13) against a scripted filter
(support/fake_milter.py) for every reply a filter can give: what postern
sends (negotiation, macros per stage, the events in order, ABORT between
messages, QUIT), and what the client and the mailbox see for accept,
continue, reject, tempfail, reply codes (multi-line), discard, quarantine,
header edits, a replaced body, a new sender, recipients added and
removed, progress; and on_error for a filter that is slow, malformed,
oversized or refuses the negotiation. Messages larger than the in-memory
part of the spool are read back from the spool file and rewritten."""
import smtplib
import struct
import os
import random
import re
import shutil
import socket
import subprocess
import time
import unittest

import support.fake_milter as fm
from harness import RawSMTP, Server, wait_for
from support.milter_client import message, transaction
from support.scratch import scratch_dir
from support.users import UserTemplate


class MilterRepliesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.users = UserTemplate()

    @classmethod
    def tearDownClass(cls):
        cls.users.cleanup()

    def filter(self, **kw):
        f = fm.FakeMilter(**kw)
        self.addCleanup(f.stop)
        return f

    def server(self, *filters, timeout="5s", on_error="tempfail"):
        s = Server(data_dir=self.users.data_dir(self), listeners=("mx",), tls_mx="none",
                   extra={"milter": [{"address": f.address, "on_error": on_error, "timeout": timeout}
                                     for f in filters]})
        s.start()
        self.addCleanup(s.cleanup)
        return s

    def fate(self, s, out, timeout=20.0):
        """What became of the message the client was told "queued as" about:
        the log line (event=discarded or event=accepted) with its queue id."""
        self.assertEqual(out["data"][0], 250, out)
        qid = out["data"][1].split()[-1]

        def line():
            for l in s.log_text().splitlines():
                m = re.search(r"\bevent=(discarded|accepted)\b", l)
                if m and f"queue_id={qid}" in l.split():
                    return m
            return None
        self.assertTrue(wait_for(line, timeout=timeout), f"no outcome for {qid}")
        return line()

    def session_over(self, s):
        self.assertTrue(wait_for(s.sessions_ended, timeout=20.0), "the sessions did not end")

    def test_events_and_macros_as_postfix_sends_them(self):
        f = self.filter()
        s = self.server(f)
        out = transaction(s.mx, "alice@sender.example", ["bob@example.org", "carol@example.org"],
                          message("hello", "line one\r\nline two"), helo="client.example.net")
        self.assertEqual(out["data"][0], 250, out)
        qid = out["data"][1].split()[-1]
        rec = f.transactions(1)[0]
        self.assertEqual(rec[0][0], "O")
        version, actions, steps = struct.unpack(">III", rec[0][1])
        self.assertEqual((version, actions), (6, 0x1FF))
        self.assertTrue(steps & 0x80 and steps & 0x400 and steps & 0x100000, hex(steps))
        order = "".join(c for c, _ in rec if c != "D")
        self.assertEqual(order, "OCHMRRTLLLLNBEQ", order)
        connect = next(d for c, d in rec if c == "C")
        host, rest = connect.split(b"\0", 1)
        self.assertEqual(host, b"[127.0.0.1]")
        self.assertEqual(rest[:1], b"4")
        self.assertEqual(rest[3:], b"127.0.0.1\0")
        m = fm.macros(rec, "C")
        self.assertEqual(m["j"], "mx.example.org")
        self.assertEqual(m["{daemon_name}"], "mx.example.org")
        self.assertEqual(m["{client_addr}"], "127.0.0.1")
        self.assertEqual(m["{client_name}"], "unknown")
        self.assertEqual(m["_"], "unknown [127.0.0.1]")
        self.assertEqual(int(m["{client_port}"]), struct.unpack(">H", rest[1:3])[0])
        self.assertEqual(fm.strings(next(d for c, d in rec if c == "H")), ["client.example.net"])
        self.assertEqual(fm.strings(next(d for c, d in rec if c == "M"))[0], "<alice@sender.example>")
        self.assertEqual(fm.macros(rec, "M"), {"i": qid, "{mail_addr}": "alice@sender.example",
                                               "{mail_host}": "sender.example"})
        rcpts = [fm.strings(d)[0] for c, d in rec if c == "R"]
        self.assertEqual(rcpts, ["<bob@example.org>", "<carol@example.org>"])
        self.assertEqual(fm.macros(rec, "R"), {"i": qid, "{rcpt_addr}": "carol@example.org",
                                               "{rcpt_host}": "example.org", "{rcpt_mailer}": "local"})
        headers = [fm.strings(d) for c, d in rec if c == "L"]
        # Our own Received: is not shown, as under Postfix; without SMFIP_HDR_LEADSPC
        # one space after the colon is eaten.
        self.assertEqual(headers, [["From", "alice@sender.example"], ["To", "bob@example.org"],
                                   ["Subject", "hello"], ["Message-ID", headers[3][1]]])
        body = b"".join(d for c, d in rec if c == "B")
        self.assertEqual(body, b"line one\r\nline two\r\n")
        self.assertEqual(fm.macros(rec, "E"), {"i": qid})

    def test_header_edits(self):
        f = self.filter(script={"E": [fm.addheader("X-Scanned", "yes\n\tfolded"), fm.insheader(0, "X-First", "top"),
                                      fm.chgheader(1, "Subject", "[filtered] hello"),
                                      fm.chgheader(1, "Received", "by relay.example; changed"),
                                      fm.chgheader(1, "X-Drop", ""), fm.chgheader(2, "X-Twice", "second"),
                                      fm.accept]})
        s = self.server(f)
        out = transaction(s.mx, "alice@sender.example", "bob@example.org",
                          message("hello", "body", extra="Received: by relay.example; original\r\n"
                                                         "X-Drop: me\r\nX-Twice: one\r\nX-Twice: two\r\n"))
        self.assertEqual(out["data"][0], 250, out)
        got = s.delivered("bob@example.org")[0]
        head, _, body = got.partition(b"\r\n\r\n")
        lines = head.split(b"\r\n")
        self.assertEqual(lines[0], b"Return-Path: <alice@sender.example>")
        self.assertEqual(lines[1], b"X-First: top", "inserted before our Received:")
        self.assertTrue(lines[2].startswith(b"Received: from client.example.net"), "ours is not counted by changes")
        self.assertIn(b"\r\nReceived: by relay.example; changed\r\n", got)
        self.assertIn(b"\r\nSubject: [filtered] hello\r\n", got)
        self.assertNotIn(b"X-Drop", got)
        self.assertIn(b"\r\nX-Twice: one\r\nX-Twice: second\r\n", got)
        self.assertTrue(head.endswith(b"\r\nX-Scanned: yes\r\n\tfolded"), head)
        self.assertEqual(body, b"body\r\n")

    def test_envelope_and_body_changes(self):
        f = self.filter(script={"E": [fm.delrcpt("<bob@example.org>"), fm.addrcpt("<carol@example.org>"),
                                      fm.chgfrom("<new-sender@sender.example>"),
                                      fm.replbody(b"replaced\r\n"), fm.replbody(b"in two parts\n"), fm.cont]})
        s = self.server(f)
        out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("hello", "the original"))
        self.assertEqual(out["data"][0], 250, out)
        got = s.delivered("carol@example.org")[0]
        self.assertTrue(got.startswith(b"Return-Path: <new-sender@sender.example>\r\n"), got[:80])
        self.assertTrue(got.endswith(b"\r\n\r\nreplaced\r\nin two parts\r\n"), got)
        # Stored for carol alone: bob's Maildir gets nothing, now or later.
        outcome = self.fate(s, out)
        self.assertEqual(outcome.group(1), "accepted")
        self.assertIn(" nrcpt=1", outcome.string)
        self.assertEqual(s.delivered("bob@example.org", timeout=0), [])
        self.assertIn("event=milter_changed", s.log_text())

    def test_replaced_body_line_ends(self):
        # Bare LF becomes CRLF, CRLF stays, a last line gets its CRLF; the header section is kept.
        f = self.filter(script={"E": [fm.replbody(b"\nfirst\r\nsecond\n\n"), fm.replbody(b"third\r\n\r\nlast"),
                                      fm.accept]})
        s = self.server(f)
        out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("line ends", "the original"))
        self.assertEqual(self.fate(s, out).group(1), "accepted", out)
        head, _, body = s.delivered("bob@example.org")[0].partition(b"\r\n\r\n")
        self.assertTrue(head.endswith(b"\r\nSubject: line ends\r\nMessage-ID: " + head.rsplit(b"Message-ID: ", 1)[1]))
        self.assertEqual(body, b"\r\nfirst\r\nsecond\r\n\r\nthird\r\n\r\nlast\r\n")

    def test_reply_codes_reach_the_client_exactly(self):
        f = self.filter(script={
            "R": lambda d: [fm.replycode("550-5.7.1 first line\r\n550 5.7.1 100%% second line")]
            if b"carol" in d else [fm.cont],
            "E": [fm.replycode("452 4.3.1 Come back later")]})
        s = self.server(f)
        out = transaction(s.mx, "alice@sender.example", ["bob@example.org", "carol@example.org"],
                          message("hello", "body"))
        self.assertEqual(out["rcpt"], [(250, "2.1.5 Recipient OK"),
                                       (550, "5.7.1 first line\n5.7.1 100% second line")])
        self.assertEqual(out["data"], (452, "4.3.1 Come back later"))

    def test_reject_and_tempfail_defaults(self):
        f = self.filter(script={"M": lambda d: [fm.reject] if b"spammer" in d else [fm.cont], "T": [fm.tempfail]})
        s = self.server(f)
        out = transaction(s.mx, "spammer@sender.example", "bob@example.org", message("x", "y"))
        self.assertEqual(out["mail"], (550, "5.7.1 Command rejected"))
        out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", "y"))
        self.assertEqual(out["mail"][0], 250)
        self.assertEqual(out["data"], (451, "4.7.1 Service unavailable - try again later"))
        self.session_over(s)
        self.assertNotIn("event=accepted", s.log_text())
        self.assertEqual(s.delivered("bob@example.org", timeout=0), [])

    def test_discard_and_quarantine(self):
        f = self.filter(script={"E": lambda d: [fm.discard]}, )
        s = self.server(f)
        out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", "discard me"))
        self.assertEqual(out["data"][0], 250, out)
        self.assertRegex(out["data"][1], r"^2\.0\.0 OK queued as [0-9a-f]{16}$")
        self.assertEqual(self.fate(s, out).group(1), "discarded")
        self.assertEqual(s.delivered("bob@example.org", timeout=0), [])
        f.script = {"E": [fm.quarantine("looks odd"), fm.accept]}
        out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", "quarantine me"))
        self.assertEqual(out["data"][0], 250, out)
        got = s.delivered("bob@example.org")[0]
        self.assertIn(b"\r\nX-Postern-Quarantine: looks odd\r\n\r\nquarantine me", got)

    def test_discard_before_the_end_of_the_message(self):
        # SMFIR_DISCARD at MAIL, RCPT or DATA: 250 after the dot, nothing stored.
        for stage in ("M", "R", "T"):
            with self.subTest(stage):
                f = self.filter(script={stage: [fm.discard]})
                s = self.server(f)
                out = transaction(s.mx, "alice@sender.example", ["bob@example.org", "carol@example.org"],
                                  message("x", "discard me at " + stage))
                self.assertEqual(out["data"][0], 250, out)
                self.assertEqual(self.fate(s, out).group(1), "discarded", out)
                self.assertIn(f"event=milter_discard filter={f.address} stage=", s.log_text())
                self.assertEqual(s.delivered("bob@example.org", timeout=0), [])
                self.assertEqual(s.delivered("carol@example.org", timeout=0), [])
                # The discard was for that message alone.
                f.script = {}
                out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("y", "keep me"))
                self.assertEqual(self.fate(s, out).group(1), "accepted", out)
                self.assertEqual(len(s.delivered("bob@example.org")), 1)

    def test_abort_between_messages(self):
        f = self.filter(script={"R": lambda d: [fm.reject] if b"carol" in d else [fm.cont]})
        s = self.server(f)
        with smtplib.SMTP(*s.mx, timeout=10) as c:
            c.ehlo("client.example.net")
            c.mail("alice@sender.example")
            self.assertEqual(c.rcpt("carol@example.org")[0], 550)
            c.rset()
            c.mail("alice@sender.example")
            self.assertEqual(c.rcpt("bob@example.org")[0], 250)
            self.assertEqual(c.data(message("x", "second").encode())[0], 250)
            c.mail("alice@sender.example")
            self.assertEqual(c.rcpt("bob@example.org")[0], 250)
            self.assertEqual(c.data(message("x", "third").encode())[0], 250)
        order = "".join(c for c, _ in f.transactions(1)[0] if c not in "DLB")
        self.assertEqual(order, "OCHMRAMRTNEMRTNEQ", order)

    def test_progress_restarts_the_timeout(self):
        f = self.filter(script={"E": [fm.pause(0.6), fm.progress, fm.pause(0.6), fm.progress, fm.pause(0.6),
                                      fm.accept]})
        s = self.server(f, timeout="1s")
        out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", "slow but alive"))
        self.assertEqual(out["data"][0], 250, out)

    def test_progress_cannot_extend_the_stage_forever(self):
        # SMFIR_PROGRESS every 0.3s, never a final reply: failed at 10 x timeout.
        f = self.filter(script={"E": [fm.endless(fm.progress, 0.3)]})
        s = self.server(f, timeout="1s")
        started = time.monotonic()
        out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", "forever busy"))
        self.assertLess(time.monotonic() - started, 14)
        self.assertEqual(out["data"], (451, "4.7.1 Service unavailable - try again later"), out)
        self.assertIn('stage=eom error="no final reply within 10s', s.log_text())

    def test_filter_output_is_bounded(self):
        big = "v" * 60000
        cases = {
            "header count": ([fm.addheader("X-Many", str(i)) for i in range(1001)], "more than 1000 header changes"),
            "header octets": ([fm.addheader("X-Big", big) for _ in range(18)], "header changes over the size limit"),
            "recipients": ([fm.addrcpt(f"<r{i}@example.org>") for i in range(101)],
                           "more recipient additions than limits.max_recipients"),
        }
        for name, (edits, error) in cases.items():
            with self.subTest(name):
                f = self.filter(script={"E": edits + [fm.accept]})
                s = self.server(f)
                out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", name))
                self.assertEqual(out["data"], (451, "4.7.1 Service unavailable - try again later"), out)
                self.assertIn(f'stage=eom error="sent {error}"', s.log_text())
                self.session_over(s)
                self.assertNotIn("event=accepted", s.log_text())
                # Under the limits, the same edits are applied.
                f.script = {"E": edits[:3] + [fm.accept]}
                s2 = self.server(f)
                out = transaction(s2.mx, "alice@sender.example", "bob@example.org", message("y", name))
                self.assertEqual(self.fate(s2, out).group(1), "accepted", out)

    def test_addresses_from_a_filter_are_checked(self):
        cases = {
            "recipient with CRLF": fm.addrcpt("a@b\r\nDATA"),
            "bracketed recipient with CRLF": fm.addrcpt("<carol@example.org>\r\nRSET"),
            "null recipient": fm.addrcpt("<>"),
            "sender with LF": fm.chgfrom("x@sender.example\nRCPT TO:<victim@example.net>"),
            "sender with junk": fm.chgfrom("<x@sender.example> junk"),
        }
        for name, edit in cases.items():
            with self.subTest(name):
                f = self.filter(script={"E": [edit, fm.accept]})
                s = self.server(f)
                out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", name))
                self.assertEqual(out["data"], (451, "4.7.1 Service unavailable - try again later"), out)
                self.assertIn('stage=eom error="sent an address that is not one: ', s.log_text())
                self.session_over(s)
                self.assertNotIn("event=accepted", s.log_text())
        # A plain address, with or without brackets, is taken.
        f = self.filter(script={"E": [fm.addrcpt("carol@example.org"), fm.chgfrom("<>"), fm.accept]})
        s = self.server(f)
        out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", "fine"))
        self.assertEqual(self.fate(s, out).group(1), "accepted", out)
        self.assertTrue(s.delivered("carol@example.org")[0].startswith(b"Return-Path: <>\r\n"))

    @unittest.skipUnless(os.geteuid() == 0 and shutil.which("unshare")
                         and subprocess.run(["unshare", "-m", "true"]).returncode == 0,
                         "a resolv.conf of its own needs root and a mount namespace")
    def test_filter_name_that_never_resolves(self):
        # A name server that never answers, through the server's own resolv.conf:
        # the lookup of an inet: filter's host ends at the filter's timeout, not the resolver's 8s.
        d = scratch_dir("postern-milter-dns-", self)
        dns = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.addCleanup(silent.close)
        silent.bind((dns, 53))
        resolv = os.path.join(d, "resolv.conf")
        with open(resolv, "w") as f:
            f.write(f"nameserver {dns}\noptions timeout:8 attempts:1\n")
        s = Server(data_dir=self.users.data_dir(self), listeners=("mx",), tls_mx="none",
                   extra={"milter": [{"address": "inet:filter.example.com:10025", "on_error": "tempfail",
                                      "timeout": "1s"}]})
        s.command_prefix = ["unshare", "-m", "sh", "-c",
                            'mount --bind "$1" /etc/resolv.conf && shift && exec "$@"', "sh", resolv]
        s.start()
        self.addCleanup(s.cleanup)
        started = time.monotonic()
        out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", "no filter"))
        self.assertLess(time.monotonic() - started, 6)
        self.assertEqual(out["mail"], (451, "4.7.1 Service unavailable - try again later"), out)
        self.assertIn('stage=connect error="resolve filter.example.com: timed out"', s.log_text())

    def test_slow_filter_times_out(self):
        f = self.filter(script={"R": [fm.pause(4), fm.cont]})
        for on_error, expect in (("tempfail", 451), ("accept", 250)):
            s = self.server(f, timeout="1s", on_error=on_error)
            started = time.monotonic()
            out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", "y"))
            self.assertLess(time.monotonic() - started, 3.5)
            self.assertEqual(out["rcpt"][0][0], expect, out)
            if on_error == "tempfail":
                self.assertEqual(out["rcpt"][0], (451, "4.7.1 Service unavailable - try again later"))
            else:
                self.assertEqual(out["data"][0], 250, out)
            self.assertIn('error="no reply in time"', s.log_text())

    def test_nonsense_from_a_filter(self):
        cases = {
            "oversized": struct.pack(">I", 0xFFFFFFF0) + b"y",
            "zero length": struct.pack(">I", 0),
            "unknown reply": fm.packet("Z"),
            "bad reply code": fm.replycode("250 2.0.0 fine"),
            "unterminated": fm.packet("h", b"X-A\0no-nul"),
            "edit before the end": None,
            "action not negotiated": None,
        }
        for name, raw in cases.items():
            with self.subTest(name):
                if name == "edit before the end":
                    f = self.filter(script={"T": [fm.addheader("X-A", "b")]})
                elif name == "action not negotiated":
                    f = self.filter(actions=0, script={"E": [fm.addheader("X-A", "b"), fm.accept]})
                else:
                    f = self.filter(script={"E": [raw]})
                s = self.server(f, timeout="2s")
                out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", name))
                stage = out["data"] if out["data"] else out["rcpt"][0]
                self.assertEqual(stage, (451, "4.7.1 Service unavailable - try again later"), out)
                self.assertIn("event=milter_error", s.log_text())
                # The server goes on, with a new connection to the filter for the next session.
                again = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", "y"))
                self.assertEqual(again, out)
                self.assertIsNone(s.proc.poll())

    def test_negotiation_refused(self):
        for name, reply in (("version 1", fm.packet("O", struct.pack(">III", 1, 0, 0))),
                            ("unoffered step", fm.packet("O", struct.pack(">III", 6, 0, 0x800))),
                            ("short", fm.packet("O", b"\0\0\0\6"))):
            with self.subTest(name):
                f = self.filter(optneg_reply=reply)
                s = self.server(f, on_error="accept")
                out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", name))
                self.assertEqual(out["data"][0], 250, out)
                self.assertIn("stage=connect error=\"negotiation: ", s.log_text())

    def test_skipped_steps_and_no_reply_flags(self):
        # No HELO, no headers, no replies to RCPT and body; SMFIR_SKIP after the first chunk.
        f = self.filter(steps=0x2 | 0x20 | 0x8000 | 0x400, script={"B": [fm.skip]})
        s = self.server(f)
        big = "x" * 70 + "\r\n"
        out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", big * 2000))
        self.assertEqual(out["data"][0], 250, out)
        order = "".join(c for c, _ in f.transactions(1)[0] if c != "D")
        self.assertEqual(order, "OCMRTNBEQ", order)

    def test_large_message_is_read_back_from_the_spool(self):
        line = "0123456789" * 7 + "\r\n"
        text = line * 8000  # about 576 KiB: past the in-memory part, streamed to the spool file
        f = self.filter(script={"E": [fm.addheader("X-Checked", "big"), fm.accept]})
        s = self.server(f)
        out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("big", text))
        self.assertEqual(out["data"][0], 250, out)
        got = s.delivered("bob@example.org")[0]
        head, _, body = got.partition(b"\r\n\r\n")
        self.assertTrue(head.endswith(b"\r\nX-Checked: big"))
        self.assertEqual(body, text.encode() + b"\r\n")
        rec = f.transactions(1)[0]
        sent = b"".join(d for c, d in rec if c == "B")
        self.assertEqual(sent, text.encode() + b"\r\n")
        self.assertTrue(all(len(d) <= 65535 for c, d in rec if c == "B"))
        # And replaced: the new spool file carries the new body.
        f.script = {"E": [fm.replbody(b"short now\r\n"), fm.accept]}
        out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("big", text))
        self.assertEqual(out["data"][0], 250, out)
        got = s.delivered("bob@example.org", count=2)[1]
        self.assertTrue(got.endswith(b"\r\n\r\nshort now\r\n"))

    def test_body_replacement_past_a_huge_header_section(self):
        # Over 1 MiB of header fields: only the first 1 MiB is read as the header
        # section, so a replaced body would keep the rest of it as body text.
        fields = "".join(f"X-Filler-{i}: {'f' * 50}\r\n" for i in range(20000))
        for on_error in ("tempfail", "accept"):
            with self.subTest(on_error):
                f = self.filter(script={"E": [fm.replbody(b"replaced\r\n"), fm.accept]})
                s = self.server(f, on_error=on_error)
                out = transaction(s.mx, "alice@sender.example", "bob@example.org",
                                  message("huge head", "the original", extra=fields))
                self.assertIn('error="replaced the body of a message whose header section is over 1024 KiB"',
                              s.log_text())
                if on_error == "tempfail":
                    self.assertEqual(out["data"], (451, "4.7.1 Service unavailable - try again later"), out)
                    self.session_over(s)
                    self.assertNotIn("event=accepted", s.log_text())
                else:
                    # The filter left out: the message as it came.
                    self.assertEqual(self.fate(s, out).group(1), "accepted", out)
                    got = s.delivered("bob@example.org")[0]
                    self.assertTrue(got.endswith(b"X-Filler-19999: " + b"f" * 50 + b"\r\n\r\nthe original\r\n"))
                    self.assertNotIn(b"replaced", got)

    def test_bdat_transaction(self):
        f = self.filter(script={"E": [fm.addheader("X-Chunked", "yes"), fm.accept]})
        s = self.server(f)
        c = RawSMTP(*s.mx)
        self.addCleanup(c.close)
        self.assertEqual(c.reply()[0], 220)
        self.assertEqual(c.cmd("EHLO client.example.net")[0], 250)
        self.assertEqual(c.cmd("MAIL FROM:<alice@sender.example>")[0], 250)
        self.assertEqual(c.cmd("RCPT TO:<bob@example.org>")[0], 250)
        first = b"Subject: chunks\r\n\r\none "
        c.send(f"BDAT {len(first)}\r\n".encode() + first)
        self.assertEqual(c.reply()[0], 250)
        c.send(b"BDAT 5 LAST\r\ntwo\r\n")
        self.assertEqual(c.reply()[0], 250)
        c.cmd("QUIT")
        got = s.delivered("bob@example.org")[0]
        self.assertTrue(got.endswith(b"\r\nX-Chunked: yes\r\n\r\none two\r\n"), got)
        order = "".join(c for c, _ in f.transactions(1)[0] if c not in "D")
        self.assertEqual(order, "OCHMRTLNBEQ", order)

    def test_unix_socket_and_filter_macro_lists(self):
        d = scratch_dir("postern-milter-sock-", self)
        # The filter asks for its own macros at MAIL (SMFIR_SETSYMLIST in the negotiation).
        f = self.filter(unix_path=os.path.join(d, "milter.sock"), macros={2: "{mail_addr} i {client_addr}"},
                        script={"E": [fm.addheader("X-Via", "unix"), fm.accept]})
        s = self.server(f)
        out = transaction(s.mx, "alice@sender.example", "bob@example.org", message("x", "y"))
        self.assertEqual(out["data"][0], 250, out)
        self.assertIn(b"\r\nX-Via: unix\r\n", s.delivered("bob@example.org")[0])
        rec = f.transactions(1)[0]
        self.assertEqual(fm.macros(rec, "M"), {"{mail_addr}": "alice@sender.example", "i": out["data"][1].split()[-1],
                                               "{client_addr}": "127.0.0.1"})

    def test_two_filters_in_order(self):
        first = self.filter(script={"E": [fm.addheader("X-First", "1"), fm.cont]})
        second = self.filter(script={"E": [fm.addheader("X-Second", "2"), fm.cont],
                                     "R": lambda d: [fm.reject] if b"carol" in d else [fm.cont]})
        s = self.server(first, second)
        out = transaction(s.mx, "alice@sender.example", ["carol@example.org", "bob@example.org"], message("x", "y"))
        self.assertEqual(out["rcpt"], [(550, "5.7.1 Command rejected"), (250, "2.1.5 Recipient OK")])
        self.assertEqual(out["data"][0], 250)
        got = s.delivered("bob@example.org")[0]
        self.assertIn(b"\r\nX-First: 1\r\nX-Second: 2\r\n\r\n", got)
        # As under Postfix, the second filter is given the message as the first one left it.
        seen = [fm.strings(d)[0] for c, d in second.transactions(1)[0] if c == "L"]
        self.assertEqual(seen[-1], "X-First")
        self.assertNotIn("X-First", [fm.strings(d)[0] for c, d in first.transactions(1)[0] if c == "L"])


if __name__ == "__main__":
    unittest.main()
