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


C2, S2 = "198.51.100.1:40002", "198.51.100.3:80"


def _single(shown: str | None, lone: str) -> list[PacketRecord]:
    """One point: ``_healthy``'s connection (only the packets sent by ``shown``, all when
    None), and a second connection whose handshake looks failed: the client's SYN alone
    (``lone`` the client), or the server's SYN-ACK alone."""
    w = _healthy("client", shown)["client"] if shown else _healthy(None)["client"]
    if lone == C:
        w.append(Wire("client", "client.pcap").tcp(9000.0, C2, S2, SYN, seq=7000))
    else:
        w.append(Wire("client", "client.pcap").tcp(9000.0, S2, C2, SYN | ACK, seq=9000,
                                                  ack=7001))
    return w


@pytest.mark.parametrize("shown,kind,direction", [(C, "syn-unanswered", "c2s"),
                                                  (S, "synack-unacknowledged", "s2c")],
                         ids=["client-packets", "server-packets"])
def test_one_point_proven_one_way_cannot_tell_a_failed_handshake(shown: str, kind: str,
                                                                  direction: str) -> None:
    """A single capture of one direction: its ACKs show the other side's packets came, so a
    handshake that looks failed there is kept, no longer an error, and the capture named."""
    both = analyze_records({"client": _single(None, shown)})
    assert [f.severity.value for f in both.findings if f.kind == kind] == ["error"]
    got = analyze_records({"client": _single(shown, shown)})
    failed = [f for f in got.findings if f.kind == kind]  # the first one's too, server-side
    assert len(failed) == (1 if shown == C else 2)
    for f in failed:
        assert f.severity.value == "warning" and f.details["one_way"] == "client"
        assert "cannot be told" in f.summary
    (note,) = [f for f in got.findings if f.kind == "one-way-capture"]
    assert note.details == {"point": "client", "direction": direction,
                            "failed": str(len(failed))}


def test_one_point_of_unanswered_syns_and_a_keepalive_is_not_one_way() -> None:
    """SYNs sent again and again to a server that is down, and one keepalive of an older
    connection: one direction, but nothing the other side sent within the capture."""
    w = Wire("client", "client.pcap")
    w.tcp(0.0, C, S, ACK, seq=999, ack=5000)
    for n in range(3):
        w.tcp(100.0 + 1000.0 * n, C2, S2, SYN, seq=7000)
    got = analyze_records({"client": w.records})
    assert [f.severity.value for f in got.findings if f.kind == "syn-unanswered"] == ["error"]
    assert not any(f.kind == "one-way-capture" for f in got.findings)


def test_one_point_showing_one_side_of_each_connection() -> None:
    """``tcpdump -Q in`` on a host that is a client of one connection and the server of
    another: the packets come in from one side of each, both failed handshakes doubted."""
    w = Wire("host", "host.pcap")
    w.tcp(0.0, S, C, SYN | ACK, seq=5000, ack=1001)  # its own connection's answers
    w.tcp(1.0, S, C, PSH | ACK, seq=5001, ack=1001, length=100)
    w.tcp(2.0, S, C, PSH | ACK, seq=5101, ack=1101, length=100)
    w.tcp(3.0, C2, S2, SYN, seq=7000)  # a client of its own, seen coming in
    w.tcp(4.0, S2.replace(":80", ":81"), C2, SYN | ACK, seq=9000, ack=1)
    got = analyze_records({"host": w.records})
    doubted = {f.kind for f in got.findings if f.details.get("one_way") == "host"}
    assert doubted == {"syn-unanswered", "synack-unacknowledged"}
    (note,) = [f for f in got.findings if f.kind == "one-way-capture"]
    assert note.details["direction"] == ""
    assert "of one side of each connection only" in note.summary
