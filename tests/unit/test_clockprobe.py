"""Clock probes: the fastest round trip bounds the offset; probes set beside packet bounds."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import pytest

from crosskit import incident
from nettrail.analyze.clockprobe import HostClock, ProbeEstimate, combine, estimate, with_probes
from nettrail.analyze.pipeline import analyze_records
from nettrail.model.analysis import ClockOffset
from nettrail.report import text as report_text
from nettrail.report.text import clock_check_text

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
    # which clock the times were corrected with, when they disagree
    one_way = ClockOffset("vm", "client", 0.0, 0.1 * MS, 2, source="probes")
    out = io.StringIO()
    report_text.render(Analysis((), (), (), clock=(one_way,), clock_checks=checks), out)
    assert ("vm against client: probes +0.000 ± 0.100 ms, packets +25.0 ± 1.0 ms: they "
            "disagree, but the packets were seen one way only (a bound taken at zero transit, "
            "which a slow path exceeds): times use the probes'\n") in out.getvalue()
    two_way = ClockOffset("vm", "client", 25.0 * MS, 1.0 * MS, 2)
    out = io.StringIO()
    report_text.render(Analysis((), (), (), clock=(two_way,), clock_checks=checks), out)
    assert ("packets matched wrongly): times use the packets'\n") in out.getvalue()
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


def test_the_analysis_takes_the_probes_where_the_packets_give_none_or_agree() -> None:
    """The clocks times are corrected with: the combined one where probes and packets agree,
    the probes' where the packets give none or only a one-way bound they disagree with, the
    packets' where both ways were seen and they disagree, or where no probe measured it."""
    clocks = {p: _clock(p, off, 0.05) for p, off in
              (("ref", 0.0), ("agree", -25.0), ("probes", 3.0), ("two-way", 0.0),
               ("one-way", -25.0))}
    packets = [ClockOffset("ref", "ref", 0.0, 0.0, 0),
               ClockOffset("agree", "ref", -24.95 * MS, 0.2 * MS, 6),
               ClockOffset("two-way", "ref", 25.0 * MS, 1.0 * MS, 4),
               ClockOffset("one-way", "ref", -23.4 * MS, 1.0 * MS, 2, two_sided=False),
               ClockOffset("packets", "ref", 7.0 * MS, 0.3 * MS, 3)]
    points = ["ref", "agree", "probes", "two-way", "one-way", "packets", "none"]
    used, checks = with_probes(points, clocks, packets)
    assert [c.verdict for c in checks] == ["agree", "probes-only", "disagree", "disagree",
                                           "packets-only"]
    by = {c.point: c for c in used}
    assert list(by) == ["ref", "agree", "probes", "two-way", "one-way", "packets"]
    assert by["ref"] == packets[0]
    agree = by["agree"]
    assert (agree.source, agree.samples, agree.two_sided) == ("both", 6, True)
    assert (agree.offset_ns, agree.uncertainty_ns) == (checks[0].offset_ns,
                                                       checks[0].uncertainty_ns)
    assert abs(agree.offset_ns + 25.0 * MS) < 1 and agree.uncertainty_ns == 0.1 * MS
    assert (by["probes"].source, by["probes"].offset_ns, by["probes"].samples) == (
        "probes", 3.0 * MS, 0)
    assert by["two-way"] == packets[2]
    assert (by["one-way"].source, by["one-way"].offset_ns) == ("probes", -25.0 * MS)
    assert by["packets"] == packets[4]


def test_a_probe_offset_within_its_uncertainty_is_zero() -> None:
    clocks = {"a": _clock("a", 0.0, 0.05), "b": _clock("b", 0.03, 0.05)}
    (_, b), _ = with_probes(["a", "b"], clocks, [ClockOffset("a", "a", 0.0, 0.0, 0)])
    assert (b.offset_ns, b.uncertainty_ns, b.source) == (0.0, 0.13 * MS, "probes")


COLLECT_RUN = Path(__file__).parents[1] / "fixtures" / "collectruns" / "dual-l3"


def _evidence(report: dict[str, Any], point: str, note: str) -> int:
    (time,) = [e["time_ns"] for e in report["diagnosis"]["chain"]
               if e["point"] == point and e["note"].startswith(note)]
    return int(time)


def test_a_collect_runs_probes_and_packets_agree_and_put_its_evidence_in_causal_order(
        capsys: pytest.CaptureFixture[str]) -> None:
    """A real collect run of the dual-l3 lab (compute's clock 25 ms back, tests/fixtures/
    collectruns). Its SSH probes measured -25.014 and -0.002 ms (± 0.2); its packets tie
    compute and vm to the client both ways (the SYN-ACK sent again, paired in order:
    test_in_order.py), and the two agree: the combined clocks are taken, the reply comes
    after the request at every point, and no translation is made up between points."""
    from nettrail.cli.main import main

    assert main(["analyze", "--format", "json", str(COLLECT_RUN)]) == 0
    report = json.loads(capsys.readouterr().out)
    clock = {c["point"]: c for c in report["clock"]}
    for point, truth in (("compute", -25.0), ("vm", 0.0)):
        assert clock[point]["source"] == "both"
        assert abs(clock[point]["offset_ms"] - truth) <= clock[point]["uncertainty_ms"]
    assert clock["qrouter-5f1c2d3e-8b7a-4c1e-9d2f-0a6b3c4d5e6f"]["source"] == "both"
    assert {c["verdict"] for c in report["clock_checks"]} == {"agree"}
    dnat = _evidence(report, "qrouter-5f1c2d3e-8b7a-4c1e-9d2f-0a6b3c4d5e6f", "request DNATed")
    assert _evidence(report, "vm", "reply") > dnat
    assert _evidence(report, "compute", "reply translated") > dnat
    assert [(t["kind"], t["leg"]) for t in report["nat"]] == [("dnat", "request"),
                                                              ("snat", "reply")]


def test_a_point_per_namespace_has_its_hosts_clock(tmp_path: Path) -> None:
    """With ``--tracer ebpf`` a collect run has a point per namespace, each naming its host:
    its clock is the host's (one kernel), as the probes measured it."""
    import shutil

    from nettrail.cli.analyze import measured_clocks

    run = tmp_path / "run"
    shutil.copytree(COLLECT_RUN, run)
    manifest = json.loads((run / "manifest.json").read_text(encoding="utf-8"))
    manifest["points"][1]["host"] = "client"  # the router namespace, traced on the client
    manifest["hosts"] = [h for h in manifest["hosts"] if h["name"] != manifest["points"][1]
                         ["name"]]
    (run / "manifest.json").write_text(json.dumps(manifest), encoding="utf-8")
    clocks = measured_clocks([str(run)])
    assert clocks is not None
    assert list(clocks) == [p["name"] for p in manifest["points"]]
    assert clocks[manifest["points"][1]["name"]] == clocks["client"]
    assert measured_clocks([str(run), str(run)]) is None  # only a single run directory


def test_points_of_the_reference_host_have_its_clock() -> None:
    """Namespaces traced on the reference's host read one kernel's clock: no offset, no
    uncertainty, nothing to check, whatever the packets or the probes say; a point of
    another host is measured against it as before."""
    host = _clock("netnode", 3.0, 0.08)
    clocks = {"netnode": host, "netnode@qrouter": host, "netnode@ext": host,
              "client": _clock("client", 0.0, 0.05)}
    packets = [ClockOffset("netnode", "netnode", 0.0, 0.0, 0),
               ClockOffset("netnode@qrouter", "netnode", 1.3 * MS, 1.0 * MS, 5, False)]
    used, checks = with_probes(["netnode", "netnode@qrouter", "netnode@ext", "client"], clocks,
                               packets)
    assert [(c.point, c.offset_ns, c.uncertainty_ns, c.samples, c.source) for c in used] == [
        ("netnode", 0.0, 0.0, 0, "packets"), ("netnode@qrouter", 0.0, 0.0, 5, "host"),
        ("netnode@ext", 0.0, 0.0, 0, "host"), ("client", -3.0 * MS, 0.13 * MS, 0, "probes")]
    assert [(c.point, c.verdict) for c in checks] == [("client", "probes-only")]
    unknown = {"a": HostClock("a", None, None), "b": HostClock("a", None, None)}
    used, checks = with_probes(["a", "b"], unknown, [])
    assert [(c.point, c.source) for c in used] == [("b", "host")] and checks == ()


def test_probes_past_a_limit_no_packet_can_break_lose_to_the_packets() -> None:
    """A one-way bound is taken at zero transit: a slow path puts the truth past it on one
    side only. Probes on that side are taken; probes past the other side would have a packet
    arrive before it left (a clock stepped, or the capture read another clock), and lose."""
    clocks = {"ref": _clock("ref", 0.0, 0.05), "slow": _clock("slow", -25.0, 0.05),
              "past": _clock("past", -25.0, 0.05)}
    bound = -23.4 * MS
    packets = [ClockOffset("ref", "ref", 0.0, 0.0, 0),
               ClockOffset("slow", "ref", bound, 1.0 * MS, 2, False, limits=(bound, None)),
               ClockOffset("past", "ref", bound, 1.0 * MS, 2, False, limits=(None, bound))]
    used, checks = with_probes(["ref", "slow", "past"], clocks, packets)
    assert [c.verdict for c in checks] == ["disagree", "disagree"]
    by = {c.point: c for c in used}
    assert (by["slow"].source, by["slow"].offset_ns) == ("probes", -25.0 * MS)
    assert by["slow"].limits == (bound, None)
    assert by["past"] == packets[2]
    texts = [clock_check_text(c, by[c.point].source, not by[c.point].two_sided)
             for c in checks]
    assert "times use the probes'" in texts[0]
    assert "a packet would have arrived before it left" in texts[1]
    assert texts[1].endswith("times use the packets' bound")


@pytest.mark.parametrize(("probe_ms", "source"), [(30.0, "packets"), (20.0, "probes"),
                                                (25.0, "both")])
def test_the_incidents_one_way_limit_decides_between_probes_and_packets(
        probe_ms: float, source: str) -> None:
    """The incident seen at the router and compute only (compute's clock 25 ms ahead): they
    share the SYN, which NAT shows going router -> compute, so compute's clock is at most
    25.04 ms ahead (the SYN's times; transit unknown). Probes of 20 ms are on the side a slow
    path allows and are taken; probes of 30 ms would have the SYN arrive before it left,
    and the packets' bound is kept."""
    points = incident(text=True, skew_ms=25.0).points()
    del points["client"]
    clocks = {"router": _clock("router", 0.0, 0.05), "compute": _clock("compute", probe_ms, 0.05)}
    analysis = analyze_records(points, clocks=clocks)
    (compute,) = [c for c in analysis.clock if c.point == "compute"]
    assert compute.source == source
    assert compute.limits == (25.04 * MS, None)
    assert compute.offset_ns <= 25.04 * MS
    out = io.StringIO()
    report_text.render(analysis, out)
    past = "a packet would have arrived before it left" in out.getvalue()
    assert past == (source == "packets")
