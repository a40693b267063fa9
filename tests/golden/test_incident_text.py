"""The incident's own two-host text: the network node is the ssh client, no seq numbers, no
router-namespace interfaces, 25 ms of skew and one timestamp pasted without its hour's first
digit (tests/fixtures/labruns/incident-*.txt, made from a recorded lab run)."""

from __future__ import annotations

from pathlib import Path

from nettrail.analyze.clock import describe_offset
from nettrail.run import analyze_files

RUNS = Path(__file__).parent.parent / "fixtures" / "labruns"
FIP = "203.0.113.223"


def _analysis() -> object:
    files = [("netnode", str(RUNS / "incident-netnode.txt")),
             ("compute", str(RUNS / "incident-compute.txt"))]
    return analyze_files(files).analysis


def test_the_router_reset_and_both_nat_owners_are_found() -> None:
    from nettrail.model.analysis import Analysis

    a = _analysis()
    assert isinstance(a, Analysis) and a.diagnosis is not None
    assert a.diagnosis.kinds[:2] == ("asymmetric-nat", "reset-not-from-server")
    assert "server reset" not in a.diagnosis.headline
    assert FIP in a.diagnosis.headline and "netnode then resets" in a.diagnosis.headline
    asym = next(f for f in a.findings if f.kind == "asymmetric-nat")
    assert asym.details["request_at"] == "between netnode and compute"
    assert asym.details["reply_at"] == "at compute"


def test_one_translation_is_listed_once_per_direction() -> None:
    from nettrail.model.analysis import Analysis

    a = _analysis()
    assert isinstance(a, Analysis)
    pairs = {(t.leg, t.before, t.after) for t in a.nat}
    assert not any((leg, after, before) in pairs for leg, before, after in pairs)
    assert {(t.kind, t.leg) for t in a.nat} == {("dnat", "request"), ("snat", "reply")}


def test_the_skew_is_measured_and_the_mangled_line_ignored() -> None:
    from nettrail.model.analysis import Analysis

    a = _analysis()
    assert isinstance(a, Analysis)
    compute = next(c for c in a.clock if c.point == "compute")
    assert abs(compute.offset_ns + 25e6) <= compute.uncertainty_ns + 1e6
    assert "agrees" not in describe_offset(compute)
