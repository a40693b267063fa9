"""``cli.heap``: the C library's mmap threshold fixed at start, all freed heap kept for a run
of several points, each unless the environment sets it."""

from __future__ import annotations

import ctypes
from pathlib import Path
from typing import Any

import pytest

from nettrail.cli import heap


class _Libc:
    def __init__(self, calls: list[tuple[int, int]]) -> None:
        self.mallopt = _Mallopt(calls)


class _Mallopt:
    argtypes: Any = None

    def __init__(self, calls: list[tuple[int, int]]) -> None:
        self.calls = calls

    def __call__(self, option: int, value: int) -> int:
        self.calls.append((option, value))
        return 1


def test_thresholds_fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.setattr(ctypes, "CDLL", lambda _name: _Libc(calls))
    heap.steady_heap()
    assert calls == [(heap.M_MMAP_THRESHOLD, 16 << 20)]
    heap.keep_freed()
    assert calls[-1] == (heap.M_TRIM_THRESHOLD, -1)


@pytest.mark.parametrize(("name", "left"), [
    ("MALLOC_MMAP_THRESHOLD_", [(heap.M_TRIM_THRESHOLD, -1)]),
    ("MALLOC_TRIM_THRESHOLD_", [(heap.M_MMAP_THRESHOLD, 16 << 20)]),
])
def test_environment_wins(monkeypatch: pytest.MonkeyPatch, name: str,
                          left: list[tuple[int, int]]) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)
    monkeypatch.setenv(name, "4194304")
    monkeypatch.setattr(ctypes, "CDLL", lambda _name: _Libc(calls))
    heap.steady_heap()
    heap.keep_freed()
    assert calls == left


def test_no_mallopt_no_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.delenv("MALLOC_TRIM_THRESHOLD_", raising=False)

    def missing(_name: object) -> object:
        raise OSError("no C library")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    heap.steady_heap()  # nothing to fix: no error either
    heap.keep_freed()


@pytest.mark.parametrize(("captures", "calls"), [
    (["lab-eth.pcap"], 0),
    (["a=lab-eth.pcap", "b=lab-raw.pcap"], 1),
])
def test_freed_heap_kept_for_several_points(monkeypatch: pytest.MonkeyPatch,
                                            capsys: pytest.CaptureFixture[str],
                                            captures: list[str], calls: int) -> None:
    from nettrail.cli import analyze
    from nettrail.cli.main import main

    kept: list[None] = []
    monkeypatch.setattr(analyze, "keep_freed", lambda: kept.append(None))
    here = Path(__file__).parent.parent / "fixtures" / "captures"
    args = [c.replace("lab-", f"{here}/lab-") for c in captures]
    assert main(["analyze", "--format", "json", *args]) == 0
    assert capsys.readouterr().out
    assert len(kept) == calls
