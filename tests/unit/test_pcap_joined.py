"""pcap files joined with ``cat`` (``cat cap.pcap cap.pcap1 > all.pcap``): the second file's
header stands where a record should. Read as a record of no bytes, it made the record after
it absurd and reading stopped there, the second file's packets lost. The records are read on
past it, into records and into a table, wherever it falls in the reader's buffer; one warning
names the first such header. A header of another link type is a fault there, named."""

from __future__ import annotations

from pathlib import Path

import pytest

import capkit as ck
from nettrail.capture import base, open_capture, table_pcap
from nettrail.capture.points import read_table
from nettrail.errors import CaptureError
from nettrail.model.packet import PacketRecord
from nettrail.model.table import PacketTable

C, S = "198.51.100.10", "198.51.100.20"


def _frames(n: int, first: int = 0) -> list[tuple[int, bytes]]:
    """``n`` Ethernet frames of one connection's segments, 1 ms apart, of varied sizes."""
    return [(1_700_000_000_000_000_000 + i * 1_000_000,
             ck.eth(ck.ipv4(C, S, 6, ck.tcp(40000, 80, 0x18, 1000 + i, 1,
                                            payload=b"x" * (i % 97)))))
            for i in range(first, first + n)]


def _packets(records: list[PacketRecord]) -> list[tuple[object, ...]]:
    return [(r.ts_ns, r.headers, r.wire_len) for r in records]


def _both(path: Path) -> tuple[list[PacketRecord], list[PacketRecord], list[str]]:
    """The records of ``path`` read as records and into a table, and the warnings."""
    capture = open_capture(str(path), "p")
    records = list(capture)
    table = PacketTable("p")
    read_table(open_capture(str(path), "p"), table)
    return records, list(table.records()), capture.stats.warnings


@pytest.mark.parametrize("chunk", [64 << 10, 1000, 997, 1013, 1031])  # headers fall across
def test_joined_files_read_as_one_capture(chunk: int, tmp_path: Path,
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_pcap, "CHUNK", chunk)
    monkeypatch.setattr(base, "CHUNK", chunk)
    whole = tmp_path / "whole.pcap"
    whole.write_bytes(ck.pcap(_frames(300)))
    parts = [ck.pcap(_frames(n, first)) for n, first in ((100, 0), (0, 100), (120, 100),
                                                         (80, 220))]  # one of headers alone
    joined = tmp_path / "joined.pcap"
    joined.write_bytes(b"".join(parts))
    want_records, want_rows, _ = _both(whole)
    records, rows, warnings = _both(joined)
    assert len(records) == 300
    assert _packets(records) == _packets(want_records)
    assert _packets(rows) == _packets(want_rows)
    seams = [w for w in warnings if "a second pcap file header" in w]
    assert seams == [f"{joined} at byte {len(parts[0])}: a second pcap file header (files "
                     "joined with cat?): the records after it are read on, as after any more"]


def test_a_header_of_another_link_type_is_a_fault_there(tmp_path: Path) -> None:
    first = ck.pcap(_frames(10))
    joined = tmp_path / "joined.pcap"
    joined.write_bytes(first + ck.pcap([(0, ck.sll(b"\0" * 20))], linktype=113))
    for how in ("records", "table"):
        capture = open_capture(str(joined), "p")
        with pytest.raises(CaptureError) as err:
            if how == "records":
                list(capture)
            else:
                read_table(capture, PacketTable("p"))
        assert err.value.offset == len(first)
        assert "a second pcap file header, of link type 113 (not 1)" in str(err.value)
        assert capture.stats.packets == 10
