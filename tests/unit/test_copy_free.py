"""``columns.copy_free``: where a table shows no TCP row can be a copy of another, folding
without candidates gives the sightings folding with them gives."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fixturekit import CAPTURES, FIXTURES, fixture_table
from nettrail.analyze import columns
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


def _weak_hash(*cols: object) -> np.ndarray:  # every row one hash: every pair collides
    return np.zeros(len(cols[0]), np.uint64)  # type: ignore[arg-type]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_copy_free_holds_through_hash_collisions(path: Path,
                                                 monkeypatch: pytest.MonkeyPatch) -> None:
    """With every row's hash the same, the answer (checked by the keys) does not change."""
    table = fixture_table(path)
    if not column_ready(table, list(table.records())):
        return
    want = copy_free(table)
    monkeypatch.setattr(columns, "row_hash", _weak_hash)
    assert copy_free(table) == want


@pytest.mark.parametrize("weak", [False, True])
def test_hashed_groups_group_equal_rows(weak: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    """Rows share a number exactly when they are equal, and the row given for each group is
    one of its rows (with a hash that collides everywhere too)."""
    if weak:
        monkeypatch.setattr(columns, "row_hash", _weak_hash)
    rng = np.random.default_rng(7)
    cols = [rng.integers(0, 3, 2000), rng.integers(-1, 2, 2000),
            rng.integers(0, 2**32, 2000, dtype=np.uint64).astype(np.uint32) % 4]
    numbers, some = columns.hashed_groups(*cols)
    rows = list(zip(*(c.tolist() for c in cols), strict=True))
    seen: dict[tuple[int, ...], int] = {}
    for i, row in enumerate(rows):
        seen.setdefault(row, i)
    assert len(some) == len(seen)
    assert all(numbers[i] == g for g, i in enumerate(some.tolist()))
    by_row = {row: numbers[i] for row, i in seen.items()}
    assert [by_row[row] for row in rows] == numbers.tolist()
    assert len(set(by_row.values())) == len(by_row)


@pytest.mark.parametrize("weak", [False, True])
def test_distinct_rows_first_places_and_counts(weak: bool,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    if weak:
        monkeypatch.setattr(columns, "row_hash", _weak_hash)
    rng = np.random.default_rng(11)
    cols = [rng.integers(0, 3, 3000), rng.integers(0, 2, 3000).astype(np.bool_),
            rng.integers(-1, 3, 3000)]
    rows = list(zip(*(c.tolist() for c in cols), strict=True))
    first: dict[tuple[object, ...], int] = {}
    for i, row in enumerate(rows):
        first.setdefault(row, i)
    got_first, got_count = columns.distinct_rows(*cols)
    assert got_first.tolist() == sorted(first.values())
    assert got_count.tolist() == [rows.count(rows[i]) for i in got_first.tolist()]
