"""The C heap's mmap threshold, fixed at start; its trimming, off for several points.

glibc serves a large allocation from its own mapping (returned to the system when freed) and
a smaller one from the heap; by default the threshold between them moves up each time a
mapped block is freed, so which of numpy's column-sized arrays stay in the heap after being
freed depends on the order of earlier frees: the same analysis of the same capture peaked
anywhere from 227 to 273 MB (bench/RESULTS.md, "peak RSS"). A fixed threshold makes the
peak the same from run to run. It also leaves the trim threshold (free memory at the top of
the heap above which the heap is given back) at 128 KiB: the heap shrinks and grows again
around column-sized arrays, and the system's time for the fresh pages is a fifth of a run of
four points. A higher trim threshold gains that time back on one point too, but its peak then
moves from run to run again (230-269 MB on one capture), so only a run of several points,
which holds far more than any one point's peak anyway, keeps all freed memory
(bench/RESULTS.md, "heap trimming").
"""

from __future__ import annotations

import ctypes
import os

M_TRIM_THRESHOLD = -1
M_MMAP_THRESHOLD = -3
THRESHOLD = 16 << 20
"""Blocks of 16 MiB and more are mapped: columns of 2M or more 8-byte values, which
the tables and sorts make and free again."""
NEVER = -1
"""The trim threshold that keeps all freed heap memory (glibc: -1 turns trimming off)."""


def steady_heap() -> None:
    """Fix the C library's mmap threshold (glibc's ``mallopt``), unless the environment
    already sets it (``MALLOC_MMAP_THRESHOLD_``); nothing where there is no ``mallopt``."""
    if "MALLOC_MMAP_THRESHOLD_" not in os.environ:
        _mallopt(M_MMAP_THRESHOLD, THRESHOLD)


def keep_freed() -> None:
    """Keep all freed heap memory for reuse, for a run that holds several capture points at
    once: it allocates and frees column-sized arrays all the way, and giving the heap back
    costs more (its pages are faulted in again) than the higher peak does (unless the
    environment sets ``MALLOC_TRIM_THRESHOLD_``)."""
    if "MALLOC_TRIM_THRESHOLD_" not in os.environ:
        _mallopt(M_TRIM_THRESHOLD, NEVER)


def _mallopt(option: int, value: int) -> None:
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt(option, value)
