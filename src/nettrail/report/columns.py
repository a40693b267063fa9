"""Text made once per distinct combination of column values, for writers of many rows.

Rows of a trace batch repeat most of what they say (the same device, the same flow, the
same packet seen at every hop), so writers make each distinct text once and index it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import numpy as np
import numpy.typing as npt

Column = npt.NDArray[Any]
T = TypeVar("T")
_LIMIT = 1 << 62


def groups(*columns: Column) -> tuple[npt.NDArray[np.intp], list[int]]:
    """(group of every row, first row of every group): rows equal in every column share one."""
    n = len(columns[0])
    key: npt.NDArray[Any] = np.zeros(n, np.uint64)
    span = 1
    for col in columns:
        values = col.astype(np.int64)
        low = int(values.min()) if n else 0
        values = (values - low).astype(np.uint64)
        width = int(values.max()) + 1 if n else 1
        if span * width >= _LIMIT:
            distinct, key = np.unique(key, return_inverse=True)
            key = key.reshape(-1).astype(np.uint64)
            span = len(distinct)
        key = key * np.uint64(width) + values
        span *= width
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    return inverse.reshape(-1), first.tolist()


def texts(columns: tuple[Column, ...],
          make: Callable[[npt.NDArray[np.intp]], list[T]]) -> list[T]:
    """What ``make`` says of every row, asked once per group of rows equal in ``columns``:
    ``make(rows)`` gets one row of every group and returns their texts."""
    if not len(columns[0]):
        return []
    inverse, first = groups(*columns)
    made = np.empty(len(first), dtype=object)
    made[:] = make(np.array(first, np.intp))
    out: list[T] = made[inverse].tolist()
    return out
