"""A throwaway redis-server on a free loopback port, stopped by its PID."""
import shutil
import subprocess

from harness import free_port, wait_for_port
from support.processes import stop_process
from support.scratch import scratch_dir


class RedisServer:
    def __init__(self):
        self.port = free_port()
        self.dir = scratch_dir("postern-redis-")
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", self.dir, "--loglevel", "warning"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_for_port("127.0.0.1", self.port, timeout=10, proc=self.proc)

    def url(self, db=0):
        return f"redis://127.0.0.1:{self.port}/{db}"

    def stop(self):
        stop_process(self.proc)
        self.proc = None
        shutil.rmtree(self.dir, ignore_errors=True)
