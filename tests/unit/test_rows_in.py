"""``columns.rows_in`` is set membership of row tuples, as a Python set of tuples gives it."""

from __future__ import annotations

import numpy as np
import pytest

from nettrail.analyze.columns import _exactly_in, rows_in


@pytest.mark.parametrize("seed", range(30))
def test_rows_in_is_tuple_membership(seed: int) -> None:
    """Few or many wanted rows (hash buckets shared), negative and 51-bit values, one to
    three columns, rows that match a column at a time but not as a whole."""
    rng = np.random.default_rng(seed)
    n, m, k = int(rng.integers(0, 400)), int(rng.integers(0, 60)), int(rng.integers(1, 4))
    span = int(rng.choice([3, 1000, 1 << 51]))
    values = [rng.integers(-2, span, n).astype(np.int64) for _ in range(k)]
    wanted = [rng.integers(-2, span, m).astype(np.int64) for _ in range(k)]
    if n and m:  # some rows are wanted ones
        take = rng.integers(0, n, min(m, n))
        for v, w in zip(values, wanted, strict=True):
            w[:len(take)] = v[take]
    want = set(zip(*(w.tolist() for w in wanted), strict=True))
    expected = [t in want for t in zip(*(v.tolist() for v in values), strict=True)]
    assert rows_in(values, wanted).tolist() == expected
    if m:  # the exact check alone, as on rows whose hash met a wanted row's
        assert _exactly_in(values, wanted).tolist() == expected


def test_rows_in_needs_the_whole_tuple() -> None:
    """Each value of a row wanted alone is not enough: (1, 2) and (2, 1) do not make (1, 1)."""
    got = rows_in((np.array([1, 2, 1], np.int64), np.array([1, 1, 2], np.int64)),
                  (np.array([1, 2], np.int64), np.array([2, 1], np.int64)))
    assert got.tolist() == [False, True, True]
