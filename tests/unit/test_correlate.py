"""Folding copies at one point and matching the same packet across points."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from crosskit import ACK, FIP, SYN, VM, C, Net, incident
from flowkit import Wire
from nettrail.analyze.correlate import (
    CONF_STRONG_CONFIRMED,
    CONF_WEAK,
    fold_copies,
    match_points,
)
from nettrail.analyze.crosspoint import cross_point
from nettrail.model.flow import Endpoint
from nettrail.model.packet import Headers, IPHeader, UDPHeader


def test_copies_on_several_interfaces_fold_into_one_sighting() -> None:
    w = Wire("router")
    syn = w.tcp(0.0, C, FIP, SYN, seq=1000, ifname="qg-1", direction="in")
    w.copy(syn, 30, "br-int", "out")
    natted = w.tcp(0.06, C, VM, SYN, seq=1000, ifname="qr-1", direction="out",
                   ip_id=syn.headers.ip.ip_id)  # type: ignore[union-attr]
    w.copy(syn, 1_000_000, "qg-1", "in")  # the retransmission, 1 s later: its own packet
    s = fold_copies(w.records)
    assert len(s) == 2
    assert s[0].copies == 3
    assert s[0].forms == [(Endpoint("203.0.113.2", 40000), Endpoint("203.0.113.10", 22)),
                          (Endpoint("203.0.113.2", 40000), Endpoint("198.51.100.4", 22))]
    assert s[0].records[-1] is natted
    assert s[1].copies == 1


def test_same_interface_twice_is_not_a_copy() -> None:
    w = Wire("h")
    syn = w.tcp(0.0, C, FIP, SYN, seq=1, ifname="eth0", direction="out")
    w.copy(syn, 10, "eth0", "out")
    assert len(fold_copies(w.records)) == 2


def test_text_copies_fold_by_untranslated_endpoint_within_a_millisecond() -> None:
    w = Wire("h")
    w.tcp(0.0, C, FIP, SYN, seq=None, ip_id=None)
    w.tcp(0.05, C, VM, SYN, seq=None, ip_id=None)       # after DNAT: same source
    w.tcp(3.0, C, FIP, SYN, seq=None, ip_id=None)       # 3 ms later: another packet
    w.tcp(3.05, "198.51.100.9:5", VM, ACK, seq=None, ip_id=None)  # other flags
    s = fold_copies(w.records)
    assert [x.copies for x in s] == [2, 1, 1]


def test_untimed_records_and_other_tcp_timestamps_are_not_folded() -> None:
    for untimed, ts_val in ((True, 7), (False, 8)):
        w = Wire("h")
        syn = w.tcp(0.0, C, FIP, ACK, seq=1, ack=1, ip_id=None)
        w.copy(syn, 1, None)
        ack = w.tcp(1.0, C, FIP, ACK, seq=None, ack=1, ip_id=None)  # the weak key of text
        w.copy(ack, 1, None)
        for i in (1, 3):
            tcp = w.records[i].tcp
            assert tcp is not None
            w.records[i] = w.records[i]._replace(headers=w.records[i].headers._replace(
                l4=tcp._replace(options=tcp.options._replace(ts_val=ts_val))))
        for i in (0, 2):
            tcp = w.records[i].tcp
            assert tcp is not None
            w.records[i] = w.records[i]._replace(headers=w.records[i].headers._replace(
                l4=tcp._replace(options=tcp.options._replace(ts_val=7))))
        if untimed:
            w.records[:] = [r._replace(time_ok=False) for r in w.records]
        assert [x.copies for x in fold_copies(w.records)] == [1, 1, 1, 1]


def test_text_two_clients_at_once_are_two_packets() -> None:
    w = Wire("h")
    w.tcp(0.0, C, FIP, ACK, seq=None, ip_id=None, length=100)
    w.tcp(0.2, "203.0.113.3:51000", FIP, ACK, seq=None, ip_id=None, length=100)
    w.tcp(0.3, "198.18.0.1:40000", FIP, ACK, seq=None, ip_id=None, length=100)  # SNAT of C
    assert [x.copies for x in fold_copies(w.records)] == [2, 1]


def test_strong_match_through_vxlan() -> None:
    a, b = Wire("a"), Wire("b")
    syn = a.tcp(0.0, C, VM, SYN, seq=77, ip_id=5)
    inner = b.tcp(0.2, C, VM, SYN, seq=77, ip_id=5)
    outer = Headers(None, IPHeader(4, "198.18.0.1", "198.18.0.2", 17, 64, 9, 100, False, 0,
                                   False), UDPHeader(40000, 4789, 60))
    b.records[0] = inner._replace(headers=outer, inner=inner.headers, vni=42)
    m = match_points(fold_copies(a.records), fold_copies(b.records))
    assert len(m) == 1
    assert m[0].a.records[0] is syn
    assert m[0].confidence == CONF_STRONG_CONFIRMED


def test_udp_ip_id_zero_is_no_identity() -> None:
    """Open vSwitch's userspace tunnels send every VXLAN datagram with IP ID 0 (DF set): a
    request and its reply, each on its way, are two packets, not one translated."""
    w = Wire("compute")
    base = w.tcp(0.0, C, VM, SYN, seq=1)

    def vxlan(src: str, dst: str, sport: int) -> Headers:
        return Headers(None, IPHeader(4, src, dst, 17, 64, 0, 78, True, 0, False),
                       UDPHeader(sport, 4789, 50))

    w.records[0] = base._replace(headers=vxlan("198.18.0.1", "198.18.0.2", 36806), inner=None,
                                 ifname="eth0", direction="in")
    w.records.append(base._replace(headers=vxlan("198.18.0.2", "198.18.0.1", 37486),
                                   inner=None, ts_ns=base.ts_ns + 300_000, ifname="eth0",
                                   direction="out"))
    assert [x.copies for x in fold_copies(w.records)] == [1, 1]


def test_retransmissions_paired_by_ip_id() -> None:
    a, b = Wire("a"), Wire("b")
    for t, ip_id in ((0.0, 10), (1000.0, 11), (3000.0, 12)):
        a.tcp(t, C, VM, SYN, seq=1, ip_id=ip_id)
    for t, ip_id in ((3000.5, 12), (1000.5, 11)):  # the first one was lost
        b.tcp(t, C, VM, SYN, seq=1, ip_id=ip_id)
    m = match_points(fold_copies(a.records), fold_copies(b.records))
    assert sorted((x.a.ip_id, x.b.ip_id) for x in m) == [(11, 11), (12, 12)]


def test_text_retransmissions_paired_in_corrected_time() -> None:
    a, b = Wire("a"), Wire("b")
    for t in (0.0, 1000.0, 3000.0):
        a.tcp(t, C, VM, SYN, seq=None, ip_id=None)
    for t in (1025.3, 3025.3):  # b's clock is 25 ms ahead; the first SYN was lost
        b.tcp(t, C, VM, SYN, seq=None, ip_id=None)
    sa, sb = fold_copies(a.records), fold_copies(b.records)
    assert match_points(sa, sb) == []  # ambiguous without a clock
    m = match_points(sa, sb, offset_ba=25e6)
    assert sorted((x.a.first_ns - sa[0].first_ns) // 1_000_000 for x in m) == [1000, 3000]


def test_text_matches_through_nat_by_the_untranslated_side() -> None:
    net = incident(text=True, skew_ms=10.0)
    r = cross_point(net.points())
    syn = r.paths[0]
    assert [h.point for h in syn.hops] == ["client", "router", "router", "compute"]
    assert [str(h.dst) for h in syn.hops] == [FIP, FIP, VM, VM]
    assert syn.confidence == CONF_WEAK
    assert all(h.time_ns <= k.time_ns for h, k in zip(syn.hops, syn.hops[1:], strict=False))


def test_paths_are_in_corrected_time_with_full_confidence() -> None:
    r = cross_point(incident(healthy=True, skew_ms=25.0).points())
    assert len(r.paths) == 10
    for p in r.paths:
        assert p.confidence == CONF_STRONG_CONFIRMED
        times = [h.time_ns for h in p.hops]
        assert times == sorted(times)
        assert times[-1] - times[0] < 1_000_000  # corrected: the 25 ms skew is gone
        assert p.connection is not None


def test_different_packets_do_not_match() -> None:
    net = Net(("a", "b"))
    net.send(0.0, [("a", C, VM, None)], SYN, seq=1)
    net.send(0.0, [("b", C, VM, None)], SYN, seq=2)
    r = cross_point(net.points())
    assert len(r.paths) == 2


ENDPOINTS = [C, FIP, VM, "198.51.100.9:80", "203.0.113.7:5353"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["a", "b", "c"]), st.floats(0, 5000),
                          st.sampled_from(ENDPOINTS), st.sampled_from(ENDPOINTS),
                          st.sampled_from([SYN, SYN | ACK, ACK, 0x04, 0x14, 0x18, 0x11]),
                          st.one_of(st.none(), st.integers(0, 3)),
                          st.sampled_from([0, 0, 100, 1448]),
                          st.sampled_from([None, "eth0", "eth1"])),
                max_size=40))
def test_any_records_analyze_without_error(rows: list) -> None:  # type: ignore[type-arg]
    net = Net(("a", "b", "c"))
    for point, t, src, dst, flags, seq, length, ifname in sorted(rows, key=lambda r: r[1]):
        w = net.wires[point]
        w.tcp(t, src, dst, flags, seq=seq, ack=seq, length=length, ifname=ifname,
              ip_id=None if seq is None else -1)
    r = cross_point(net.points())
    seen = sum(len(p.hops) for p in r.paths)
    assert seen == sum(len(w.records) for w in net.wires.values())
    for f in r.findings:
        assert f.kind and f.summary
        for e in f.evidence:
            assert isinstance(e.time_ns, int)
    assert (r.diagnosis is None) == (not any(f.root_cause for f in r.findings))
