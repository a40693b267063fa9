"""The C heap's mmap threshold, fixed at start.

glibc serves a large allocation from its own mapping (returned to the system when freed) and
a smaller one from the heap; by default the threshold between them moves up each time a
mapped block is freed, so which of numpy's column-sized arrays stay in the heap after being
freed depends on the order of earlier frees: the same analysis of the same capture peaked
anywhere from 227 to 273 MB (bench/RESULTS.md, "peak RSS"). A fixed threshold makes the
peak the same from run to run (within 0.1 MB) at no measurable cost in CPU.
"""

from __future__ import annotations

import ctypes
import os

M_MMAP_THRESHOLD = -3
THRESHOLD = 16 << 20
"""Blocks of 16 MiB and more are mapped: columns of 2M or more 8-byte values, which
the tables and sorts make and free again."""


def steady_heap() -> None:
    """Fix the C library's mmap threshold (glibc's ``mallopt``), unless the environment
    already sets it (``MALLOC_MMAP_THRESHOLD_``); nothing where there is no ``mallopt``."""
    if "MALLOC_MMAP_THRESHOLD_" in os.environ:
        return
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return
    mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
    mallopt(M_MMAP_THRESHOLD, THRESHOLD)
