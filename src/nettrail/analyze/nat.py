"""NAT translations read off packets followed across points: who rewrote what, where.

Walking a track (one packet, point by point, copy by copy) every change of destination is a
DNAT and every change of source an SNAT. When both forms were seen at one point (``-i any``
shows a routed packet on its way in and on its way out), that point translated it; otherwise the
translation happened somewhere between the two points.
"""

from __future__ import annotations

import functools
import ipaddress
from collections import Counter
from collections.abc import Iterable, Sequence
from itertools import pairwise
from operator import attrgetter
from typing import Any

from nettrail.analyze.correlate import Form, Sighting
from nettrail.analyze.tracks import Conversation, Track, track_tied
from nettrail.model.analysis import NatTranslation
from nettrail.model.flow import Endpoint, FlowKey

_Key = tuple[str, str, Endpoint, Endpoint, str, str, str | None]
Rewrite = tuple[str, Endpoint, Endpoint, str, str, str | None]
_MORE = attrgetter("_more")  # None for a sighting seen once (``Sighting.single``)
_FORM = attrgetter("form")


def track_translations(track: Track, memo: dict[tuple[object, ...], Any] | None = None,
                       ) -> Sequence[Rewrite]:
    """(kind, before, after, from_point, to_point, at) for each rewrite along one track.

    Copies from every point are merged in corrected time; each change of form is one rewrite.
    It happened at the point that saw the packet in both forms with the shortest gap between
    them (a host capture around a router namespace sees both forms too, no closer together:
    ``_translator``), and was seen at that point before and after; otherwise it happened
    between the two points that saw it last before and first after.

    ``memo``: the track's conversation's (``Conversation.rewrites``), where the tracks of
    one route keep their rewrites (one object for all of them).
    """
    sightings = track.sightings
    if len(track.points) == len(sightings) and not any(map(_MORE, sightings)):
        # each seen once (``single``); the rewrites follow from the forms in point order
        # alone: the packets of a connection and direction share them (NAT and detectors
        # ask for every track). A point's packets of one address/port quadruple share one
        # form object: the key takes their identities (cheap to hash); the memo lives with
        # the conversation, whose tracks keep those forms alive.
        if memo is None:
            return tuple(_one_copy_each(sightings))
        key = (track.points, *map(id, map(_FORM, sightings)))
        got = memo.get(key)
        if got is None:
            got = memo[key] = tuple(_one_copy_each(sightings))
        return got
    forms = {f for s in sightings for f in s.forms}
    if len(forms) < 2:
        return []
    copies = sorted((s.corrected(r), s.point, f)
                    for s in track.sightings for r, f in zip(s.records, s.copy_forms, strict=True))
    order: list[Form] = []
    for _, _, f in copies:
        if f not in order:
            order.append(f)
    out: list[Rewrite] = []
    for f0, f1 in pairwise(order):
        at = _translator(copies, f0, f1)
        if at is not None:  # it saw both forms: the rewrite is there, whatever other point
            p0 = p1 = at    # stamped a copy a microsecond before or after it
        else:
            _, p0, _ = max(c for c in copies if c[2] == f0)
            _, p1, _ = min(c for c in copies if c[2] == f1)
        out.extend(_rewrites(f0, f1, p0, p1, at))
    return out


def _rewrites(f0: Form, f1: Form, p0: str, p1: str, at: str | None) -> list[Rewrite]:
    """The DNAT, then the SNAT, that turned form ``f0`` (last seen at ``p0``) into ``f1``
    (first seen at ``p1``), translated at point ``at`` (None: between them)."""
    (s0, d0), (s1, d1) = f0, f1
    out: list[Rewrite] = []
    if _rewritten(d0, d1):
        out.append(("dnat", d0, d1, p0, p1, at))
    if _rewritten(s0, s1):
        out.append(("snat", s0, s1, p0, p1, at))
    return out


def _one_copy_each(sightings: Sequence[Sighting]) -> list[Rewrite]:
    """``track_translations`` of a track seen once per point, one copy each (the common case):
    its copies are its sightings in order, and no point saw two forms, so no point is named
    as the translator."""
    return one_copy_rewrites([s.form for s in sightings], [s.point for s in sightings])


def one_copy_rewrites(forms: Sequence[Form], points: Sequence[str]) -> list[Rewrite]:
    """``_one_copy_each`` of sightings in ``forms`` at ``points``, in the track's order."""
    if len(forms) == 2:
        if forms[0] == forms[1]:
            return []
        return _rewrites(forms[0], forms[1], points[0], points[1], None)
    first = forms[0]
    if all(f == first for f in forms):
        return []
    last_at: dict[Form, str] = {}
    first_at: dict[Form, str] = {}
    for f, p in zip(forms, points, strict=True):
        last_at[f] = p
        first_at.setdefault(f, p)
    out: list[Rewrite] = []
    for f0, f1 in pairwise(last_at):
        out.extend(_rewrites(f0, f1, last_at[f0], first_at[f1], None))
    return out


def _rewritten(a: Endpoint, b: Endpoint) -> bool:
    """Whether ``a`` became ``b`` by a rewrite: a host printed as a name or placeholder
    (``server``, ``xxx.xxx.xxx.xxx``) at one point and as another host at the next is a
    difference of printing, not a translation nettrail can claim."""
    if a == b:
        return False
    return a.addr == b.addr or (is_address(a.addr) and is_address(b.addr))


@functools.lru_cache(maxsize=4096)
def is_address(text: str) -> bool:
    """Whether ``text`` is an IP address (not a host label from text)."""
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


TIE_NS = 2_000
"""Gaps between a packet's two forms that differ by no more than this are one: two stamps of
a microsecond capture (pcap) may each be off by up to a microsecond."""


def _translator(copies: list[tuple[int, str, Form]], f0: Form, f1: Form) -> str | None:
    """The point that saw both forms closest together, before then after.

    A capture of the host around a router namespace sees both forms too: on the ends of the
    veth pairs into the namespace, which stamp a packet as the namespace's own ends do (often
    to the same microsecond). Among points whose gaps are one (``TIE_NS``), the one that saw
    the packet fewest times in the two forms is taken as the one inside, the translator: a
    host's ``-i any`` capture sees it on its own ports as well (four times against the
    namespace's two). Where two saw it as often, the packets cannot tell them apart and the
    name decides (it alone decided before: the host's capture took the translation of a
    packet now and then)."""
    found: list[tuple[int, int, str]] = []
    for point in {p for _, p, _ in copies}:
        before = [t for t, p, f in copies if p == point and f == f0]
        after = [t for t, p, f in copies if p == point and f == f1]
        if before and after and min(after) >= max(before):
            found.append((min(after) - max(before), len(before) + len(after), point))
    if not found:
        return None
    shortest = min(found)[0]
    return min((seen, gap, point) for gap, seen, point in found if gap - shortest <= TIE_NS)[2]


def infer_translations(convs: Iterable[Conversation]) -> tuple[NatTranslation, ...]:
    """Every translation observed, counted in packets, per connection and leg."""
    out: list[NatTranslation] = []
    for conv in convs:
        out.extend(conversation_translations(conv))
    return tuple(out)


def conversation_translations(conv: Conversation) -> list[NatTranslation]:
    """``infer_translations`` of one conversation. A packet that reached two points at the
    same corrected time tells no order between them: a reply's is taken as the reverse of the
    requests' route (a request's, of the replies' when they tell it), so that one translation
    is never reported as its own reverse on the way back."""
    # tracks of one route share their rewrites (one object): counted per object first,
    # in order of first use (so each translation still comes in order of first use)
    uses: dict[tuple[bool, int], list[Any]] = {}
    along: dict[tuple[str, int], Sequence[Rewrite]] = {}
    for track in conv.tracks:
        rewrites = track_translations(track, conv.rewrites)
        if rewrites and track_tied(track) and (track.direction == "s2c"
                                          or not conv.route_tied("s2c")):
            got = along.get((track.direction, id(rewrites)))
            if got is None:
                back = conv.route("c2s" if track.direction == "s2c" else "s2c")[::-1]
                got = along[(track.direction, id(rewrites))] = _along(rewrites, back)
            rewrites = got
        if rewrites:
            use = uses.get((track.direction == "c2s", id(rewrites)))
            if use is None:
                uses[(track.direction == "c2s", id(rewrites))] = [rewrites, 1]
            else:
                use[1] += 1
    return counted(conv.key, ((request, rewrites, n)
                              for (request, _id), (rewrites, n) in uses.items()))


def _along(rewrites: Sequence[Rewrite], route: Sequence[str]) -> Sequence[Rewrite]:
    """``rewrites`` turned to run along ``route`` (points in the order a packet passes them):
    one whose first point comes later on it went the other way (before and after swapped)."""
    at = {p: i for i, p in enumerate(route)}
    out = [(kind, after, before, p1, p0, by)
           if p0 in at and p1 in at and at[p0] > at[p1] else (kind, before, after, p0, p1, by)
           for kind, before, after, p0, p1, by in rewrites]
    return rewrites if out == list(rewrites) else tuple(out)


def counted(key: FlowKey, uses: Iterable[tuple[bool, Sequence[Rewrite], int]],
            ) -> list[NatTranslation]:
    """The translations of connection ``key`` from its tracks' rewrites: (whether they are
    requests, the rewrites, how many packets), in order of first use."""
    counts: Counter[_Key] = Counter()
    for request, rewrites, n in uses:
        leg = "request" if request else "reply"
        for kind, before, after, p0, p1, at in rewrites:
            counts[(kind, leg, before, after, p0, p1, at)] += n
    _fold_reversed(counts)
    return [NatTranslation(kind, leg, before, after, p0, p1, at, n, key)
            for (kind, leg, before, after, p0, p1, at), n in counts.items()]


def _fold_reversed(counts: Counter[_Key]) -> None:
    """One translation seen backwards (a packet placed at its second point first, within the
    clocks' uncertainty) is the same translation: its packets count for the direction most
    packets show (the first seen on a tie), never as a second owner translating back."""
    for key in list(counts):
        kind, leg, before, after, p0, p1, at = key
        rev = (kind, leg, after, before, p1, p0, at)
        if key not in counts or rev not in counts:
            continue
        keep, drop = (key, rev) if counts[key] >= counts[rev] else (rev, key)
        counts[keep] += counts.pop(drop)


def translated_endpoints(nat: Iterable[NatTranslation], conv: Conversation) -> set[Endpoint]:
    """The public (pre-DNAT) server endpoints of a connection's requests."""
    return {t.before for t in nat
            if t.connection == conv.key and t.leg == "request" and t.kind == "dnat"}


def describe_translation(t: NatTranslation) -> str:
    """``dnat of the request 203.0.113.10:22 -> 198.51.100.4:22 at router``."""
    where = f"at {t.at}" if t.at else f"between {t.from_point} and {t.to_point}"
    return f"{t.kind} of the {t.leg} {t.before} -> {t.after} {where} ({t.packets} packets)"
