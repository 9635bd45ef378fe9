"""A private OpenDMARC (Debian's `opendmarc`) as a milter, on a free
loopback port, with its own configuration, asking a private dnsmasq for
the DMARC and SPF records of the test domains. OpenDMARC has no setting
for its name server (it reads /etc/resolv.conf), so it runs in a mount
namespace of its own where a resolv.conf naming that dnsmasq is bound
over /etc/resolv.conf; this needs root (`usable()` says whether the
test can run). Both processes are stopped by their PIDs."""
import os
import random
import shutil
import subprocess

from harness import free_port, wait_for, wait_for_port
from support.processes import stop_process
from support.scratch import scratch_dir


def usable():
    """True when this process may make a mount namespace and bind port 53."""
    if os.geteuid() != 0 or not shutil.which("opendmarc") or not shutil.which("dnsmasq"):
        return False
    out = subprocess.run(["unshare", "-m", "true"], capture_output=True)
    return out.returncode == 0


class OpenDmarcMilter:
    def __init__(self, txt_records, authserv_id):
        """`txt_records`: {name: TXT value} served to it (DMARC and SPF)."""
        self.dir = scratch_dir("postern-opendmarc-")
        self.port = free_port()
        # A loopback address of its own: port 53 there is free whatever else runs.
        self.dns_address = f"127.{random.randint(1, 254)}.{random.randint(1, 254)}.{random.randint(2, 254)}"
        args = ["dnsmasq", "--no-daemon", "--no-resolv", "--no-hosts", f"--listen-address={self.dns_address}",
                "--bind-interfaces", "--port=53", "--user=root", f"--pid-file={self.dir}/dnsmasq.pid"]
        args += [f"--txt-record={name},{value}" for name, value in txt_records.items()]
        self.output = open(os.path.join(self.dir, "output.txt"), "ab")
        self.dns = subprocess.Popen(args, stdout=self.output, stderr=self.output)
        if not wait_for(lambda: b"started" in self._output() or self.dns.poll() is not None,
                        timeout=10) or self.dns.poll() is not None:
            raise RuntimeError("dnsmasq did not start")
        resolv = os.path.join(self.dir, "resolv.conf")
        with open(resolv, "w") as f:
            f.write(f"nameserver {self.dns_address}\noptions timeout:1 attempts:1\n")
        with open(os.path.join(self.dir, "ignore"), "w") as f:
            f.write("192.0.2.1\n")  # the default would ignore mail from 127.0.0.1, the test's client
        conf = os.path.join(self.dir, "opendmarc.conf")
        with open(conf, "w") as f:
            f.write(f"AuthservID {authserv_id}\nTrustedAuthservIDs {authserv_id}\n"
                    f"Socket inet:{self.port}@127.0.0.1\nPidFile {self.dir}/opendmarc.pid\nSyslog false\n"
                    "RejectFailures true\nSPFSelfValidate true\nIgnoreAuthenticatedClients false\n"
                    f"IgnoreHosts {self.dir}/ignore\n"
                    "PublicSuffixList /usr/share/publicsuffix/public_suffix_list.dat\n")
        self.proc = subprocess.Popen(
            ["unshare", "-m", "sh", "-c", 'mount --bind "$1" /etc/resolv.conf && exec opendmarc -f -c "$2"', "sh",
             resolv, conf], stdout=self.output, stderr=self.output)
        wait_for_port("127.0.0.1", self.port, timeout=20, proc=self.proc)

    def _output(self):
        with open(os.path.join(self.dir, "output.txt"), "rb") as f:
            return f.read()

    @property
    def address(self):
        return f"inet:127.0.0.1:{self.port}"

    def cleanup(self):
        stop_process(self.proc)
        stop_process(self.dns)
        self.output.close()
        shutil.rmtree(self.dir, ignore_errors=True)
