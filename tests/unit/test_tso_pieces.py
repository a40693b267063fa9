"""Segmentation offload seen at a router: a sender's segment of many MSS (TSO/GSO) arrives
whole on one interface and leaves cut into MSS-size pieces on another (a device that cannot
take it whole). The pieces are sightings of that segment, not retransmissions; on one device
(or interfaces not told apart), a part of the last segment sent again is a retransmission.
The tracker (``flows._piece_of``) and the table's bulk path (``table_flows._maybe_pieces``
hands such rows to it) give the same connections and findings.

A lab run of this (tests/lab/test_findings_live.py, tso-healthy) is the real kernel's
version; these are the rule's edges."""

from __future__ import annotations

import random

import numpy as np
import pytest

from flowkit import Wire
from nettrail.analyze.flows import FlowTracker
from nettrail.analyze.pipeline import analyze_records
from nettrail.analyze.table_flows import _overlapping, track_table
from nettrail.model.packet import ACK, FIN, PSH, SYN, PacketRecord
from nettrail.model.table import K_SEQ, table_from_records

C, S = "203.0.113.10:40000", "198.51.100.10:8000"
MSS = 1448


def _both(records: list[PacketRecord]) -> tuple[object, object]:
    """The tracker's result over the records, and the table path's."""
    tracker = FlowTracker("p")
    tracker.consume(records)
    by_tracker = tracker.finish()
    by_table = track_table(table_from_records("p", records))
    return by_tracker, by_table


def _router(pieces_iface: str | None, in_iface: str | None = "eth1",
            pieces: int = 10, bursts: int = 3, gap_ms: float = 0.01) -> list[PacketRecord]:
    w = Wire("p", "p.pcap")
    w.copy(w.tcp(0, C, S, SYN, seq=100, ifname="eth0"), 10, "eth1")
    w.copy(w.tcp(0.1, S, C, SYN | ACK, seq=900, ack=101, ifname="eth1"), 10, "eth0")
    seq, t = 901, 1.0
    for _ in range(bursts):
        w.tcp(t, S, C, ACK | PSH, seq=seq, ack=101, length=pieces * MSS, ifname=in_iface)
        for k in range(pieces):
            last = k == pieces - 1
            w.tcp(t + gap_ms * (k + 1), S, C, ACK | (PSH if last else 0), seq=seq + k * MSS,
                  ack=101, length=MSS, ifname=pieces_iface)
        seq += pieces * MSS
        t += 1 + gap_ms * pieces
        w.copy(w.tcp(t, C, S, ACK, seq=101, ack=seq, ifname="eth0"), 10, "eth1")
        t += 1
    for src, dst, s, a in ((C, S, 101, seq), (S, C, seq, 102)):
        w.copy(w.tcp(t, src, dst, FIN | ACK, seq=s, ack=a, ifname="eth0"), 10, "eth1")
        t += 0.1
    return w.records


def test_pieces_on_another_interface_are_copies_not_retransmissions() -> None:
    (conns, findings), (tconns, tfindings) = _both(_router("eth0"))
    assert conns == tconns and findings == tfindings
    (conn,) = conns
    assert conn.retransmissions == 0
    assert conn.bytes_server == 3 * 10 * MSS  # counted once, whole
    assert conn.copies >= 30
    assert not [f for f in findings if f.kind == "retransmission"]
    notes = [e.note for f in findings for e in f.evidence]
    assert any("a piece of p.pcap:" in n for n in notes)


@pytest.mark.parametrize("pieces_iface,in_iface", [("eth1", "eth1"), (None, None)],
                         ids=["same-device", "devices-unknown"])
def test_a_part_sent_again_on_one_device_stays_a_retransmission(
        pieces_iface: str | None, in_iface: str | None) -> None:
    (conns, findings), (tconns, tfindings) = _both(_router(pieces_iface, in_iface))
    assert conns == tconns and findings == tfindings
    assert sum(c.retransmissions for c in conns) == 30


def test_pieces_long_after_the_segment_are_retransmissions() -> None:
    """Past the copy window (5 ms) a part of it is sent again, not cut from it."""
    (conns, findings), (tconns, tfindings) = _both(_router("eth0", gap_ms=6.0))
    assert conns == tconns and findings == tfindings
    assert sum(c.retransmissions for c in conns) == 30


@pytest.mark.parametrize("seed", range(40))
def test_the_table_path_and_the_tracker_agree_on_mixed_pieces(seed: int) -> None:
    """Random bursts: whole or cut, pieces on either interface or none, some sent again
    later, some pieces lost: the two paths give the same result."""
    rng = random.Random(seed)
    w = Wire("p", "p.pcap")
    w.tcp(0, C, S, SYN, seq=100, ifname="eth0")
    w.tcp(0.1, S, C, SYN | ACK, seq=900, ack=101, ifname="eth0")
    seq, t = 901, 1.0
    for _ in range(rng.randint(1, 6)):
        n = rng.randint(1, 5)
        w.tcp(t, S, C, ACK, seq=seq, ack=101, length=n * MSS, ifname=rng.choice(["eth1", None]))
        for k in range(n):
            if rng.random() < 0.8:
                w.tcp(t + rng.choice([0.01, 0.5, 7.0]), S, C, ACK, seq=seq + k * MSS, ack=101,
                      length=MSS, ifname=rng.choice(["eth0", "eth1", None]))
        if rng.random() < 0.3:
            w.tcp(t + 50, S, C, ACK, seq=seq, ack=101, length=n * MSS, ifname="eth1")
        seq += n * MSS
        t += 100
    w.records.sort(key=lambda r: r.ts_ns)
    (conns, findings), (tconns, tfindings) = _both(w.records)
    assert conns == tconns and findings == tfindings


def _two_points(resent: bool) -> dict[str, list[PacketRecord]]:
    """The sender's capture shows segments of ten MSS (offload); the receiver's the pieces,
    and its ACKs cover them. ``resent``: the pieces never arrive and the big segments are
    sent again, unacknowledged (a black hole after all)."""
    snd, rcv = Wire("sender", "s.pcap"), Wire("receiver", "r.pcap")

    def both(t: float, src: str, dst: str, flags: int, **kw: int) -> None:
        first, second = (snd, rcv) if src == S else (rcv, snd)
        first.tcp(t, src, dst, flags, **kw)
        second.tcp(t + 0.3, src, dst, flags, **kw)

    both(0, C, S, SYN, seq=100, ip_id=1)
    both(1, S, C, SYN | ACK, seq=900, ack=101, ip_id=0)
    both(2, C, S, ACK, seq=101, ack=901, ip_id=2)
    both(2.5, S, C, ACK | PSH, seq=901, ack=101, length=500, ip_id=3)  # a small one passes
    seq, t = 1401, 3.0
    for burst in range(4):
        snd.tcp(t, S, C, ACK | PSH, seq=seq, ack=101, length=10 * MSS, ip_id=10 + burst)
        if resent:
            snd.tcp(t + 200, S, C, ACK | PSH, seq=seq, ack=101, length=10 * MSS,
                    ip_id=20 + burst)
            t += 300
            continue
        for k in range(10):
            rcv.tcp(t + 0.3 + 0.01 * k, S, C, ACK, seq=seq + k * MSS, ack=101, length=MSS,
                    ip_id=30 + k)
        seq += 10 * MSS
        both(t + 1, C, S, ACK, seq=101, ack=seq, ip_id=3 + burst)
        t += 2
    return {"sender": snd.records, "receiver": rcv.records}


def test_offloaded_segments_the_receiver_acknowledged_are_no_black_hole() -> None:
    """A healthy download whose sender's capture shows offloaded segments was "an MTU black
    hole: packets of 14520 bytes are dropped silently" (a lab run of it too)."""
    got = analyze_records(_two_points(resent=False))
    assert got.diagnosis is None
    assert not [f for f in got.findings if f.root_cause], got.findings


def test_big_segments_sent_again_and_never_acknowledged_are_still_a_black_hole() -> None:
    got = analyze_records(_two_points(resent=True))
    assert got.diagnosis is not None and got.diagnosis.kinds[0] == "mtu-blackhole"


def test_pieces_held_back_and_numbered_from_the_segment_are_pieces_of_it() -> None:
    """A piece held back on its way out (a queue that delays some packets) may come long
    after its segment, behind later ones. Linux numbers the pieces of an offloaded segment
    on from its IP ID (the segment's, then one more per piece): a piece whose ID is its
    segment's plus its place is cut from it, within the window of an IP ID tie (100 ms)."""
    w = Wire("p", "p.pcap")
    w.copy(w.tcp(0, C, S, SYN, seq=100, ifname="eth0"), 10, "eth1")
    w.copy(w.tcp(0.1, S, C, SYN | ACK, seq=900, ack=101, ifname="eth1"), 10, "eth0")
    ids = {0: 5000, 1: 5004}  # two segments of four pieces, in on eth1
    for n in (0, 1):
        w.tcp(1 + n, S, C, ACK, seq=901 + 4 * n * MSS, ack=101, length=4 * MSS, ifname="eth1",
              ip_id=ids[n])
    # the second segment's pieces go out at once, the first's 20 ms later
    for n, t in ((1, 2.5), (0, 22.0)):
        for k in range(4):
            w.tcp(t + 0.01 * k, S, C, ACK, seq=901 + (4 * n + k) * MSS, ack=101, length=MSS,
                  ifname="eth0", ip_id=ids[n] + k)
    (conns, findings), (tconns, tfindings) = _both(w.records)
    assert conns == tconns and findings == tfindings
    assert [(c.retransmissions, c.copies) for c in conns] == [(0, 10)]


def test_pieces_held_back_numbered_otherwise_are_sent_again() -> None:
    """The same pieces with IP IDs of their own (sent again, each taking a new one) are
    retransmissions past the 5 ms copy window."""
    w = Wire("p", "p.pcap")
    w.copy(w.tcp(0, C, S, SYN, seq=100, ifname="eth0"), 10, "eth1")
    w.copy(w.tcp(0.1, S, C, SYN | ACK, seq=900, ack=101, ifname="eth1"), 10, "eth0")
    w.tcp(1, S, C, ACK, seq=901, ack=101, length=4 * MSS, ifname="eth1", ip_id=5000)
    w.tcp(2, S, C, ACK, seq=901 + 4 * MSS, ack=101, length=4 * MSS, ifname="eth1", ip_id=5001)
    for k in range(4):
        w.tcp(22.0 + 0.01 * k, S, C, ACK, seq=901 + k * MSS, ack=101, length=MSS,
              ifname="eth0", ip_id=6000 + k)
    (conns, findings), (tconns, tfindings) = _both(w.records)
    assert conns == tconns and findings == tfindings
    assert [c.retransmissions for c in conns] == [4]


@pytest.mark.parametrize("seed", range(30))
def test_overlapping_spans_are_those_sharing_bytes_with_another_span(seed: int) -> None:
    """``table_flows._overlapping`` against pairs compared one by one: a data row whose
    bytes share bytes with a different span of its side; every data row of a side whose
    numbers wrap, and every data row without a seq; never a row without data."""
    rng = random.Random(seed)
    n = rng.randint(1, 60)
    side = np.array([rng.randint(0, 3) for _ in range(n)], np.int64)
    wrap_side = rng.choice([None, 3])
    seq = np.array([(rng.randint(0, 20) * 100 + (0xFFFFFF00 if s == wrap_side and rng.random()
                                                  < 0.5 else 0)) & 0xFFFFFFFF
                    for s in side.tolist()], np.uint32)
    plen = np.array([rng.choice([0, 100, 100, 200, 300]) for _ in range(n)], np.uint32)
    known = np.array([K_SEQ if rng.random() < 0.9 else 0 for _ in range(n)], np.uint16)
    got = _overlapping(side, seq, plen, known).tolist()
    spans = {(int(s), int(q), int(q) + int(p)) for s, q, p, k in zip(side, seq, plen, known,
                                                                     strict=True)
             if p and k & K_SEQ}
    lows: dict[int, list[int]] = {}
    for s, lo, hi in spans:
        lows.setdefault(s, []).extend((lo, hi))
    for i in range(n):
        s, lo, p = int(side[i]), int(seq[i]), int(plen[i])
        if not p:
            want = False
        elif not known[i] & K_SEQ or max(lows[s]) - min(lows[s]) > 1 << 31:
            want = True
        else:
            want = any(o == s and (a, b) != (lo, lo + p) and a < lo + p and lo < b
                       for o, a, b in spans)
        assert got[i] == want, (i, s, lo, p)
