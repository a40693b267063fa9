"""Host-side findings on hand-built records: injected resets, packets dropped after capture."""

from __future__ import annotations

from pathlib import Path

import capkit as ck
from flowkit import Wire
from nettrail.analyze.findings_host import (
    DROPPED_AFTER_CAPTURE,
    REJECTED,
    RESET_INJECTED,
    host_findings,
)
from nettrail.model.packet import (
    ACK,
    PROTO_ICMP,
    PROTO_ICMPV6,
    RST,
    SYN,
    Headers,
    ICMPHeader,
    IPHeader,
    PacketRecord,
    QuotedHeader,
)
from nettrail.run import analyze_files

C, S = "203.0.113.10:40000", "198.51.100.10:8000"


def _ttl(rec: PacketRecord, ttl: int) -> PacketRecord:
    ip = rec.headers.ip
    assert ip is not None
    return rec._replace(headers=rec.headers._replace(ip=ip._replace(ttl=ttl)))


def _server_view(rst_ttl: int, rst_id: int | None = None) -> list[PacketRecord]:
    """At the server: the client's packets arrive forwarded once (TTL 63), then a RST."""
    w = Wire("server")
    w.tcp(0.0, C, S, SYN, seq=1, ifname="eth0", direction="in")
    w.tcp(0.1, S, C, SYN | ACK, seq=9, ack=2, ifname="eth0", direction="out")
    w.tcp(1.0, C, S, ACK, seq=2, ack=10, ifname="eth0", direction="in")
    w.tcp(2.0, S, C, ACK | 0x08, seq=10, ack=2, length=1000, ifname="eth0", direction="out")
    w.tcp(2.5, C, S, RST, seq=2, ifname="eth0", direction="in",
          ip_id=rst_id if rst_id is not None else -1)
    recs = [_ttl(r, 63) if r.ip is not None and r.ip.src == C.split(":")[0] else r
            for r in w.records]
    recs[-1] = _ttl(recs[-1], rst_ttl)
    return recs


def test_a_rst_whose_ttl_does_not_fit_its_sender_was_injected() -> None:
    found = host_findings("server", _server_view(64))
    assert [f.kind for f in found] == [RESET_INJECTED]
    assert found[0].root_cause and found[0].details["address"] == "203.0.113.10"
    assert "TTL 64 where 203.0.113.10's other packets here have 63" in found[0].summary
    assert "origin" not in found[0].details  # it arrived here: made before this point


def test_an_injected_rsts_evidence_shows_the_last_packet_before_it_not_after() -> None:
    w = Wire("server")
    for rec in _server_view(64):
        w.records.append(rec)
    w.tcp(3.0, C, S, ACK, seq=2, ack=10, ifname="eth0", direction="in")  # after the RST
    recs = [_ttl(r, 63) if i == len(w.records) - 1 else r for i, r in enumerate(w.records)]
    [found] = host_findings("server", recs)
    before, rst = found.evidence
    assert before.note == "203.0.113.10's last packet before it" and before.frame == 3
    assert before.time_ns < rst.time_ns


def test_a_rst_that_fits_its_sender_is_not_called_injected() -> None:
    assert host_findings("server", _server_view(63)) == []


def _ip_id(rec: PacketRecord, ip_id: int) -> PacketRecord:
    ip = rec.headers.ip
    assert ip is not None
    return rec._replace(headers=rec.headers._replace(ip=ip._replace(ip_id=ip_id)))


def test_a_rst_continuing_the_other_sides_ip_ids_was_injected() -> None:
    recs = _server_view(63)
    client = [i for i, r in enumerate(recs[:-1]) if r.ip is not None
              and r.ip.src == "203.0.113.10"]
    for i in client:  # the client's own IP IDs are far from the server's
        recs[i] = _ip_id(recs[i], 5000 + i)
    server_last = recs[3].ip.ip_id if recs[3].ip is not None else 0
    assert server_last is not None
    recs[-1] = _ip_id(recs[-1], server_last + 1)
    found = host_findings("server", recs)
    assert [f.kind for f in found] == [RESET_INJECTED]
    assert f"IP ID {server_last + 1} continuing the other side's" in found[0].summary


def _client_view() -> Wire:
    w = Wire("client")
    w.tcp(0.0, C, S, SYN, seq=1, ifname="eth0", direction="out")
    w.tcp(0.5, S, C, SYN | ACK, seq=9, ack=2, ifname="eth0", direction="in")
    return w


def test_a_synack_arriving_then_the_syn_again_was_dropped_after_capture() -> None:
    w = _client_view()
    w.tcp(1000.0, C, S, SYN, seq=1, ifname="eth0", direction="out")
    found = host_findings("client", w.records)
    assert [f.kind for f in found] == [DROPPED_AFTER_CAPTURE]
    assert found[0].details == {"point": "client", "packet": "SYN-ACK",
                                "host": "203.0.113.10"}
    assert "sends its SYN again" in found[0].summary


def test_a_synack_answered_by_icmp_unreachable_was_dropped_after_capture() -> None:
    w = _client_view()
    quoted = QuotedHeader(IPHeader(4, "198.51.100.10", "203.0.113.10", 6, 63, 1, 40, True, 0,
                                   False), 8000, 40000)
    ip = IPHeader(4, "203.0.113.10", "198.51.100.10", PROTO_ICMP, 64, 7, 68, False, 0, False)
    last = w.records[-1]
    w.records.append(last._replace(ts_ns=last.ts_ns + 50_000, frame=3, direction="out",
                                   headers=Headers(None, ip, ICMPHeader(4, 3, 3, None, quoted))))
    found = host_findings("client", w.records)
    assert [f.kind for f in found] == [DROPPED_AFTER_CAPTURE]
    assert "ICMP unreachable" in found[0].summary


def _data_view(acked: bool) -> list[PacketRecord]:
    w = Wire("server")
    w.tcp(0.0, C, S, SYN, seq=1, ifname="eth0", direction="in")
    w.tcp(0.1, S, C, SYN | ACK, seq=9, ack=2, ifname="eth0", direction="out")
    w.tcp(0.2, C, S, ACK, seq=2, ack=10, ifname="eth0", direction="in")
    w.tcp(1.0, C, S, ACK | 0x08, seq=2, ack=10, length=500, ifname="eth0", direction="in")
    w.tcp(1.5, S, C, ACK, seq=10, ack=502 if acked else 2, ifname="eth0", direction="out")
    w.tcp(201.0, C, S, ACK | 0x08, seq=2, ack=10, length=500, ifname="eth0", direction="in")
    return w.records


def test_data_arriving_never_acknowledged_and_sent_again_was_dropped_after_capture() -> None:
    found = host_findings("server", _data_view(acked=False))
    assert [f.kind for f in found] == [DROPPED_AFTER_CAPTURE]
    assert found[0].details == {"point": "server", "packet": "data segment",
                                "host": "198.51.100.10"}
    assert "1 ACK sent after it fall short" in found[0].summary


def test_data_acknowledged_then_sent_again_is_not_dropped_here() -> None:
    assert host_findings("server", _data_view(acked=True)) == []


def test_a_synack_forwarded_on_is_not_dropped_here() -> None:
    w = Wire("router")
    syn = w.tcp(0.0, C, S, SYN, seq=1, ifname="eth0", direction="in")
    w.copy(syn, 5, "eth1", "out")
    synack = w.tcp(0.5, S, C, SYN | ACK, seq=9, ack=2, ifname="eth1", direction="in")
    w.copy(synack, 5, "eth0", "out")  # it left towards the client: not this host's to drop
    again = w.tcp(1000.0, C, S, SYN, seq=1, ifname="eth0", direction="in")
    w.copy(again, 5, "eth1", "out")
    assert host_findings("router", w.records) == []


def _older(records: list[PacketRecord], src: str) -> list[PacketRecord]:
    """``records`` with the packets from ``src`` one hop older (TTL 63): forwarded."""
    return [_ttl(r, 63) if r.ip is not None and r.ip.src == src else r for r in records]


def test_what_a_router_forwards_out_of_one_captured_interface_is_not_its_hosts() -> None:
    """A capture of one router interface alone, with directions (a pcapng of dumpcap): the
    packets it forwards towards that interface only leave there, one hop older. The SYN-ACK
    and the data that arrive and go on out of sight were not dropped there."""
    w = _client_view()
    w.tcp(1000.0, C, S, SYN, seq=1, ifname="eth0", direction="out")
    assert host_findings("router", _older(w.records, "203.0.113.10")) == []
    assert host_findings("router", _older(_data_view(acked=False), "198.51.100.10")) == []


def test_an_out_of_window_segment_is_not_a_retransmission() -> None:
    from nettrail.analyze.flows import FlowTracker

    w = Wire("client")
    w.tcp(0.0, C, S, SYN, seq=1000)
    w.tcp(0.1, S, C, SYN | ACK, seq=5000, ack=1001)
    w.tcp(0.2, C, S, ACK, seq=1001, ack=5001)
    w.tcp(1.0, S, C, ACK, seq=5001, ack=1001, length=100)
    w.tcp(2.0, S, C, ACK, seq=(5001 - (1 << 30) - 5000) % (1 << 32), ack=1001,
          length=100)  # a GiB behind: out of any window
    w.tcp(3.0, S, C, ACK, seq=5101, ack=1001, length=100)
    tracker = FlowTracker("client")
    tracker.consume(w.records)
    conns, findings = tracker.finish()
    assert conns[0].retransmissions == 0
    assert not [f for f in findings if f.kind == "retransmission"]
    w.tcp(4.0, S, C, ACK, seq=5101, ack=1001, length=100)  # the same segment again: it is one
    tracker = FlowTracker("client")
    tracker.consume(w.records)
    assert tracker.finish()[0][0].retransmissions == 1


def _unreachable(quoted: QuotedHeader | None, after_ms: float) -> list[PacketRecord]:
    """The client's view, then an ICMP port unreachable the client's host sends the server
    ``after_ms`` after the SYN-ACK (``quoted``: what it quotes, None when cut off)."""
    w = _client_view()
    ip = IPHeader(4, "203.0.113.10", "198.51.100.10", PROTO_ICMP, 64, 7, 68, False, 0, False)
    last = w.records[-1]
    w.records.append(last._replace(ts_ns=last.ts_ns + round(after_ms * 1e6), frame=3,
                                   direction="out",
                                   headers=Headers(None, ip, ICMPHeader(4, 3, 3, None, quoted))))
    return w.records


def test_an_unreachable_that_quotes_nothing_is_tied_by_addresses_and_time() -> None:
    found = host_findings("client", _unreachable(None, 0.05))
    assert [f.kind for f in found] == [DROPPED_AFTER_CAPTURE]
    assert host_findings("client", _unreachable(None, 60_000.0)) == []  # a minute on: another's


def test_an_unreachable_quoting_another_connection_is_not_about_this_one() -> None:
    other = QuotedHeader(IPHeader(4, "198.51.100.10", "203.0.113.10", 6, 63, 1, 40, True, 0,
                                  False), 8000, 40001)  # the same hosts, another client port
    assert host_findings("client", _unreachable(other, 0.05)) == []


def _listener_view(answered_before: bool = True, syns: int = 3) -> Wire:
    """At the server's host (``tcpdump -i any``): a connection it answered (its packets leave
    here, none arrive: the address lives here), then a client's SYN sent ``syns`` times,
    never answered."""
    w = Wire("server")
    if answered_before:
        w.tcp(0.0, "203.0.113.10:39999", S, SYN, seq=1, ifname="eth0", direction="in")
        w.tcp(0.1, S, "203.0.113.10:39999", SYN | ACK, seq=9, ack=2, ifname="eth0",
              direction="out")
        w.tcp(0.2, "203.0.113.10:39999", S, ACK, seq=2, ack=10, ifname="eth0", direction="in")
    for k in range(syns):
        w.tcp(10.0 + 1000.0 * (2**k - 1), C, S, SYN, seq=5000, ifname="eth0", direction="in")
    return w


def test_a_syn_arriving_at_its_servers_host_never_answered_was_dropped_there() -> None:
    """A full listen queue (the application does not accept) drops the SYNs, so does an INPUT
    rule: each sending arrives, no answer leaves."""
    found = host_findings("server", _listener_view().records)
    assert [f.kind for f in found] == [DROPPED_AFTER_CAPTURE]
    assert found[0].details == {"point": "server", "packet": "SYN", "host": "198.51.100.10"}
    assert "3 times" in found[0].summary and "listen queue" in found[0].summary
    assert [e.note for e in found[0].evidence] == [
        "SYN arrives at this host", "the client's SYN again (3 in all), never answered"]


def test_a_syn_not_shown_to_live_at_the_point_is_not_judged() -> None:
    """Nothing from the server's address left this point: it may live beyond it, and the SYN
    may have been lost on the way there."""
    assert host_findings("server", _listener_view(answered_before=False).records) == []


def test_a_syn_sent_once_is_not_judged() -> None:
    """The capture may have ended before the answer: a second sending shows it was running
    past the time the first would have been answered."""
    assert host_findings("server", _listener_view(syns=1).records) == []


def test_a_syn_answered_with_a_reset_is_not_dropped() -> None:
    w = _listener_view()
    w.tcp(3100.0, S, C, RST | ACK, seq=0, ack=5001, ifname="eth0", direction="out")
    assert host_findings("server", w.records) == []


def test_a_syn_at_a_router_that_never_forwards_it_is_left_to_the_cross_point_rules() -> None:
    """At a router, the server's packets arrive from beyond it: the address does not live
    there, so a SYN that stops there is the cross-point loss rule's to judge."""
    w = Wire("router")
    syn = w.tcp(0.0, "203.0.113.10:39999", S, SYN, seq=1, ifname="eth0", direction="in")
    w.copy(syn, 5, "eth1", "out")
    synack = w.tcp(0.5, S, "203.0.113.10:39999", SYN | ACK, seq=9, ack=2, ifname="eth1",
                   direction="in")
    w.copy(synack, 5, "eth0", "out")
    for k in range(3):
        w.tcp(10.0 + 1000.0 * k, C, S, SYN, seq=5000, ifname="eth0", direction="in")
    assert host_findings("router", w.records) == []


def test_a_syn_forwarded_out_of_sight_at_a_routers_interface_is_not_judged() -> None:
    """A capture of a router's client-side interface alone, with directions (a pcapng of
    dumpcap): the server's packets only leave it there, but forwarded, one hop older (TTL
    63): the address does not live there, and the SYN, forwarded out of sight, is not
    called dropped."""
    w = Wire("router")
    w.tcp(0.0, "203.0.113.10:39999", S, SYN, seq=1, ifname="eth0", direction="in")
    w.tcp(0.5, S, "203.0.113.10:39999", SYN | ACK, seq=9, ack=2, ifname="eth0",
          direction="out")
    for k in range(3):
        w.tcp(10.0 + 1000.0 * k, C, S, SYN, seq=5000, ifname="eth0", direction="in")
    forwarded = [_ttl(r, 63) if r.ip is not None and r.ip.src == "198.51.100.10" else r
                 for r in w.records]
    assert host_findings("router", forwarded) == []
    assert [f.details["packet"] for f in host_findings("server", w.records)] == ["SYN"]


def _cooked(tmp_path: Path, name: str, here: str, ports: list[tuple[int, int, int, int]],
            server_ttl: int = 64) -> str:
    """A ``tcpdump -i any`` capture at the host of address ``here``: (time in ms, source port,
    flags, seq) of each packet between the client and the server, a packet from ``here``
    going out, any other coming in (Linux cooked v2 packet types 4 and 0); the server's
    packets with TTL ``server_ttl``."""
    srv, cli = "198.51.100.10", "203.0.113.10"
    frames = []
    for t_ms, cport, flags, seq in ports:
        from_server = bool(flags & ACK and flags & SYN)
        src, dst = (srv, cli) if from_server else (cli, srv)
        sport, dport = (8000, cport) if from_server else (cport, 8000)
        seg = ck.tcp(sport, dport, flags, seq, seq + 1 if from_server else 0)
        ttl = server_ttl if from_server else 64
        frames.append((1_700_000_000_000_000_000 + t_ms * 1_000_000,
                       ck.sll2(ck.ipv4(src, dst, 6, seg, ttl=ttl),
                               pkttype=4 if src == here else 0)))
    path = tmp_path / f"{name}.pcap"
    path.write_bytes(ck.pcap(frames, linktype=276, nano=True))
    return str(path)


def test_a_listen_queue_overflow_is_the_diagnosis_through_the_table(tmp_path: Path) -> None:
    """The same through ``nettrail analyze``'s packet table, from ``-i any`` captures at the
    client and at the server: the addresses living at a point are read from its columns, and
    the SYN dropped inside the server is the diagnosis."""
    packets = [(0, 39999, SYN, 1), (1, 39999, SYN | ACK, 1), (10, 40000, SYN, 5000),
               (1010, 40000, SYN, 5000), (3010, 40000, SYN, 5000)]
    client = _cooked(tmp_path, "client", "203.0.113.10", packets)
    server = _cooked(tmp_path, "server", "198.51.100.10", packets)
    analysis = analyze_files([("client", client), ("server", server)]).analysis
    dropped = [f for f in analysis.findings if f.kind == DROPPED_AFTER_CAPTURE]
    assert [(f.details["packet"], f.details["point"]) for f in dropped] == [("SYN", "server")]
    assert analysis.diagnosis is not None
    assert "SYN reached server and 198.51.100.10 never answered" in analysis.diagnosis.headline
    assert "TcpExtListenOverflows" in analysis.diagnosis.action
    # the server's capture alone with the client's: nothing of the server's own leaves it
    # (only its SYN-ACK did): without it, the SYN may have been lost beyond the point
    (tmp_path / "b").mkdir()
    blind = [p for p in packets if not p[2] & ACK]
    analysis = analyze_files([("client", _cooked(tmp_path / "b", "client", "203.0.113.10",
                                                 blind)),
                              ("server", _cooked(tmp_path / "b", "server", "198.51.100.10",
                                                 blind))]).analysis
    assert not [f for f in analysis.findings if f.kind == DROPPED_AFTER_CAPTURE]
    # the server's packets leave the point one hop older (forwarded: the point is a router
    # whose other side was not captured): the SYN may have gone on
    (tmp_path / "c").mkdir()
    analysis = analyze_files([
        ("client", _cooked(tmp_path / "c", "client", "203.0.113.10", packets)),
        ("server", _cooked(tmp_path / "c", "server", "198.51.100.10", packets,
                           server_ttl=63))]).analysis
    assert not [f for f in analysis.findings if f.kind == DROPPED_AFTER_CAPTURE]


def _rejected_view(code: int, icmp_src: str, ttl: int = 64,
                   came_in_first: bool = False) -> list[PacketRecord]:
    """At a point: the client's SYN arrives, an ICMP destination unreachable (``code``) from
    ``icmp_src`` quoting it leaves (with ``ttl``; after a copy of it that came in, when
    ``came_in_first``)."""
    w = Wire("server")
    w.tcp(0.0, C, S, SYN, seq=1, ifname="eth0", direction="in")
    quoted = QuotedHeader(IPHeader(4, "203.0.113.10", "198.51.100.10", 6, 63, 1, 60, True, 0,
                                   False), 40000, 8000)
    ip = IPHeader(4, icmp_src, "203.0.113.10", PROTO_ICMP, ttl, 7, 88, False, 0, False)
    last = w.records[-1]
    icmp = last._replace(ts_ns=last.ts_ns + 40_000, frame=2, direction="out",
                         headers=Headers(None, ip, ICMPHeader(4, 3, code, None, quoted)))
    if came_in_first:
        w.records.append(icmp._replace(ts_ns=icmp.ts_ns - 10_000, frame=2, direction="in",
                                       ifname="eth1"))
    w.records.append(icmp._replace(frame=len(w.records) + 1))
    return w.records


def test_a_syn_answered_with_icmp_made_here_was_rejected_here() -> None:
    """A firewall's REJECT rule answers with ICMP port unreachable (a TCP stack answers a
    closed port with RST): the point that made the ICMP rejected the connection."""
    [found] = host_findings("server", _rejected_view(3, "198.51.100.10"))
    assert found.kind == REJECTED and found.root_cause
    assert found.details == {"point": "server", "host": "198.51.100.10", "code": "3",
                             "packet": "SYN"}
    assert "REJECT rule" in found.summary
    [found] = host_findings("mid", _rejected_view(13, "203.0.113.1"))
    assert "administratively prohibited from 203.0.113.1" in found.summary


def _v6_view(itype: int, code: int) -> list[PacketRecord]:
    """At a point: an IPv6 client's SYN arrives, an ICMPv6 error (``itype``, ``code``) that
    this point made, quoting it, leaves."""
    w = Wire("mid")
    syn = w.tcp(0.0, "fe80::1:40000", "fe80::2:9000", SYN, seq=1, ifname="eth0",
                direction="in", ip_id=None)
    assert syn.headers.ip is not None
    syn = w.records[-1] = syn._replace(headers=syn.headers._replace(
        ip=syn.headers.ip._replace(version=6, df=False)))
    quoted = QuotedHeader(IPHeader(6, "fe80::1", "fe80::2", 6, 64, None, 40, False, 0, False),
                          40000, 9000)
    ip = IPHeader(6, "fe80::2", "fe80::1", PROTO_ICMPV6, 64, None, 88, False, 0, False)
    w.records.append(syn._replace(ts_ns=syn.ts_ns + 40_000, frame=2, direction="out",
                                  headers=Headers(None, ip, ICMPHeader(6, itype, code, None,
                                                                       quoted))))
    return w.records


def test_an_icmp6_unreachable_made_here_is_a_rejection_and_a_time_exceeded_is_not() -> None:
    """ICMPv6's destination unreachable is type 1 (ip6tables REJECT: code 4, port
    unreachable); its type 3 is time exceeded, whose codes 0 and 1 were once read as ICMPv4's
    network and host unreachable: a hop limit run out on a SYN was called a refusal."""
    [found] = host_findings("mid", _v6_view(1, 4))
    assert found.kind == REJECTED and found.root_cause
    assert found.details == {"point": "mid", "host": "fe80::2", "code": "4", "packet": "SYN"}
    assert ("mid: the SYN to [fe80::2]:9000 was answered with ICMP6 port unreachable from "
            "fe80::2, which mid made: a firewall's REJECT rule") in found.summary
    [found] = host_findings("mid", _v6_view(1, 1))
    assert "ICMP6 communication administratively prohibited" in found.summary
    for itype, code in ((3, 0), (3, 1), (2, 0), (1, 2)):  # time exceeded, too big, unassigned
        assert host_findings("mid", _v6_view(itype, code)) == [], (itype, code)


def test_an_icmp_this_point_only_carried_or_forwarded_is_not_its_rejection() -> None:
    """An ICMP that came in before it left (forwarded: made beyond), one that leaves one hop
    older, and a code that is not a refusal (fragmentation needed) are not this point's."""
    assert host_findings("mid", _rejected_view(3, "198.51.100.10", came_in_first=True)) == []
    assert host_findings("mid", _rejected_view(3, "198.51.100.10", ttl=63)) == []
    assert host_findings("server", _rejected_view(4, "198.51.100.10")) == []
