"""tcpdump's own test suite, every ``.out``: the text reader's fast path reads it as the general
path does (same records, counts, warnings and error), so the fast path never changes a result."""

from __future__ import annotations

from dataclasses import replace

import pytest
from truth import SUITE_DIR

from nettrail.capture.base import CaptureStats
from nettrail.capture.tcpdump_text import read_text
from nettrail.errors import CaptureError
from nettrail.model.packet import PacketRecord


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
