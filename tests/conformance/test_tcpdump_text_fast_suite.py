"""tcpdump's own test suite, every ``.out``: the text reader's fast path reads it as the general
path does (same records, counts, warnings and error), so the fast path never changes a result;
read into a packet table by columns, it gives the same records and analysis."""

from __future__ import annotations

import pytest
from truth import SUITE_DIR

from nettrail.analyze.table_flows import track_table
from nettrail.model.table import table_from_records
from textread import read_into_table, read_records


def test_fast_path_agrees_with_the_general_path_on_every_output(
        monkeypatch: pytest.MonkeyPatch) -> None:
    outs = sorted(SUITE_DIR.glob("*.out"))
    if not outs:
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    fast = {out.name: read_records(str(out)) for out in outs}
    monkeypatch.setattr("nettrail.capture.text_fast._LINE", None)
    differ = [out.name for out in outs if read_records(str(out)) != fast[out.name]]
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
        by_records = read_records(str(out))
        table, by_columns = read_into_table(str(out))
        if by_columns != by_records \
                or track_table(table) != track_table(table_from_records("p", by_records[0])):
            differ.append(out.name)
    assert not differ, f"{len(differ)} outputs read differently, e.g. {differ[:5]}"
