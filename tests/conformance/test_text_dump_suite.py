"""tcpdump's own ``-A`` and ``-AA`` texts: the packets' bytes after each line are skipped as
the packet's (``text_dump``), and every packet reads as its ``-x`` text of the same capture
gives it."""

from __future__ import annotations

import pytest
from truth import SUITE_DIR

from nettrail.model.packet import PacketRecord
from textread import read_records


def _packets(records: list[PacketRecord]) -> list[tuple[object, ...]]:
    return [(r.ts_ns, r.headers, r.inner, r.wire_len) for r in records]


@pytest.mark.parametrize("name", ["print-A.out", "print-AA.out"])
def test_suite_ascii_dumps_read_as_its_hex_dump(name: str) -> None:
    """``print-flags.pcap``: HTTP over loopback, its request and reply in the bytes."""
    path, hexed = SUITE_DIR / name, SUITE_DIR / "print-x.out"
    if not path.is_file():
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    want, want_stats, _ = read_records(str(hexed))
    got, stats, _ = read_records(str(path))
    assert len(want) == 10
    assert _packets(got) == _packets(want)
    assert not stats.skipped and not want_stats.skipped, stats.warnings
