"""A small LMTP server (RFC 2033) for the tests that need an LMTP server
to answer what Dovecot will not on demand: after the final dot it gives
each accepted recipient the reply `after_dot(recipient, n)` chooses (n:
how many messages that recipient had before, 1-based), and keeps every
message it answered 250 for; with close_after_rset it hangs up after each
RSET, as a server that drops idle connections would. On a unix socket or a loopback TCP port;
threads, stdlib only; stopped with stop()."""
import os
import socket
import socketserver
import threading

import harness


class LmtpPeer:
    def __init__(self, after_dot, unix_path=None, close_after_rset=False):
        self.after_dot = after_dot
        self.close_after_rset = close_after_rset  # drop every connection once it is idle
        self.connections = 0
        self.lock = threading.Lock()
        self.seen = {}        # recipient -> messages received (whatever the reply)
        self.delivered = []   # (sender, recipient, message) answered 250
        self.rcpt_checks = 0  # transactions that ended in RSET (recipient checks)
        peer = self

        class Handler(socketserver.StreamRequestHandler):
            timeout = 30

            def reply(self, line):
                self.wfile.write(line.encode() + b"\r\n")
                self.wfile.flush()

            def handle(self):
                with peer.lock:
                    peer.connections += 1
                self.reply("220 lmtp.test LMTP ready")
                sender, rcpts = None, []
                while True:
                    line = self.rfile.readline(4096)
                    if not line:
                        return
                    cmd = line.decode("utf-8", "replace").rstrip("\r\n")
                    verb = cmd.split(" ", 1)[0].upper()
                    if verb == "LHLO":
                        self.reply("250-lmtp.test")
                        self.reply("250-ENHANCEDSTATUSCODES")
                        self.reply("250 PIPELINING")
                    elif verb == "MAIL":
                        sender, rcpts = cmd[cmd.index("<") + 1:cmd.rindex(">")], []
                        self.reply("250 2.1.0 OK")
                    elif verb == "RCPT":
                        rcpts.append(cmd[cmd.index("<") + 1:cmd.rindex(">")])
                        self.reply("250 2.1.5 OK")
                    elif verb == "RSET":
                        with peer.lock:
                            peer.rcpt_checks += 1
                        sender, rcpts = None, []
                        self.reply("250 2.0.0 OK")
                        if peer.close_after_rset:
                            return
                    elif verb == "DATA":
                        self.reply("354 go ahead")
                        data = bytearray()
                        while True:
                            chunk = self.rfile.readline(1 << 20)
                            if not chunk or chunk == b".\r\n":
                                break
                            data += chunk[1:] if chunk.startswith(b"..") else chunk
                        for r in rcpts:
                            with peer.lock:
                                n = peer.seen[r] = peer.seen.get(r, 0) + 1
                            answer = peer.after_dot(r, n)
                            if answer.startswith("2"):
                                with peer.lock:
                                    peer.delivered.append((sender, r, bytes(data)))
                            self.reply(answer)
                        sender, rcpts = None, []
                    elif verb == "QUIT":
                        self.reply("221 2.0.0 Bye")
                        return
                    else:
                        self.reply("500 5.5.1 Unknown command")

        if unix_path:
            class Server(socketserver.ThreadingUnixStreamServer):
                daemon_threads = True
            self.server = Server(unix_path, Handler)
            self.address = unix_path
        else:
            class Server(socketserver.ThreadingTCPServer):
                daemon_threads = True
                allow_reuse_address = True
            self.server = Server(("127.0.0.1", harness.free_port()), Handler)
            self.address = self.server.server_address
        self.unix_path = unix_path
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def delivered_to(self, recipient):
        with self.lock:
            return [d for d in self.delivered if d[1] == recipient]

    def stop(self):
        self.server.shutdown()
        self.server.server_close()
        if self.unix_path and os.path.exists(self.unix_path):
            os.unlink(self.unix_path)
