"""The two-NAT incident as it was captured: the reply, already translated on the compute node,
crosses the network node (on two interfaces, never through its router namespace) on its way to
the client. The network node only carried the reply; it did not translate it."""

from __future__ import annotations

import pytest

from crosskit import ACK, FIN, FIP, RST, SYN, VM, C, Net
from nettrail.analyze.clock import offset_map
from nettrail.analyze.crosspoint import correlate, cross_point
from nettrail.analyze.findings_nat import carried_translated
from nettrail.analyze.tracks import build_conversations, build_tracks
from nettrail.model.flow import Endpoint


def two_hosts(*, healthy: bool = False, text: bool = False) -> Net:
    """netnode (``-i any``: external side, tunnel side) and compute (VM tap, uplink), the
    compute node's clock 25 ms behind. In the incident the compute node translates the VM's
    SYN-ACK to the floating IP and the netnode only carries it; in the twin the netnode sees
    the reply arrive untranslated and leave translated."""
    net = Net(("netnode", "compute"), {"compute": -25.0}, text)
    req = [("netnode", C, FIP, "eth0"), ("netnode", C, VM, "vxlan0"), ("compute", C, VM, "vnet1")]
    if healthy:
        rep = [("compute", VM, C, "vnet1"), ("compute", VM, C, "eth1"),
               ("netnode", VM, C, "vxlan0"), ("netnode", FIP, C, "eth0")]
    else:
        rep = [("compute", VM, C, "vnet1"), ("compute", FIP, C, "br0"),
               ("compute", FIP, C, "eth1"), ("netnode", FIP, C, "eth1"),
               ("netnode", FIP, C, "eth0")]
    net.send(0.0, req, SYN, seq=1000, ip_id=4001)
    net.send(1.0, rep, SYN | ACK, seq=5000, ack=1001, ip_id=0)
    if not healthy:
        net.send(2.0, req[:1], ACK, seq=1001, ack=5001, ip_id=4002)
        net.send(2.1, [("netnode", FIP, C, "eth0")], RST, seq=5001, ip_id=0)
        return net
    net.send(2.0, req, ACK, seq=1001, ack=5001, ip_id=4002)
    net.send(3.0, req, FIN | ACK, seq=1001, ack=5001, ip_id=4003)
    net.send(4.0, rep, FIN | ACK, seq=5001, ack=1002, ip_id=7001)
    net.send(5.0, req, ACK, seq=1002, ack=5002, ip_id=4004)
    return net


def roots(result: object) -> list[str]:
    return [f.kind for f in result.findings if f.root_cause]  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", [False, True], ids=["headers", "text"])
def test_reply_carried_translated_is_asymmetric_nat(text: bool) -> None:
    points = two_hosts(text=text).points()
    if not text:  # full headers: seq numbers and IP IDs on every record
        assert all(r.headers.l4.seq is not None and r.headers.ip.ip_id is not None  # type: ignore
                   for recs in points.values() for r in recs)
    r = cross_point(points)
    assert roots(r) == ["asymmetric-nat", "reset-not-from-server"]
    asym, rst = r.findings[0], r.findings[1]
    assert asym.details == {"address": FIP, "private": VM, "request_at": "netnode",
                            "reply_at": "at compute", "reply_carried_by": "netnode"}
    assert "reached netnode already translated" in asym.summary
    assert rst.details == {"origin": "netnode", "address": FIP, "owner": "stack",
                           "missing": "compute"}
    nat = {(t.kind, t.leg, t.at) for t in r.nat}
    assert nat == {("dnat", "request", "netnode"), ("snat", "reply", "compute")}
    compute = next(c for c in r.clock if c.point == "compute")
    assert abs(compute.offset_ns + 25e6) <= max(compute.uncertainty_ns, 0.1e6)
    assert r.diagnosis is not None
    assert r.diagnosis.kinds == ("asymmetric-nat", "reset-not-from-server")
    assert "send the replies to netnode untranslated" in r.diagnosis.action
    # the reply's path: compute (both forms), then the netnode (translated form only)
    reply = next(p for p in r.paths if len({h.point for h in p.hops}) == 2
                 and p.hops[0].src == Endpoint("198.51.100.4", 22))
    assert [h.point for h in reply.hops] == ["compute"] * 3 + ["netnode"] * 2


@pytest.mark.parametrize("text", [False, True], ids=["headers", "text"])
def test_reply_translated_at_the_netnode_is_healthy(text: bool) -> None:
    r = cross_point(two_hosts(healthy=True, text=text).points())
    assert roots(r) == []
    assert r.diagnosis is None
    nat = {(t.kind, t.leg, t.at) for t in r.nat}
    assert nat == {("dnat", "request", "netnode"), ("snat", "reply", "netnode")}


def test_carried_needs_the_untranslated_form_seen_first_elsewhere() -> None:
    points = two_hosts().points()
    sightings, clock, matches = correlate(points)
    tracks = build_tracks(sightings, matches, offset_map(clock))
    conv = build_conversations(tracks)[0]
    vm, fip = Endpoint("198.51.100.4", 22), Endpoint("203.0.113.10", 22)
    synack = next(t for t in conv.tracks if t.flags == SYN | ACK)
    assert carried_translated(synack, "netnode", 0, vm)
    assert not carried_translated(synack, "compute", 0, vm)  # it saw both forms
    rst = next(t for t in conv.tracks if t.flags & RST)
    assert not carried_translated(rst, "netnode", 0, vm)  # nobody saw it untranslated
    assert not carried_translated(synack, "netnode", 0, fip)
