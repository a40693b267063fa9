"""Captures of one direction (``tcpdump -Q in``, ``dst port 22``): a packet of the other
direction missing there proves nothing. A point counts as one-way when all its packets go
one way, one of them past a handshake (its sender got the other side's packets); SYNs sent
again and again, never answered, go one way without any filter."""

from __future__ import annotations

import pytest

from flowkit import Wire
from nettrail.analyze.pipeline import analyze_records
from nettrail.model.packet import ACK, PSH, SYN, PacketRecord

C, S = "198.51.100.1:40000", "198.51.100.2:22"


def _healthy(one_way_at: str | None, shown: str = C) -> dict[str, list[PacketRecord]]:
    """A connection with data both ways at three points; ``one_way_at`` shows only the
    packets sent by ``shown``."""
    wires = {p: Wire(p, f"{p}.pcap") for p in ("client", "mid", "server")}
    packets = [(0.0, C, S, SYN, 1000, None, 0), (1.0, S, C, SYN | ACK, 5000, 1001, 0),
               (2.0, C, S, ACK, 1001, 5001, 0), (3.0, C, S, PSH | ACK, 1001, 5001, 100),
               (4.0, S, C, ACK, 5001, 1101, 0), (5.0, S, C, PSH | ACK, 5001, 1101, 200),
               (6.0, C, S, ACK, 1101, 5201, 0)]
    for i, (point, w) in enumerate(wires.items()):
        for t, src, dst, flags, seq, ack, length in packets:
            if point == one_way_at and src != shown:
                continue
            w.tcp(t + 0.1 * i if src == C else t + 0.1 * (2 - i), src, dst, flags, seq=seq,
                  ack=ack, length=length, ip_id=int(t * 10) + (0 if src == C else 500))
    return {p: w.records for p, w in wires.items()}


@pytest.mark.parametrize("shown", [C, S], ids=["client-packets", "server-packets"])
@pytest.mark.parametrize("point", ["client", "mid", "server"])
def test_a_healthy_connection_captured_one_way_somewhere_stays_healthy(point: str,
                                                                       shown: str) -> None:
    """The point's handshake looks failed (a SYN-ACK never acknowledged where only the
    server's packets show): the others show it completed, and the point is named."""
    assert analyze_records(_healthy(None)).diagnosis is None
    got = analyze_records(_healthy(point, shown))
    assert got.diagnosis is None, got.diagnosis.headline
    assert [f.kind for f in got.findings if f.root_cause] == []
    if shown == S:
        note = next(f for f in got.findings if f.kind == "one-way-capture")
        assert note.details == {"point": point, "direction": "s2c"}


def test_answered_by_nothing_is_not_a_one_way_capture() -> None:
    """SYNs sent three times, answered at the server and never seen back at the client: the
    client's capture shows one direction because nothing came back, and the loss stands."""
    wires = {p: Wire(p, f"{p}.pcap") for p in ("client", "server")}
    for n in range(3):
        t = 1000.0 * n
        wires["client"].tcp(t, C, S, SYN, seq=1000, ip_id=10 + n)
        wires["server"].tcp(t + 0.2, C, S, SYN, seq=1000, ip_id=10 + n)
        wires["server"].tcp(t + 0.3, S, C, SYN | ACK, seq=5000, ack=1001, ip_id=0)
    got = analyze_records({p: w.records for p, w in wires.items()})
    assert got.diagnosis is not None and got.diagnosis.kinds[0] == "lost-between-points"
    assert not any(f.kind == "one-way-capture" for f in got.findings)
