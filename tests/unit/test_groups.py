"""``columns.groups`` numbers rows as one lexicographic sort of its columns does, however
the columns pack (narrow ones into one key, wide ones, past 62 bits, each a key of its own)."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from nettrail.analyze.columns import groups, sort_order


def _by_lexsort(*cols: npt.NDArray[Any]) -> npt.NDArray[np.int64]:
    order = np.lexsort(cols[::-1])
    new = np.zeros(len(cols[0]), np.bool_)
    new[0] = True
    for c in cols:
        s = c[order]
        new[1:] |= s[1:] != s[:-1]
    out = np.empty(len(cols[0]), np.int64)
    out[order] = np.cumsum(new) - 1
    return out


def _column(rng: np.random.Generator, kind: int, n: int) -> npt.NDArray[Any]:
    if kind == 0:
        return rng.integers(-1, 3, n)  # -1 for none, as the IP ID column
    if kind == 1:
        return rng.integers(0, 2**32, n, dtype=np.uint64).astype(np.uint32)  # seq numbers
    if kind == 2:
        c = rng.integers(-2**62, 2**62, n)
        c[0], c[-1] = -2**62, 2**62 - 1  # spans more than 62 bits
        return c
    return rng.integers(0, 5, n).astype(np.uint8)


@pytest.mark.parametrize("seed", range(20))
def test_groups_number_rows_as_the_lexicographic_sort(seed: int) -> None:
    rng = np.random.default_rng(seed)
    for _ in range(20):
        n = int(rng.integers(1, 500))
        cols = [_column(rng, int(rng.integers(0, 4)), n) for _ in range(int(rng.integers(1, 7)))]
        assert groups(*cols).tolist() == _by_lexsort(*cols).tolist()


def test_no_rows_no_groups() -> None:
    assert len(groups(np.zeros(0, np.int64), np.zeros(0, np.int64))) == 0


@pytest.mark.parametrize("seed", range(10))
def test_sort_order_is_the_stable_lexicographic_order(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    for _ in range(20):
        n = int(rng.integers(1, 500))
        cols = [_column(rng, int(rng.integers(0, 4)), n) for _ in range(int(rng.integers(1, 5)))]
        assert sort_order(*cols).tolist() == np.lexsort(cols[::-1]).tolist()
