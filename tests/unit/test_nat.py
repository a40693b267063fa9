"""NAT translations inferred from packets followed across points."""

from __future__ import annotations

from pathlib import Path

import pytest

from crosskit import FIP, VM, C, Net, incident
from flowkit import US
from nettrail.analyze.crosspoint import cross_point
from nettrail.analyze.nat import describe_translation
from nettrail.model.flow import Endpoint
from nettrail.model.packet import ACK, SYN, PacketRecord


def ep(text: str) -> Endpoint:
    addr, port = text.rsplit(":", 1)
    return Endpoint(addr, int(port))


@pytest.mark.parametrize("text", [False, True], ids=["headers", "text"])
def test_incident_request_and_reply_translated_in_different_places(text: bool) -> None:
    r = cross_point(incident(text=text, skew_ms=-20.0).points())
    got = {(t.kind, t.leg, t.before, t.after, t.at) for t in r.nat}
    assert got == {("dnat", "request", ep(FIP), ep(VM), "router"),
                   ("snat", "reply", ep(VM), ep(FIP), "compute")}
    assert all(t.connection is not None and ep(C) in t.connection for t in r.nat)


@pytest.mark.parametrize("text", [False, True], ids=["headers", "text"])
def test_healthy_translations_all_at_the_router(text: bool) -> None:
    r = cross_point(incident(healthy=True, text=text).points())
    got = {(t.kind, t.leg, t.before, t.after, t.at): t.packets for t in r.nat}
    assert got == {("dnat", "request", ep(FIP), ep(VM), "router"): 6,
                   ("snat", "reply", ep(VM), ep(FIP), "router"): 4}


def test_translation_between_points_has_no_owner() -> None:
    points = incident(healthy=True).points()
    points["router"] = [r for r in points["router"] if r.ifname != "qr-1"]  # outside only
    r = cross_point(points)
    dnat = next(t for t in r.nat if t.kind == "dnat")
    assert (dnat.from_point, dnat.to_point, dnat.at) == ("router", "compute", None)
    assert describe_translation(dnat) == ("dnat of the request 203.0.113.10:22 -> "
                                          "198.51.100.4:22 between router and compute "
                                          "(6 packets)")
    assert not [f for f in r.findings if f.root_cause]


def test_route_cache_gives_each_track_its_own_rewrites() -> None:
    """Tracks seen once per point share their rewrites by route and forms: every track of
    the recorded scenarios gets from a memo what it would get alone (without one)."""
    from fixturekit import SCENARIOS, scenario_points
    from nettrail.analyze import nat
    from nettrail.analyze.clock import offset_map
    from nettrail.analyze.crosspoint import correlate
    from nettrail.analyze.tracks import build_tracks

    checked = 0
    for scenario in SCENARIOS:
        data = scenario_points(scenario)
        sightings, clock, matches = correlate({d.summary.name: list(d.table.records())
                                               for d in data})
        tracks = build_tracks(sightings, matches, offset_map(clock))
        memo: dict[tuple[object, ...], object] = {}
        shared = [nat.track_translations(t, memo) for t in tracks]
        assert len(memo) < len(tracks)  # some tracks did share
        for t, got in zip(tracks, shared, strict=True):
            assert list(got) == list(nat.track_translations(t))
            checked += bool(got)
    assert checked > 0


def _host_around_router(gap_us: int) -> dict[str, list[PacketRecord]]:
    """A healthy connection, also captured on the host around the router namespace: on its own
    outside and inside ports and on the ends of the veth pairs into the namespace (``pe``,
    ``pi``), which stamp each packet as the namespace's ``qg``/``qr`` do; the first of them
    ``gap_us`` later (a microsecond capture's rounding: the host's gap that much shorter).
    The host is named so that it sorts first."""
    net = Net(("client", "host", "router", "compute"))
    req = [("client", C, FIP, "eth0"), ("host", C, FIP, "eth1"), ("host", C, FIP, "pe"),
           ("router", C, FIP, "qg"), ("router", C, VM, "qr"), ("host", C, VM, "pi"),
           ("host", C, VM, "eth0"), ("compute", C, VM, "tap")]
    rep = [("compute", VM, C, "tap"), ("host", VM, C, "eth0"), ("host", VM, C, "pi"),
           ("router", VM, C, "qr"), ("router", FIP, C, "qg"), ("host", FIP, C, "pe"),
           ("host", FIP, C, "eth1"), ("client", FIP, C, "eth0")]
    net.send(0.0, req, SYN, seq=1000, ts_val=1)
    net.send(1.0, rep, SYN | ACK, seq=5000, ack=1001, ts_val=7)
    net.send(2.0, req, ACK, seq=1001, ack=5001)
    net.send(3.0, rep, ACK, seq=5001, ack=1001)
    points = net.points()
    peer = {"pe": "qg", "pi": "qr"}
    stamps = {(_ip_id(r), r.ifname): r.ts_ns for r in points["router"]}
    host, seen = [], set()
    for r in points["host"]:
        if r.ifname in peer:
            later = gap_us * US if _ip_id(r) not in seen else 0
            seen.add(_ip_id(r))
            r = r._replace(ts_ns=stamps[(_ip_id(r), peer[r.ifname])] + later)
        host.append(r)
    points["host"] = host
    return points


def _ip_id(rec: PacketRecord) -> int | None:
    ip = rec.headers.ip
    return ip.ip_id if ip is not None else None


@pytest.mark.parametrize("gap_us", [0, 1])
def test_host_capture_around_the_router_does_not_take_its_translations(gap_us: int) -> None:
    """Both forms seen as close together on the host as in the router namespace: the
    namespace translated, not the host (which saw each packet four times)."""
    r = cross_point(_host_around_router(gap_us))
    got = {(t.kind, t.leg, t.at) for t in r.nat}
    assert got == {("dnat", "request", "router"), ("snat", "reply", "router")}


@pytest.mark.parametrize("gap_us", [0, 1])
def test_a_translation_seen_at_its_translator_is_one_line(gap_us: int) -> None:
    """Where the translator saw both forms, the translation was seen there before and after,
    whichever point stamped a copy of the packet a microsecond earlier or later: one line a
    translation, all its packets counted in it (not one line "seen at router" and another
    "between router and host" for the packets the host stamped first)."""
    r = cross_point(_host_around_router(gap_us))
    got = [(t.kind, t.leg, t.from_point, t.to_point, t.at, t.packets) for t in r.nat]
    assert sorted(got) == [("dnat", "request", "router", "router", "router", 2),
                           ("snat", "reply", "router", "router", "router", 2)]


def test_a_reply_seen_before_its_request_by_the_clocks_is_still_after_it() -> None:
    """The dual-l3 reset as ``nettrail collect`` captured it in a run where the exchange took
    0.85 ms: compute's clock, tied to the client's by one packet each way, is 0.4 ms off, so
    the VM's SYN-ACK seems to pass compute before the router saw the SYN it answers. It
    answers that SYN (sent once, seen at the router): the router was capturing, and the
    reply never passed it. Two NAT owners, not just "reset by the router"."""
    from nettrail.run import analyze_files

    fixtures = Path(__file__).parent.parent / "fixtures" / "collect-fast"
    router = "qrouter-5f1c2d3e-8b7a-4c1e-9d2f-0a6b3c4d5e6f"
    run = analyze_files([("client", str(fixtures / "client.pcap")),
                         (router, str(fixtures / "qrouter.pcap")),
                         ("compute", str(fixtures / "compute.pcap")),
                         ("vm", str(fixtures / "vm.pcap"))])
    a = run.analysis
    compute = next(c for c in a.clock if c.point == "compute")
    assert abs(compute.offset_ns / 1e6 + 24.6) < 0.1  # the real offset is -25.0 ms
    assert a.diagnosis is not None and "two L3 implementations" in a.diagnosis.headline
    [asym] = [f for f in a.findings if f.kind == "asymmetric-nat"]
    assert f"never passed {router}" in asym.summary


@pytest.mark.parametrize("paths", [True, False], ids=["tracks", "plain"])
def test_a_reply_tied_at_two_points_is_translated_back_not_again(paths: bool) -> None:
    """The same packets at two points with nothing between them in time (no transit, the
    clocks known): which point each reached first is not known, so a reply's translation is
    read along the reverse of the requests' route: the address the request was DNATed to is
    turned back on the reply (SNAT of the server's address to the public one, from server
    to client), never translated again on the way back (a second owner). Which of the two
    points is the client's cannot be told here (every packet tied): the names order the
    request, and the reply follows it."""
    from flowkit import Wire
    from nettrail.analyze.pipeline import analyze
    from nettrail.model.analysis import PointSummary
    from nettrail.model.packet import FIN
    from nettrail.model.table import PointData, table_from_records

    client, public, private = "198.51.100.2:40000", "203.0.113.10:80", "198.18.0.10:80"
    steps = [(0, True, SYN, 1, None, 0), (1, False, SYN | ACK, 9, 2, 0), (2, True, ACK, 2, 10, 0),
             (3, True, ACK, 2, 10, 100), (4, False, ACK, 10, 102, 0),
             (5, True, FIN | ACK, 102, 10, 0), (6, False, FIN | ACK, 10, 103, 0),
             (7, True, ACK, 103, 11, 0)]
    for names in (("a", "b"), ("z", "b")):  # the client's point first, or second, by name
        data = []
        for point, server, skew in ((names[0], public, 0.0), (names[1], private, 25.0)):
            w = Wire(point, f"{point}.pcap")
            for t, up, flags, seq, ack, n in steps:
                src, dst = (client, server) if up else (server, client)
                w.tcp(t + skew, src, dst, flags, seq=seq, ack=ack, length=n)
            table = table_from_records(point, w.records)
            data.append(PointData(PointSummary(point, (f"{point}.pcap",), (), len(table)), table))
        result = analyze(data, paths=paths)
        got = {(t.kind, t.leg, str(t.before), str(t.after), t.from_point, t.to_point)
               for t in result.nat}
        request = next(t for t in got if t[1] == "request")
        _dnat, _leg, before, after, p0, p1 = request
        assert got == {request, ("snat", "reply", after, before, p1, p0)}, names
        if names == ("a", "b"):
            assert request == ("dnat", "request", public, private, "a", "b")
        assert not [f for f in result.findings if f.root_cause]
