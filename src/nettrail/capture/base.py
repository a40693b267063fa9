"""What every capture reader shares: the statistics it fills in while records stream out."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from nettrail.errors import CaptureError


@dataclass
class CaptureStats:
    """Filled in by a reader as it streams: read it after iteration ends (or fails).

    ``format`` is ``pcap``, ``pcapng`` or ``tcpdump-text``; ``packets`` counts records yielded;
    ``interfaces`` maps interface index to name where the capture names them; ``skipped``
    counts records not turned into packets, by reason (``unknown-block``, ``other-protocol``,
    ``unparsed-line``...); ``warnings`` are one-line notes naming the place (file, line or byte);
    ``error`` is the fault that ended reading early, if any (records before it were yielded).
    """

    path: str
    point: str
    format: str = "unknown"
    packets: int = 0
    interfaces: dict[int, str] = field(default_factory=dict)
    skipped: Counter[str] = field(default_factory=Counter)
    warnings: list[str] = field(default_factory=list)
    error: CaptureError | None = None
