"""Anchors as columns: the unambiguous matches between two points, as index arrays.

The clock estimate needs, per anchor, only times and forms of its two sightings. Each point's
sightings are numbered (``Sighting.idx``) and their times, single-copy flags and form numbers
taken once as arrays; a pair of points then gives its anchors as two index arrays (A's and
B's sightings, in the order ``match_points`` would list them), not as Match objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from itertools import chain, repeat
from operator import attrgetter, itemgetter
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from nettrail.analyze.columns import hashed_groups, sorted_runs, stable_order, unique_values
from nettrail.analyze.correlate import (
    CONF_STRONG,
    CONF_STRONG_CONFIRMED,
    CONF_STRONG_TIMED,
    Form,
    Sighting,
    StrongPairs,
    UnionFind,
    _by_ip_id,
    timed_pairs,
)
from nettrail.analyze.in_order import in_order, sent_again
from nettrail.model.arrays import Bools, Floats, Ints
from nettrail.model.cache import Memo
from nettrail.model.flow import Endpoint


@dataclass(frozen=True)
class PointColumns:
    """One point's sightings (``items``, numbered by ``Sighting.idx``) as columns: first and
    last copy's time, single copy, and form number (``forms[form[i]]`` is sighting i's).
    ``last`` is ``first`` (one array) only where every sighting was seen once."""

    items: Sequence[Sighting]
    first: Ints
    last: Ints
    single: Bools
    form: Ints
    forms: list[Form]
    ip_id: Ints  # -1: none
    ts_val: Ints  # -1: none
    key: Ints | None = None  # strong key numbers (``key_numbers``), when taken
    proto: Ints | None = None  # IP protocols, when taken
    flags: Ints | None = None  # TCP flags (0 for other protocols), when taken
    ends: Ends | None = None  # the forms' endpoints (numbered among several points'), if known

    @cached_property
    def sides(self) -> Sides:
        """The sides of the point's forms as the point saw them when no packet was
        translated there (every pair of points with this one as A whose anchors have no
        translated packet at A takes them from here)."""
        return own_sides(self.forms, self.ends)


class Ends(NamedTuple):
    """The endpoints of a list of forms numbered (``numbered_ends``: each form's source and
    destination number) and each number's rank among the endpoints by value and by text
    (equal texts, equal ranks). A point's may be a slice of several points' numbering."""

    src: Ints
    dst: Ints
    by_value: Ints
    by_text: Ints

    @classmethod
    def of(cls, forms: Sequence[Form], made: Sequence[Endpoint] = ()) -> Ends:
        """The ``Ends`` of ``forms``. ``made``: the endpoints the forms were made of, one
        object per value, when known: numbered by identity, in their order (quicker than
        ``numbered_ends``, whose numbers come in order of first use; only equality and the
        ranks are read)."""
        got = _by_identity(forms, made) if made else None
        src, dst, points = got if got is not None else numbered_ends(forms)
        return cls(src, dst, *_ranks(points))

    def part(self, start: int, stop: int) -> Ends:
        """The ends of forms ``start`` to ``stop``, in the same numbering."""
        return Ends(self.src[start:stop], self.dst[start:stop], self.by_value, self.by_text)


_ADDR, _PORT = itemgetter(0), itemgetter(1)


def _ranks(points: Sequence[Endpoint]) -> tuple[Ints, Ints]:
    """Each endpoint's rank among ``points`` by value (address, then port) and by text
    (``str``; equal texts, equal ranks): a sort of numbers (the addresses ranked first, few)
    and one of texts, both in numpy."""
    n = len(points)
    if not n:
        return np.zeros(0, np.int64), np.zeros(0, np.int64)
    addrs = list(map(_ADDR, points))
    rank = {a: k for k, a in enumerate(sorted(set(addrs)))}
    ports = np.fromiter(map(_PORT, points), np.int64, n)
    by_value = np.empty(n, np.int64)
    by_value[np.lexsort((ports, np.fromiter(map(rank.__getitem__, addrs), np.int64, n)))] = \
        np.arange(n)
    texts = [f"[{a}]:{p}" if ":" in a else f"{a}:{p}" for a, p in points]  # ``str``
    by_text: Ints = np.unique(np.array(texts), return_inverse=True)[1].reshape(-1)
    return by_value, by_text


class Sides(NamedTuple):
    """The sides of connections (a side: the packets one end of a connection sent) as a
    point saw them: each form's side (``of_form``, by the form's place in the list given),
    and each side's connection (``groups``: one value per connection), orientation, and
    partner (the connection's other side, -1 when no form given has it)."""

    of_form: Ints
    groups: list[object]
    orientations: list[bool]
    partner: Ints


def form_sides(forms: Sequence[Form], flows: UnionFind, ends: UnionFind) -> Sides:
    """The sides of ``forms``: a connection is the set of ``flows`` its direction-normalised
    form is in, its ends the sets of ``ends``; of its two sides, the orientation True is the
    one whose source set's representative has the smaller text."""
    keys: dict[tuple[object, bool], int] = {}
    of_form = []
    texts: dict[object, str] = {}
    joined = bool(flows.parent or ends.parent)  # else every set holds one item
    for src, dst in forms:
        pair = (src, dst) if src <= dst else (dst, src)
        group, a, b = (flows.find(pair), ends.find(src), ends.find(dst)) if joined else (
            pair, src, dst)
        ta, tb = texts.get(a), texts.get(b)
        if ta is None:
            ta = texts[a] = str(a)
        if tb is None:
            tb = texts[b] = str(b)
        of_form.append(keys.setdefault((group, ta < tb), len(keys)))
    groups = [g for g, _o in keys]
    partner = np.full(len(keys), -1, np.int64)
    first_of: dict[object, int] = {}
    for k, group in enumerate(groups):
        other = first_of.setdefault(group, k)
        if other != k:
            partner[k], partner[other] = other, k
    return Sides(np.array(of_form, np.int64), groups, [o for _g, o in keys], partner)


def numbered_ends(forms: Sequence[Form]) -> tuple[Ints, Ints, list[Endpoint]]:
    """Each form's source and destination endpoint as a number (equal endpoints, equal
    numbers: from 0, the sources' first, in order), and the endpoints in number order."""
    # by identity first (forms and endpoints are mostly shared objects, and a dict of ints
    # is quicker than one of tuples), then the distinct endpoints by value
    form_ids = list(map(id, forms))
    distinct = list(dict(zip(form_ids, forms, strict=True)).values())
    ends = [*map(_SRC, distinct), *map(_DST, distinct)]
    ids = list(map(id, ends))
    objects = dict(zip(ids, ends, strict=True))  # each identity's object, in order
    number: Memo[Endpoint, int] = Memo(lambda _end: len(number))
    of_id = dict(zip(objects, map(number.__getitem__, objects.values()), strict=True))
    n = len(distinct)
    src_of = dict(zip(map(id, distinct), map(of_id.__getitem__, ids[:n]), strict=True))
    dst_of = dict(zip(map(id, distinct), map(of_id.__getitem__, ids[n:]), strict=True))
    return (np.fromiter(map(src_of.__getitem__, form_ids), np.int64, len(forms)),
            np.fromiter(map(dst_of.__getitem__, form_ids), np.int64, len(forms)),
            list(number))


def _by_identity(forms: Sequence[Form], made: Sequence[Endpoint],
                 ) -> tuple[Ints, Ints, list[Endpoint]] | None:
    """``numbered_ends`` by the endpoints' places in ``made`` (one object per value); None
    when a form holds an endpoint that is not one of them."""
    number = dict(zip(map(id, made), range(len(made)), strict=True))
    # every form's two endpoints, source then destination, looked up in one pass
    ids = map(id, chain.from_iterable(forms))
    both = np.fromiter(map(number.get, ids, repeat(-1)), np.int64, 2 * len(forms))
    if len(forms) and both.min() < 0:
        return None
    return both[0::2].copy(), both[1::2].copy(), list(made)


_SRC = itemgetter(0)
_DST = itemgetter(1)


def own_sides(forms: Sequence[Form], ends: Ends | None = None) -> Sides:
    """``form_sides(forms, UnionFind(), UnionFind())``, the sets all of one item, in bulk:
    the ends numbered, a form's connection its two ends' numbers in order, its orientation
    the order of their texts (the sides numbered otherwise; the same sides). ``ends``: the
    forms' ``Ends``, when known (numbered among more forms: renumbered here)."""
    if ends is None:
        ends = Ends.of(forms)
    both = np.concatenate([ends.src, ends.dst])
    order = stable_order(both)
    run, starts = sorted_runs(both, order)
    local = np.empty(len(starts), np.int64)  # the forms' own numbering: by first use
    local[stable_order(order[starts])] = np.arange(len(starts))
    src, dst = local[run[:len(forms)]], local[run[len(forms):]]
    ordered = ends.by_value[ends.src] <= ends.by_value[ends.dst]
    low, high = np.where(ordered, src, dst), np.where(ordered, dst, src)
    key = (low * len(starts) + high) << 1 | (ends.by_text[ends.src] < ends.by_text[ends.dst])
    sides, of_form = np.unique(key, return_inverse=True)
    group = sides >> 1
    partner = np.full(len(sides), -1, np.int64)
    pairs = np.flatnonzero(group[1:] == group[:-1])  # a connection's two sides: neighbours
    partner[pairs], partner[pairs + 1] = pairs + 1, pairs
    return Sides(of_form.reshape(-1), group.tolist(), (sides & 1 == 1).tolist(), partner)


def key_numbers(items: Sequence[Sighting], numbers: dict[tuple[object, ...], int],
                ) -> Ints | None:
    """The number of each sighting's strong key (``numbers`` shared by all points, new keys
    numbered as they come), or None when a sighting has none."""
    keys = list(map(_KEY, items))
    if None in keys:
        return None
    add = numbers.setdefault
    return np.array([add(k, len(numbers)) for k in keys], np.int64)


def point_columns(items: Sequence[Sighting], key: Ints | None = None) -> PointColumns:
    """Number the sightings of one point and take their columns (``key``: their strong key
    numbers, when taken)."""
    n = len(items)
    numbers: dict[int, int] = {}
    forms: list[Form] = []
    for s, i in zip(items, range(n), strict=True):
        s.idx = i
    ids = list(map(id, map(_FORM, items)))
    for f, k in zip(map(_FORM, items), ids, strict=True):
        if k not in numbers:
            numbers[k] = len(forms)
            forms.append(f)
    form_of = np.fromiter(map(numbers.__getitem__, ids), np.int64, n)
    first = np.fromiter(map(_FIRST, items), np.int64, n)
    last = np.fromiter(map(_LAST, items), np.int64, n)
    single = np.fromiter(map(_SINGLE, items), np.bool_, n)
    ip_id = _or_minus_one(list(map(_IP_ID, items)))
    ts_val = _or_minus_one(list(map(_TS_VAL, items)))
    return PointColumns(items, first, last, single, form_of, forms, ip_id, ts_val, key)


_FORM = attrgetter("form")
_FIRST = attrgetter("first_ns")
_LAST = attrgetter("last_ns")
_SINGLE = attrgetter("single")
_KEY = attrgetter("key")
_IP_ID = attrgetter("ip_id")
_TS_VAL = attrgetter("ts_val")


def _or_minus_one(values: list[int | None]) -> Ints:
    """The values as int64, None as -1."""
    if None not in values:
        return np.array(values, np.int64)
    return np.array([-1 if v is None else v for v in values], np.int64)


class Left(NamedTuple):
    """The sightings of keys several hold that no IP ID matched, for matching in corrected
    time: A's and B's sighting numbers, key after key (in order of the key's first A
    sighting; each key's in order), and where each key's begin at A and at B (``cut_a``,
    ``cut_b``: one more than the keys, the last the end)."""

    a: Ints
    b: Ints
    cut_a: Ints
    cut_b: Ints


class Anchors(NamedTuple):
    """The anchors of two points as sighting numbers (``a`` at A, ``b`` at B, in match
    order), which of them hold a key one sighting holds at each point (``keyed``; the others
    are retransmissions told apart by IP ID, ``_by_ip_id``), and the sightings of the keys
    several hold that IP IDs left unmatched (``left``), for matching in corrected time."""

    a: Ints
    b: Ints
    keyed: Bools
    left: Left


class Links(NamedTuple):
    """Matches as columns: the two sightings' numbers and the match's confidence;
    ``columns``: the points' columns, in point order, when every point has its protocols."""

    a: Ints
    b: Ints
    confidence: Floats
    columns: tuple[PointColumns, ...] = ()


def anchor_indexes(pairs: StrongPairs) -> Anchors:
    """The anchors of two points (``strong_pairs`` of their strong indexes, without weak
    matching) in ``match_points``' order: a key one sighting holds at each point, or
    retransmissions told apart by an IP ID unique on both sides."""
    candidates, _weak = pairs
    ia: list[int] = []
    ib: list[int] = []
    keyed: list[bool] = []
    left_a: list[int] = []
    left_b: list[int] = []
    cut_a, cut_b = [0], [0]
    for xa, xb in candidates:
        if not isinstance(xa, list) and not isinstance(xb, list):  # a sighting on each side
            ia.append(xa.idx)
            ib.append(xb.idx)
            keyed.append(True)
            continue
        la: list[Sighting] = xa if type(xa) is list else [xa]  # type: ignore[list-item]
        lb: list[Sighting] = xb if type(xb) is list else [xb]  # type: ignore[list-item]
        used: set[int] = set()
        for m in _by_ip_id(la, lb, used):
            ia.append(m.a.idx)
            ib.append(m.b.idx)
            keyed.append(False)
        left_a.extend(s.idx for s in la if id(s) not in used)
        left_b.extend(s.idx for s in lb if id(s) not in used)
        cut_a.append(len(left_a))
        cut_b.append(len(left_b))
    return Anchors(np.array(ia, np.int64), np.array(ib, np.int64), np.array(keyed, np.bool_),
                   Left(*(np.array(v, np.int64) for v in (left_a, left_b, cut_a, cut_b))))


def with_sent_again(ca: PointColumns, cb: PointColumns, anchors: Anchors) -> tuple[Ints, Ints]:
    """The anchors' sighting numbers at A and at B, then the copies of packets sent again
    that IP IDs left apart, paired in time order where ``in_order`` holds them to: what the
    clock estimate reads (matching in corrected time still pairs those copies itself)."""
    left = anchors.left
    cut_a, cut_b = left.cut_a.tolist(), left.cut_b.tolist()
    more_a: list[int] = []
    more_b: list[int] = []
    for k in range(len(cut_a) - 1):
        rows_a = left.a[cut_a[k]:cut_a[k + 1]]
        rows_b = left.b[cut_b[k]:cut_b[k + 1]]
        if len(rows_a) < 2 or len(rows_a) != len(rows_b):
            continue
        first = ca.items[int(rows_a[0])]
        if sent_again(first.proto, first.flags, first.plen) and in_order(
                ca.first[rows_a].tolist(), cb.first[rows_b].tolist(),
                list(zip(ca.ip_id[rows_a].tolist(), ca.ts_val[rows_a].tolist(), strict=True)),
                list(zip(cb.ip_id[rows_b].tolist(), cb.ts_val[rows_b].tolist(), strict=True))):
            more_a += rows_a.tolist()
            more_b += rows_b.tolist()
    if not more_a:
        return anchors.a, anchors.b
    return (np.concatenate([anchors.a, np.array(more_a, np.int64)]),
            np.concatenate([anchors.b, np.array(more_b, np.int64)]))


class KeyCounts(NamedTuple):
    """How many sightings of a point hold each strong key number (0, 1, or 2 for two or
    more: one byte each, read at random), and where (for a key held once: its sighting's
    number)."""

    held: npt.NDArray[np.uint8]
    at: Ints


def key_counts(c: PointColumns, keys: int) -> KeyCounts:
    """``KeyCounts`` of a point's columns (``keys`` strong key numbers in all)."""
    assert c.key is not None
    at = np.full(keys, -1, np.int64)
    at[c.key] = np.arange(len(c.key))
    held = np.minimum(np.bincount(c.key, minlength=keys), 2).astype(np.uint8)
    return KeyCounts(held, at)


def coded_anchors(ca: PointColumns, cb: PointColumns, keys: int,
                  counts: tuple[KeyCounts, KeyCounts] | None = None) -> Anchors:
    """``anchor_indexes`` from the two points' strong key numbers (``keys`` of them in all),
    without the strong indexes: a key one sighting holds at each point is an anchor at its
    A sighting's place; a key several hold pairs by IP ID (``_several``) at the place of its
    first A sighting. ``counts``: the two points' ``key_counts``, when taken (once a
    point)."""
    assert ca.key is not None and cb.key is not None
    ka = ca.key
    (held_a, _at), (held_b, at_b) = counts or (key_counts(ca, keys), key_counts(cb, keys))
    in_b = held_b[ka]  # (every key of A's is held at A)
    once = (in_b == 1) & (held_a[ka] == 1)
    single_a = np.flatnonzero(once)
    several = np.flatnonzero((in_b != 0) & ~once)
    # the keys several sightings hold at A or B, held at both (a byte a key, read at B)
    shared = (held_a != 0) & (held_b != 0) & ((held_a != 1) | (held_b != 1))
    more_a, more_b, more_place, left = _several(ca, cb, several, np.flatnonzero(shared[cb.key]))
    # in A's order, a single key's anchor before a several's at the same place (the stable
    # order of the two lists one after the other): the few several merged into the single
    by = stable_order(more_place)
    place = more_place[by]
    before = np.searchsorted(single_a, place, "right")  # the single ones before each
    at_more = np.arange(len(place)) + before
    n = len(single_a) + len(place)
    a, b, keyed = np.empty(n, np.int64), np.empty(n, np.int64), np.ones(n, np.bool_)
    keyed[at_more] = False  # the single keys' places: the others, in order
    a[keyed], b[keyed] = single_a, at_b[ka[single_a]]
    a[at_more], b[at_more] = more_a[by], more_b[by]
    return Anchors(a, b, keyed, left)


def _several(ca: PointColumns, cb: PointColumns, rows_a: Ints, rows_b: Ints | None = None,
             ) -> tuple[Ints, Ints, Ints, Left]:
    """The keys several sightings hold (A's sightings with them: ``rows_a``, in order), as
    ``_by_ip_id`` pairs them, on arrays: an IP ID one sighting of the key holds at each
    point matches those two (A's, B's numbers, in A's order, and the place: the key's first
    A sighting); and the sightings left (``Left``). ``rows_b``: B's sightings with those
    keys, in order, when known."""
    assert ca.key is not None and cb.key is not None
    key_a = ca.key[rows_a]
    if rows_b is None:
        rows_b = np.flatnonzero(np.isin(cb.key, unique_values(key_a)))
    key_b = cb.key[rows_b]
    na = len(rows_a)
    ids = np.concatenate([ca.ip_id[rows_a], cb.ip_id[rows_b]])
    group = hashed_groups(np.concatenate([key_a, key_b]), ids)[0]
    count_a = np.bincount(group[:na], minlength=int(group.max()) + 1 if len(group) else 0)
    count_b = np.bincount(group[na:], minlength=len(count_a))
    unique = (ids >= 0) & (count_a[group] == 1) & (count_b[group] == 1)  # IP ID: one a side
    partner = np.full(len(count_a), -1, np.int64)
    partner[group[na:]] = rows_b  # read where the key and IP ID are one B sighting's
    pick, matched_b = unique[:na], unique[na:]
    # the keys numbered in order of their first A sighting (their place)
    order = stable_order(key_a)
    run, starts = sorted_runs(key_a, order)
    first = order[starts]
    rank = np.empty(len(starts), np.int64)
    rank[stable_order(first)] = np.arange(len(starts))
    place = rows_a[first][run]
    run_b = np.searchsorted(key_a[first], key_b)  # B's keys are among A's (runs by value)
    left_a, left_b = np.flatnonzero(~pick), np.flatnonzero(~matched_b)
    key_of_a, key_of_b = rank[run[left_a]], rank[run_b[left_b]]
    by_a, by_b = stable_order(key_of_a), stable_order(key_of_b)
    bounds = np.arange(len(starts) + 1)
    return (rows_a[pick], partner[group[:na][pick]], place[pick],
            Left(rows_a[left_a[by_a]], rows_b[left_b[by_b]],
                 np.searchsorted(key_of_a[by_a], bounds), np.searchsorted(key_of_b[by_b], bounds)))


def full_links(ca: PointColumns, cb: PointColumns, anchors: Anchors, offset_ba: float,
               tol: float) -> Links:
    """``match_points(offset_ba, tol)`` of two points with strong keys only, as columns.

    A key one sighting holds at each point matches within ``tol`` of corrected time (sure
    when the IP ID or TS value agrees too), or else by an IP ID both have; keys several
    sightings hold pair by IP ID (``Anchors``), then in corrected time (``timed_pairs``)."""
    keyed = anchors.keyed
    ia, ib = anchors.a[keyed], anchors.b[keyed]
    delta = (cb.first[ib] - ca.first[ia]).astype(np.float64) - offset_ba
    within = np.abs(delta) <= tol
    ip_a, ip_b = ca.ip_id[ia], cb.ip_id[ib]
    ts_a, ts_b = ca.ts_val[ia], cb.ts_val[ib]
    same_id = (ip_a >= 0) & (ip_a == ip_b)
    sure = same_id | ((ts_a >= 0) & (ts_a == ts_b))
    took = within | same_id
    conf = np.where(within & sure, CONF_STRONG_CONFIRMED, CONF_STRONG)[took]
    ip = ~keyed
    left = anchors.left
    pairs: list[tuple[int, int]] = []
    times_a, times_b = ca.first[left.a].tolist(), cb.first[left.b].tolist()
    cut_a, cut_b = left.cut_a.tolist(), left.cut_b.tolist()
    for k in range(len(cut_a) - 1):
        a0, a1, b0, b1 = cut_a[k], cut_a[k + 1], cut_b[k], cut_b[k + 1]
        if a0 < a1 and b0 < b1:
            pairs.extend((a0 + i, b0 + j) for i, j in timed_pairs(
                times_a[a0:a1], times_b[b0:b1], offset_ba, tol))
    at_a = np.array([i for i, _j in pairs], np.int64)
    at_b = np.array([j for _i, j in pairs], np.int64)
    return Links(np.concatenate([ia[took], anchors.a[ip], left.a[at_a]]),
                 np.concatenate([ib[took], anchors.b[ip], left.b[at_b]]),
                 np.concatenate([conf, np.full(int(ip.sum()), CONF_STRONG),
                                 np.full(len(pairs), CONF_STRONG_TIMED)]))
