"""``fold_rows.V4Forms``: the IPv4 forms made so far, found by their four values."""

from __future__ import annotations

import random
from collections.abc import Callable

import numpy as np
import pytest

from nettrail.analyze.correlate import Form, _new_form
from nettrail.analyze.fold_rows import V4Forms, _forms_of
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


def _one_by_one(text: Callable[[int, int], str], quads: list[list[int]],
                forms: dict[tuple[str, int, str, int], Form],
                endpoints: dict[tuple[str, int], Endpoint]) -> list[Form]:
    """What ``_forms_of`` stands for: each quadruple in turn, its form found or made."""
    out = []
    for fam, src, sport, dst, dport in zip(*quads, strict=True):
        key = (text(fam, src), sport, text(fam, dst), dport)
        form = forms.get(key)
        if form is None:
            form = forms[key] = _new_form(endpoints, *key)
        out.append(form)
    return out


@pytest.mark.parametrize("seed", range(40))
def test_forms_of_quadruples_as_one_by_one(seed: int) -> None:
    """The same forms, and the same objects kept in the same order: forms and endpoints met
    before (by another point or the record path), endpoints shared by new forms, IPv6
    addresses, and two quadruples of one text (an IPv6 address kept twice)."""
    rng = random.Random(seed)
    names = ["2001:db8::1", "2001:db8::2", "2001:db8::1"]  # index 2: a text index 0 has too

    def text(family: int, value: int) -> str:
        return f"198.51.100.{value}" if family == 4 else names[value]

    quads = []
    for _ in range(rng.randrange(1, 40)):
        fam = rng.choice((4, 4, 6))
        top = 6 if fam == 4 else 3
        quads.append((fam, rng.randrange(top), rng.choice((22, 80, 4000)), rng.randrange(top),
                      rng.choice((22, 80))))
    quads = list(dict.fromkeys(quads))  # distinct, as the fold gives them
    cols = [list(c) for c in zip(*quads, strict=True)]
    before = quads[: rng.randrange(len(quads) + 1)]  # some met before
    states = []
    for run in ("arrays", "loop"):
        forms: dict[tuple[str, int, str, int], Form] = {}
        endpoints: dict[tuple[str, int], Endpoint] = {}
        _one_by_one(text, [list(c) for c in zip(*before, strict=True)] if before
                    else [[] for _ in range(5)], forms, endpoints)
        got = (_forms_of(text, [np.array(c, np.int64) for c in cols], forms, endpoints)
               if run == "arrays" else _one_by_one(text, cols, forms, endpoints))
        assert all(f is forms[(f[0][0], f[0][1], f[1][0], f[1][1])] for f in got)
        assert all(e is endpoints[tuple(e)] for f in got for e in f)
        states.append((got, list(forms.items()), list(endpoints.items())))
    assert states[0] == states[1]
