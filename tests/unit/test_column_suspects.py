"""Host findings' suspects picked from a table's columns are the ones the record pass picks:
the same records, in the same order, for every fixture capture."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixturekit import CAPTURES, fixture_table
from nettrail.analyze import findings_host
from nettrail.analyze.columns import column_ready, one_place
from nettrail.analyze.suspects import column_suspects, icmp_errors
from nettrail.model.packet import ICMPHeader
from nettrail.model.table import PacketTable


def _both(table: PacketTable) -> tuple[list[int], list[int]] | None:
    """(ids of the column pass's suspects, ids of the record pass's), or None when the
    columns cannot serve."""
    records = list(table.records())
    if not column_ready(table, records):
        return None
    icmp = [r for r in records if type(r.headers.l4) is ICMPHeader and r.headers.l4.type == 3]
    assert icmp_errors(table) == icmp
    by_columns = column_suspects(table, records, icmp)
    by_records = findings_host._suspects(records, icmp)
    return [id(r) for r in by_columns], [id(r) for r in by_records]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_column_suspects_are_the_record_suspects(path: Path) -> None:
    got = _both(fixture_table(path))
    if got is not None:
        assert got[0] == got[1]


def test_fixtures_have_suspects_to_compare() -> None:
    """The comparison above is not empty: several fixtures have suspects by columns."""
    found = 0
    for path in CAPTURES:
        got = _both(fixture_table(path))
        found += got is not None and bool(got[1])
    assert found >= 3


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_single_packets_are_the_grouped_packets(path: Path) -> None:
    """Where every row was captured in one place, each TCP record alone is the packet the
    copy grouping makes of it (same connections, same order)."""
    table = fixture_table(path)
    if not one_place(table):
        return
    records = list(table.records())
    assert findings_host._single_packets(records) == findings_host._packets(records)


def test_one_place_is_not_every_capture() -> None:
    """``-i any`` captures (several interfaces, directions) keep the copy grouping."""
    places = [one_place(fixture_table(p)) for p in CAPTURES]
    assert any(places) and not all(places)
