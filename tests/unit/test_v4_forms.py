"""``fold_rows.V4Forms``: the IPv4 forms made so far, found by their four values."""

from __future__ import annotations

import random

import numpy as np

from nettrail.analyze.fold_rows import V4Forms
from nettrail.model.flow import Endpoint


def test_forms_are_found_by_their_four_values() -> None:
    rng = random.Random(3)
    table = V4Forms()
    made: dict[tuple[int, int, int, int], object] = {}
    for _batch in range(4):
        quads = [(rng.randrange(4), rng.randrange(3), rng.randrange(4), rng.randrange(3))
                 for _ in range(30)]
        cols = [np.array(c, np.int64) for c in zip(*quads, strict=True)]
        found = table.find(*cols).tolist()
        for q, f in zip(quads, found, strict=True):
            assert (f >= 0) == (q in made)
            if f >= 0:
                assert table.forms[f] is made[q]
        new = list(dict.fromkeys(q for q, f in zip(quads, found, strict=True) if f < 0))
        forms = [(Endpoint(str(q[0]), q[1]), Endpoint(str(q[2]), q[3])) for q in new]
        made.update(zip(new, forms, strict=True))
        table.add([np.array(c, np.int64) for c in zip(*new, strict=True)] if new
                  else [np.zeros(0, np.int64)] * 4, forms)
    assert len(table.forms) == len(made)
    assert table.find(*(np.zeros(0, np.int64) for _ in range(4))).tolist() == []
    assert V4Forms().find(*(np.ones(2, np.int64) for _ in range(4))).tolist() == [-1, -1]
