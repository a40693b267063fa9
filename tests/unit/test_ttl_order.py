"""A packet's path order where a stamp is late: the TTL falls by one per routing hop, whatever
the clocks say. The incident at three points (true clocks: netnode 7 ms, compute 32 ms ahead
of the client), with the client's SYN stamped 0.9 ms late (its frame order still right): the
corrected times put the client after netnode and compute, and the router's RST was then said
to be first seen at the client, from the server (a wrong root cause)."""

from __future__ import annotations

import pytest

from flowkit import Wire
from nettrail.analyze.pipeline import analyze_records
from nettrail.analyze.tracks import TTL_WINDOW_NS
from nettrail.model.packet import ACK, RST, SYN, PacketRecord

C, FIP, VM = "198.51.100.4:51515", "203.0.113.223:22", "10.0.0.5:22"
SKEW = {"client": -7.0, "netnode": 0.0, "compute": 25.0}


def _ttl(rec: PacketRecord, value: int) -> PacketRecord:
    ip = rec.headers.ip
    assert ip is not None
    return rec._replace(headers=rec.headers._replace(ip=ip._replace(ttl=value)))


def _incident(late_ms: float, points: tuple[str, ...]) -> dict[str, list[PacketRecord]]:
    wires = {p: Wire(p, f"{p}.pcap") for p in points}

    def at(point: str, t_ms: float, src: str, dst: str, flags: int, ttl: int, **kw: int) -> None:
        if point in wires:
            w = wires[point]
            w.tcp(t_ms + SKEW[point], src, dst, flags, **kw)
            w.records[-1] = _ttl(w.records[-1], ttl)

    at("client", -0.2 + late_ms, C, FIP, SYN, 64, seq=1000, ip_id=100)
    at("netnode", 0.0, C, FIP, SYN, 63, seq=1000, ip_id=100)
    at("netnode", 0.02, C, VM, SYN, 62, seq=1000, ip_id=100)
    at("compute", 0.3, C, VM, SYN, 62, seq=1000, ip_id=100)
    at("compute", 0.5, VM, C, SYN | ACK, 64, seq=5000, ack=1001, ip_id=0)
    at("compute", 0.51, FIP, C, SYN | ACK, 63, seq=5000, ack=1001, ip_id=0)
    at("client", 0.9, FIP, C, SYN | ACK, 62, seq=5000, ack=1001, ip_id=0)
    at("client", 1.3, C, FIP, ACK, 64, seq=1001, ack=5001, ip_id=101)
    at("netnode", 1.5, C, FIP, ACK, 63, seq=1001, ack=5001, ip_id=101)
    at("netnode", 1.52, FIP, C, RST, 64, seq=5001, ip_id=0)
    at("client", 1.72, FIP, C, RST, 63, seq=5001, ip_id=0)
    at("compute", 1000.5, VM, C, SYN | ACK, 64, seq=5000, ack=1001, ip_id=0)
    at("compute", 1000.51, FIP, C, SYN | ACK, 63, seq=5000, ack=1001, ip_id=0)
    at("client", 1000.9, FIP, C, SYN | ACK, 62, seq=5000, ack=1001, ip_id=0)
    return {p: w.records for p, w in wires.items()}


@pytest.mark.parametrize("points", [("client", "netnode", "compute"), ("client", "netnode")],
                         ids=["three", "two"])
@pytest.mark.parametrize("late_ms", [0.0, 0.3, 0.9])
def test_a_late_stamp_does_not_move_the_router_s_reset_to_the_server(
        late_ms: float, points: tuple[str, ...]) -> None:
    assert late_ms * 1_000_000 < TTL_WINDOW_NS
    got = analyze_records(_incident(late_ms, points))
    roots = {f.kind for f in got.findings if f.root_cause}
    assert "reset-from-server" not in roots
    assert {"asymmetric-nat", "reset-not-from-server"} <= roots
    origin = next(f for f in got.findings if f.kind == "reset-not-from-server")
    assert origin.details.get("origin") == "netnode"


def _refused(server_ttl: int) -> dict[str, list[PacketRecord]]:
    """A SYN refused by the server, its RST seen at the client's point and the server's in
    the same microsecond (one kernel stamps both, as in a lab): one routing hop between them
    (TTL 64 then 63), or a bridge (``server_ttl`` 64: the same TTL at both)."""
    wires = {p: Wire(p, f"{p}.pcap") for p in ("client", "server")}
    hop = 64 - server_ttl
    for point, ttl_in, ttl_out in (("client", 64, 64 - hop), ("server", server_ttl, 64)):
        w = wires[point]
        w.tcp(0.0, C, VM, SYN, seq=1000, ip_id=100)
        w.records[-1] = _ttl(w.records[-1], ttl_in)
        w.tcp(0.05, VM, C, RST | ACK, seq=0, ack=1001, ip_id=0)
        w.records[-1] = _ttl(w.records[-1], ttl_out)
    return {p: w.records for p, w in wires.items()}


def test_a_reset_seen_at_two_points_at_once_is_the_server_s_when_the_ttl_tells() -> None:
    """The TTL tells the points' order where the times tie: the RST came from the server's
    side. (Before, a tie in time alone made its origin unknown, and a lab run of port-closed
    came out inconclusive where it is plainly refused.)"""
    got = analyze_records(_refused(63))
    assert got.diagnosis is not None and got.diagnosis.kinds[0] == "reset-from-server"
    assert not [f for f in got.findings if f.kind == "reset-origin-unknown"]


def test_a_reset_seen_at_two_points_at_once_through_a_bridge_stays_unknown() -> None:
    """The same TTL at both points and the same time: nothing tells their order."""
    got = analyze_records(_refused(64))
    kinds = {f.kind for f in got.findings if f.root_cause}
    assert "reset-from-server" not in kinds
