"""The NAT translations of plain conversations (``analyze/plain.py``), worked out on arrays.

A plain conversation's packets were each seen once at every point, one copy each, so a
track's rewrites follow from its forms in point order (``nat.one_copy_rewrites``): where the
form changes from one point to the next, the destination was rewritten (DNAT), then the
source (SNAT). Its tracks come as distinct rows (conversation, direction, points, forms and
how many tracks have them); here every change of every row is read at once and the rewrites
are counted per conversation in order of first use, as ``nat.counted`` counts them. A
conversation with a row whose form comes back after another (``A B A``, where
``one_copy_rewrites`` pairs a form's last point with the next one's first), or with a
translation and its reverse among its counts (``nat.counted`` folds those), is counted by
``nat.counted`` itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from nettrail.analyze.columns import groups, rows_in, unique_values
from nettrail.analyze.correlate import Form
from nettrail.analyze.linked_convs import FormEnds
from nettrail.analyze.nat import Rewrite, counted, is_address, one_copy_rewrites
from nettrail.model.analysis import NatTranslation
from nettrail.model.arrays import Bools, Ints
from nettrail.model.flow import FlowKey
from nettrail.model.setters import field_setters

_SET = field_setters(NatTranslation)


class PlainRows(NamedTuple):
    """The distinct tracks of plain conversations, in order of first use: each one's
    conversation, direction (True: a request), points and forms in the track's order (one
    row of ``n`` each) and how many tracks it stands for."""

    conv: Ints
    request: Bools
    points: Ints
    forms: Ints
    tracks: Ints


def plain_translations(rows: PlainRows, ends: FormEnds, forms: Sequence[Form],
                       names: Sequence[str], keys: Sequence[FlowKey],
                       ) -> dict[int, list[NatTranslation]]:
    """Each plain conversation's translations (by conversation number; none: no entry), as
    ``nat.counted`` gives them for its tracks' ``one_copy_rewrites``. ``ends``: the forms'
    endpoint numbers; ``forms``: the forms by number; ``names``: the points' names;
    ``keys``: the conversations' keys."""
    m, n = rows.forms.shape if rows.forms.ndim == 2 else (0, 0)
    if not m or n < 2:
        return {}
    size = int(max(ends.src.max(), ends.dst.max())) + 1
    src, dst = ends.src[rows.forms], ends.dst[rows.forms]
    value = src * size + dst  # equal forms, equal values
    change = value[:, 1:] != value[:, :-1]
    ordered = np.sort(value, axis=1)
    distinct = 1 + (ordered[:, 1:] != ordered[:, :-1]).sum(axis=1)
    odd = set(rows.conv[change.sum(axis=1) != distinct - 1].tolist())
    r, i = np.nonzero(change)  # row by row, point by point: the order of first use
    # each change's DNAT, then its SNAT: before/after endpoint numbers and forms
    before = np.stack([dst[r, i], src[r, i]], 1).reshape(-1)
    after = np.stack([dst[r, i + 1], src[r, i + 1]], 1).reshape(-1)
    r, i = np.repeat(r, 2), np.repeat(i, 2)
    snat = np.tile(np.array([0, 1], np.int64), len(r) // 2)
    keep = before != after
    r, i, snat, before, after = r[keep], i[keep], snat[keep], before[keep], after[keep]
    f0, f1 = rows.forms[r, i], rows.forms[r, i + 1]
    keep = _rewritten(before, after, f0, f1, snat, forms)
    r, i, snat, before, after, f0, f1 = (v[keep] for v in (r, i, snat, before, after, f0, f1))
    conv, request = rows.conv[r], rows.request[r].astype(np.int64)
    p0, p1 = rows.points[r, i], rows.points[r, i + 1]
    group = groups(conv, request, snat, before, after, p0, p1)
    packets = np.bincount(group, weights=rows.tracks[r]).astype(np.int64)
    _u, first = np.unique(group, return_index=True)
    mine = [v[first] for v in (conv, request, snat, before, after, p0, p1)]
    reverse = rows_in([mine[0], mine[1], mine[2], mine[4], mine[3], mine[6], mine[5]], mine)
    odd.update(mine[0][reverse].tolist())
    out: dict[int, list[NatTranslation]] = {}
    by_conv = np.lexsort((first, mine[0]))
    new = object.__new__
    (s_kind, s_leg, s_before, s_after, s_from, s_to, s_at, s_packets, s_conn,
     s_rules) = _SET
    for ci, req, is_snat, a, b, pa, pb, k in zip(
            *(v[by_conv].tolist() for v in (mine[0], mine[1], mine[2], f0[first],
                                            f1[first], mine[5], mine[6], packets)),
            strict=True):
        if ci in odd:
            continue
        side = 0 if is_snat else 1
        t = new(NatTranslation)  # each field set once, as NatTranslation(...) would
        s_kind(t, "snat" if is_snat else "dnat")
        s_leg(t, "request" if req else "reply")
        s_before(t, forms[a][side])
        s_after(t, forms[b][side])
        s_from(t, names[pa])
        s_to(t, names[pb])
        s_at(t, None)
        s_packets(t, k)
        s_conn(t, keys[ci])
        s_rules(t, ())
        out.setdefault(ci, []).append(t)
    out.update(_one_by_one(rows, sorted(odd), forms, names, keys))
    return out


def _rewritten(before: Ints, after: Ints, f0: Ints, f1: Ints, snat: Ints,
               forms: Sequence[Form]) -> Bools:
    """``nat._rewritten`` of each pair of different endpoints ``before`` and ``after`` (by
    number; of forms ``f0`` and ``f1``, the source where ``snat`` is 1, else the
    destination): the same address, or two addresses (not host labels)."""
    numbers = np.concatenate([before, after])
    used, at = np.unique(numbers, return_index=True)
    form = np.concatenate([f0, f1])[at]
    side = 1 - np.concatenate([snat, snat])[at]
    addrs = [forms[f][s].addr for f, s in zip(form.tolist(), side.tolist(), strict=True)]
    code = {a: k for k, a in enumerate(dict.fromkeys(addrs))}
    addr = np.array([code[a] for a in addrs], np.int64)
    ip = np.array([is_address(a) for a in addrs], np.bool_)
    b, a = np.searchsorted(used, before), np.searchsorted(used, after)
    out: Bools = (addr[b] == addr[a]) | (ip[b] & ip[a])
    return out


def _one_by_one(rows: PlainRows, convs: list[int], forms: Sequence[Form],
                names: Sequence[str], keys: Sequence[FlowKey],
                ) -> dict[int, list[NatTranslation]]:
    """``plain_translations`` of conversations ``convs`` by ``nat.counted`` of their rows'
    ``one_copy_rewrites``."""
    if not convs:
        return {}
    at = np.flatnonzero(np.isin(rows.conv, unique_values(np.array(convs, np.int64))))
    uses: dict[int, list[tuple[bool, Sequence[Rewrite], int]]] = {}
    for ci, request, points, numbers, n in zip(
            *(v[at].tolist() for v in rows), strict=True):
        route = [names[p] for p in points]
        got = one_copy_rewrites([forms[f] for f in numbers], route)
        if got:
            uses.setdefault(ci, []).append((request, got, n))
    return {ci: counted(keys[ci], uses.get(ci, ())) for ci in convs}
