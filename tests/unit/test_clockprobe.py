"""Clock probes: the fastest round trip bounds the offset; probes set beside packet bounds."""

from __future__ import annotations

from nettrail.analyze.clockprobe import HostClock, ProbeEstimate, combine, estimate
from nettrail.model.analysis import ClockOffset

MS = 1_000_000


def test_the_fastest_probe_gives_the_offset_and_half_its_round_trip() -> None:
    # host 25 ms behind; the slow probes answer late, the fast one in 0.2 ms
    samples = [(0, -25 * MS + 5 * MS, 8 * MS), (100 * MS, 75 * MS + 100_000, 100 * MS + 200_000),
               (200 * MS, 175 * MS + 3 * MS, 200 * MS + 4 * MS)]
    est = estimate(samples)
    assert est is not None
    assert est.offset_ns == -25 * MS and est.uncertainty_ns == 100_000 and est.probes == 3
    assert est.at_ns == 100 * MS


def test_no_usable_probe_gives_none() -> None:
    assert estimate([]) is None
    assert estimate([(10, 5, 9)]) is None  # answer before the question: a clock stepped


def test_drift_from_before_and_after() -> None:
    clock = HostClock("h", ProbeEstimate(0.0, 1000.0, 100, 0),
                      ProbeEstimate(2000.0, 1000.0, 100, 1_000_000_000))
    assert clock.offset_ns == 1000.0
    assert clock.uncertainty_ns == 2000.0
    assert clock.drift_ppm == 2.0
    assert clock.drift_uncertainty_ppm == 2.0


def _clock(host: str, offset_ms: float, unc_ms: float) -> HostClock:
    e = ProbeEstimate(offset_ms * MS, unc_ms * MS, 128, 0)
    return HostClock(host, e, None)


def test_probes_and_packets_agree_and_combine_to_their_overlap() -> None:
    clocks = {"client": _clock("client", 0.01, 0.05), "compute": _clock("compute", -25.0, 0.05)}
    packets = [ClockOffset("compute", "client", -24.8 * MS, 1.0 * MS, 4)]
    (check,) = combine(["client", "compute"], clocks, packets)
    assert check.verdict == "agree"
    assert abs(check.probe_offset_ns + 25.01 * MS) < 1
    assert check.probe_uncertainty_ns == 0.1 * MS
    lo, hi = check.offset_ns - check.uncertainty_ns, check.offset_ns + check.uncertainty_ns
    assert abs(lo - (-25.11 * MS)) < 1 and abs(hi - (-24.91 * MS)) < 1


def test_disjoint_intervals_disagree() -> None:
    clocks = {"a": _clock("a", 0.0, 0.05), "b": _clock("b", -25.0, 0.05)}
    packets = [ClockOffset("b", "a", 0.0, 1.0 * MS, 4)]
    (check,) = combine(["a", "b"], clocks, packets)
    assert check.verdict == "disagree"
    assert check.offset_ns == check.probe_offset_ns


def test_one_side_missing_is_said() -> None:
    clocks = {"a": _clock("a", 0.0, 0.05), "b": _clock("b", 3.0, 0.05)}
    checks = combine(["a", "b", "c"], clocks, [ClockOffset("c", "a", 1.0 * MS, 0.1 * MS, 2)])
    assert [(c.point, c.verdict) for c in checks] == [("b", "probes-only"), ("c", "packets-only")]
    assert combine(["a"], clocks, []) == ()
