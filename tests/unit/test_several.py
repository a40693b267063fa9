"""Keys several sightings hold, paired on arrays (``anchors._several``, ``full_links``) as
``correlate._by_ip_id`` and ``_timed`` pair them one key at a time: repeated and missing IP
IDs, keys at one point only, sightings left for matching in corrected time."""

from __future__ import annotations

import random

import numpy as np
import pytest

from nettrail.analyze.anchors import PointColumns, coded_anchors, full_links, key_counts
from nettrail.analyze.correlate import CONF_STRONG, CONF_STRONG_TIMED, timed_pairs


def _columns(keys: list[int], ids: list[int], times: list[int]) -> PointColumns:
    n = len(keys)
    ints = np.array(times, np.int64)
    return PointColumns([], ints, ints, np.ones(n, np.bool_), np.zeros(n, np.int64), [],
                        np.array(ids, np.int64), np.full(n, -1, np.int64),
                        key=np.array(keys, np.int64))


def _reference(ka: list[int], ia: list[int], ta: list[int], kb: list[int], ib: list[int],
               tb: list[int], offset: float, tol: float,
               ) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """The IP ID matches and the timed ones of keys several sightings hold, key by key in
    order of the key's first A sighting, as the record path makes them."""
    at_a: dict[int, list[int]] = {}
    at_b: dict[int, list[int]] = {}
    for i, k in enumerate(ka):
        at_a.setdefault(k, []).append(i)
    for j, k in enumerate(kb):
        at_b.setdefault(k, []).append(j)
    by_id: list[tuple[int, int]] = []
    timed: list[tuple[int, int]] = []
    for k, la in at_a.items():
        lb = at_b.get(k, [])
        if not lb or (len(la) == 1 and len(lb) == 1):
            continue
        used = set()
        for v in dict.fromkeys(ia[i] for i in la if ia[i] >= 0):
            xa = [i for i in la if ia[i] == v]
            xb = [j for j in lb if ib[j] == v]
            if len(xa) == 1 and len(xb) == 1:
                by_id.append((xa[0], xb[0]))
                used.update({("a", xa[0]), ("b", xb[0])})
        left_a = [i for i in la if ("a", i) not in used]
        left_b = [j for j in lb if ("b", j) not in used]
        timed.extend((left_a[x], left_b[y]) for x, y in timed_pairs(
            [ta[i] for i in left_a], [tb[j] for j in left_b], offset, tol))
    return by_id, timed


@pytest.mark.parametrize("seed", range(40))
def test_keys_several_hold_pair_as_one_key_at_a_time(seed: int) -> None:
    rng = random.Random(seed)
    n_keys = rng.randint(1, 12)

    def side(n: int) -> tuple[list[int], list[int], list[int]]:
        keys = [rng.randrange(n_keys) for _ in range(n)]
        ids = [rng.choice([-1, 1, 2, 3, rng.randrange(65536)]) for _ in range(n)]
        times = sorted(rng.randrange(10_000) for _ in range(n))
        return keys, ids, times
    ka, ia, ta = side(rng.randint(0, 40))
    kb, ib, tb = side(rng.randint(0, 40))
    offset, tol = rng.choice([0.0, 150.0, -300.0]), rng.choice([50.0, 400.0])
    ca, cb = _columns(ka, ia, ta), _columns(kb, ib, tb)
    anchors = coded_anchors(ca, cb, n_keys, (key_counts(ca, n_keys), key_counts(cb, n_keys)))
    by_id, timed = _reference(ka, ia, ta, kb, ib, tb, offset, tol)
    ip = ~anchors.keyed
    assert list(zip(anchors.a[ip].tolist(), anchors.b[ip].tolist(), strict=True)) == by_id
    links = full_links(ca, cb, anchors, offset, tol)
    conf = links.confidence.tolist()
    got = list(zip(links.a.tolist(), links.b.tolist(), strict=True))
    assert [p for p, c in zip(got, conf, strict=True) if c == CONF_STRONG_TIMED] == timed
    strong = [p for p, c in zip(got, conf, strict=True) if c == CONF_STRONG]
    assert strong[len(strong) - len(by_id):] == by_id
