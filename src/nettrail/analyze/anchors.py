"""Anchors as columns: the unambiguous matches between two points, as index arrays.

The clock estimate needs, per anchor, only times and forms of its two sightings. Each point's
sightings are numbered (``Sighting.idx``) and their times, single-copy flags and form numbers
taken once as arrays; a pair of points then gives its anchors as two index arrays (A's and
B's sightings, in the order ``match_points`` would list them), not as Match objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from nettrail.analyze.correlate import Form, Sighting, StrongPairs, _by_ip_id

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class PointColumns:
    """One point's sightings (``items``, numbered by ``Sighting.idx``) as columns: first and
    last copy's time, single copy, and form number (``forms[form[i]]`` is sighting i's)."""

    items: Sequence[Sighting]
    first: Ints
    last: Ints
    single: Bools
    form: Ints
    forms: list[Form]


def point_columns(items: Sequence[Sighting]) -> PointColumns:
    """Number the sightings of one point and take their columns."""
    n = len(items)
    numbers: dict[int, int] = {}
    forms: list[Form] = []
    form_of = []
    for i, s in enumerate(items):
        s.idx = i
        f = s.form
        k = numbers.get(id(f))
        if k is None:
            k = numbers[id(f)] = len(forms)
            forms.append(f)
        form_of.append(k)
    first = np.fromiter((s.first_ns for s in items), np.int64, n)
    last = np.fromiter((s.last_ns for s in items), np.int64, n)
    single = np.fromiter((s.single for s in items), np.bool_, n)
    return PointColumns(items, first, last, single, np.array(form_of, np.int64), forms)


def anchor_indexes(pairs: StrongPairs) -> tuple[Ints, Ints]:
    """The anchors of two points (``strong_pairs`` of their strong indexes, without weak
    matching) as A's and B's sighting numbers, in ``match_points``' order: a key one sighting
    holds at each point, or retransmissions told apart by an IP ID unique on both sides."""
    candidates, _weak = pairs
    ia: list[int] = []
    ib: list[int] = []
    sighting = Sighting
    for xa, xb in candidates:
        if type(xa) is sighting and type(xb) is sighting:
            ia.append(xa.idx)
            ib.append(xb.idx)
            continue
        la: list[Sighting] = xa if type(xa) is list else [xa]  # type: ignore[list-item]
        lb: list[Sighting] = xb if type(xb) is list else [xb]  # type: ignore[list-item]
        for m in _by_ip_id(la, lb, set()):
            ia.append(m.a.idx)
            ib.append(m.b.idx)
    return np.array(ia, np.int64), np.array(ib, np.int64)
