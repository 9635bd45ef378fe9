"""Ending the processes a test started, by their handle (never by name)."""
import signal
import subprocess


def stop_process(proc, timeout=10, sig=signal.SIGTERM):
    """Sends `sig` to `proc` if it still runs, waits up to `timeout` seconds,
    then kills it. Returns its exit status (None for no process)."""
    if proc is None:
        return None
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    return proc.returncode
