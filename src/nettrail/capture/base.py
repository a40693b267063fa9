"""What every capture reader shares: the statistics it fills in while records stream out,
and, for the binary ones, reading a file a chunk at a time."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import BinaryIO

from nettrail.errors import CaptureError


@dataclass
class CaptureStats:
    """Filled in by a reader as it streams: read it after iteration ends (or fails).

    ``format`` is ``pcap``, ``pcapng`` or ``tcpdump-text``; ``packets`` counts records yielded;
    ``interfaces`` maps interface index to name where the capture names them; ``skipped``
    counts records not turned into packets, by reason (``unknown-block``, ``other-protocol``,
    ``unparsed-line``...); ``warnings`` are one-line notes naming the place (file, line or byte);
    ``error`` is the fault that ended reading early, if any (records before it were yielded);
    ``dropped`` the packets the capture itself says it lost (tcpdump's "N packets dropped by
    kernel" pasted with its text, a pcapng interface statistics block, a lab or collect
    manifest): a packet missing at this point may be one the capture missed.
    """

    path: str
    point: str
    format: str = "unknown"
    packets: int = 0
    interfaces: dict[int, str] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    error: CaptureError | None = None
    dropped: int = 0


CHUNK = 1 << 20
"""Bytes a binary reader reads at a time."""


def refill(f: BinaryIO, buf: bytes, pos: int, base: int) -> tuple[bytes, int] | None:
    """The next buffer of a file read a chunk at a time, and the file offset of its first
    byte: what is left of ``buf`` from ``pos`` on (``buf`` starts at offset ``base``) and the
    next chunk; None at the end of the file."""
    chunk = f.read(CHUNK)
    if not chunk:
        return None
    return (buf[pos:] + chunk if pos < len(buf) else chunk), base + pos
