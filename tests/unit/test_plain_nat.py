"""``plain_nat.plain_translations`` against ``nat.counted`` of each conversation's rows'
``one_copy_rewrites``, one row at a time: forms that change at any point, come back
(``A B A``), or are translated one way in one row and back in another; host labels."""

from __future__ import annotations

import random
from collections.abc import Sequence

import numpy as np
import pytest

from nettrail.analyze.anchors import numbered_ends
from nettrail.analyze.correlate import Form
from nettrail.analyze.linked_convs import FormEnds
from nettrail.analyze.nat import Rewrite, counted, one_copy_rewrites
from nettrail.analyze.plain_nat import PlainRows, plain_translations
from nettrail.model.analysis import NatTranslation
from nettrail.model.flow import Endpoint, FlowKey
from nettrail.model.packet import PROTO_TCP

NAMES = ("client", "edge", "core", "server")


def _expected(rows: PlainRows, forms: Sequence[Form], keys: Sequence[FlowKey],
              ) -> dict[int, list[NatTranslation]]:
    uses: dict[int, list[tuple[bool, Sequence[Rewrite], int]]] = {}
    for ci, request, points, numbers, n in zip(*(v.tolist() for v in rows), strict=True):
        got = one_copy_rewrites([forms[f] for f in numbers], [NAMES[p] for p in points])
        if got:
            uses.setdefault(ci, []).append((request, got, n))
    return {ci: found for ci, u in uses.items() if (found := counted(keys[ci], u))}


def _case(seed: int, hosts: Sequence[str]) -> tuple[PlainRows, list[Form], list[FlowKey]]:
    rng = random.Random(seed)
    ends = [Endpoint(h, p) for h in hosts for p in (22, 80, 40000)]
    forms = [(rng.choice(ends), rng.choice(ends)) for _ in range(12)]
    n_points = rng.choice((2, 3, 4))
    rows = []
    for _ in range(rng.randrange(1, 60)):
        conv = rng.randrange(6)
        points = rng.sample(range(4), n_points)
        # mostly one form per run, sometimes one that comes back
        numbers = [rng.randrange(len(forms))]
        for _p in range(n_points - 1):
            numbers.append(numbers[-1] if rng.random() < 0.4 else rng.randrange(len(forms)))
        rows.append((conv, rng.random() < 0.5, points, numbers, rng.randrange(1, 5)))
    if rng.random() < 0.5 and len(rows) > 1:  # one row translated back in another
        conv, request, points, numbers, n = rows[0]
        rows.append((conv, request, points[::-1], numbers[::-1], n + 1))
    conv, request, points, numbers, n = (list(c) for c in zip(*rows, strict=True))
    plain = PlainRows(np.array(conv, np.int64), np.array(request, np.bool_),
                      np.array(points, np.int64), np.array(numbers, np.int64),
                      np.array(n, np.int64))
    keys = [FlowKey.of(PROTO_TCP, *forms[k]) for k in range(6)]
    return plain, forms, keys


@pytest.mark.parametrize("seed", range(120))
def test_same_as_one_row_at_a_time(seed: int) -> None:
    hosts = ("198.51.100.1", "198.51.100.2", "203.0.113.5") if seed % 3 else (
        "198.51.100.1", "server", "client")  # host labels: not translations between them
    rows, forms, keys = _case(seed, hosts)
    src, dst, _ends = numbered_ends(forms)
    got = plain_translations(rows, FormEnds(src, dst), forms, NAMES, keys)
    want = _expected(rows, forms, keys)
    assert {ci: t for ci, t in got.items() if t} == want


def test_a_form_that_comes_back_and_a_reverse_are_counted_as_before() -> None:
    a, b = Endpoint("203.0.113.5", 80), Endpoint("198.51.100.2", 80)
    c = Endpoint("198.18.0.1", 40000)
    forms: list[Form] = [(c, a), (c, b)]
    key = FlowKey.of(PROTO_TCP, c, a)
    rows = PlainRows(np.array([0, 0, 1], np.int64), np.array([True, True, True]),
                     np.array([[0, 1, 2], [1, 0, 2], [0, 1, 2]], np.int64),
                     np.array([[0, 1, 1], [1, 0, 0], [0, 1, 0]], np.int64),
                     np.array([3, 1, 2], np.int64))
    src, dst, _ends = numbered_ends(forms)
    got = plain_translations(rows, FormEnds(src, dst), forms, NAMES, [key, key])
    assert got == _expected(rows, forms, [key, key])
    # conversation 0: 203.0.113.5 -> 198.51.100.2 three times and back once, folded
    assert [(t.before, t.after, t.packets) for t in got[0]] == [(a, b, 4)]
    assert [(t.before, t.after) for t in got[1]] == [(a, b)]  # A B A: the pair counted once
