"""The fixture captures (pcap and pcapng), reading one into a packet table, and the recorded
cross-point scenarios (``crosspoint/SCENARIO-POINT.pcap``) as named points."""

from __future__ import annotations

import contextlib
import json
from pathlib import Path
from typing import Any

import pytest

from nettrail.capture import open_capture, points
from nettrail.capture.points import read_points, read_table
from nettrail.errors import CaptureError
from nettrail.model.analysis import Analysis
from nettrail.model.table import PacketTable, PointData
from nettrail.report.json import to_dict
from nettrail.run import AnalysisRun, analyze_files

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


def reference_run(path: Path, monkeypatch: pytest.MonkeyPatch) -> AnalysisRun:
    """``analyze_files`` of ``path`` as one point with every row read as a record (``full``):
    what the table path's analysis must equal."""
    real = points.read_table

    def reference(capture: Any, table: PacketTable, **kw: Any) -> None:
        real(capture, table, full=True)

    with monkeypatch.context() as m:
        m.setattr(points, "read_table", reference)
        return analyze_files([("p", str(path))])


def json_of(analysis: Analysis) -> Any:
    """The JSON report's data of ``analysis``, as a reader of the report gets it."""
    return json.loads(json.dumps(to_dict(analysis)))
