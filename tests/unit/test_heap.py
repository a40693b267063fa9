"""``cli.heap.steady_heap``: the C library's mmap threshold fixed at start, unless the
environment sets it."""

from __future__ import annotations

import ctypes
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


def test_threshold_fixed(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)
    monkeypatch.setattr(ctypes, "CDLL", lambda _name: _Libc(calls))
    heap.steady_heap()
    assert calls == [(heap.M_MMAP_THRESHOLD, 16 << 20)]


def test_environment_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[tuple[int, int]] = []
    monkeypatch.setenv("MALLOC_MMAP_THRESHOLD_", "4194304")
    monkeypatch.setattr(ctypes, "CDLL", lambda _name: _Libc(calls))
    heap.steady_heap()
    assert calls == []


def test_no_mallopt_no_fault(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MALLOC_MMAP_THRESHOLD_", raising=False)

    def missing(_name: object) -> object:
        raise OSError("no C library")

    monkeypatch.setattr(ctypes, "CDLL", missing)
    heap.steady_heap()  # nothing to fix: no error either
