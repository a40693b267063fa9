"""A RST that one point's fields make look injected is not called so when the captures show it
leaving its claimed sender: the incident's client, reset by the router, answers the server's
SYN-ACK sent again on the other path with a RST whose TOS only fits that unseen packet. Nor
where a point saw none of the other side's packets before it: the packet whose TOS it may
carry took another path."""

from __future__ import annotations

from crosskit import ACK, FIP, RST, SYN, VM, C, incident
from nettrail.analyze.crosspoint import cross_point
from nettrail.model.packet import PacketRecord


def _tos(rec: PacketRecord, tos: int) -> PacketRecord:
    ip = rec.headers.ip
    assert ip is not None
    return rec._replace(headers=rec.headers._replace(ip=ip._replace(tos=tos)))


def _routed_copies(recs: list[PacketRecord]) -> list[PacketRecord]:
    """``recs`` with a copy of each of the client's packets 10 us later on another interface,
    one hop on (TTL 63), as ``-i any`` on a host routing them shows; frames renumbered."""
    out = []
    for r in recs:
        out.append(r)
        ip = r.headers.ip
        if ip is not None and ip.src == C.split(":")[0]:
            out.append(r._replace(ts_ns=r.ts_ns + 10_000, ifname="eth9", headers=r.headers._replace(
                ip=ip._replace(ttl=63))))
    out.sort(key=lambda r: r.ts_ns)
    return [r._replace(frame=i + 1) for i, r in enumerate(out)]


def _injected(first_hop: int, copies: bool = False, *, rst_tos: int = 0x00,
              reply_at_router: bool = False) -> list[str]:
    """The reset-injected findings' points when the client's late RST is first seen at hop
    ``first_hop`` of the request's path (0: the client itself); ``copies``: the client's
    point also sees its packets routed on; ``rst_tos``: the RST's TOS (its stack's: 0x00,
    the SYN-ACK's); ``reply_at_router``: a packet of the server's passed the router before."""
    net = incident()
    if reply_at_router:
        net.send(999.0, [("router", VM, C, "qr-1"), ("router", FIP, C, "qg-1")], ACK,
                 seq=5001, ack=1001)
    rep = [("compute", VM, C, "tap1"), ("compute", FIP, C, "eth1"), ("client", FIP, C, "eth0")]
    net.send(1000.0, rep, SYN | ACK, seq=5000, ack=1001)  # sent again, past the router
    req = [("client", C, FIP, "eth0"), ("router", C, FIP, "qg-1"), ("router", C, VM, "qr-1")]
    net.send(1000.5, req[first_hop:], RST, seq=1001, ip_id=0)
    points = net.points()
    client = C.split(":")[0]
    for p, recs in points.items():  # an SSH client: TOS 0x10, the others' packets 0x00
        points[p] = [_tos(r, rst_tos if r.tcp.flags & RST  # type: ignore[union-attr]
                          else 0x10 if r.ip is not None and r.ip.src == client else 0x00)
                     for r in recs]
    if copies:
        points["client"] = _routed_copies(points["client"])
    found = cross_point(points).findings
    return [f.details["point"] for f in found if f.kind == "reset-injected"]


def test_a_rst_seen_leaving_its_sender_is_not_called_injected() -> None:
    assert _injected(0) == []
    assert _injected(0, copies=True) == []  # judged by the first copy, before any router


def test_a_rst_first_seen_past_its_sender_is_not_judged_by_a_tos_it_may_reflect() -> None:
    """The router saw none of the server's packets: the RST's TOS may be that of the SYN-ACK
    it answers, which bypassed the router (the incident's own late RST)."""
    assert _injected(1) == []


def test_a_rst_first_seen_past_its_sender_still_is() -> None:
    """Where the router saw both sides, a TOS that neither has is judged there."""
    assert _injected(1, reply_at_router=True) == []  # 0x00: the server's packets' TOS
    assert "router" in _injected(1, rst_tos=0x08, reply_at_router=True)


def test_a_refused_syn_is_refused_though_the_servers_capture_began_after_it() -> None:
    """The server's capture began after the SYN passed (only its RST there): the RST still
    answered the SYN the other points saw, so the server refused the connection."""
    from crosskit import plain

    net, req, rep = plain()
    net.send(0.0, req, SYN, seq=1000)
    net.send(1.0, rep, RST | ACK, seq=0, ack=1001)
    points = net.points()
    points["server"] = [r for r in points["server"] if r.tcp is not None  # type: ignore[union-attr]
                        and r.tcp.flags & RST]
    got = cross_point(points).diagnosis
    assert got is not None
    assert got.headline == "the server refused the connection (RST in answer to the SYN)"
