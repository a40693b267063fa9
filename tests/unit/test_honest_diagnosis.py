"""Thin or damaged evidence: unusable times kept out of clocks, unknown clocks never "agree",
failures the packets cannot explain called inconclusive, one translation listed once."""

from __future__ import annotations

from crosskit import ACK, FIN, MS, PSH, RST, handshake, incident, plain, still_capturing
from nettrail.analyze.crosspoint import cross_point
from nettrail.analyze.diagnose import INCONCLUSIVE
from nettrail.analyze.findings_nat import CLOCK_UNKNOWN
from nettrail.analyze.nat import _fold_reversed
from nettrail.analyze.timing import trusted_times, unknown_clocks
from nettrail.model.analysis import Analysis, ClockOffset
from nettrail.model.flow import Endpoint
from nettrail.model.packet import SYN

HOUR = 3_600_000 * MS


def test_a_text_timestamp_hours_off_its_neighbours_keeps_its_place_only() -> None:
    recs = incident(text=True).points()["router"]
    recs[2] = recs[2]._replace(ts_ns=recs[2].ts_ns - 10 * HOUR)  # "17:..." pasted as "7:..."
    out = trusted_times(recs)
    assert [r.time_ok for r in out] == [i != 2 for i in range(len(recs))]
    assert out[2].ts_ns == out[1].ts_ns  # its place in line order
    assert out[:2] == recs[:2] and out[3:] == recs[3:]


def test_lines_out_of_order_by_seconds_and_binary_captures_are_left_alone() -> None:
    recs = incident(text=True).points()["router"]
    recs[2] = recs[2]._replace(ts_ns=recs[2].ts_ns - 5_000 * MS)
    assert trusted_times(recs) == recs
    binary = incident().points()["router"]
    binary[2] = binary[2]._replace(ts_ns=binary[2].ts_ns - 10 * HOUR)
    assert trusted_times(binary) is binary


def test_unusable_times_never_feed_the_clock() -> None:
    good = cross_point(incident(healthy=True, text=True, skew_ms=25.0).points())
    points = incident(healthy=True, text=True, skew_ms=25.0).points()
    recs = points["compute"]
    for i in (0, 3):  # the source said so: no usable time on these lines
        recs[i] = recs[i]._replace(ts_ns=recs[i].ts_ns + 700 * MS, time_ok=False)
    bad = cross_point(points)
    g = next(c for c in good.clock if c.point == "compute")
    b = next(c for c in bad.clock if c.point == "compute")
    assert abs(b.offset_ns - 25 * MS) <= b.uncertainty_ns
    assert b.samples < g.samples


def test_an_estimate_wider_than_the_captures_is_unknown_not_agrees() -> None:
    clock = [ClockOffset("a", "a", 0.0, 0.0, 0), ClockOffset("b", "a", 0.0, 44_686_824e6, 2),
             ClockOffset("c", "a", 25e6, 1e6, 2), ClockOffset("d", "a", 0.0, 0.5e6, 3)]
    spans = {"a": 250_000, "b": 300_000, "c": 250_000, "d": 2_000_000}
    unknown = unknown_clocks(["a", "b", "c", "d"], clock, spans)
    assert list(unknown) == ["b"]
    assert "wider than the captures (0.300 ms)" in unknown["b"]


def test_an_unknown_clock_is_noted_and_not_reported_as_agreeing() -> None:
    full = incident(text=True).points()
    # each point captured only the SYN: one packet, one direction, no span to speak of
    result = cross_point({"client": full["client"][:1], "compute": full["compute"][:1]})
    notes = [f for f in result.findings if f.kind == CLOCK_UNKNOWN]
    assert [f.details["point"] for f in notes] == ["compute"]
    assert "compute" not in {c.point for c in result.clock}


def test_a_failure_no_finding_explains_is_inconclusive_naming_what_is_missing() -> None:
    from nettrail.analyze.pipeline import analyze_records

    net, req, _rep = plain()
    net.send(0.0, req[:1], SYN, seq=1000)  # the SYN leaves the client, and nothing else
    net.send(1000.0, req[:1], SYN, seq=1000)
    net.send(0.0, [("router", "198.51.100.9:5", "198.51.100.4:80", "r0")], SYN, seq=7)
    analysis = analyze_records(net.points())
    d = analysis.diagnosis
    assert d is not None and d.kinds == (INCONCLUSIVE,)
    assert "syn-unanswered at client" in d.headline
    assert "packets of it at router" in d.explanation
    assert "packets of it at server" in d.explanation


def test_a_translation_seen_backwards_is_the_same_translation() -> None:
    from collections import Counter

    fip, vm = Endpoint("203.0.113.223", 22), Endpoint("198.51.100.4", 22)
    counts: Counter[tuple[str, str, Endpoint, Endpoint, str, str, str | None]] = Counter({
        ("dnat", "request", fip, vm, "netnode", "compute", None): 2,
        ("dnat", "request", vm, fip, "compute", "netnode", None): 1,
        ("snat", "reply", vm, fip, "compute", "compute", "compute"): 2,
    })
    _fold_reversed(counts)
    assert counts == Counter({("dnat", "request", fip, vm, "netnode", "compute", None): 3,
                              ("snat", "reply", vm, fip, "compute", "compute", "compute"): 2})


def _resent(closed: bool) -> Analysis:
    """Data the client sends four times along the whole path; the server never acknowledges
    it, and the client gives up with a FIN the server answers (``closed``) or not."""
    from nettrail.analyze.pipeline import analyze_records

    net, req, rep = plain()
    handshake(net, req, rep)
    for i in range(4):  # the first transmission and three retransmissions, new IP IDs
        net.send(3.0 + 200.0 * i, req, PSH | ACK, seq=1001, ack=5001, length=100)
    if closed:
        net.send(900.0, rep, ACK, seq=5001, ack=1101)
        net.send(901.0, req, FIN | ACK, seq=1101, ack=5001)
        net.send(902.0, rep, FIN | ACK, seq=5001, ack=1102)
        net.send(903.0, req, ACK, seq=1102, ack=5002)
    return analyze_records(net.points())


def test_a_connection_stalled_on_retransmissions_is_inconclusive_never_healthy() -> None:
    analysis = _resent(closed=False)
    d = analysis.diagnosis
    assert d is not None and d.kinds == (INCONCLUSIVE,)
    assert "stalled: 3 retransmissions at client" in d.headline


def test_retransmissions_of_a_connection_that_closed_are_no_stall() -> None:
    assert _resent(closed=True).diagnosis is None


def _syn_unanswered(client_flags: int) -> Analysis:
    """A SYN sent twice, seen at the router (pcap) and at the client (text without seq
    numbers, and without flags when ``client_flags`` is 0), never answered."""
    from nettrail.analyze.pipeline import analyze_records

    pcap, req, _rep = plain()
    text, _req, _rep = plain(text=True)
    for t in (0.0, 1000.0):
        pcap.send(t, req[1:2], SYN, seq=7)
        text.send(t, req[:1], client_flags, seq=None)
    points = pcap.points()
    points["client"] = text.points()["client"]
    return analyze_records(points)


def test_an_inconclusive_failure_names_the_points_whose_text_has_no_seq_numbers() -> None:
    d = _syn_unanswered(SYN).diagnosis
    assert d is not None and d.kinds == (INCONCLUSIVE,)
    assert "syn-unanswered at " in d.headline
    assert "no sequence numbers at point client" in d.explanation
    assert "TCP flags" not in d.explanation
    assert "packets of it at server" in d.explanation


def test_an_inconclusive_failure_names_the_points_whose_text_has_no_flags() -> None:
    d = _syn_unanswered(0).diagnosis  # tcpdump -q at the client: no flags, no seq numbers
    assert d is not None and d.kinds == (INCONCLUSIVE,)
    assert "syn-unanswered at router" in d.headline
    assert "no TCP flags in the capture text of point client" in d.explanation
    assert "no sequence numbers at point client" in d.explanation


def test_a_reset_first_seen_at_a_point_is_not_said_to_be_made_by_it_unproven() -> None:
    """A RST first seen at a point was made there or past it, unseen: only a point that owns
    the address (it translated the request to it) is named as its maker."""
    net, req, rep = plain()
    handshake(net, req, rep)
    net.send(10.0, req[:3], PSH | ACK, seq=1001, ack=5001, length=10)  # never reaches server
    net.send(10.5, rep[1:], RST, seq=5001, ip_id=0)  # first seen at the router
    still_capturing(net, "server", 60.0)
    diag = cross_point(net.points()).diagnosis
    assert diag is not None and diag.kinds[0] == "reset-not-from-server"
    assert diag.headline.startswith("the connection was reset by a device at or beyond router")
    assert "Find the device at or beyond router" in diag.action


def test_the_asymmetric_nat_headline_names_the_resetting_point_only_when_it_owns_the_address(
) -> None:
    net = incident()
    still_capturing(net, "compute", 60.0)
    points = net.points()
    whole = cross_point(points).diagnosis
    assert whole is not None and whole.headline.endswith("; router then resets the connection")
    del points["router"]
    thin = cross_point(points).diagnosis
    assert thin is not None
    assert thin.headline.endswith("; a device at or beyond client then resets the connection")
