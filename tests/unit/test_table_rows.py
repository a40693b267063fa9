"""``TableRows`` (a table's records built when asked for) and ``fold_rows`` (folding that
reads TCP rows as columns): the same records and the same sightings as the records built
for every row, for every fixture capture."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from capkit import eth, icmp, ipv4, pcap, tcp, udp
from fixturekit import CAPTURES, fixture_table
from nettrail.analyze.anchors import key_numbers, point_columns
from nettrail.analyze.columns import column_ready, copy_free, groups
from nettrail.analyze.correlate import Sighting, fold_copies
from nettrail.analyze.fold_rows import fold_columns, fold_rows
from nettrail.analyze.row_sightings import RowSighting, take
from nettrail.model.rows import TableRows
from nettrail.model.table import PacketTable, quad_value


def _state(items: list[Sighting]) -> list[tuple[object, ...]]:
    return [(s.point, s.record, s.records, s.form, s.forms, s.copy_forms, s.first_ns,
             s.last_ns, s.proto, s.flags, s.seq, s.ack, s.plen, s.ip_id, s.ip_len, s.ts_val,
             s.single, s.key) for s in items]


def _split(table: PacketTable, size: int) -> PacketTable:
    """The same rows in batches of ``size`` (records across batch ends)."""
    out = PacketTable(table.point, table.files, table.ifnames, table.addrs)
    start = 0
    for b in table.batches:
        for lo in range(0, len(b), size):
            hi = min(lo + size, len(b))
            cols = {k: v[lo:hi] for k, v in b.cols.items()}
            odd = {i - lo: r for i, r in b.odd.items() if lo <= i < hi}
            out.add_batch(type(b)(cols, odd, b.rebuild))
        start += len(b)
    return out


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_rows_are_the_records(path: Path) -> None:
    table = _split(fixture_table(path), 7)
    records = list(table.records())
    rows = TableRows(table)
    assert len(rows) == len(records)
    assert list(rows) == records
    assert [rows[i] for i in range(len(rows))] == records
    back = np.arange(len(records), dtype=np.int64)[::-3]
    assert rows.take(back) == [records[i] for i in back.tolist()]
    assert rows.binary()
    assert {n for n in rows.names() if n} == {
        n for r in records for n in (r.ifname, r.netns) if n}


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fold_rows_folds_the_same(path: Path) -> None:
    table = fixture_table(path)
    records = list(table.records())
    if not (column_ready(table, records) and copy_free(table)):
        return
    got = fold_rows(TableRows(table), {})
    assert any(type(s) is RowSighting for s in got) == any(
        r.headers.l4 is not None and r.headers.ip is not None and r.headers.ip.proto == 6
        for r in records)
    assert _state(got) == _state(fold_copies(records, copy_free=True))


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_take_makes_the_lazy_sightings_asked_for(path: Path) -> None:
    """``take`` of lazy sightings (any order, repeats, made before or not, rows that are
    no TCP row) gives the very sightings indexing gives, as it does of a list."""
    table = fixture_table(path)
    if not (column_ready(table, list(table.records())) and copy_free(table)):
        return
    items, _folded = fold_columns(TableRows(table), {})
    n = len(items)
    rng = np.random.default_rng(n)
    first = rng.integers(0, n, min(n, 5)) if n else np.zeros(0, np.int64)
    got = take(items, first)
    assert all(s is not None for s in got)
    numbers = rng.integers(0, n, 2 * n) if n else np.zeros(0, np.int64)
    picked = take(items, numbers)
    every = [items[k] for k in range(n)]
    assert picked == [every[k] for k in numbers.tolist()]
    assert all(a is every[k] for a, k in zip(picked, numbers.tolist(), strict=True))
    assert all(a is b for a, b in zip(got, take(every, first), strict=True))


def _partition(numbers: list[int]) -> list[int]:
    """Each item's first item with the same number (the grouping, whatever the numbering)."""
    first: dict[int, int] = {}
    return [first.setdefault(n, i) for i, n in enumerate(numbers)]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_fold_columns_are_the_sightings_columns(path: Path) -> None:
    """The columns ``fold_columns`` reads off the table are those ``point_columns`` takes
    from its sightings, and its packed keys are equal where the sightings' keys are."""
    table = fixture_table(path)
    records = list(table.records())
    if not (column_ready(table, records) and copy_free(table)):
        return
    items, folded = fold_columns(TableRows(table), {})
    assert [s.idx for s in items] == list(range(len(items)))
    got, want = folded.columns, point_columns(items)
    for name in ("first", "last", "single", "form", "ip_id", "ts_val"):
        assert getattr(got, name).tolist() == getattr(want, name).tolist(), name
    assert got.forms == want.forms and got.items is items
    keys = [s.key for s in items]
    assert (folded.key is None) == (None in keys)
    if folded.key is not None:
        assert _partition(groups(*folded.key).tolist()) == _partition(
            key_numbers(items, {}).tolist())  # type: ignore[union-attr]


def test_fold_columns_with_other_rows_on_a_tcp_quadruple(tmp_path: Path) -> None:
    """UDP and ICMP rows among TCP ones, a UDP flow on a TCP flow's addresses and ports (one
    form for both): the forms numbered in order of first use, as ``point_columns`` numbers
    them, whichever row made the form."""
    a, b = "198.51.100.1", "203.0.113.9"
    frames = [
        (1_000, eth(ipv4(a, b, 17, udp(4000, 53, b"q"), ip_id=1))),  # the form's first use: UDP
        (2_000, eth(ipv4(a, b, 6, tcp(4000, 53, 0x02, seq=10), ip_id=2))),
        (3_000, eth(ipv4(b, a, 6, tcp(53, 4000, 0x12, seq=50, ack=11), ip_id=3))),
        (4_000, eth(ipv4(a, "198.51.100.7", 1, icmp(8, 0, 1, 1), ip_id=4))),
        (5_000, eth(ipv4(b, a, 17, udp(53, 4000, b"r"), ip_id=5))),
        (6_000, eth(ipv4(a, b, 6, tcp(4000, 53, 0x10, seq=11, ack=51), ip_id=6))),
        (7_000, eth(ipv4(a, b, 17, udp(4001, 53, b"q"), ip_id=7))),  # a UDP-only form
    ]
    path = tmp_path / "mixed.pcap"
    path.write_bytes(pcap(frames))
    table = fixture_table(path)
    records = list(table.records())
    assert column_ready(table, records) and copy_free(table)
    items, folded = fold_columns(TableRows(table), {})
    got, want = folded.columns, point_columns(items)
    assert got.form.tolist() == want.form.tolist() == [0, 0, 1, 2, 1, 0, 3]
    assert got.forms == want.forms
    assert [type(s) is RowSighting for s in items] == [False, True, True, False, False, True,
                                                       False]


@pytest.mark.parametrize(("text", "value"), [
    ("192.0.2.1", 0xC0000201), ("0.0.0.0", 0), ("255.255.255.255", 0xFFFFFFFF),
    ("192.0.2.01", None), ("192.0.2", None), ("256.0.0.1", None), ("0x7f.0.0.1", None),
    ("192.0.2.1 ", None), (" 192.0.2.1", None), ("192.0.2.1 x", None), ("192.0.2.1\0", None),
    ("\u0661.0.0.1", None), ("::1", None), ("", None), ("192.0.2.1.80", None)])
def test_quad_value_only_of_canonical_dotted_quads(text: str, value: int | None) -> None:
    """The column value of a dotted quad as ``inet_ntoa`` prints it; no other text is one
    (not one ``inet_aton`` also takes: a short form, hex, a trailing space and more)."""
    assert quad_value(text) == value
