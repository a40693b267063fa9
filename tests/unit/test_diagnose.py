"""Cross-point detectors and the diagnosis on hand-built multi-point captures."""

from __future__ import annotations

import pytest

from crosskit import (
    ACK,
    FIP,
    PSH,
    SYN,
    VM,
    C,
    Net,
    handshake,
    incident,
    plain,
    still_capturing,
)
from nettrail.analyze.crosspoint import cross_point
from nettrail.model.finding import Severity


def kinds(result: object) -> list[str]:
    return [f.kind for f in result.findings if f.root_cause]  # type: ignore[attr-defined]


@pytest.mark.parametrize("text", [False, True], ids=["headers", "text"])
def test_incident_is_asymmetric_nat_and_router_reset(text: bool) -> None:
    r = cross_point(incident(text=text, skew_ms=25.0).points())
    assert kinds(r) == ["asymmetric-nat", "reset-not-from-server"]
    asym = r.findings[0]
    assert asym.details["request_at"] == "router"
    assert asym.details["reply_at"] == "at compute"
    rst = r.findings[1]
    assert rst.details == {"origin": "router", "address": "203.0.113.10:22", "owner": "stack",
                           "missing": "compute"}
    assert "never reached compute" in rst.summary
    assert r.diagnosis is not None
    assert r.diagnosis.kinds == ("asymmetric-nat", "reset-not-from-server")


@pytest.mark.parametrize("text", [False, True], ids=["headers", "text"])
def test_healthy_twin_has_no_root_cause(text: bool) -> None:
    r = cross_point(incident(healthy=True, text=text, skew_ms=-30.0).points())
    assert kinds(r) == []
    assert r.diagnosis is None
    assert {f.kind for f in r.findings} <= {"clock-offset", "multi-interface-copy"}


def test_openstack_names_give_openstack_words() -> None:
    r = cross_point(incident(names=("qg-3f2a", "qr-77c1", "tap5")).points())
    assert r.diagnosis is not None
    assert r.diagnosis.headline.startswith("floating IP 203.0.113.10 is served by two L3 "
                                           "implementations at once")
    assert "Keep one L3 implementation" in r.diagnosis.action


def test_plain_names_give_plain_words() -> None:
    r = cross_point(incident(names=("ext0", "int0", "vnet0")).points())
    assert r.diagnosis is not None
    assert r.diagnosis.headline.startswith("203.0.113.10 has two NAT owners")


def test_diagnosis_chain_is_in_corrected_time_order() -> None:
    r = cross_point(incident(skew_ms=25.0).points())
    assert r.diagnosis is not None
    times = [e.time_ns for e in r.diagnosis.chain]
    assert times == sorted(times)
    points = [e.point for e in r.diagnosis.chain]
    assert points[:3] == ["client", "router", "router"]
    assert "compute" in points


@pytest.mark.parametrize("text", [False, True], ids=["headers", "text"])
def test_lost_between_points(text: bool) -> None:
    net, req, rep = plain(text=text)
    handshake(net, req, rep)
    for i in range(4):  # the request and its retransmissions die inside the router
        net.send(3.0 + 200.0 * 2 ** i, req[:2], PSH | ACK, seq=1001, ack=5001, length=300)
    r = cross_point(net.points())
    assert kinds(r) == ["lost-between-points"]
    f = r.findings[0]
    assert f.details == {"last_seen": "router", "missing": "server", "transmissions": "4",
                         "direction": "c2s"}
    assert f.severity is Severity.ERROR


def test_one_loss_then_recovered_is_no_root_cause() -> None:
    net, req, rep = plain()
    handshake(net, req, rep)
    net.send(3.0, req[:2], PSH | ACK, seq=1001, ack=5001, length=300)
    net.send(210.0, req, PSH | ACK, seq=1001, ack=5001, length=300)
    net.send(211.0, rep, ACK, seq=5001, ack=1301)
    assert kinds(cross_point(net.points())) == []


def test_packet_at_capture_end_is_not_lost() -> None:
    net, req, rep = plain()
    handshake(net, req, rep)
    net.send(3.0, req[:1], PSH | ACK, seq=1001, ack=5001, length=30)
    assert kinds(cross_point(net.points())) == []


def _bulk(net, rep: list, *, icmp: bool) -> None:  # type: ignore[no-untyped-def]
    net.send(3.0, rep, PSH | ACK, seq=5001, ack=1001, length=100)
    for i in range(3):
        for j in range(3):
            net.send(4.0 + 200.0 * 2 ** i + j, rep[:3], ACK, seq=5101 + 1448 * j, ack=1001,
                     length=1448)
    if icmp:
        net.icmp_frag_needed(4.5, "server", "198.51.100.1", "198.51.100.4",
                             "198.51.100.4:80", "203.0.113.2:40000", 1400)


def test_mtu_blackhole() -> None:
    net, req, rep = plain()
    handshake(net, req, rep)
    _bulk(net, rep, icmp=False)
    r = cross_point(net.points())
    assert kinds(r) == ["mtu-blackhole"]
    f = r.findings[0]
    assert f.details["last_seen"] == "router" and f.details["missing"] == "client"
    assert f.details["size"] == "1488"
    assert "no ICMP 'fragmentation needed' came back to server" in f.summary


def test_frag_needed_reaching_the_sender_is_no_blackhole() -> None:
    net, req, rep = plain()
    handshake(net, req, rep)
    _bulk(net, rep, icmp=True)
    assert "mtu-blackhole" not in kinds(cross_point(net.points()))


def test_frag_needed_without_a_quoted_header_is_tied_by_address_and_time() -> None:
    net, req, rep = plain()
    handshake(net, req, rep)
    _bulk(net, rep, icmp=True)
    rec = net.wires["server"].records[-1]  # the ICMP, its quoted header lost (short snaplen)
    icmp = rec.headers.l4._replace(quoted=None)  # type: ignore[union-attr]
    net.wires["server"].records[-1] = rec._replace(headers=rec.headers._replace(l4=icmp))
    assert "mtu-blackhole" not in kinds(cross_point(net.points()))
    late = rec._replace(ts_ns=rec.ts_ns + 60_000 * 1_000_000,  # a minute after: another's
                        headers=rec.headers._replace(l4=icmp))
    net.wires["server"].records[-1] = late
    assert "mtu-blackhole" in kinds(cross_point(net.points()))


def test_frag_needed_quoting_another_connection_of_the_same_hosts_is_not_about_it() -> None:
    net, req, rep = plain()
    handshake(net, req, rep)
    _bulk(net, rep, icmp=False)
    net.icmp_frag_needed(4.5, "server", "198.51.100.1", "198.51.100.4", "198.51.100.4:80",
                         "203.0.113.2:40001", 1400)  # another client port: another connection
    assert "mtu-blackhole" in kinds(cross_point(net.points()))


def test_pmtud_that_works_is_no_failure() -> None:
    net, req, rep = plain()
    handshake(net, req, rep)
    for i in range(2):  # too big for the router's next link: stops there
        net.send(3.0 + 200.0 * i, rep[:3], ACK, seq=5001, ack=1001, length=1448)
    net.icmp_frag_needed(3.1, "server", "198.51.100.1", "198.51.100.4", "198.51.100.4:80",
                         "203.0.113.2:40000", 1400)
    net.send(500.0, rep, ACK, seq=5001, ack=1001, length=1348)  # resent in two pieces
    net.send(500.1, rep, ACK, seq=6349, ack=1001, length=100)
    net.send(501.0, req, ACK, seq=1001, ack=6449)
    assert kinds(cross_point(net.points())) == []


@pytest.mark.parametrize("text", [False, True], ids=["headers", "text"])
def test_server_refuses(text: bool) -> None:
    net, req, rep = plain(text=text)
    net.send(0.0, req, SYN, seq=1000)
    net.send(1.0, rep, 0x14, seq=0, ack=1001, ip_id=0)
    r = cross_point(net.points())
    assert kinds(r) == ["reset-from-server"]
    assert r.findings[0].details == {"origin": "server", "how": "refused"}
    assert r.diagnosis is not None
    assert r.diagnosis.headline.startswith("the server refused the connection")


def test_rst_injected_in_the_middle_is_not_from_server() -> None:
    net, req, rep = plain()
    handshake(net, req, rep)
    net.send(3.0, req, PSH | ACK, seq=1001, ack=5001, length=10)
    net.send(3.5, rep[1:], 0x04, seq=5001, ip_id=0)  # made at the router, server address
    still_capturing(net, "server", 60.0)
    r = cross_point(net.points())
    assert kinds(r) == ["reset-not-from-server"]
    assert r.findings[0].details["owner"] == "device"


def test_a_reset_the_servers_point_may_have_stopped_before_is_of_unknown_origin() -> None:
    """The same RST when the server's capture shows nothing after it: the server's point may
    have stopped capturing (a capture file has no end marker), so neither it nor a device in
    between is named; the diagnosis is inconclusive and says what is missing."""
    net, req, rep = plain()
    handshake(net, req, rep)
    net.send(3.0, req, PSH | ACK, seq=1001, ack=5001, length=10)
    net.send(3.5, rep[1:], 0x04, seq=5001, ip_id=0)
    r = cross_point(net.points())
    assert kinds(r) == []
    (unknown,) = [f for f in r.findings if f.kind == "reset-origin-unknown"]
    assert unknown.details == {"origin": "router", "point": "server",
                               "missing": "server's capture at the time of the RST"}


def test_multi_interface_copies_are_one_packet_noted() -> None:
    r = cross_point(incident(healthy=True).points())
    notes = [f for f in r.findings if f.kind == "multi-interface-copy"]
    assert [n.details["point"] for n in notes] == ["router"]
    assert notes[0].severity is Severity.INFO
    assert notes[0].details["packets"] == "10"
    assert len(r.paths) == 10
    assert all(len({h.point for h in p.hops}) == 3 for p in r.paths)


def test_reply_dropped_by_a_firewall_that_never_saw_the_request() -> None:
    net = Net(("client", "gw", "fw", "server"))
    s = "198.51.100.10:8000"
    syn = [("client", C, s, "eth0"), ("gw", C, s, "eth0"), ("gw", C, s, "eth1"),
           ("server", C, s, "eth0")]
    synack = [("server", s, C, "eth0"), ("fw", s, C, "eth1")]
    for t in (0.0, 1000.0, 3000.0):
        net.send(t, syn, SYN, seq=1000)
        net.send(t + 0.1, synack, SYN | ACK, seq=5000, ack=1001)
    r = cross_point(net.points())
    assert kinds(r) == ["lost-between-points"]
    assert r.findings[0].details == {"last_seen": "fw", "missing": "client",
                                     "transmissions": "3", "direction": "s2c"}


def test_dropped_inside_a_point() -> None:
    net, req, rep = plain()
    handshake(net, req, rep)
    inbound = [(p, src, dst, ifname) for p, src, dst, ifname in req[:2]]
    for i in range(3):
        net.send(3.0 + 200.0 * 2 ** i, inbound, PSH | ACK, seq=1001, ack=5001, length=300)
    for w in net.wires.values():
        w.records[:] = [r._replace(direction="in" if r.ifname == "r0" else "out")
                        for r in w.records]
    r = cross_point(net.points())
    assert r.findings[0].details["dropped_in"] == "router"
    assert r.diagnosis is not None
    assert r.diagnosis.headline == "packets are dropped inside router (on their way to server)"


def test_openstack_words_from_namespace_names() -> None:
    points = incident(names=("ext0", "int0", "vnet0")).points()
    ns = "qrouter-5f1c2d3e"
    points["router"] = [r._replace(netns=ns) for r in points["router"]]
    r = cross_point(points)
    assert r.diagnosis is not None
    assert f"router {ns} (at router)" in r.diagnosis.headline
    assert r.diagnosis.headline.startswith("floating IP 203.0.113.10")


def test_client_reset_is_noted_not_blamed() -> None:
    net, req, rep = plain()
    handshake(net, req, rep)
    net.send(3.0, req, 0x14, seq=1001, ack=5001, ip_id=0)
    r = cross_point(net.points())
    assert kinds(r) == []
    assert [f.kind for f in r.findings] == ["reset-from-client", "multi-interface-copy"]
    assert r.findings[0].severity is Severity.INFO


def test_tcp_without_flags_is_inconclusive_not_healthy() -> None:
    """tcpdump -q text: TCP packets with no flags show neither a failure nor health."""
    net, req, rep = plain(text=True)
    for t in range(3):
        net.send(float(t), req, 0, seq=None)
        net.send(t + 0.5, rep, 0, seq=None)
    r = cross_point(net.points())
    assert r.diagnosis is not None and r.diagnosis.kinds == ("inconclusive",)
    assert "client, router, server carry no flags" in r.diagnosis.headline
    assert "tcpdump -q" in r.diagnosis.explanation


def test_a_capture_of_packets_with_no_flag_set_is_not_text_without_flags() -> None:
    """A pcap has every packet's flags, none set included (a null scan, tcpdump's
    ``Flags [none]``): only text can lack them."""
    net, req, _rep = plain()
    for t in range(3):
        net.send(float(t), req, 0, seq=1000 + t)
    r = cross_point(net.points())
    assert r.diagnosis is None or "carry no flags" not in r.diagnosis.headline


def test_flags_at_every_point_need_no_such_warning() -> None:
    net, req, rep = plain(text=True)
    handshake(net, req, rep)
    assert cross_point(net.points()).diagnosis is None


def test_one_reply_missing_at_the_translator_is_a_capture_gap_not_a_second_owner() -> None:
    """The router translated this connection's replies back; one reply its capture missed
    (seen at compute untranslated, at the client translated) is no asymmetric NAT."""
    net = incident(healthy=True)
    net.send(9.0, [("compute", VM, C, "tap1"), ("client", FIP, C, "eth0")],
             PSH | ACK, seq=5102, ack=1022, length=50)
    r = cross_point(net.points())
    assert "asymmetric-nat" not in kinds(r)
    assert r.diagnosis is None


def test_two_points_saying_the_same_of_one_connection_are_said_once() -> None:
    """The same failure found at two points (their packets not matched) is one sentence."""
    from nettrail.analyze.diagnose import diagnose
    from nettrail.model.finding import Finding
    from nettrail.model.flow import Endpoint, FlowKey

    key = FlowKey(6, Endpoint("198.51.100.2", 40000), Endpoint("203.0.113.10", 80))
    said = "the server 203.0.113.10:80 refused the connection"
    found = [Finding("refused", Severity.ERROR, said, root_cause=True, connection=key,
                     details={"point": p}) for p in ("a", "b")]
    d = diagnose(found)
    assert d is not None and d.explanation.count("refused the connection") == 1
