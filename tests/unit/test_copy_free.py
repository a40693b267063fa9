"""``columns.copy_free``: where a table shows no TCP row can be a copy of another, folding
without candidates gives the sightings folding with them gives."""

from __future__ import annotations

from pathlib import Path

import pytest

from fixturekit import CAPTURES, FIXTURES, fixture_table
from nettrail.analyze.columns import column_ready, copy_free
from nettrail.analyze.correlate import Sighting, fold_copies


def _state(items: list[Sighting]) -> list[tuple[object, ...]]:
    return [(s.record, s.records, s.forms, s.first_ns, s.last_ns, s.key, s.ip_id, s.ts_val)
            for s in items]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_copy_free_folds_the_same(path: Path) -> None:
    table = fixture_table(path)
    records = list(table.records())
    if not (column_ready(table, records) and copy_free(table)):
        return
    assert _state(fold_copies(records, copy_free=True)) == _state(fold_copies(records))


def test_copies_are_not_copy_free() -> None:
    """A capture on ``-i any`` (copies of one packet per interface) is not copy-free."""
    table = fixture_table(FIXTURES / "captures" / "lab-any.pcap")
    assert column_ready(table, list(table.records()))
    assert not copy_free(table)
    assert sum(copy_free(fixture_table(p)) for p in CAPTURES) >= 10
