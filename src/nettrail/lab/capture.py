"""tcpdump at a lab capture point: start it, wait until it really listens, stop it cleanly."""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

from nettrail.errors import LabError
from nettrail.lab import shell
from nettrail.lab.plan import in_ns

SNAPLEN = 2048
"""Bytes kept per packet: a full 1500-byte frame inside VXLAN fits. In immediate mode libpcap
sizes ring slots by the snaplen, so tcpdump's 262144 default leaves a handful of slots and
bursts (one packet crossing five bridge ports) are dropped."""
BUFFER_KIB = 8192
_READY = b"listening on"
_COUNTS = re.compile(rb"(\d+) packets? (captured|received by filter|dropped by kernel)")


@dataclass
class Capture:
    """A running (then stopped) ``tcpdump -i any`` in one namespace writing one pcap."""

    point: str
    netns: str
    pcap: Path
    proc: subprocess.Popen[bytes]
    stderr: bytes = b""
    counts: dict[str, int] | None = None


def start(point: str, netns: str, pcap: Path, timeout: float = 5.0) -> Capture:
    """Start tcpdump on every interface of ``netns``; return once it prints "listening on"."""
    argv = in_ns(netns, "tcpdump", "-i", "any", "-n", "-U", "--immediate-mode", "-Z", "root",
                 "-s", str(SNAPLEN), "-B", str(BUFFER_KIB), "-w", str(pcap))
    proc = shell.spawn(argv, stderr_pipe=True)
    cap = Capture(point, netns, pcap, proc)
    assert proc.stderr is not None
    fd = proc.stderr.fileno()
    deadline = time.monotonic() + timeout
    while _READY not in cap.stderr:
        remaining = deadline - time.monotonic()
        ready, _, _ = select.select([fd], [], [], max(remaining, 0))
        chunk = os.read(fd, 4096) if ready else b""
        if not chunk:
            stop(cap)
            why = cap.stderr.decode(errors="replace").strip() or "no output"
            raise LabError(f"tcpdump in {netns} did not start listening: {why}")
        cap.stderr += chunk
    return cap


def stop(cap: Capture, timeout: float = 5.0) -> None:
    """SIGINT tcpdump so it flushes the pcap, wait, and read its packet counts."""
    if cap.proc.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            cap.proc.send_signal(signal.SIGINT)
    try:
        _, err = cap.proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        cap.proc.kill()
        _, err = cap.proc.communicate()
    cap.stderr += err or b""
    cap.counts = {m.group(2).decode().replace(" ", "-"): int(m.group(1))
                  for m in _COUNTS.finditer(cap.stderr)}
