"""Segments reordered on the way are not retransmissions: bytes that arrive twice count once,
whichever sending came first, and a first sending that fills a hole late counts not at all.
A sender numbers what it sends in order (IP ID, TCP timestamp); the tracker tells the two
apart by those numbers, and the packet table path gives the same analysis."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from test_table_equivalence import both_paths

import capkit as ck
from nettrail.analyze.flows import OUT_OF_ORDER
from nettrail.model.finding import Finding, Severity
from nettrail.run import analyze_files

C, S = "198.51.100.2", "203.0.113.10"
C6, S6 = "2001:db8::2", "2001:db8::10"
CP, SP = 40000, 8000
CISN, SISN = 5000, 90000
SIZE = 1000
T0 = 1_700_000_000 * 1_000_000_000
ACK, SYN, FIN, PSH = 0x10, 0x02, 0x01, 0x08

# A server segment as it arrives at the client's capture: its place k (bytes from
# SISN + 1 + k * SIZE), its IP ID and its TCP timestamp (0: none). First sendings carry
# 100 + k and 1000 + k; a sending again carries the numbers of its later time.
Seg = tuple[int, int, int]


def first(k: int) -> Seg:
    return (k, 100 + k, 1000 + k)


def again(k: int, n: int = 0) -> Seg:
    return (k, 200 + n, 2000 + n)


def _ts(val: int, ecr: int = 0) -> bytes:
    return b"\x01\x01\x08\x0a" + struct.pack("!II", val, ecr) if val else b""


def _pcap(tmp: Path, arrivals: list[Seg], *, v6: bool = False, ids: bool = True,
          late: Seg | None = None) -> Path:
    """The client's capture of a download: the handshake, the server's segments in the order
    of ``arrivals`` (an ACK from the client after each), both FINs, and ``late`` after them
    (the client's RST answers it)."""
    cli, srv = (C6, S6) if v6 else (C, S)
    frames: list[tuple[int, bytes]] = []

    def add(src: str, dst: str, sport: int, dport: int, flags: int, seq: int, ack: int,
            ip_id: int, ts: int, payload: bytes = b"") -> None:
        seg = ck.tcp(sport, dport, flags, seq, ack, options=_ts(ts), payload=payload)
        if v6:
            frame = ck.eth(ck.ipv6(src, dst, 6, seg), etype=0x86DD)
        else:
            frame = ck.eth(ck.ipv4(src, dst, 6, seg, ip_id=ip_id if ids else 0))
        frames.append((T0 + len(frames) * 100_000, frame))

    add(cli, srv, CP, SP, SYN, CISN, 0, 1, 1)
    add(srv, cli, SP, CP, SYN | ACK, SISN, CISN + 1, 99, 999)
    add(cli, srv, CP, SP, ACK, CISN + 1, SISN + 1, 2, 2)
    got: set[int] = set()
    for n, (k, ip_id, ts) in enumerate(arrivals):
        add(srv, cli, SP, CP, ACK | PSH, SISN + 1 + k * SIZE, CISN + 1, ip_id, ts,
            bytes(SIZE))
        got.add(k)
        whole = next(i for i in range(len(got) + 1) if i not in got)
        add(cli, srv, CP, SP, ACK, CISN + 1, SISN + 1 + whole * SIZE, 3 + n, 3 + n)
    end = SISN + 1 + (max(k for k, _, _ in arrivals) + 1) * SIZE
    add(srv, cli, SP, CP, FIN | ACK, end, CISN + 1, 500, 5000)
    add(cli, srv, CP, SP, FIN | ACK, CISN + 1, end + 1, 600, 6000)
    add(srv, cli, SP, CP, ACK, end + 1, CISN + 2, 501, 5001)
    if late is not None:
        k, ip_id, ts = late
        add(srv, cli, SP, CP, ACK, SISN + 1 + k * SIZE, CISN + 1, ip_id, ts, bytes(SIZE))
        add(cli, srv, CP, SP, 0x04, CISN + 2, 0, 0, 0)
    path = tmp / "client.pcap"
    path.write_bytes(ck.pcap(frames))
    return path


def _retransmissions(path: Path, monkeypatch: pytest.MonkeyPatch) -> int:
    fast, slow, _ = both_paths(path, monkeypatch)
    assert fast == slow  # the packet table path and the tracker over every record
    conns = analyze_files([("client", str(path))]).analysis.connections
    assert len(conns) == 1
    return conns[0].retransmissions


def _out_of_order(path: Path) -> list[Finding]:
    return [f for f in analyze_files([("client", str(path))]).analysis.findings
            if f.kind == OUT_OF_ORDER]


CASES = {  # name: (arrivals, retransmissions, segments that arrived behind later ones)
    # a segment held back behind the next: no byte came twice
    "reordered": ([first(0), first(1), first(3), first(2), first(4)], 0, 1),
    "reordered far": ([first(0), first(3), first(4), first(5), first(1), first(2)], 0, 2),
    # lost on the way: sent again, it fills the hole
    "lost, sent again": ([first(0), first(1), first(3), first(4), again(2)], 1, 0),
    # sent again and overtaking the first sending, which comes after all: counted once
    "overtaken": ([first(0), first(1), first(3), first(4), again(2), first(2)], 1, 1),
    # sent again before the next bytes went out, arriving first: counted when the first
    # sending comes
    "sent again early": ([first(0), first(1), again(2), first(2)], 1, 0),
    # sent again after it arrived: the usual retransmission
    "spurious": ([first(0), first(1), first(2), again(2)], 1, 0),
    "twice": ([first(0), first(1), first(2), again(2), again(2, 1)], 2, 0),
    # both sendings lost but the third
    "third": ([first(0), first(1), first(3), again(2, 1)], 1, 0),
    # three sendings of the bytes, the last first: counted twice, in every order after it
    "thrice, last first": ([first(0), first(1), first(3), again(2, 1), first(2), again(2)], 2, 1),
    "thrice, first last": ([first(0), first(1), first(3), again(2, 1), again(2), first(2)], 2, 1),
}


@pytest.mark.parametrize("name", list(CASES))
def test_bytes_that_came_twice_count_once(name: str, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    arrivals, want, _late = CASES[name]
    assert _retransmissions(_pcap(tmp_path, arrivals), monkeypatch) == want


@pytest.mark.parametrize("name", ["reordered", "lost, sent again", "overtaken", "twice"])
def test_timestamps_tell_where_there_is_no_ip_id(name: str, tmp_path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """IPv6 has no IP ID; an IPv4 sender may send 0: the TCP timestamps tell alone."""
    arrivals, want, _late = CASES[name]
    assert _retransmissions(_pcap(tmp_path, arrivals, v6=True), monkeypatch) == want
    (tmp_path / "v4").mkdir()
    assert _retransmissions(_pcap(tmp_path / "v4", arrivals, ids=False), monkeypatch) == want


def test_a_hole_filled_with_nothing_to_tell_counts_as_before(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No IP ID and no timestamp: a segment below the highest sent may be either; it counts
    (the rule before reordering was told)."""
    arrivals = [(k, 0, 0) for k, _, _ in CASES["reordered"][0]]
    path = _pcap(tmp_path, arrivals, ids=False)
    assert _retransmissions(path, monkeypatch) == 1
    assert _out_of_order(path) == []  # nothing tells that it came late


def test_bytes_of_long_ago_count_when_they_come_again(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A segment whose first sending came so long before that it is forgotten here counts,
    even when its numbers come before those of the segments remembered above it (sent
    again, then held back while the next 40 went past)."""
    arrivals = [first(k) for k in range(400)] + [(150, 360, 1360)]
    assert _retransmissions(_pcap(tmp_path, arrivals), monkeypatch) == 1


def test_bytes_that_come_after_the_end_count(tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    """A segment sent again, held back until both sides have closed: its receiver had
    every byte (it acknowledged the FIN), so it came twice."""
    arrivals = [first(k) for k in range(8)]
    assert _retransmissions(_pcap(tmp_path, arrivals, late=again(6)), monkeypatch) == 1


@pytest.mark.parametrize("name", list(CASES))
def test_segments_that_came_behind_later_ones_are_named(
        name: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each segment not counted for arriving behind segments its sender sent after it is
    named in one out-of-order finding (info, no root cause), with the segment it came
    behind and the numbers that tell; none where every segment came in the order sent."""
    arrivals, _want, late = CASES[name]
    path = _pcap(tmp_path, arrivals)
    fast, slow, _ = both_paths(path, monkeypatch)
    assert fast == slow
    found = _out_of_order(path)
    if not late:
        assert found == []
        return
    (f,) = found
    assert f.severity is Severity.INFO and not f.root_cause
    assert f.details["count"] == str(late) and len(f.evidence) == late
    for ev in f.evidence:
        assert "sent before" in ev.note and "IP ID" in ev.note and "which came first" in ev.note
    (tmp_path / "v6").mkdir()
    v6 = _out_of_order(_pcap(tmp_path / "v6", arrivals, v6=True))
    assert [g.details["count"] for g in v6] == [str(late)]
    assert all("TS val" in ev.note for ev in v6[0].evidence)
