"""Clock offsets between capture points, NTP style, from packets matched in both directions.

A packet seen at point A at ``ta`` and then at point B at ``tb`` (each in its own clock) says
``offset_B - offset_A <= tb - ta`` (it cannot arrive before it left); a packet travelling from B
to A says ``offset_B - offset_A >= tb - ta``. The tightest consistent pair of bounds gives the
offset (their middle) and its uncertainty (half their gap). Which way a packet travelled is read
from the packets themselves: within one flow, the direction whose ``tb - ta`` is larger is the
one going from A to B. Bounds far from their direction's median are dropped, so one mangled
timestamp cannot move the estimate. Bounds that contradict the other direction are dropped one
at a time to find the interval, which then still holds those within the outlier floor: a late
stamp, or a direction the medians misread, cannot be told from the bound it contradicts, so the
uncertainty widens rather than trusting either.
A packet seen on several interfaces of a point bounds the offset by its last copy there; when
those bounds contradict each other (``-i any`` stamped a copy after the packet reached the
other point), first sightings alone bound it, so the estimate never reorders a packet's points.
A packet both points saw before and after its translation went round one of them and back
(a host captured with ``-i any`` and a router namespace inside it): it bounds the offset both
ways, by the two points' first sightings and by their last.
"""

from __future__ import annotations

import heapq
import statistics
from array import array
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from nettrail.analyze.anchors import PointColumns, Sides, form_sides
from nettrail.analyze.clockprobe import settled
from nettrail.analyze.correlate import Form, Match, UnionFind
from nettrail.model.analysis import NO_LIMITS, ClockOffset, Limits, offset_words
from nettrail.model.arrays import Ints

OUTLIER_FLOOR_NS = 2_000_000
OUTLIER_MADS = 8.0
ONE_SIDED_FLOOR_NS = 1_000_000
ONE_SIDED_PENALTY_NS = 1e12


class PairEstimate(NamedTuple):
    """Offset of point ``b`` minus point ``a`` (ns), its uncertainty, samples, two-sidedness,
    and the limits no packet lets it pass (``Limits``)."""

    a: str
    b: str
    offset_ns: float
    uncertainty_ns: float
    samples: int
    two_sided: bool
    limits: Limits = NO_LIMITS


def _reversed(limits: Limits) -> Limits:
    """The limits of ``a - b`` from those of ``b - a``."""
    most, least = limits
    return (None if least is None else -least, None if most is None else -most)


def _chained(first: Limits, then: Limits) -> Limits:
    """The limits of two offsets added (a side is known only when both know it)."""
    return (None if first[0] is None or then[0] is None else first[0] + then[0],
            None if first[1] is None or then[1] is None else first[1] + then[1])


class _Side:
    """The samples of one orientation of one connection, as columns (a few bytes each):
    ``causal`` (+1: seen at A first, -1: at B first, 0: unknown), ``fwd`` (b.first - a.last:
    an upper bound if the packet went A -> B), ``rev`` (b.last - a.first: a lower bound if it
    went B -> A) and ``mid`` (b.first - a.first)."""

    __slots__ = ("causal", "fwd", "mid", "rev")

    def __init__(self) -> None:
        self.causal = array("b")
        self.fwd = array("q")
        self.rev = array("q")
        self.mid = array("q")


def _samples(matches: Sequence[Match]) -> dict[object, dict[bool, _Side]]:
    """Time differences of matched packets, grouped by connection as point A saw it, then by
    orientation (which side of the connection sent the packet).

    At point A, the forms a packet took (before and after a NAT there) belong to one group,
    and all their sources are one side of it: so both directions of a NATed connection fall
    in one group with opposite orientations.
    """
    # one pass over the matches: grouped by their A sighting's form (forms are shared
    # objects), with the forms of the packets NATed at A; a side's samples are then taken in
    # bulk, form by form (everything read from them is order-free: medians, sorted bounds)
    of_form: dict[int, tuple[Form, list[Match]]] = {}
    natted: dict[tuple[Form, ...], None] = {}  # in order of first match (union order)
    for m in matches:
        a = m.a
        form = a.form
        held = of_form.get(id(form))
        if held is None:
            held = of_form[id(form)] = (form, [])
        held[1].append(m)
        if not a.single:
            natted[tuple(a.forms)] = None
    flows, sides = _joined(natted)
    by_group: dict[object, dict[bool, _Side]] = {}
    for (src, dst), ms in of_form.values():
        group = flows.find((src, dst) if src <= dst else (dst, src))
        orientation = str(sides.find(src)) < str(sides.find(dst))
        by_side = by_group.get(group)
        if by_side is None:
            by_side = by_group[group] = {}
        side = by_side.get(orientation)
        if side is None:
            side = by_side[orientation] = _Side()
        start = len(side.causal)
        side.causal.extend([0 if m.a.single and m.b.single else _causal(m) for m in ms])
        side.fwd.extend([b.first_ns - a.last_ns for a, b, _c in ms])
        side.rev.extend([b.last_ns - a.first_ns for a, b, _c in ms])
        side.mid.extend([b.first_ns - a.first_ns for a, b, _c in ms])
        for k, m in enumerate(ms, start):
            if abs(side.causal[k]) == LOOP:  # both bounds: fwd the upper, rev the lower
                side.fwd[k], side.rev[k] = _loop_bounds(m, side.causal[k])
    return by_group


def _joined(natted: Iterable[tuple[Form, ...]]) -> tuple[UnionFind, UnionFind]:
    """The connections (by direction-normalised form) and their sides (by endpoint) as point A
    saw them: the forms of each packet NATed at A (in order of first match) joined."""
    flows = UnionFind()
    sides = UnionFind()
    for forms in natted:  # a packet seen in one form joins nothing
        first = forms[0]
        for src, dst in forms:
            flows.union((src, dst) if src <= dst else (dst, src),
                        (first[0], first[1]) if first[0] <= first[1] else (first[1], first[0]))
            sides.union(src, first[0])
            sides.union(dst, first[1])
    return flows, sides


class _Columns(NamedTuple):
    """Samples as columns: the sides (``Sides``: each side's group, orientation and partner;
    a side may have no sample), each sample's side, and causal/fwd/rev/mid per sample (as
    ``_Side`` holds them)."""

    sides: Sides
    side: Ints
    causal: npt.NDArray[np.int8]
    fwd: Ints
    rev: Ints
    mid: Ints


def _indexed_columns(ca: PointColumns, cb: PointColumns, ia: Ints, ib: Ints) -> _Columns:
    """The samples of the anchors ``ia``/``ib`` as columns, in match order."""
    causal = np.zeros(len(ia), np.int8)
    natted: dict[tuple[Form, ...], None] = {}
    items_a, items_b = ca.items, cb.items
    once = ca.last is ca.first and cb.last is cb.first  # every sighting seen once
    odd = _NONE if once else np.flatnonzero(~(ca.single[ia] & cb.single[ib]))
    loops: list[tuple[int, tuple[int, int]]] = []  # a packet that went round: both bounds
    for k, i, j in zip(odd.tolist(), ia[odd].tolist(), ib[odd].tolist(), strict=True):
        m = Match(items_a[i], items_b[j], 0.0)
        causal[k] = found = _causal(m)
        if abs(found) == LOOP:
            loops.append((k, _loop_bounds(m, found)))
        if not m.a.single:
            natted[tuple(m.a.forms)] = None
    flows, ends = _joined(natted)
    form = ca.form[ia]
    if not flows.parent and not ends.parent:  # nothing joined: the point's own sides
        sides = ca.sides
        side = sides.of_form[form]
    else:
        numbers, inverse = np.unique(form, return_inverse=True)
        sides = form_sides([ca.forms[n] for n in numbers.tolist()], flows, ends)
        side = sides.of_form[inverse.reshape(-1)]
    fa, fb = ca.first[ia], cb.first[ib]
    mid = fb - fa
    # where every sighting's last copy is its first (one array: ``fold_columns``), the
    # bounds are the mids
    fwd = mid if ca.last is ca.first else fb - ca.last[ia]
    rev = mid if cb.last is cb.first else cb.last[ib] - fa
    if loops:  # both bounds: fwd the upper, rev the lower (copies: they may be mid)
        fwd, rev = fwd.copy(), rev.copy()
        for k, (upper, lower) in loops:
            fwd[k], rev[k] = upper, lower
    return _Columns(sides, side, causal, fwd, rev, mid)


def _column_bounds(cols: _Columns) -> tuple[Ints, Ints, list[int]]:
    """``_bounds`` of samples as columns: the same bounds (filtered, sorted) and the same
    unclassified mids (in another order: only their median is read)."""
    return _tight_or_first(lambda first_sightings: _column_classify(cols, first_sightings))


def _column_classify(cols: _Columns, first_sightings: bool,
                     ) -> tuple[Ints, Ints, list[int]]:
    """``_classify`` of samples as columns (the same multisets of values, the bounds as
    arrays)."""
    counts = np.bincount(cols.side, minlength=len(cols.sides.partner))
    twice = _twice_medians(cols.side, cols.mid, counts)
    # a side's partner: the other orientation of its group, when the group has both
    partner = cols.sides.partner
    paired = (partner >= 0) & (counts > 0)
    paired[paired] = counts[partner[paired]] > 0
    mine, theirs = twice, twice[np.where(paired, partner, 0)]
    going_set = paired & (mine != theirs)
    going_me = going_set & (mine > theirs)  # the larger median travels from A to B
    causal = cols.causal
    me, is_set = going_me[cols.side], going_set[cols.side]
    loop = np.abs(causal) == LOOP  # a packet that went round gives both
    up = ~loop & ((causal > 0) | ((causal == 0) & me))
    down = ~loop & ~up & ((causal < 0) | ((causal == 0) & is_set))
    rest = ~loop & ~up & ~down
    fwd = cols.mid if first_sightings else cols.fwd
    rev = cols.mid if first_sightings else cols.rev
    if loop.any():
        return (np.concatenate([fwd[up], cols.fwd[loop]]),
                np.concatenate([rev[down], cols.rev[loop]]), cols.mid[rest].tolist())
    return fwd[up], rev[down], cols.mid[rest].tolist()


def _twice_medians(side: Ints, mid: Ints, counts: Ints) -> Ints:
    """Each side's median mid doubled, as an integer (the middle value twice, or the two
    middle values added), so no value is rounded; a side with no sample gets any value."""
    low, span = int(mid.min()), int(mid.max()) - int(mid.min())
    bits = span.bit_length()
    if (len(counts) - 1).bit_length() + bits <= 63:  # side and mid packed into one key
        mids = (np.sort(side << bits | (mid - low)) & ((1 << bits) - 1)) + low
    else:
        mids = mid[np.lexsort((mid, side))]
    starts = np.cumsum(counts) - counts
    half = counts // 2
    last = len(mids) - 1
    hi = mids[np.minimum(starts + half, last)]
    lo = mids[np.minimum(starts + np.maximum(half - 1, 0), last)]
    out: Ints = np.where(np.bitwise_and(counts, 1) == 1, 2 * hi, lo + hi)
    return out


LOOP = 2
"""``_causal`` of a packet that went from A to B and back to A (-2: B, A, B)."""


def _causal(m: Match) -> int:
    """Which point saw the packet first, when NAT tells: the point that translated it and
    passed it on in the form the other point saw came first (1: A, -1: B). When both saw it
    before and after its translation, it went round one of them and back (``LOOP``: A, B,
    A; a host captured with ``-i any`` and a router namespace inside it): round the one whose
    copies span less time, read on each point's own clock."""
    a, b = m.a, m.b
    fa, fb = a.forms, b.forms
    if len(fa) > 1 and fb[0] == fa[-1] and fa[0] not in fb:
        return 1
    if len(fb) > 1 and fa[0] == fb[-1] and fb[0] not in fa:
        return -1
    if len(fa) > 1 and fa[0] == fb[0] and fa[-1] == fb[-1]:
        span_a, span_b = a.last_ns - a.first_ns, b.last_ns - b.first_ns
        if span_a != span_b:
            return LOOP if span_a > span_b else -LOOP
    return 0


def _loop_bounds(m: Match, causal: int) -> tuple[int, int]:
    """The upper and lower bound a packet that went round (``LOOP``) gives: it reached the
    inner point after the outer one first saw it, and left it before the outer one last saw
    it."""
    firsts, lasts = m.b.first_ns - m.a.first_ns, m.b.last_ns - m.a.last_ns
    return (firsts, lasts) if causal == LOOP else (lasts, firsts)


def _classify(by_group: dict[object, dict[bool, _Side]], first_sightings: bool = False,
              ) -> tuple[list[int], list[int], list[int]]:
    """Upper bounds (A->B packets), lower bounds (B->A packets), and unclassified mids.

    A sample whose direction NAT tells is classified by it; the others by their group: within
    one connection, the orientation with the larger median difference travels from A to B.
    The bounds are the tightest the copies give (an A->B packet's first copy at B after its
    last at A), or with ``first_sightings`` the looser ones of first sightings alone, which
    hold even when a point stamped a copy after the packet reached the other point.
    """
    upper: list[int] = []
    lower: list[int] = []
    loose: list[int] = []
    for by_side in by_group.values():
        going: bool | None = None
        if len(by_side) == 2:
            med = {o: statistics.median(side.mid) for o, side in by_side.items()}
            if med[True] != med[False]:
                going = max(med, key=lambda o: med[o])
        for orientation, side in by_side.items():
            if going is not None and not any(side.causal):  # the common case, in bulk
                if going is orientation:
                    upper.extend(side.mid if first_sightings else side.fwd)
                else:
                    lower.extend(side.mid if first_sightings else side.rev)
                continue
            fwds = side.mid if first_sightings else side.fwd
            revs = side.mid if first_sightings else side.rev
            for causal, fwd, rev, mid, loop_up, loop_down in zip(
                    side.causal, fwds, revs, side.mid, side.fwd, side.rev, strict=True):
                if abs(causal) == LOOP:  # a packet that went round gives both
                    upper.append(loop_up)
                    lower.append(loop_down)
                elif causal > 0 or (causal == 0 and going is orientation):
                    upper.append(fwd)
                elif causal < 0 or (causal == 0 and going is not None):
                    lower.append(rev)
                else:
                    loose.append(mid)
    return upper, lower, loose


def _spread(values: Sequence[int]) -> tuple[float, float]:
    med = statistics.median(values)
    mad = statistics.median(abs(v - med) for v in values)
    return med, max(OUTLIER_MADS * mad, OUTLIER_FLOOR_NS)


def _filtered(upper: Sequence[int] | Ints, lower: Sequence[int] | Ints,
              ) -> tuple[Ints, Ints]:
    """The bounds without those that stray from their direction's median, sorted."""
    return (_kept(upper, True) if len(upper) else _NONE,
            _kept(lower, False) if len(lower) else _NONE)


_NONE: Ints = np.zeros(0, np.int64)


EXACT_NS = 1 << 50
"""Below it, float64 holds every bound, every sum of two and every half of one exactly."""


def _kept(values: Sequence[int] | Ints, upper: bool) -> Ints:
    """The bounds within their spread of their median, sorted (an upper bound may not be
    far below it, a lower bound far above): on arrays where float64 is exact, the same
    numbers ``_spread`` gives, compared exactly as Python compares them."""
    arr = np.asarray(values, np.int64)
    if max(-int(arr.min()), int(arr.max())) >= EXACT_NS:
        exact: list[int] = arr.tolist()
        med, limit = _spread(exact)
        if upper:
            return np.array(sorted(v for v in exact if v >= med - limit), np.int64)
        return np.array(sorted(v for v in exact if v <= med + limit), np.int64)
    mid = float(np.median(arr))
    cut = max(OUTLIER_MADS * float(np.median(np.abs(arr - mid))), OUTLIER_FLOOR_NS)
    kept = arr[arr >= mid - cut] if upper else arr[arr <= mid + cut]
    return np.sort(kept)


def _agree(upper: Ints, lower: Ints) -> bool:
    """True unless a lower bound exceeds an upper bound (both sorted)."""
    return not (len(upper) and len(lower) and int(lower[-1]) > int(upper[0]))


def _bounds(by_group: dict[object, dict[bool, _Side]]) -> tuple[Ints, Ints, list[int]]:
    """Upper and lower bounds (filtered, sorted) and unclassified mids.

    The tight bounds, unless they contradict each other while first sightings alone do not:
    tight bounds assume a point saw every copy of a packet before the next point saw it, and a
    copy stamped later (``-i any`` seeing the packet again on another interface) breaks that;
    dropping the "contradicting extremes" of such bounds would move the estimate off the truth
    and reorder the points packets passed, while an estimate within first sightings' bounds
    keeps every packet's first sightings in order. When first sightings contradict too (a
    point saw the packet both before and after the other, or a timestamp is damaged), the
    tight bounds stay, for ``_reject`` to sort out.
    """
    return _tight_or_first(lambda first_sightings: _classify(by_group, first_sightings))


def _tight_or_first(classify: Callable[[bool], tuple[Sequence[int] | Ints,
                                                     Sequence[int] | Ints, list[int]]],
                    ) -> tuple[Ints, Ints, list[int]]:
    """The choice ``_bounds`` describes, with ``classify(first_sightings)`` giving the
    (upper, lower, loose) samples of the tight bounds (False) or of first sightings (True)."""
    upper, lower, loose = classify(False)
    upper, lower = _filtered(upper, lower)
    if not _agree(upper, lower):
        first_upper, first_lower, _ = classify(True)
        first_upper, first_lower = _filtered(first_upper, first_lower)
        if _agree(first_upper, first_lower):
            return first_upper, first_lower, loose
    return upper, lower, loose


def _reject(upper: Ints, lower: Ints) -> tuple[list[int], list[int]] | None:
    """Drop contradicting extremes of filtered, sorted bounds, one at a time (None when none
    contradict: the bounds stay as they are)."""
    if _agree(upper, lower) or len(upper) + len(lower) <= 2:
        return None
    return _rejected(upper.tolist(), lower.tolist())


def _rejected(upper: list[int], lower: list[int]) -> tuple[list[int], list[int]]:
    """``_reject`` on lists."""
    while upper and lower and lower[-1] > upper[0] and len(upper) + len(lower) > 2:
        up_gap = statistics.median(upper) - upper[0]
        low_gap = lower[-1] - statistics.median(lower)
        if (up_gap >= low_gap and len(upper) > 1) or len(lower) == 1:
            upper.pop(0)
        else:
            lower.pop()
    return upper, lower


def _stretched(lo: int, hi: int, dropped_upper: Sequence[int],
               dropped_lower: Sequence[int]) -> tuple[int, int]:
    """The interval ``lo..hi`` left after dropping contradicting bounds, stretched to hold
    those dropped within ``OUTLIER_FLOOR_NS`` of it. Bounds that contradict say some packet
    was stamped late or read the wrong way (which way a packet went is read from medians that
    one late stamp can tip): which of them is wrong cannot be told, so the interval holds them
    all rather than trusting the ones that happen to be kept. A bound further past is a
    mangled time, as the outlier filter takes one: dropped outright."""
    near_upper = [u for u in dropped_upper if u >= lo - OUTLIER_FLOOR_NS]
    near_lower = [v for v in dropped_lower if v <= hi + OUTLIER_FLOOR_NS]
    return min([lo, *near_upper]), max([hi, *near_lower])


def estimate_pair(a: str, b: str, matches: Sequence[Match]) -> PairEstimate | None:
    """The offset of point ``b`` against point ``a`` from matched packets, or None."""
    if not matches:
        return None
    return _estimate(a, b, _samples(matches), len(matches))


def estimate_indexed(a: str, b: str, ca: PointColumns, cb: PointColumns, ia: Ints,
                     ib: Ints) -> PairEstimate | None:
    """``estimate_pair`` of the anchors ``ia``/``ib`` (sighting numbers at ``a``/``b``, in
    match order): the same samples, taken as columns."""
    if not len(ia):
        return None
    return _estimate_from(a, b, *_column_bounds(_indexed_columns(ca, cb, ia, ib)), len(ia))


def _estimate(a: str, b: str, by_group: dict[object, dict[bool, _Side]],
              count: int) -> PairEstimate:
    return _estimate_from(a, b, *_bounds(by_group), count)


def _estimate_from(a: str, b: str, upper_bounds: Ints, lower_bounds: Ints,
                   loose: list[int], count: int) -> PairEstimate:
    kept = _reject(upper_bounds, lower_bounds)  # the lists, when any bound was dropped
    # only the tightest bounds are read, unless they still contradict
    upper: Sequence[int] = kept[0] if kept else upper_bounds[:1].tolist()
    lower: Sequence[int] = kept[1] if kept else lower_bounds[-1:].tolist()
    if upper and lower:
        hi, lo = upper[0], lower[-1]
        if lo <= hi:
            if kept:  # the interval still holds the dropped bounds: see ``_stretched``
                lo, hi = _stretched(lo, hi,
                                    upper_bounds[:len(upper_bounds) - len(upper)].tolist(),
                                    lower_bounds[len(lower):].tolist())
            return PairEstimate(a, b, (hi + lo) / 2, (hi - lo) / 2, count, True, (hi, lo))
        mu, ml = statistics.median(upper), statistics.median(lower)
        return PairEstimate(a, b, (mu + ml) / 2, abs(mu - ml) / 2, count, True)
    # One-way evidence only: skew and transit time cannot be told apart. With a bound of known
    # direction, take it (zero transit); else the median difference. Within the floor, none.
    if upper or lower:
        est = float(upper[0]) if upper else float(lower[-1])
        limits = (est, None) if upper else (None, est)
        return PairEstimate(a, b, est, ONE_SIDED_FLOOR_NS, count, False, limits)
    med, _ = _spread(loose)
    mad = statistics.median(abs(v - med) for v in loose)
    unc = max(1.4826 * mad, ONE_SIDED_FLOOR_NS)
    return PairEstimate(a, b, med, unc, count, False)


def offsets(points: Sequence[str], pairs: Sequence[PairEstimate]) -> tuple[ClockOffset, ...]:
    """Each point's offset against the first point, through the most certain chain of pairs,
    then held within the limits every chain of pairs allows together: where those bound it
    on both sides more tightly than the chain (or the chain is one-way), their middle.

    Points no matched packet ties to the reference are left out (their clock is unknown).
    """
    if not points:
        return ()
    ref = points[0]
    edges: dict[str, list[tuple[str, float, float, PairEstimate, Limits]]] = defaultdict(list)
    for p in pairs:
        cost = p.uncertainty_ns + (0.0 if p.two_sided else ONE_SIDED_PENALTY_NS)
        edges[p.a].append((p.b, p.offset_ns, cost, p, p.limits))
        edges[p.b].append((p.a, -p.offset_ns, cost, p, _reversed(p.limits)))
    best: dict[str, tuple[float, float, float, int, bool, Limits]] = {}
    heap: list[tuple[float, str, float, float, int, bool, Limits]] = [
        (0.0, ref, 0.0, 0.0, 0, True, (0.0, 0.0))]
    while heap:
        cost, point, off, unc, n, sided, limits = heapq.heappop(heap)
        if point in best:
            continue
        best[point] = (cost, off, unc, n, sided, limits)
        for other, delta, edge_cost, pair, step in edges[point]:
            if other not in best:
                samples = pair.samples if point == ref else min(n, pair.samples)
                heapq.heappush(heap, (cost + edge_cost, other, off + delta,
                                      unc + pair.uncertainty_ns, samples,
                                      sided and pair.two_sided, _chained(limits, step)))
    every = _every_chain(points, pairs)
    out = []
    for at, name in enumerate(points):
        if name in best:
            _cost, off, unc, n, sided, limits = best[name]
            if every is not None:
                limits = most, least = every[at]
                if most is not None and least is not None and (
                        not sided or most - least <= 2 * unc):
                    off, unc, sided = (most + least) / 2, (most - least) / 2, True
                elif most is not None and off > most:
                    off = most
                elif least is not None and off < least:
                    off = least
            out.append(settled(ClockOffset(name, ref, off, unc, n, sided, limits=limits)))
    return tuple(out)


def _every_chain(points: Sequence[str], pairs: Sequence[PairEstimate]) -> list[Limits] | None:
    """Each point's limits against the first by every chain of pairs at once: the pairs'
    limits are difference constraints (``b - a <= most``, ``a - b <= -least``), and the
    tightest a point has are the shortest paths to it and back. None when the limits
    contradict each other (a cycle of them adds up below zero): no chain is then trusted
    over the most certain one."""
    at = {p: i for i, p in enumerate(points)}
    size = len(points)
    most = np.full((size, size), np.inf)  # most[i, j]: the most point j can be ahead of i
    np.fill_diagonal(most, 0.0)
    for p in pairs:
        i, j = at.get(p.a), at.get(p.b)
        if i is None or j is None:
            continue
        hi, lo = p.limits
        if hi is not None:
            most[i, j] = min(most[i, j], hi)
        if lo is not None:
            most[j, i] = min(most[j, i], -lo)
    for k in range(size):
        np.minimum(most, most[:, k, None] + most[None, k, :], out=most)
    if (np.diagonal(most) < 0).any():
        return None
    return [(None if np.isinf(most[0, j]) else float(most[0, j]),
             None if np.isinf(most[j, 0]) else -float(most[j, 0])) for j in range(size)]


def offset_map(clock: Sequence[ClockOffset]) -> Mapping[str, float]:
    """Point name to offset in ns (subtract from a point's timestamps to get reference time)."""
    return {c.point: c.offset_ns for c in clock}


def describe_offset(c: ClockOffset) -> str:
    """``host5's clock is 25.0 ± 0.4 ms behind host1``."""
    if abs(c.offset_ns) < 50_000:
        return (f"{c.point}'s clock agrees with {c.reference} (within "
                f"{c.uncertainty_ns / 1e6:.3f} ms)")
    note = f" ({c.one_way_note})" if c.one_way_note else ""
    words, zone = offset_words(c.offset_ns, c.uncertainty_ns)
    return f"{c.point}'s clock is {words} {c.reference}{note}{zone}"

