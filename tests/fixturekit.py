"""The fixture captures (pcap and pcapng), reading one into a packet table, and the recorded
cross-point scenarios (``crosspoint/SCENARIO-POINT.pcap``) as named points."""

from __future__ import annotations

import contextlib
from pathlib import Path

from nettrail.capture import open_capture
from nettrail.capture.points import read_points, read_table
from nettrail.errors import CaptureError
from nettrail.model.table import PacketTable, PointData

FIXTURES = Path(__file__).resolve().parent / "fixtures"
CAPTURES = sorted(
    p for d in ("captures", "crosspoint") for p in (FIXTURES / d).iterdir()
    if p.suffix in (".pcap", ".pcapng")
)
CROSS = FIXTURES / "crosspoint"
SCENARIOS = sorted({p.name.split("-")[0] for p in CROSS.glob("*.pcap")})


def fixture_table(path: Path) -> PacketTable:
    """``path`` read into a table of point ``p`` (a fault partway: the rows before it)."""
    table = PacketTable("p")
    with contextlib.suppress(CaptureError):
        read_table(open_capture(str(path), "p"), table)
    return table


def scenario_inputs(scenario: str) -> list[tuple[str, str]]:
    """(point, path) of each capture of a recorded cross-point scenario, by file name."""
    return [(p.stem.split("-", 1)[1], str(p)) for p in sorted(CROSS.glob(f"{scenario}-*.pcap"))]


def scenario_points(scenario: str) -> list[PointData]:
    """The points of a recorded cross-point scenario, read."""
    return read_points(scenario_inputs(scenario))[0]
