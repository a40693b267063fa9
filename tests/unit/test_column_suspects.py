"""Host findings' suspects picked from a table's columns are the ones the record pass picks:
the same records, in the same order, for every fixture capture."""

from __future__ import annotations

import random
from pathlib import Path

import numpy as np
import pytest
from test_reset_fields import CLIENT, CP, MS, SERVER, SP, T0, _frames

from capkit import eth, ipv4, pcap, sll2, tcp
from fixturekit import CAPTURES, fixture_table
from nettrail.analyze import findings_host
from nettrail.analyze.columns import column_ready
from nettrail.analyze.flows import COPY_WINDOW_NS
from nettrail.analyze.host_scope import parts_suspects, scope_of
from nettrail.analyze.suspects import _late
from nettrail.model.packet import ACK, PSH, RST, SYN, ICMPHeader, PacketRecord, TCPHeader
from nettrail.model.rows import TableRows
from nettrail.model.table import K_SEQ, PacketTable


def _own(records: list[PacketRecord]) -> set[str]:
    """The addresses of the records' host, as the record pass reads them."""
    return findings_host.own_addresses(records)


def column_suspects(table: PacketTable, resets_only: bool = False) -> list[PacketRecord]:
    """The column pass's suspects of ``table`` alone (``host_scope.parts_suspects``);
    ``resets_only``: as if it were captured in one place."""
    scope = scope_of(table)
    if resets_only:
        scope = scope._replace(ways=False, ifaces=frozenset())
    return parts_suspects(lambda: [(table, np.arange(len(table)))], scope)


def _both(table: PacketTable) -> tuple[list[tuple[str, int, int]], list[tuple[str, int, int]]]:
    """(the column pass's suspects, the record pass's), by file, frame and time."""
    records = list(table.records())
    icmp = [r for r in records if type(r.headers.l4) is ICMPHeader and r.headers.l4.type == 3]
    assert scope_of(table).icmp == icmp
    by_records = findings_host._suspects(records, icmp, _own(records))
    return _frames_of(column_suspects(table)), _frames_of(by_records)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_column_suspects_are_the_record_suspects(path: Path) -> None:
    got = _both(fixture_table(path))
    assert got[0] == got[1]


def test_fixtures_have_suspects_to_compare() -> None:
    """The comparison above is not empty: several fixtures have suspects by columns."""
    found = 0
    for path in CAPTURES:
        got = _both(fixture_table(path))
        found += bool(got[1])
    assert found >= 3


def _ends(r: PacketRecord) -> frozenset[tuple[str, int]]:
    """A TCP record's connection: both ends, either way."""
    ip, l4 = r.headers.ip, r.headers.l4
    assert ip is not None and isinstance(l4, TCPHeader)
    return frozenset({(ip.src, l4.sport), (ip.dst, l4.dport)})


def _judged(suspects: list[PacketRecord]) -> list[PacketRecord]:
    """The suspects of connections (suspects all) with a RST that may be found injected, as
    ``suspects._may_be_injected`` says: its known TTL none of its sender's other packets'
    seen the same way (interface and direction), its DSCP none of theirs, its window above
    four times their largest after the handshake, or its IP ID 1 to 3 past one of the other
    side's."""
    by_conn: dict[frozenset[tuple[str, int]], list[PacketRecord]] = {}
    for r in suspects:
        by_conn.setdefault(_ends(r), []).append(r)
    judged = set()
    for key, recs in by_conn.items():
        for r in recs:
            ip, l4 = r.headers.ip, r.headers.l4
            assert ip is not None and isinstance(l4, TCPHeader)
            if not l4.flags & RST:
                continue
            others = [p for p in recs if p.headers.ip is not None
                      and p.headers.ip.src == ip.src and not p.headers.l4.flags & RST]
            mine = [(p.headers.ip, p.headers.l4) for p in others]
            same_way = [p.headers.ip for p in others
                        if (p.ifname, p.direction) == (r.ifname, r.direction)]
            ttls = {m.ttl for m in same_way if m.ttl is not None}
            wins = [t.window for _m, t in mine if not t.flags & SYN and t.window is not None]
            theirs = [p.headers.ip.ip_id for p in recs if p.headers.ip is not None
                      and p.headers.ip.src == ip.dst != ip.src and p.headers.ip.ip_id]
            if ((ip.ttl is not None and ttls and ip.ttl not in ttls)
                    or (same_way and ip.tos >> 2 not in {m.tos >> 2 for m in same_way})
                    or (l4.window and wins and l4.window > 4 * max(wins))
                    or (ip.ip_id and any(1 <= ip.ip_id - i <= 3 for i in theirs))):
                judged.add(key)
    return [r for r in suspects if _ends(r) in judged]


def _with_resets(suspects: list[PacketRecord]) -> list[PacketRecord]:
    """The suspects of connections with a RST among the suspects."""
    reset = {_ends(r) for r in suspects if isinstance(r.headers.l4, TCPHeader)
             and r.headers.l4.flags & RST}
    return [r for r in suspects if _ends(r) in reset]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_reset_suspects_are_the_record_suspects_with_a_reset(path: Path) -> None:
    """With ``resets_only``, the columns give the record pass's suspects of the connections
    with a RST among them that may be found injected, in the same order."""
    table = fixture_table(path)
    records = list(table.records())
    icmp = scope_of(table).icmp
    got = column_suspects(table, resets_only=True)
    want = _judged(_with_resets(findings_host._suspects(records, icmp, _own(records))))
    assert _frames_of(got) == _frames_of(want)


@pytest.mark.parametrize("seed", range(60))
def test_reset_fields_judged_by_columns_as_by_records(seed: int, tmp_path: Path) -> None:
    """A RST with random TTL, TOS, IP ID and window (some fitting its sender's packets,
    some not, some missing), beside another connection's plain RST: the findings are those
    of the record pass over every suspect, and no connection with a finding is left out."""
    rng = random.Random(seed)
    frames = _frames(rst_tos=rng.choice([0x00, 0x08, 0x0a, 0x10, 0x0b]),
                     rst_ttl=rng.choice([61, 64, 60, 62]),
                     rst_id=rng.choice([0, 7003, 7004, 7005, 7006, 103, 7100]),
                     rst_win=rng.choice([0, 509, 2036, 2037, 65535]))
    other = [(T0 + (20 + i) * MS, eth(ipv4(SERVER, CLIENT, 6, tcp(SP, CP + 1, flags, 9000,
                                                                   0, 509), ttl=61,
                                           ip_id=8000 + i, tos=0x08)))
             for i, flags in enumerate((0x18, 0x18, RST))]
    path = tmp_path / "client.pcap"
    path.write_bytes(pcap(sorted(frames + other)))
    table = fixture_table(path)
    records = list(table.records())
    assert column_ready(table, records) and scope_of(table).single
    assert (findings_host.host_findings(table.point, records, table)
            == findings_host.host_findings(table.point, records))


def test_fixtures_have_reset_suspects_to_compare() -> None:
    """Fixtures have connections with a RST that may be injected to compare above (only
    those are suspects: most RSTs fit their sender; the router's view below has one more)."""
    found = 0
    for path in CAPTURES:
        found += bool(column_suspects(fixture_table(path), resets_only=True))
    assert found >= 2


def _router_view(tmp_path: Path, rst_ttl: int) -> Path:
    """``tcpdump -i any`` on a router: the client's packets arrive on one interface (TTL 64)
    and leave by the other one hop older (63), the server's the other way (62, then 61), then
    a RST claiming the client's address leaves towards the server with TTL ``rst_ttl`` (the
    router's own REJECT makes it with 64, which the client's packets also carry, arriving)."""
    c2s = [(SYN, 1000, 0), (ACK, 1001, 5001), (PSH | ACK, 1001, 5001)]
    s2c = [(SYN | ACK, 5000, 1001), (ACK, 5001, 1041)]
    frames = []
    t = T0
    for i, (flags, seq, ack) in enumerate(c2s):
        seg = tcp(CP, SP, flags, seq, ack, payload=b"x" * 40 if flags & PSH else b"")
        for ifindex, pkttype, ttl in ((2, 0, 64), (3, 4, 63)):
            t += MS // 10
            frames.append((t, sll2(ipv4(CLIENT, SERVER, 6, seg, ttl=ttl, ip_id=100 + i),
                                   ifindex=ifindex, pkttype=pkttype)))
        if i < len(s2c):
            flags, seq, ack = s2c[i]
            seg = tcp(SP, CP, flags, seq, ack)
            for ifindex, pkttype, ttl in ((3, 0, 62), (2, 4, 61)):
                t += MS // 10
                frames.append((t, sll2(ipv4(SERVER, CLIENT, 6, seg, ttl=ttl, ip_id=700 + i),
                                       ifindex=ifindex, pkttype=pkttype)))
    frames.append((t + MS, sll2(ipv4(CLIENT, SERVER, 6, tcp(CP, SP, RST | ACK, 1041, 5001, 0),
                                     ttl=rst_ttl, ip_id=0), ifindex=3, pkttype=4)))
    path = tmp_path / "router.pcap"
    path.write_bytes(pcap(frames, linktype=276))
    return path


@pytest.mark.parametrize("rst_ttl", [64, 63])
def test_a_router_made_reset_is_judged_the_way_it_left(tmp_path: Path, rst_ttl: int) -> None:
    """Judged against the packets that left the same way (63), not against all of its
    sender's (64 arriving, 63 leaving): by the columns as by the records, and then found
    made by the router itself; a RST leaving with 63 fits."""
    table = fixture_table(_router_view(tmp_path, rst_ttl))
    records = list(table.records())
    assert column_ready(table, records) and not scope_of(table).single
    got = column_suspects(table)
    assert _frames_of(got) == _frames_of(findings_host._suspects(
        records, scope_of(table).icmp, _own(records)))
    found = findings_host.host_findings(table.point, records, table)
    assert found == findings_host.host_findings(table.point, records)
    if rst_ttl == 64:
        assert [(f.kind, f.details.get("origin")) for f in found] == [
            ("reset-injected", table.point)]
        assert "TTL 64 where 203.0.113.10's other packets here have 63" in found[0].summary
    else:
        assert got == [] and found == []


@pytest.mark.parametrize("seed", range(20))
def test_late_segments_are_those_seen_first_earlier(seed: int) -> None:
    """A SYN or data segment is late when the first one with its source end, seq, flags and
    payload length (in row order) came more than the copy window before it: with flags and
    lengths that pack into one sort key and with ones that do not."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    wide = seed % 2 == 1
    cols = {
        "ts": rng.integers(0, 10, n) * (COPY_WINDOW_NS // 2),
        "known": rng.choice([0, K_SEQ], n).astype(np.uint16),
        "seq": rng.integers(0, 3, n).astype(np.uint32) * 0xFFFFFFFF // 2,
        "flags": rng.choice([SYN, 0x18, 0x200 if wide else 0x100], n).astype(np.uint16),
        "payload_len": rng.choice([0, 40, 70000 if wide else 1460], n).astype(np.uint32),
    }
    src_end = rng.integers(0, 3, n).astype(np.int64) << 40
    rows = np.arange(n, dtype=np.int64)
    got = _late(cols.__getitem__, rows, src_end)
    first: dict[tuple[int, ...], int] = {}
    want = []
    for i in range(n):
        seq = int(cols["seq"][i]) if cols["known"][i] & K_SEQ else -1
        k = (int(src_end[i]), seq, int(cols["flags"][i]), int(cols["payload_len"][i]))
        want.append(int(cols["ts"][i]) - first.setdefault(k, int(cols["ts"][i]))
                    > COPY_WINDOW_NS)
    assert got.tolist() == want


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_single_packets_are_the_grouped_packets(path: Path) -> None:
    """Where every row was captured in one place, each TCP record alone is the packet the
    copy grouping makes of it (same connections, same order)."""
    table = fixture_table(path)
    if not scope_of(table).single:
        return
    records = list(table.records())
    assert findings_host._single_packets(records) == findings_host._packets(records)


def test_one_place_is_not_every_capture() -> None:
    """``-i any`` captures (several interfaces, directions) keep the copy grouping."""
    places = [scope_of(fixture_table(p)).single for p in CAPTURES]
    assert any(places) and not all(places)


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_host_findings_by_columns_are_the_record_findings(path: Path) -> None:
    """Host findings from the columns (in one place: the connections with a RST alone) are
    those of the record pass over every suspect."""
    table = fixture_table(path)
    records = list(table.records())
    if not column_ready(table, records):
        return
    assert (findings_host.host_findings(table.point, records, table)
            == findings_host.host_findings(table.point, records))



def test_an_injected_reset_is_found_by_columns_beside_a_retransmission(tmp_path: Path) -> None:
    """In one place, a connection with an injected RST is still judged by columns, while one
    with a data segment sent again (a suspect with no RST) is left out: the same findings."""
    frames = _frames(rst_tos=0x10, rst_ttl=64, rst_id=103, rst_win=0)
    seg = tcp(CP + 1, SP, 0x18, 7000, 9000, 502, payload=b"z" * 40)
    for at in (20, 400):  # data sent again 380 ms later
        frames.append((T0 + at * MS, eth(ipv4(CLIENT, SERVER, 6, seg, ip_id=at))))
    path = tmp_path / "client.pcap"
    path.write_bytes(pcap(frames))
    table = fixture_table(path)
    records = list(table.records())
    assert column_ready(table, records) and scope_of(table).single
    found = findings_host.host_findings(table.point, records, table)
    assert [f.kind for f in found] == [findings_host.RESET_INJECTED]
    assert found == findings_host.host_findings(table.point, records)


def _frames_of(records: list[PacketRecord]) -> list[tuple[str, int, int]]:
    return [(r.file, r.frame, r.ts_ns) for r in records]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_the_record_pass_over_a_tables_rows_is_the_one_over_its_records(path: Path) -> None:
    """Cross-point analysis hands host findings the rows of a table that the columns cannot
    serve (a SACK block, text) as ``TableRows``: each pass over them builds new records. The
    suspects, and the findings, are those of the records read once into a list. They were
    not: the packets already chosen were told apart by identity, so every one of them was
    chosen again, and each data segment of a suspect connection that ended at the point
    became "sent again" by its own double ("dropped after capture")."""
    table = fixture_table(path)
    records = list(table.records())
    icmp = [r for r in records if type(r.headers.l4) is ICMPHeader and r.headers.l4.type == 3]
    want = findings_host._suspects(records, icmp, _own(records))
    got = findings_host._suspects(TableRows(table), icmp, _own(records))
    assert _frames_of(got) == _frames_of(want)
    assert findings_host.host_findings("p", TableRows(table)) == findings_host.host_findings(
        "p", records)


def test_fixtures_have_record_suspects_to_compare() -> None:
    """Several fixtures give the record pass suspects, so the comparison above says something."""
    found = 0
    for path in CAPTURES:
        records = list(fixture_table(path).records())
        found += bool(findings_host._suspects(records, [], _own(records)))
    assert found >= 4
