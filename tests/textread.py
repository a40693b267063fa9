"""Reading tcpdump text the ways the tests compare: to records, and into a packet table."""

from __future__ import annotations

from dataclasses import replace

from nettrail.capture.base import CaptureStats
from nettrail.capture.tcpdump_text import read_text, read_text_table
from nettrail.errors import CaptureError
from nettrail.model.packet import PacketRecord
from nettrail.model.table import PacketTable

Outcome = tuple[list[PacketRecord], CaptureStats, str]
"""Records, statistics (error left out) and the error's text ("" without one)."""


def read_records(path: str) -> Outcome:
    """``read_text`` of ``path``, the error (stored in the stats too) as text."""
    stats = CaptureStats(path=path, point="p")
    records: list[PacketRecord] = []
    error = ""
    try:
        records.extend(read_text(path, "p", stats))
    except CaptureError as exc:
        assert stats.error is exc
        error = str(exc)
    return records, replace(stats, error=None), error


def read_into_table(path: str) -> tuple[PacketTable, Outcome]:
    """``read_text_table`` of ``path``: the table, and its records with stats and error."""
    stats = CaptureStats(path=path, point="p")
    table = PacketTable("p")
    error = ""
    try:
        read_text_table(path, "p", stats, table)
    except CaptureError as exc:
        assert stats.error is exc
        error = str(exc)
    return table, (list(table.records()), replace(stats, error=None), error)
