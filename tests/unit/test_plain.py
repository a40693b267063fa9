"""Plain conversations kept as columns (``analyze/plain.py``) give what the object path gives:
the same clocks, NAT translations, findings and diagnosis, for every recorded scenario's
points taken two or more at a time, and for four generated points of the web mix (1:1 DNAT
at one point, skewed clocks) as they are, with packets lost at one point, and with three of
the points. ``paths=True`` takes the object path for every conversation (the packet paths
need every track), so it is the reference."""

from __future__ import annotations

import importlib
import subprocess
import sys
from dataclasses import replace
from itertools import combinations
from pathlib import Path

import pytest

from fixturekit import SCENARIOS, scenario_points
from nettrail.analyze import crosspoint, plain
from nettrail.analyze.pipeline import analyze
from nettrail.capture.points import read_points
from nettrail.model.analysis import Analysis
from nettrail.model.table import PointData

ROOT = Path(__file__).resolve().parents[2]


def _splits(monkeypatch: pytest.MonkeyPatch) -> list[plain.Split | None]:
    """Every ``split_plain`` result of the analyses that follow."""
    got: list[plain.Split | None] = []

    def spy(*args: object) -> plain.Split | None:
        result = plain.split_plain(*args)  # type: ignore[arg-type]
        got.append(result)
        return result

    monkeypatch.setattr(crosspoint, "split_plain", spy)
    return got


def _same(data: list[PointData]) -> Analysis:
    """The analysis without paths, checked equal to the object path's (paths left out)."""
    fast = analyze(data, paths=False)
    full = analyze(data, paths=True)
    assert fast == replace(full, paths=())
    return fast


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_every_subset_of_points_same_analysis(scenario: str,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    splits = _splits(monkeypatch)
    data = scenario_points(scenario)
    for k in range(2, len(data) + 1):
        for subset in combinations(data, k):
            _same(list(subset))
    # the points captured on one interface (no copies) give plain conversations
    assert any(s is not None for s in splits)


def test_plain_and_other_conversations_split_as_the_packets_show(
        monkeypatch: pytest.MonkeyPatch) -> None:
    """healthy's client and VM: the one connection is plain (no object made); lost's: the
    SYN lost on the way makes it another (made, and a finding)."""
    splits = _splits(monkeypatch)
    for scenario, objects, kinds in (("healthy", 0, set()),
                                     ("lost", 1, {"lost-between-points"})):
        data = [d for d in scenario_points(scenario) if d.summary.name in ("client", "vm")]
        result = _same(data)
        split = splits[-1]
        assert split is not None and len(split.convs) == objects
        assert len(split.nat) == 2  # the request's DNAT, the reply's SNAT back
        assert kinds <= {f.kind for f in result.findings}


@pytest.fixture(scope="module")
def web_points(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[tuple[str, Path]]]:
    """Four points of 6,000 packets of the web mix: as they are; with every 53rd packet
    from the client missing at the core (after the DNAT) and every 71st reply missing at
    the edge; and without the first 1,500 packets at every point."""
    out = tmp_path_factory.mktemp("xpoint")
    source = out / "web.pcap"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_capture.py"), str(source),
                    "--packets", "6000", "--seed", "3", "--mix", "web"], check=True,
                   capture_output=True)
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        bench = importlib.import_module("bench_crosspoint")
    finally:
        sys.path.remove(str(ROOT / "bench"))
    return {
        "whole": bench.write_points(source, out, "whole"),
        "lossy": bench.write_points(source, out, "lossy",
                                    lambda p, i: (p == "core" and i % 53 == 0)
                                    or (p == "edge" and i % 71 == 5)),
        # begun midway: the connections then open have no SYN, their sides by the ports
        "midway": bench.write_points(source, out, "midway", lambda p, i: i < 1500),
    }


@pytest.mark.parametrize("variant", ["whole", "lossy", "three", "midway"])
def test_generated_points_same_analysis(variant: str,
                                        web_points: dict[str, list[tuple[str, Path]]],
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    splits = _splits(monkeypatch)
    inputs = web_points["whole" if variant == "three" else variant]
    if variant == "three":
        inputs = [x for x in inputs if x[0] != "edge"]
    data, _warnings = read_points([(n, str(p)) for n, p in inputs])
    result = _same(data)
    split = splits[-1]
    assert split is not None
    plain_count = len({t.connection for t in split.nat}) - len(
        {c.key for c in split.convs} & {t.connection for t in split.nat})
    assert plain_count > 100 and split.convs  # both kinds, so both paths are compared
    assert result.nat and any(c.offset_ns for c in result.clock)
    if variant == "lossy":  # a packet missing at a point: its connection is not plain
        assert len(split.convs) > 100
