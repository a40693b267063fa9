"""``columns.groups`` numbers rows as one lexicographic sort of its columns does, however
the columns pack (narrow ones into one key, wide ones, past 62 bits, each a key of its own);
the sorts by packed value and row number are numpy's stable argsort and unique."""

from __future__ import annotations

from typing import Any

import numpy as np
import numpy.typing as npt
import pytest

from nettrail.analyze.columns import (
    _hash_sorted,
    _runs,
    as_uint64,
    groups,
    hash_order,
    in_sorted,
    ranges,
    row_hash,
    sort_order,
    sorted_runs,
    stable_order,
    unique_values,
)


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


_DTYPES = (np.int64, np.uint64, np.int32, np.uint16, np.uint8, np.int8, np.bool_)


@pytest.mark.parametrize("seed", range(6))
def test_stable_order_is_the_stable_argsort(seed: int) -> None:
    """Every integer width, spreads narrow and too wide to pack (the argsort then), columns
    already in order, empty and one-row columns, hashes (``hash_order``); the runs of equal
    values and the distinct values are ``np.unique``'s."""
    rng = np.random.default_rng(seed)
    for _ in range(60):
        n = int(rng.choice([0, 1, 2, int(rng.integers(3, 3000))]))
        dtype = _DTYPES[int(rng.integers(len(_DTYPES)))]
        if dtype is np.bool_:
            v: npt.NDArray[Any] = rng.integers(0, 2, n).astype(np.bool_)
        else:
            info = np.iinfo(dtype)
            span = int(rng.choice([3, 100, 2 ** 20, 2 ** 40, int(info.max)]))
            lo = max(int(info.min), -span) if rng.random() < 0.5 else 0
            v = rng.integers(lo, min(int(info.max), lo + span), n, dtype=dtype, endpoint=True)
        if rng.random() < 0.2:
            v = np.sort(v)
        order = stable_order(v)
        assert order.dtype == np.int64
        assert np.array_equal(order, np.argsort(v, kind="stable"))
        h = row_hash(v)
        assert np.array_equal(hash_order(h), np.argsort(h, kind="stable"))
        assert np.array_equal(unique_values(v), np.unique(v))
        number, starts = sorted_runs(v, order)
        _u, first, inverse = np.unique(v, return_index=True, return_inverse=True)
        assert np.array_equal(number, inverse.reshape(-1))
        assert np.array_equal(order[starts], first)


def test_hash_order_when_hashes_share_their_high_bits() -> None:
    """Two different hashes alike in the bits packed beside the row numbers: the argsort."""
    h = np.array([5 << 40, (5 << 40) + 1, 3, 5 << 40, 2 ** 64 - 1, 2 ** 64 - 2], np.uint64)
    assert np.array_equal(hash_order(h), np.argsort(h, kind="stable"))
    rng = np.random.default_rng(7)
    for n in (2, 3, 64, 1000, 5000):  # many runs of shared high bits, repeated hashes
        bits = max((n - 1).bit_length(), 1) + 1  # the low bits ``hash_order`` leaves out
        high = rng.integers(0, max(n // 8, 2), n).astype(np.uint64) << np.uint64(bits)
        low = rng.integers(0, 1 << bits, n).astype(np.uint64)
        for h in (high | low, (high | low)[rng.integers(0, n, n)], high):
            assert np.array_equal(hash_order(h), np.argsort(h, kind="stable"))
            order, in_order = _hash_sorted(h)  # the hashes that come with the order
            assert np.array_equal(in_order, h[order])
            if n == 1000:  # the same runs through the groups' helpers
                inverse, starts = _runs(in_order, order)
                assert np.array_equal(inverse, np.unique(h, return_inverse=True)[1])
                assert np.array_equal(order[starts], np.unique(h, return_index=True)[1])


def test_ranges_one_after_another() -> None:
    """``ranges``: each range's numbers in turn (empty ranges among them), where each
    begins; no range at all."""
    lo = np.array([5, 0, 3, 9, 2], np.int64)
    hi = np.array([8, 0, 4, 9, 6], np.int64)
    rows, at = ranges(lo, hi)
    assert rows.tolist() == [5, 6, 7, 3, 2, 3, 4, 5]
    assert at.tolist() == [0, 3, 3, 4, 4]
    none = np.zeros(0, np.int64)
    assert [v.tolist() for v in ranges(none, none)] == [[], []]


def _hash_by_copies(*cols: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """``row_hash`` as first written: every column converted, every step a new array."""
    h = np.zeros(len(cols[0]), np.uint64)
    for c in cols:
        h ^= c.astype(np.uint64)
        h *= np.uint64(0x9E3779B97F4A7C15)
        h ^= h >> np.uint64(29)
    return h


@pytest.mark.parametrize("seed", range(6))
def test_row_hash_of_every_kind_of_column(seed: int) -> None:
    """``row_hash`` (64-bit columns seen as unsigned, no copy) hashes as converting every
    column would: signed columns with negative values, narrower and unsigned ones, booleans,
    strided views; ``as_uint64`` is ``astype(np.uint64)``."""
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 300))
    cols: list[npt.NDArray[Any]] = [
        rng.integers(-2 ** 63, 2 ** 63 - 1, n, dtype=np.int64, endpoint=True),
        rng.integers(0, 2 ** 64 - 1, n, dtype=np.uint64, endpoint=True),
        rng.integers(-2 ** 31, 2 ** 31 - 1, n, dtype=np.int32),
        rng.integers(0, 2 ** 16, n, dtype=np.uint16),
        rng.integers(-128, 127, n, dtype=np.int8),
        rng.integers(0, 2, n).astype(np.bool_),
        rng.integers(-5, 5, 2 * n, dtype=np.int64)[::2],
    ]
    picked = [cols[k] for k in rng.permutation(len(cols))[:int(rng.integers(1, len(cols)))]]
    assert np.array_equal(row_hash(*picked), _hash_by_copies(*picked))
    for c in cols:
        got = as_uint64(c)
        assert got.dtype == np.uint64
        assert np.array_equal(got, c.astype(np.uint64))


@pytest.mark.parametrize("seed", range(8))
def test_in_sorted_is_isin(seed: int) -> None:
    """``in_sorted`` is ``np.isin`` against sorted distinct values: values below, between,
    equal to and above them, none known, none asked."""
    rng = np.random.default_rng(seed)
    known = unique_values(rng.integers(-50, 50, int(rng.integers(0, 40)), dtype=np.int64))
    values = rng.integers(-60, 60, int(rng.integers(0, 200)), dtype=np.int64)
    got = in_sorted(known, values)
    assert got.dtype == np.bool_
    assert np.array_equal(got, np.isin(values, known))
