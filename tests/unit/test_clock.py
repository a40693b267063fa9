"""Clock offsets between points from matched packets: bounds, robustness, wording."""

from __future__ import annotations

import pytest

from crosskit import MS, incident
from nettrail.analyze.clock import PairEstimate, describe_offset, offsets
from nettrail.analyze.crosspoint import correlate
from nettrail.model.analysis import ClockOffset


def clock_of(points: dict) -> dict[str, ClockOffset]:  # type: ignore[type-arg]
    _, clock, _ = correlate(points)
    return {c.point: c for c in clock}


@pytest.mark.parametrize("skew", [25.0, -40.0, 0.0, 3_600_000.0])
@pytest.mark.parametrize("text", [False, True], ids=["headers", "text"])
def test_offset_from_both_directions(skew: float, text: bool) -> None:
    c = clock_of(incident(healthy=True, text=text, skew_ms=skew).points())
    assert c["client"].offset_ns == 0.0
    est = c["compute"]
    assert est.reference == "client"
    # true offset within the stated uncertainty, and the uncertainty is below a hop's transit
    assert abs(est.offset_ns - skew * MS) <= est.uncertainty_ns
    assert est.uncertainty_ns < 0.2 * MS
    assert abs(c["router"].offset_ns) <= c["router"].uncertainty_ns


@pytest.mark.parametrize("shift_ms", [-900.0, -3.0, 3.0, 700.0])
def test_one_mangled_timestamp_does_not_move_the_estimate(shift_ms: float) -> None:
    good = clock_of(incident(healthy=True, skew_ms=25.0).points())["compute"]
    points = incident(healthy=True, skew_ms=25.0).points()
    recs = points["compute"]
    i = 4  # the compute host's view of the client's ACK
    recs[i] = recs[i]._replace(ts_ns=recs[i].ts_ns + round(shift_ms * MS))
    bad = clock_of(points)["compute"]
    assert abs(bad.offset_ns - good.offset_ns) <= 0.05 * MS
    assert bad.uncertainty_ns <= good.uncertainty_ns + 0.05 * MS


def test_one_way_evidence_only_is_uncertain() -> None:
    points = incident(text=True, skew_ms=25.0).points()
    del points["client"]  # router and compute share only the SYN: one direction
    c = clock_of(points)["compute"]
    assert abs(c.offset_ns - 25.0 * MS) < 1.0 * MS
    assert c.uncertainty_ns >= 1.0 * MS


def test_offsets_chain_through_an_intermediate_point() -> None:
    pairs = [PairEstimate("a", "b", 5e6, 1e5, 10, True),
             PairEstimate("b", "c", -2e6, 2e5, 10, True)]
    got = {c.point: c for c in offsets(["a", "b", "c", "d"], pairs)}
    assert got["c"].offset_ns == pytest.approx(3e6)
    assert got["c"].uncertainty_ns == pytest.approx(3e5)
    assert "d" not in got


def test_direct_pair_preferred_when_more_certain() -> None:
    pairs = [PairEstimate("a", "b", 5e6, 1e5, 10, True),
             PairEstimate("b", "c", -2e6, 2e5, 10, True),
             PairEstimate("a", "c", 3.1e6, 1e4, 4, True)]
    got = {c.point: c for c in offsets(["a", "b", "c"], pairs)}
    assert got["c"].offset_ns == pytest.approx(3.1e6)


def test_wording() -> None:
    c = ClockOffset("host5", "host1", -25.0e6, 0.4e6, 12)
    assert describe_offset(c) == "host5's clock is 25.0 ± 0.4 ms behind host1"
    c = ClockOffset("host5", "host1", 3.25e6, 0.01e6, 12)
    assert describe_offset(c) == "host5's clock is 3.250 ± 0.010 ms ahead of host1"
    c = ClockOffset("host5", "host1", 0.01e6, 0.02e6, 12)
    assert describe_offset(c) == "host5's clock agrees with host1 (within 0.020 ms)"
