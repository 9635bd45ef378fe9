"""A small SMTP load generator for the Python bench scripts: `sessions`
persistent connections send `count` messages in all, MAIL/RCPT/DATA
pipelined (RFC 2920), optionally after AUTH PLAIN (for relaying through
Postern's submission listener, which Postfix's smtp-source cannot do) and
optionally paced to a total rate. Returns the time from the final "." to
its 250 for every message, in seconds. Standard library only."""
import base64
import socket
import threading
import time


class SmtpError(RuntimeError):
    pass


class _Conn:
    def __init__(self, port, timeout=120):
        self.s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.buf = b""

    def reply(self):
        while True:
            while b"\r\n" in self.buf:
                line, self.buf = self.buf.split(b"\r\n", 1)
                if len(line) < 4 or line[3:4] == b" ":
                    return line
            chunk = self.s.recv(65536)
            if not chunk:
                raise SmtpError("connection closed")
            self.buf += chunk

    def expect(self, prefix):
        line = self.reply()
        if not line.startswith(prefix):
            raise SmtpError(f"expected {prefix!r}, got {line!r}")
        return line


def message_bytes(size, subject="load"):
    head = f"From: load@load.example\r\nTo: rcpt@bench.example\r\nSubject: {subject}\r\n\r\n".encode()
    line = b"x" * 76 + b"\r\n"
    body = line * max(1, (size - len(head)) // len(line))
    return head + body


def send(port, count, sessions, size, mail_from, rcpt, auth=None, rate=None):
    """Sends `count` messages over `sessions` connections; returns the latencies
    (seconds from the final "." to its 250). `auth` = (user, password) for
    AUTH PLAIN; `rate` = messages per second in all (None: as fast as possible)."""
    data = message_bytes(size) + b".\r\n"
    envelope = f"MAIL FROM:<{mail_from}>\r\nRCPT TO:<{rcpt}>\r\nDATA\r\n".encode()
    latencies, errors = [], []
    lock = threading.Lock()
    shares = [count // sessions + (1 if i < count % sessions else 0) for i in range(sessions)]
    start = time.perf_counter()

    def worker(index, n):
        try:
            c = _Conn(port)
            c.expect(b"220")
            c.s.sendall(b"EHLO load.example\r\n")
            c.expect(b"250")
            if auth:
                token = base64.b64encode(f"\0{auth[0]}\0{auth[1]}".encode()).decode()
                c.s.sendall(f"AUTH PLAIN {token}\r\n".encode())
                c.expect(b"235")
            mine = []
            for k in range(n):
                if rate:
                    # Message k of this session is due at its slot of the total rate.
                    due = start + (k * sessions + index) / rate
                    pause = due - time.perf_counter()
                    if pause > 0:
                        time.sleep(pause)
                c.s.sendall(envelope)
                c.expect(b"250")
                c.expect(b"250")
                c.expect(b"354")
                c.s.sendall(data)
                t0 = time.perf_counter()
                c.expect(b"250")
                mine.append(time.perf_counter() - t0)
            c.s.sendall(b"QUIT\r\n")
            c.s.close()
            with lock:
                latencies.extend(mine)
        except Exception as e:  # reported below; a benchmark never hides a failure
            with lock:
                errors.append(e)

    threads = [threading.Thread(target=worker, args=(i, n)) for i, n in enumerate(shares) if n]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if errors:
        raise SmtpError(f"{len(errors)} sessions failed, first: {errors[0]}")
    return latencies


def percentile(values, q):
    v = sorted(values)
    return v[min(len(v) - 1, int(q * len(v)))]
