"""The fixture captures (pcap and pcapng) and reading one into a packet table."""

from __future__ import annotations

import contextlib
from pathlib import Path

from nettrail.capture import open_capture
from nettrail.capture.points import read_table
from nettrail.errors import CaptureError
from nettrail.model.table import PacketTable

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CAPTURES = sorted(
    p for d in ("captures", "crosspoint") for p in (FIXTURES / d).iterdir()
    if p.suffix in (".pcap", ".pcapng")
)


def fixture_table(path: Path) -> PacketTable:
    """``path`` read into a table of point ``p`` (a fault partway: the rows before it)."""
    table = PacketTable("p")
    with contextlib.suppress(CaptureError):
        read_table(open_capture(str(path), "p"), table)
    return table
