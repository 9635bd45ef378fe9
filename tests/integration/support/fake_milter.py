"""A small milter (filter side of the Sendmail/Postfix milter protocol,
version 6), standard library only, for the replies the real filters
cannot be made to give on demand: header edits, a replaced body, a new
sender, recipients added and removed, quarantine, discard, multi-line
reply codes, malformed and oversized packets, slowness.

`script` maps a command letter ("C" connect, "H" HELO, "M" MAIL, "R" RCPT,
"T" DATA, "L" header, "N" end of headers, "B" body, "E" end of message)
to what the filter answers: a list of packets (bytes, made with the
helpers below) and pauses (`pause(seconds)`); by default "c" (continue).
Everything the MTA sent is recorded per connection in `sessions`, as
(command letter, data) pairs."""
import socket
import socketserver
import struct
import threading
import time

from harness import free_port


def packet(cmd, data=b""):
    return struct.pack(">I", len(data) + 1) + cmd.encode() + data


def z(*strings):
    return b"".join(s.encode() + b"\0" for s in strings)


accept = packet("a")
cont = packet("c")
reject = packet("r")
tempfail = packet("t")
discard = packet("d")
progress = packet("p")
skip = packet("s")


def replycode(text):
    return packet("y", z(text))


def addheader(name, value):
    return packet("h", z(name, value))


def insheader(index, name, value):
    return packet("i", struct.pack(">I", index) + z(name, value))


def chgheader(index, name, value):
    return packet("m", struct.pack(">I", index) + z(name, value))


def replbody(data):
    return packet("b", data)


def chgfrom(address):
    return packet("e", z(address))


def addrcpt(address):
    return packet("+", z(address))


def delrcpt(address):
    return packet("-", z(address))


def quarantine(reason):
    return packet("q", z(reason))


class pause:
    def __init__(self, seconds):
        self.seconds = seconds


class endless:
    """Sends `data` every `seconds` until the MTA hangs up."""
    def __init__(self, data, seconds):
        self.data = data
        self.seconds = seconds


REPLIED = set("CHMRTLNBE")
# SMFIP_NR_* for the commands above: with these set, the MTA waits for no reply.
NO_REPLY_FLAG = {"C": 0x1000, "H": 0x2000, "M": 0x4000, "R": 0x8000, "T": 0x10000, "L": 0x80, "N": 0x40000,
                 "B": 0x80000}


class FakeMilter:
    def __init__(self, script=None, actions=0x1FF, steps=0, macros=None, version=6, optneg_reply=None,
                 unix_path=None):
        self.script = script or {}
        self.actions = actions
        self.steps = steps
        self.macros = macros or {}  # stage number -> "name name" (SETSYMLIST in the negotiation)
        self.version = version
        self.optneg_reply = optneg_reply  # raw bytes instead of the usual answer
        self.sessions = []
        self.lock = threading.Lock()
        self.port = free_port()
        owner = self

        class Handler(socketserver.BaseRequestHandler):
            def handle(self):
                owner._serve(self.request)

        self.unix_path = unix_path
        if unix_path:
            self.server = socketserver.ThreadingUnixStreamServer(unix_path, Handler)
        else:
            socketserver.ThreadingTCPServer.allow_reuse_address = True
            self.server = socketserver.ThreadingTCPServer(("127.0.0.1", self.port), Handler)
        self.server.daemon_threads = True
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    @property
    def address(self):
        return f"unix:{self.unix_path}" if self.unix_path else f"inet:127.0.0.1:{self.port}"

    def stop(self):
        self.server.shutdown()
        self.server.server_close()

    def transactions(self, count=1, timeout=10.0):
        """Waits for `count` finished connections that saw a MAIL (not the
        harness's port probes) and returns their records."""
        deadline = time.monotonic() + timeout
        while True:
            with self.lock:
                done = [list(r) for r in self.sessions if r and r[-1][0] == "Q" and any(c == "M" for c, _ in r)]
            if len(done) >= count or time.monotonic() > deadline:
                return done

    def _read(self, sock, n):
        buf = b""
        while len(buf) < n:
            chunk = sock.recv(n - len(buf))
            if not chunk:
                raise EOFError
            buf += chunk
        return buf

    def _serve(self, sock):
        record = []
        with self.lock:
            self.sessions.append(record)
        try:
            while True:
                (length,) = struct.unpack(">I", self._read(sock, 4))
                body = self._read(sock, length)
                cmd, data = chr(body[0]), body[1:]
                with self.lock:
                    record.append((cmd, data))
                if cmd == "O":
                    if self.optneg_reply is not None:
                        sock.sendall(self.optneg_reply)
                        continue
                    extra = b"".join(struct.pack(">I", stage) + z(names) for stage, names in self.macros.items())
                    sock.sendall(packet("O", struct.pack(">III", self.version, self.actions, self.steps) + extra))
                elif cmd == "Q":
                    return
                elif cmd in REPLIED:
                    if self.steps & NO_REPLY_FLAG.get(cmd, 0):
                        continue
                    answer = self.script.get(cmd, [cont])
                    if callable(answer):
                        answer = answer(data)
                    for item in answer:
                        if isinstance(item, pause):
                            time.sleep(item.seconds)
                        elif isinstance(item, endless):
                            while True:
                                sock.sendall(item.data)
                                time.sleep(item.seconds)
                        else:
                            sock.sendall(item)
        except (EOFError, ConnectionError, OSError):
            pass
        finally:
            sock.close()


def strings(data):
    """The NUL-terminated strings of a packet's data."""
    return [s.decode("utf-8", "replace") for s in data.split(b"\0")[:-1]]


def macros(record, for_command):
    """The macros sent before `for_command` (the last SMFIC_MACRO for it)."""
    found = {}
    for cmd, data in record:
        if cmd == "D" and chr(data[0]) == for_command:
            parts = strings(data[1:])
            found = dict(zip(parts[0::2], parts[1::2]))
    return found
