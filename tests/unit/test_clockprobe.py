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


def test_a_one_way_packet_bound_never_narrows_the_probes() -> None:
    """Packets seen one way only give a bound at zero transit with a 1 ms floor: real transit
    can exceed it, so the combined clock stays the probes' interval."""
    clocks = {"client": _clock("client", 0.0, 0.05), "compute": _clock("compute", -25.0, 0.05)}
    packets = [ClockOffset("compute", "client", -24.2 * MS, 1.0 * MS, 4, two_sided=False)]
    (check,) = combine(["client", "compute"], clocks, packets)
    assert check.verdict == "agree"
    assert (check.offset_ns, check.uncertainty_ns) == (check.probe_offset_ns,
                                                       check.probe_uncertainty_ns)


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


def test_report_shows_both_measurements_and_the_verdict() -> None:
    import io
    import json

    from nettrail.model.analysis import Analysis, ClockCheck
    from nettrail.report import json as report_json
    from nettrail.report import text as report_text

    checks = (
        ClockCheck("compute", "client", -25.008 * MS, 0.132 * MS, -24.817 * MS, 1.0 * MS,
                   -25.008 * MS, 0.132 * MS, "agree"),
        ClockCheck("vm", "client", 0.0, 0.1 * MS, 25.0 * MS, 1.0 * MS, 0.0, 0.1 * MS,
                   "disagree"),
        ClockCheck("netnode", "client", 3.0 * MS, 0.05 * MS, None, None, 3.0 * MS, 0.05 * MS,
                   "probes-only"),
    )
    analysis = Analysis((), (), (), clock_checks=checks)
    out = io.StringIO()
    report_text.render(analysis, out)
    text = out.getvalue()
    assert ("  compute against client: probes -25.008 ± 0.132 ms, packets -24.8 ± 1.0 ms: "
            "they agree (-25.008 ± 0.132 ms combined)\n") in text
    assert "vm against client: probes +0.000 ± 0.100 ms, packets +25.0 ± 1.0 ms: they " \
           "DISAGREE" in text
    assert "netnode against client: probes +3.000 ± 0.050 ms (no packet seen at both " \
           "points to check it against)" in text
    out = io.StringIO()
    report_json.render(analysis, out)
    data = json.loads(out.getvalue())
    assert data["clock_checks"][0] == {
        "point": "compute", "reference": "client", "probe_offset_ms": -25.008,
        "probe_uncertainty_ms": 0.132, "packet_offset_ms": -24.817,
        "packet_uncertainty_ms": 1.0, "offset_ms": -25.008, "uncertainty_ms": 0.132,
        "verdict": "agree"}
    plain = io.StringIO()
    report_json.render(Analysis((), (), ()), plain)
    assert "clock_checks" not in json.loads(plain.getvalue())
