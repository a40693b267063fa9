"""``tracks._components``: each node's smallest connected node, against a plain union-find,
on random graphs (chains, stars, cycles, repeated and self edges, isolated nodes)."""

from __future__ import annotations

import numpy as np
import pytest

from nettrail.analyze.tracks import _components


def _smallest(n: int, a: list[int], b: list[int]) -> list[int]:
    parent = list(range(n))

    def find(x: int) -> int:
        while parent[x] != x:
            x = parent[x]
        return x

    for x, y in zip(a, b, strict=True):
        rx, ry = find(x), find(y)
        if rx != ry:
            parent[max(rx, ry)] = min(rx, ry)
    return [find(x) for x in range(n)]


@pytest.mark.parametrize("seed", range(60))
def test_smallest_connected_node(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 200))
    m = int(rng.integers(0, 3 * n))
    a, b = rng.integers(0, n, m), rng.integers(0, n, m)
    if seed % 4 == 0:  # a long chain numbered backwards: labels must travel far
        a = np.arange(n - 1, 0, -1)
        b = a - 1
        rng.shuffle(b)
    got = _components(n, a.astype(np.int64), b.astype(np.int64))
    assert got.dtype == np.int64
    assert got.tolist() == _smallest(n, a.tolist(), b.tolist())
