"""A queue run into a real next hop, Postfix's smtp-sink: messages that
waited for a next hop that was down leave over a few reused connections
(not one each) when `postern queue retry` asks for them, every one is
counted by smtp-sink, each is logged as sent once, and no in-flight marker
is left behind."""
import os
import re
import shutil
import smtplib
import subprocess
import time
import unittest

import harness
from queue_peers import add_user, queue_list, wait_for
from support.processes import stop_process
from support.tls import tls_context

SENDER = "alice@example.org"
COUNT = 40


class SmtpSink:
    """smtp-sink on a loopback port; its -c counters (sessions, messages) read from its output."""

    def __init__(self, port, workdir):
        self.out_path = os.path.join(workdir, "sink.out")
        user = ["-u", "nobody"] if os.geteuid() == 0 else []
        self.proc = subprocess.Popen(["smtp-sink", *user, "-c", f"127.0.0.1:{port}", "100"],
                                     stdout=open(self.out_path, "wb"), stderr=subprocess.STDOUT)
        harness.wait_for_port("127.0.0.1", port, proc=self.proc)

    def counters(self):
        with open(self.out_path, "rb") as f:
            records = f.read().replace(b"\n", b"\r").split(b"\r")
        for record in reversed(records):
            m = re.search(rb"sess=(\d+) quit=(\d+) mesg=(\d+)", record)
            if m:
                return {"sessions": int(m.group(1)), "messages": int(m.group(3))}
        return {"sessions": 0, "messages": 0}

    def stop(self):
        stop_process(self.proc)


@unittest.skipUnless(shutil.which("smtp-sink"), "smtp-sink (Debian's postfix) is not installed")
class QueueDrainTest(unittest.TestCase):
    def test_queue_run_reuses_connections_and_delivers_each_once(self):
        hop_port = harness.free_port()  # nothing listens yet: the next hop is down
        server = harness.Server(extra={
            "queue": {"retry_initial": "1h", "retry_max": "2h", "lifetime": "1d"},
            "relay": {"routes": {"remote.test": f"127.0.0.1:{hop_port}"}},
        })
        server.start()
        self.addCleanup(server.cleanup)
        add_user(server, SENDER)
        host, port = server.submission
        with smtplib.SMTP(host, port, timeout=20) as s:
            s.ehlo("client.test")
            s.starttls(context=tls_context())
            s.ehlo("client.test")
            s.login(SENDER, "queue-test-password")
            for i in range(COUNT):
                msg = (f"From: <{SENDER}>\r\nTo: <bob@remote.test>\r\nSubject: drain {i}\r\n"
                       f"Message-ID: <drain-{i}-{time.time_ns()}@example.org>\r\n\r\nmessage {i}\r\n")
                s.sendmail(SENDER, [f"bob{i}@remote.test"], msg.encode())
        self.assertTrue(wait_for(lambda: queue_list(server).count("deferred") >= COUNT, timeout=30),
                        queue_list(server))

        sink = SmtpSink(hop_port, server.data_dir)
        self.addCleanup(sink.stop)
        r = server.cli("queue", "retry")
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertTrue(wait_for(lambda: sink.counters()["messages"] >= COUNT, timeout=30), sink.counters())
        self.assertTrue(wait_for(lambda: "Queue is empty" in queue_list(server), timeout=20), queue_list(server))

        counted = sink.counters()
        self.assertEqual(counted["messages"], COUNT)
        log = server.log_text()
        sent = re.findall(r"queue_id=([0-9a-f]{16}) event=delivery .*status=sent", log)
        self.assertEqual(len(sent), COUNT, log[-3000:])
        self.assertEqual(len(set(sent)), COUNT)  # each message sent once
        # Reused connections: at most 20 to one destination, never one per message.
        connects = len(re.findall(r"event=relay_connect .*relay=127\.0\.0\.1", log))
        self.assertGreaterEqual(connects, 1)
        self.assertLessEqual(connects, 20)
        # smtp-sink saw the same connections (and the readiness probe's).
        self.assertEqual(counted["sessions"], connects + 1)
        # Every connection has ended: its in-flight marker went with it.
        inflight = os.path.join(server.data_dir, "queue", "inflight")
        self.assertTrue(wait_for(lambda: os.listdir(inflight) == [], timeout=10), os.listdir(inflight))
        self.assertNotIn("possible_duplicate", log)


if __name__ == "__main__":
    unittest.main()
