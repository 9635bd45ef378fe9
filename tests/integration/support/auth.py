"""A raw SMTP conversation for the AUTH tests that can STARTTLS and time
its replies, and the password the AUTH tests give their users. Nothing
here knows the server's internals."""
import time

from harness import RawSMTP
from support.tls import tls_context

PASSWORD = "correct horse battery"


class AuthSMTP(RawSMTP):
    """RawSMTP plus EHLO parsing, STARTTLS and timing of replies."""

    def __init__(self, host, port, timeout=15.0):
        super().__init__(host, port, timeout=timeout)
        self.greeting = self.reply()

    def ehlo(self, name="client.example.net"):
        code, lines = self.cmd("EHLO " + name)
        assert code == 250, lines
        self.ehlo_lines = lines
        return lines

    def mechanisms(self):
        """The AUTH keyword's mechanisms from the last EHLO, or None."""
        for line in self.ehlo_lines:
            words = line[4:].split()
            if words and words[0].upper() == "AUTH":
                return words[1:]
        return None

    def starttls(self):
        code, lines = self.cmd("STARTTLS")
        assert code == 220, lines
        self.sock = tls_context().wrap_socket(self.sock, server_hostname="mx.example.org")
        self.buf = b""
        return self.ehlo()

    def timed(self, command):
        t = time.monotonic()
        r = self.cmd(command)
        return r, time.monotonic() - t
