"""Running a tool (nft, iptables-save, ovs-ofctl) to its end, bounded in time."""

from __future__ import annotations

import subprocess
import threading


def communicate(proc: subprocess.Popen[str], timeout: float) -> tuple[str, str] | None:
    """``proc``'s (stdout, stderr) once it ends, or None when it was killed after ``timeout``
    seconds. A timer kills it rather than a polling wait that sleeps: on hosts where a
    preloaded clock library (libfaketime) makes ``nanosleep`` fail, the read still works."""
    killed = threading.Event()

    def kill() -> None:
        killed.set()
        proc.kill()

    timer = threading.Timer(timeout, kill)
    timer.start()
    try:
        out, err = proc.communicate()
    finally:
        timer.cancel()
    return None if killed.is_set() else (out, err)
