"""tcpdump's own test suite, every ``.out``: the text reader's fast path reads it as the general
path does (same records, counts, warnings and error), so the fast path never changes a result;
read into a packet table by columns, it gives the same records and analysis."""

from __future__ import annotations

from dataclasses import replace

import pytest
from truth import SUITE_DIR

from nettrail.analyze.table_flows import track_table
from nettrail.capture.base import CaptureStats
from nettrail.capture.tcpdump_text import read_text, read_text_table
from nettrail.errors import CaptureError
from nettrail.model.packet import PacketRecord
from nettrail.model.table import PacketTable, table_from_records


def _read(path: str) -> tuple[list[PacketRecord], CaptureStats, str]:
    stats = CaptureStats(path=path, point="p")
    records: list[PacketRecord] = []
    error = ""
    try:
        records.extend(read_text(path, "p", stats))
    except CaptureError as exc:
        error = str(exc)
    return records, replace(stats, error=None), error


def test_fast_path_agrees_with_the_general_path_on_every_output(
        monkeypatch: pytest.MonkeyPatch) -> None:
    outs = sorted(SUITE_DIR.glob("*.out"))
    if not outs:
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    fast = {out.name: _read(str(out)) for out in outs}
    monkeypatch.setattr("nettrail.capture.text_fast._LINE", None)
    differ = [out.name for out in outs if _read(str(out)) != fast[out.name]]
    assert not differ, f"{len(differ)} outputs read differently, e.g. {differ[:5]}"
    assert sum(len(f[0]) for f in fast.values()) > 5_000


def test_table_by_columns_agrees_with_the_records_on_every_output() -> None:
    """Every ``.out`` read into a packet table by columns: the table's records, counts,
    warnings and error are the record reader's, and so is the table analysis."""
    outs = sorted(SUITE_DIR.glob("*.out"))
    if not outs:
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    differ = []
    for out in outs:
        records, stats, error = _read(str(out))
        got = CaptureStats(path=str(out), point="p")
        table = PacketTable("p")
        got_error = ""
        try:
            read_text_table(str(out), "p", got, table)
        except CaptureError as exc:
            got_error = str(exc)
        if (list(table.records()), replace(got, error=None), got_error) != (records, stats, error) \
                or track_table(table) != track_table(table_from_records("p", records)):
            differ.append(out.name)
    assert not differ, f"{len(differ)} outputs read differently, e.g. {differ[:5]}"
