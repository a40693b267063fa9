"""``columns.copy_free``: where a table shows no TCP row can be a copy of another, folding
without candidates gives the sightings folding with them gives."""

from __future__ import annotations

import contextlib
from pathlib import Path

import pytest

from nettrail.analyze.columns import column_ready, copy_free
from nettrail.analyze.correlate import Sighting, fold_copies
from nettrail.capture import open_capture
from nettrail.capture.points import read_table
from nettrail.errors import CaptureError
from nettrail.model.table import PacketTable

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CAPTURES = sorted(
    p for d in ("captures", "crosspoint") for p in (FIXTURES / d).iterdir()
    if p.suffix in (".pcap", ".pcapng")
)


def _table(path: Path) -> PacketTable:
    table = PacketTable("p")
    with contextlib.suppress(CaptureError):  # a fault partway: the rows before it count
        read_table(open_capture(str(path), "p"), table)
    return table


def _state(items: list[Sighting]) -> list[tuple[object, ...]]:
    return [(s.record, s.records, s.forms, s.first_ns, s.last_ns, s.key, s.ip_id, s.ts_val)
            for s in items]


@pytest.mark.parametrize("path", CAPTURES, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_copy_free_folds_the_same(path: Path) -> None:
    table = _table(path)
    records = list(table.records())
    if not (column_ready(table, records) and copy_free(table)):
        return
    assert _state(fold_copies(records, copy_free=True)) == _state(fold_copies(records))


def test_copies_are_not_copy_free() -> None:
    """A capture on ``-i any`` (copies of one packet per interface) is not copy-free."""
    table = _table(FIXTURES / "captures" / "lab-any.pcap")
    assert column_ready(table, list(table.records()))
    assert not copy_free(table)
    assert sum(copy_free(_table(p)) for p in CAPTURES) >= 10
