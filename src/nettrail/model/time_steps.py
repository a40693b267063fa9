"""Where a capture file's times go back and stay back: two captures joined into one file (two
hosts' tcpdump texts pasted one after the other, ``cat a.pcapng b.pcapng``), or a clock set
back while it captured.

One capture's times only move forward, but for a packet stamped a little late on another CPU
(microseconds) or a damaged text stamp (one line, which ``analyze.timing`` repairs). A step is
named where the times go back by more than ``STEP_BACK_NS`` and stay back: each of the three
packets before it (at least two, at a file's start) is later, by that much, than each of the
three from it (at least two, at its end). A point read from such a file holds the same packet
twice (each capture's sighting), which reads as sent again; the warning tells why.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from nettrail.model.arrays import Ints

STEP_BACK_NS = 100_000_000
"""How far back the times must go to be a step (100 ms: far beyond a late stamp of another
CPU, within the span of a short capture joined to another of the same traffic)."""
WINDOW = 3
"""Packets on each side of a step that must all lie on their side of it."""
LEAST = 2
"""Fewer than ``WINDOW`` will do at a file's ends, but not fewer than this."""



class TimeStep(NamedTuple):
    """The times of file ``file`` (its id in the table) go back at frame (text: line)
    ``frame``: from ``before_ns``, the packet before it, to ``after_ns``."""

    file: int
    frame: int
    before_ns: int
    after_ns: int


class StepFinder:
    """The steps back of the files of one table, fed batch by batch (``feed``), the last
    rows of a file held until the rows after them (or ``finish``) come."""

    def __init__(self) -> None:
        self.found: list[TimeStep] = []
        self.spans: dict[int, tuple[int, int]] = {}
        """The first and last time of each file (by id), as its batches came."""
        self._file = -1
        self._ts: Ints = np.zeros(0, np.int64)
        self._frames: Ints = np.zeros(0, np.int64)
        self._done = 0  # rows of _ts already judged

    def feed(self, cols: dict[str, npt.NDArray[Any]]) -> None:
        """Take the rows of one batch (its ``file``, ``ts`` and ``frame`` columns)."""
        files = cols["file"]
        if not len(files):
            return
        cuts = [0, *(np.flatnonzero(files[1:] != files[:-1]) + 1).tolist(), len(files)]
        for a, b in pairwise(cuts):
            file = int(files[a])
            if file != self._file:
                self.finish()
                self._file = file
            ts = cols["ts"][a:b].astype(np.int64)
            low, high = int(ts.min()), int(ts.max())
            if file in self.spans:
                low, high = min(low, self.spans[file][0]), max(high, self.spans[file][1])
            self.spans[file] = (low, high)
            self._ts = np.concatenate([self._ts, ts])
            self._frames = np.concatenate([self._frames, cols["frame"][a:b].astype(np.int64)])
            self._judge(len(self._ts) - (WINDOW - 1))

    def finish(self) -> list[TimeStep]:
        """Judge the rows held (their file has ended); every step found so far."""
        self._judge(len(self._ts) - (LEAST - 1))
        self._ts, self._frames, self._done = self._ts[:0], self._frames[:0], 0
        return self.found

    def _judge(self, upto: int) -> None:
        """Judge rows ``_done`` to ``upto`` (rows after ``upto`` wait for more after them),
        then keep only what the next ones need."""
        ts, n = self._ts, len(self._ts)
        start = max(self._done, LEAST)
        if upto > start:
            big = np.iinfo(np.int64).max
            before = np.full(n, big, np.int64)  # before[i]: least of the WINDOW before i
            after = ts.copy()  # after[i]: most of i and the WINDOW - 1 after it
            for k in range(1, WINDOW + 1):
                before[k:] = np.minimum(before[k:], ts[:-k])
            for k in range(1, WINDOW):
                after[:-k] = np.maximum(after[:-k], ts[k:])
            idx = np.arange(start, upto)
            hits = idx[before[idx] - after[idx] > STEP_BACK_NS]
            self.found += [TimeStep(self._file, int(self._frames[i]), int(ts[i - 1]),
                                    int(ts[i])) for i in hits.tolist()]
            self._done = upto
        keep = max(0, min(self._done, n) - WINDOW)
        if keep:
            self._ts, self._frames = self._ts[keep:], self._frames[keep:]
            self._done -= keep


def overlaps(spans: dict[int, tuple[int, int]], files: list[int]) -> list[tuple[int, int]]:
    """The files (by id, ``files`` in the order read) whose times begin more than
    ``STEP_BACK_NS`` before the end of the file read before them, each with that file: two
    captures of one point made at once (one per interface), read one after the other."""
    out = []
    for before, after in pairwise(f for f in files if f in spans):
        if spans[before][1] - spans[after][0] > STEP_BACK_NS:
            out.append((after, before))
    return out
