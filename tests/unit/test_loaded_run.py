"""A healthy lab run recorded on a loaded machine (tests/fixtures/loaded/): the switches passed
packets on milliseconds late, and ``-i any`` stamped one packet's copies up to 5.7 ms apart."""

from __future__ import annotations

from pathlib import Path

from nettrail.lab.manifest import captures_of
from nettrail.run import analyze_files

RUN = Path(__file__).parent.parent / "fixtures" / "loaded" / "netnode-client-healthy"


def test_late_copies_are_copies_not_retransmissions_and_the_run_stays_healthy() -> None:
    captures, ifnames = captures_of(RUN)
    analysis = analyze_files(captures, ifnames=ifnames).analysis
    by_point = {(c.point, c.server.port): c for c in analysis.connections}
    assert {c.retransmissions for c in analysis.connections} == {0}
    assert by_point[("compute", 22)].copies >= 40
    assert by_point[("netnode", 22)].copies >= 40
    assert not [f for f in analysis.findings if f.kind == "retransmission"]
    assert analysis.diagnosis is None
