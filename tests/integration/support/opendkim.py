"""A private OpenDKIM (Debian's `opendkim`) as a milter in verify mode, on
a free loopback port, with its own configuration: public keys come from a
TestPublicKeys file (OpenDKIM's own hook for tests) instead of DNS, so
nothing leaves the machine. Stopped by its PID."""
import os
import re
import shutil
import subprocess

from harness import free_port, wait_for_port
from support.processes import stop_process
from support.scratch import scratch_dir


def txt_record(keygen_output):
    """(name, value) of the TXT record `postern dkim keygen` printed."""
    line = next(l for l in keygen_output.splitlines() if " IN TXT " in l)
    return line.split()[0].rstrip("."), "".join(re.findall(r'"([^"]*)"', line))


class OpenDkimMilter:
    def __init__(self, records, authserv_id):
        """`records`: [(name, TXT value)], the keys it may look up."""
        self.dir = scratch_dir("postern-opendkim-")
        self.port = free_port()
        keys = os.path.join(self.dir, "keys")
        with open(keys, "w") as f:
            for name, value in records:
                f.write(f"{name} {value}\n")
        conf = os.path.join(self.dir, "opendkim.conf")
        with open(conf, "w") as f:
            f.write(f"Mode v\nSocket inet:{self.port}@127.0.0.1\nSyslog no\nBackground no\n"
                    f"PidFile {self.dir}/opendkim.pid\nTestPublicKeys {keys}\nAuthservID {authserv_id}\n"
                    "AlwaysAddARHeader yes\n")
        self.output = open(os.path.join(self.dir, "output.txt"), "ab")
        self.proc = subprocess.Popen(["opendkim", "-f", "-x", conf], stdout=self.output, stderr=self.output)
        wait_for_port("127.0.0.1", self.port, timeout=20, proc=self.proc)

    @property
    def address(self):
        return f"inet:127.0.0.1:{self.port}"

    def cleanup(self):
        stop_process(self.proc)
        self.output.close()
        shutil.rmtree(self.dir, ignore_errors=True)
