"""Clock bounds from samples as columns are the bounds ``_classify`` and ``_bounds`` give of
the same samples grouped by side: for every pair of points of the recorded scenarios, and
for random samples (ties, even and odd sides, causal and unknown directions)."""

from __future__ import annotations

import random
import statistics
from array import array
from itertools import combinations, product

import numpy as np
import numpy.typing as npt
import pytest

from fixturekit import SCENARIOS, scenario_points
from nettrail.analyze import clock
from nettrail.analyze.anchors import (
    Ends,
    Sides,
    _by_identity,
    _ranks,
    coded_anchors,
    form_sides,
    own_sides,
    point_columns,
)
from nettrail.analyze.clock import (
    _bounds,
    _column_bounds,
    _Columns,
    _indexed_columns,
    _Side,
)
from nettrail.analyze.correlate import Form, UnionFind, fold_copies
from nettrail.analyze.crosspoint import _coded
from nettrail.model.flow import Endpoint


def _same(a: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[int]],
          b: tuple[npt.NDArray[np.int64], npt.NDArray[np.int64], list[int]]) -> bool:
    return (a[0].tolist() == b[0].tolist() and a[1].tolist() == b[1].tolist()
            and sorted(a[2]) == sorted(b[2]))


@pytest.mark.parametrize("scenario", SCENARIOS)
def test_column_bounds_of_recorded_pairs(scenario: str) -> None:
    data = scenario_points(scenario)
    sightings = {d.summary.name: fold_copies(list(d.table.records())) for d in data}
    coded = _coded(sightings)
    assert coded is not None
    columns, keys = coded
    for a, b in combinations(sightings, 2):
        got = coded_anchors(columns[a], columns[b], keys)
        if not len(got.a):
            continue
        cols = _indexed_columns(columns[a], columns[b], got.a, got.b)
        assert _same(_column_bounds(cols), _bounds(_by_group(cols)))


def _by_group(cols: _Columns) -> dict[object, dict[bool, _Side]]:
    """The samples grouped as ``_samples`` groups them (a side with no sample: none)."""
    out: dict[object, dict[bool, _Side]] = {}
    sides = cols.sides
    for k, (group, orientation) in enumerate(zip(sides.groups, sides.orientations,
                                                 strict=True)):
        at = cols.side == k
        if not at.any():
            continue
        side = _Side()
        side.causal = array("b", cols.causal[at].tolist())
        side.fwd = array("q", cols.fwd[at].tolist())
        side.rev = array("q", cols.rev[at].tolist())
        side.mid = array("q", cols.mid[at].tolist())
        out.setdefault(group, {})[orientation] = side
    return out


@pytest.mark.parametrize("seed", range(40))
def test_column_bounds_of_random_samples(seed: int) -> None:
    rng = random.Random(seed)
    forms: list[tuple[str, str]] = []
    counts: list[int] = []
    for g in range(rng.randint(1, 6)):
        for o in rng.sample([True, False], rng.randint(1, 2)):
            forms.append((f"a{g}", f"b{g}") if o else (f"b{g}", f"a{g}"))
            counts.append(rng.randint(0, 6))  # a side with no sample: as the point's own
    if not sum(counts):
        counts[0] = 1
    n = sum(counts)
    sides = form_sides(forms, UnionFind(), UnionFind())  # type: ignore[arg-type]
    side = sides.of_form[np.repeat(np.arange(len(counts), dtype=np.int64), counts)]
    rng.shuffle(side)  # samples in any order
    spread = rng.choice([3, 50, 10**7, 2**62])  # the last: side and mid too wide to pack
    mid = np.array([rng.randint(-spread, spread) for _ in range(n)], np.int64)
    causal = np.array([rng.choice([0, 0, 0, 1, -1, clock.LOOP, -clock.LOOP]) if seed % 2
                       else 0 for _ in range(n)], np.int8)  # LOOP: fwd, rev its two bounds
    cols = _Columns(sides, side, causal,
                    mid - np.array([rng.randint(0, 5) for _ in range(n)], np.int64),
                    mid + np.array([rng.randint(0, 5) for _ in range(n)], np.int64), mid)
    assert _same(_column_bounds(cols), _bounds(_by_group(cols)))


def _kept_by_python(values: list[int], upper: bool) -> list[int]:
    med, limit = clock._spread(values)
    if upper:
        return sorted(v for v in values if v >= med - limit)
    return sorted(v for v in values if v <= med + limit)


@pytest.mark.parametrize("seed", range(40))
def test_bounds_kept_on_arrays_are_the_python_ones(seed: int) -> None:
    """The outlier filter on arrays keeps the bounds the Python one keeps: odd and even
    counts, ties, outliers on both sides, values near the exact limit (and past it)."""
    rng = random.Random(seed)
    scale = rng.choice([1, 1_000, 1_000_000, clock.EXACT_NS // 4, clock.EXACT_NS * 4])
    n = rng.randint(1, 60)
    centre = rng.randint(-scale, scale)
    values = [centre + rng.randint(-3, 3) * rng.choice([1, 250_000, 2_000_000, scale])
              for _ in range(n)]
    for upper in (True, False):
        assert clock._kept(list(values), upper).tolist() == _kept_by_python(list(values),
                                                                            upper)


def _side_map(sides: Sides) -> tuple[list[int], list[bool], list[int | None]]:
    """Sides as plain lists independent of how they are numbered: each form's first form
    with its side, its side's orientation, and the first form of its partner side."""
    first: dict[int, int] = {}
    for i, k in enumerate(sides.of_form.tolist()):
        first.setdefault(k, i)
    of_form = sides.of_form.tolist()
    partner = sides.partner.tolist()
    return ([first[k] for k in of_form], [sides.orientations[k] for k in of_form],
            [first.get(partner[k]) if partner[k] >= 0 else None for k in of_form])


def _forms_of_recorded_points() -> list[list[Form]]:
    out = []
    for scenario in SCENARIOS:
        for d in scenario_points(scenario):
            out.append(point_columns(fold_copies(list(d.table.records()))).forms)
    return out


@pytest.mark.parametrize("seed", range(30))
def test_own_sides_are_the_sides_of_unjoined_sets(seed: int) -> None:
    """The point's own sides in bulk are ``form_sides`` with nothing joined: random forms
    (both directions of a connection or one, an end talking to itself, ends whose texts
    order otherwise than their values, IPv6) and the recorded points' forms."""
    rng = random.Random(seed)
    addrs = ["10.0.0.1", "10.0.0.10", "10.0.0.9", "2001:db8::1", "2001:db8::a", "9.9.9.9"]
    ends = [Endpoint(rng.choice(addrs), rng.choice([0, 7, 80, 443, 8080, 65535]))
            for _ in range(rng.randint(1, 12))]
    forms: list[Form] = [(rng.choice(ends), rng.choice(ends)) for _ in range(rng.randint(1, 40))]
    checked = [forms] + (_forms_of_recorded_points() if seed == 0 else [])
    for f in checked:
        assert _side_map(own_sides(f)) == _side_map(form_sides(f, UnionFind(), UnionFind()))
        # numbered among other points' forms (before and after, some the same objects,
        # some equal ones): the very same sides
        before = [(rng.choice(ends), rng.choice(ends)) for _ in range(rng.randint(0, 20))]
        after = [*rng.sample(f, min(len(f), 5)),
                 *((Endpoint(a.addr, a.port), b) for a, b in f[:3])]
        shared = Ends.of([*before, *f, *after]).part(len(before), len(before) + len(f))
        own, got = own_sides(f), own_sides(f, shared)
        assert got.of_form.tolist() == own.of_form.tolist()
        assert (got.groups, got.orientations) == (own.groups, own.orientations)
        assert got.partner.tolist() == own.partner.tolist()
        # numbered by the identity of the endpoints they were made of (one object a value)
        canon = {e: e for form in (*before, *f, *after) for e in form}
        whole = [(canon[a], canon[b]) for a, b in (*before, *f, *after)]
        mine = whole[len(before):len(before) + len(f)]
        made = list(canon.values())[::-1]  # in any order
        by_id = own_sides(mine, Ends.of(whole, made).part(len(before), len(before) + len(f)))
        assert by_id.of_form.tolist() == own.of_form.tolist()
        assert (by_id.groups, by_id.orientations) == (own.groups, own.orientations)
        if mine:  # one not among them: by value
            missing = [e for e in made if e is not mine[0][0]]
            assert Ends.of(mine, missing).src.tolist() == Ends.of(mine).src.tolist()


@pytest.mark.parametrize("seed", range(10))
def test_endpoints_numbered_by_identity(seed: int) -> None:
    """``_by_identity``: each form's source and destination numbered by the place of its
    very object in ``made`` (an equal endpoint that is another object is not found: None,
    at the source or at the destination)."""
    rng = random.Random(seed)
    made = [Endpoint(f"10.0.0.{k}", rng.choice([80, 443, 5000 + k])) for k in range(12)]
    rng.shuffle(made)
    picks = [(rng.randrange(12), rng.randrange(12)) for _ in range(rng.randint(0, 30))]
    forms: list[Form] = [(made[a], made[b]) for a, b in picks]
    got = _by_identity(forms, made)
    assert got is not None
    src, dst, ends = got
    assert src.tolist() == [a for a, _b in picks]
    assert dst.tolist() == [b for _a, b in picks]
    assert ends == made
    if forms:
        k = rng.randrange(len(forms))
        a, b = forms[k]
        for changed in ((Endpoint(a.addr, a.port), b), (a, Endpoint(b.addr, b.port))):
            assert _by_identity([*forms[:k], changed, *forms[k + 1:]], made) is None


def _estimate_by_lists(upper: list[int], lower: list[int], loose: list[int],
                       ) -> clock.PairEstimate:
    """The estimate from sorted bounds as lists, every contradicting extreme dropped one at
    a time (``clock._rejected``, always run: the reference for ``_estimate_from``, which
    reads only what it needs), the interval stretched to hold the bounds dropped (none where
    none was)."""
    given_upper, given_lower = list(upper), list(lower)
    upper, lower = clock._rejected(upper, lower)
    if upper and lower:
        hi, lo = upper[0], lower[-1]
        if lo <= hi:
            lo, hi = clock._stretched(lo, hi, given_upper[:len(given_upper) - len(upper)],
                                      given_lower[len(lower):])
            return clock.PairEstimate("a", "b", (hi + lo) / 2, (hi - lo) / 2, 9, True, (hi, lo))
        mu, ml = statistics.median(upper), statistics.median(lower)
        return clock.PairEstimate("a", "b", (mu + ml) / 2, abs(mu - ml) / 2, 9, True)
    if upper or lower:
        est = float(upper[0]) if upper else float(lower[-1])
        return clock.PairEstimate("a", "b", est, clock.ONE_SIDED_FLOOR_NS, 9, False,
                                  (est, None) if upper else (None, est))
    med, _ = clock._spread(loose)
    mad = statistics.median(abs(v - med) for v in loose)
    return clock.PairEstimate("a", "b", med, max(1.4826 * mad, clock.ONE_SIDED_FLOOR_NS), 9,
                              False)


@pytest.mark.parametrize("seed", range(60))
def test_estimate_from_sorted_bounds_as_arrays(seed: int) -> None:
    """Bounds that agree, contradict by one or by many (one of each, one against many), one
    side only, or none (the loose mids then): the estimate of the arrays is the lists'."""
    rng = random.Random(seed)
    scale = rng.choice([10, 1_000_000, 2**61])

    def bounds() -> list[int]:
        return sorted(rng.randint(-scale, scale) for _ in range(rng.choice([0, 1, 1, 2, 5, 30])))

    upper, lower = bounds(), bounds()
    loose = [rng.randint(-scale, scale) for _ in range(rng.randint(1, 9))]
    got = clock._estimate_from("a", "b", np.array(upper, np.int64), np.array(lower, np.int64),
                               loose, 9)
    assert got == _estimate_by_lists(list(upper), list(lower), loose)


def test_endpoint_ranks_by_value_and_by_text() -> None:
    """``Ends``' ranks: by value as Python orders endpoints, by text as it orders ``str``
    of them (host labels, IPv6 addresses, ports of other lengths)."""
    rng = random.Random(5)
    hosts = ["198.51.100.2", "198.51.100.10", "2001:db8::1", "::1", "Zed", "server", "a:b"]
    points = list(dict.fromkeys(Endpoint(rng.choice(hosts), rng.choice((7, 80, 443, 40000)))
                                for _ in range(60)))
    by_value, by_text = _ranks(points)
    assert sorted(range(len(points)), key=lambda k: by_value[k]) == sorted(
        range(len(points)), key=points.__getitem__)
    texts = [str(p) for p in points]
    for i, j in product(range(len(points)), repeat=2):
        assert (by_text[i] < by_text[j]) == (texts[i] < texts[j])
        assert (by_value[i] < by_value[j]) == (points[i] < points[j])
