"""Plain conversations: NAT read off the columns, objects only for the conversations that
differ.

A conversation of tracks made from links (``tracks.track_arrays``,
``linked_convs.conversation_members``) is *plain* when each of its packets is TCP, no RST,
and was seen once at every point, one copy each, and no other conversation has its key. No
detector can find anything in one: a loss or an MTU black hole needs a packet that stopped
short of its route's end; a reset finding, or a RST left by its own sender, a RST;
asymmetric NAT a translation seen at one point (both forms there: two copies) or a reply
translated back at one, which a packet seen once per point cannot show. So a plain
conversation needs only its key, the direction of its packets and its translations, and
all three follow from the columns: the client endpoints from the SYNs' forms, a direction
per first form, and the rewrites per route and forms (``nat.one_copy_rewrites``), counted
in the order ``nat.infer_translations`` counts them (``plain_nat``, on arrays). Sightings,
tracks and conversations are made for the other conversations alone, which go through the
detectors as before.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping, Sequence
from operator import itemgetter
from typing import NamedTuple

import numpy as np

from nettrail.analyze import tracks
from nettrail.analyze.anchors import Links, PointColumns
from nettrail.analyze.columns import (
    distinct_rows,
    in_sorted,
    packed,
    ranges,
    stable_order,
    unique_values,
)
from nettrail.analyze.correlate import Form, Sighting
from nettrail.analyze.linked_convs import FormEnds, conversation_members, form_ends
from nettrail.analyze.nat import conversation_translations
from nettrail.analyze.plain_nat import PlainRows, plain_translations
from nettrail.analyze.row_sightings import LazySightings, take
from nettrail.analyze.tracks import Conversation, PointSpan, Track, TrackArrays
from nettrail.model.analysis import NatTranslation
from nettrail.model.arrays import Bools, Ints
from nettrail.model.flow import FlowKey
from nettrail.model.packet import ACK, PROTO_TCP, RST, SYN


class Split(NamedTuple):
    """Conversations from links: the ones that are not plain, as objects in their order, and
    every one's NAT translations (``infer_translations`` of them all, in the same order);
    ``two_way``: a plain one has a SYN and its SYN-ACK, so every point saw both directions."""

    convs: list[Conversation]
    nat: tuple[NatTranslation, ...]
    two_way: bool = False


class _Sightings(NamedTuple):
    """Every point's sightings, numbered point after point, as columns: point, protocol, TCP
    flags and form (a number in ``forms``, the points' forms one after the other)."""

    point: Ints
    proto: Ints
    flags: Ints
    form: Ints
    forms: list[Form]


def split_plain(sightings: Mapping[str, Sequence[Sighting]], links: Links,
                offsets: Mapping[str, float]) -> Split | None:
    """The conversations of ``links`` (over ``sightings``, clocks ``offsets``) split into
    plain and others; None when the conversations cannot come from links
    (``conversation_members``) or a point's sightings are not ``LazySightings``."""
    names = list(sightings)
    lazy = [sightings[p] for p in names]
    columns = links.columns
    if not all(isinstance(v, LazySightings) for v in lazy) or len(columns) != len(names) \
            or any(c.flags is None or c.proto is None or not c.single.all() for c in columns):
        return None  # (sightings of several copies: ``conversation_members`` makes none)
    offs = [round(offsets.get(p, 0.0)) for p in names]
    for v, off in zip(lazy, offs, strict=True):
        assert isinstance(v, LazySightings)
        v.set_offset(off)
    sizes = [len(c.first) for c in columns]
    corrected = np.concatenate([c.first - off for c, off in zip(columns, offs, strict=True)]) \
        if columns else np.zeros(0, np.int64)
    arrays = tracks.track_arrays(names, sizes, corrected, links)
    ends = form_ends(columns)
    members = conversation_members(arrays.head, links, ends)
    if members is None:
        return None
    cols = _sightings(columns)
    conv_of = np.full(len(arrays.start), -1, np.int64)
    if members:
        conv_of[np.concatenate(members)] = np.repeat(np.arange(len(members)),
                                                     [len(m) for m in members])
    plain = _plain_tracks(arrays, cols, len(names), corrected)
    in_conv = conv_of >= 0
    bad = np.bincount(conv_of[in_conv], weights=~plain[in_conv], minlength=len(members))
    keys = _keys(members, conv_of, arrays, cols)
    seen = Counter(keys)
    plain_conv = (bad == 0) & np.array([seen[k] == 1 for k in keys], np.bool_)
    rows = _plain_rows(arrays, cols, ends, conv_of, plain_conv, len(names))
    plain_nat = plain_translations(rows, ends, cols.forms, names, keys)
    convs = _objects(lazy, arrays, [m for m, p in zip(members, plain_conv.tolist(),
                                                                strict=True) if not p])
    objects = iter(convs)
    nat: list[NatTranslation] = []
    for ci, is_plain in enumerate(plain_conv.tolist()):
        nat.extend(plain_nat.get(ci, ()) if is_plain
                   else conversation_translations(next(objects)))
    head = cols.flags[arrays.head] & (SYN | ACK)
    with_conv = conv_of >= 0
    syns = np.bincount(conv_of[with_conv & (head == SYN)], minlength=len(members)) > 0
    replies = np.bincount(conv_of[with_conv & (head == SYN | ACK)], minlength=len(members)) > 0
    return Split(convs, tuple(nat), bool((plain_conv & syns & replies).any()))


def column_spans(columns: Sequence[PointColumns], names: Sequence[str],
                 offsets: Mapping[str, float]) -> dict[str, PointSpan]:
    """``tracks.spans`` of the points' sightings, read off their columns."""
    offs = {p: round(offsets.get(p, 0.0)) for p in names}
    firsts = {p: int(c.first.min()) - offs[p] for p, c in zip(names, columns, strict=True)
              if len(c.first)}
    if not firsts:
        return {}
    lasts = {p: int(c.last.max()) - offs[p] for p, c in zip(names, columns, strict=True)
             if len(c.last)}
    end = max(lasts.values())
    return {p: PointSpan(first, end, lasts[p]) for p, first in firsts.items()}


def _sightings(columns: Sequence[PointColumns]) -> _Sightings:
    forms: list[Form] = []
    form_parts = []
    for c in columns:
        form_parts.append(c.form + len(forms))
        forms.extend(c.forms)
    point = np.repeat(np.arange(len(columns), dtype=np.int64), [len(c.first) for c in columns])
    return _Sightings(point, np.concatenate([c.proto for c in columns if c.proto is not None]),
                      np.concatenate([c.flags for c in columns if c.flags is not None]),
                      np.concatenate(form_parts), forms)


def _plain_tracks(arrays: TrackArrays, cols: _Sightings, n_points: int,
                  corrected: Ints) -> Bools:
    """Whether each track is TCP, no RST, seen once at every point, at no two of them at the
    same corrected time (``corrected``: each sighting's; such a track's order between them is
    not known, and its conversation's translations are turned as ``nat`` turns them)."""
    size = arrays.end - arrays.start
    by_start = stable_order(arrays.start)
    track_of = np.repeat(by_start, size[by_start])  # each member's track
    m = arrays.members
    n = len(size)
    rst = np.bincount(track_of, weights=(cols.flags[m] & RST) != 0, minlength=n) > 0
    other = np.bincount(track_of, weights=cols.proto[m] != PROTO_TCP, minlength=n) > 0
    mask = np.zeros(n, np.int64)
    if len(m):
        mask[by_start] = np.bitwise_or.reduceat(np.left_shift(1, cols.point[m]),
                                                arrays.start[by_start])
    times = corrected[m]  # a track's members come in corrected-time order (track_arrays)
    same = (track_of[1:] == track_of[:-1]) & (times[1:] == times[:-1])
    tied = np.bincount(track_of[1:][same], minlength=n) > 0
    plain: Bools = (size == n_points) & (mask == (1 << n_points) - 1) & ~rst & ~other & ~tied
    return plain


def _keys(members: Sequence[Ints], conv_of: Ints, arrays: TrackArrays,
          cols: _Sightings) -> list[FlowKey]:
    """Each conversation's key, as ``Conversation`` takes it: its first SYN's first form
    (failing that its first packet's); ``conv_of``: each track's conversation (-1: none)."""
    flags = cols.flags[arrays.head]
    syn = np.flatnonzero(((flags & SYN) != 0) & ((flags & ACK) == 0) & (conv_of >= 0))
    first = np.array([int(m[0]) for m in members], np.int64)  # tracks are in order
    with_syn, at = np.unique(conv_of[syn], return_index=True)
    first[with_syn] = syn[at]
    head = arrays.head[first]
    return [FlowKey.of(proto, *cols.forms[form]) for proto, form in
            zip(cols.proto[head].tolist(), cols.form[head].tolist(), strict=True)]


def _plain_rows(arrays: TrackArrays, cols: _Sightings, ends: FormEnds, conv_of: Ints,
                plain_conv: Bools, n_points: int) -> PlainRows:
    """The distinct tracks of the plain conversations (``PlainRows``), in order of first
    use."""
    none = np.zeros(0, np.int64)
    picked = np.flatnonzero((conv_of >= 0) & plain_conv[np.maximum(conv_of, 0)]) \
        if len(plain_conv) else none  # (no conversation: ICMP only)
    if not len(picked):
        return PlainRows(none, none.astype(np.bool_), none, none, none)
    at = arrays.members[arrays.start[picked][:, None] + np.arange(n_points)]
    points, forms = cols.point[at], cols.form[at]
    conv = conv_of[picked]
    c2s = _requests(arrays, cols, ends, conv_of, picked, forms[:, 0])
    first, count = distinct_rows(*packed(conv, c2s, *points.T, *forms.T))  # fewer columns
    return PlainRows(conv[first], c2s[first], points[first], forms[first], count)


def _requests(arrays: TrackArrays, cols: _Sightings, ends: FormEnds, conv_of: Ints,
              picked: Ints, first_form: Ints) -> Bools:
    """Whether each picked track (its first sighting's form ``first_form``) goes from client
    to server: ``tracks.direction`` with its conversation's client endpoints, as
    ``Conversation`` takes them (every form of its SYN packets: the SYN's source, the
    SYN-ACK's destination), on arrays: a pair of conversation and endpoint a number."""
    flags = cols.flags[arrays.head[picked]]
    syns = picked[(flags & SYN) != 0]
    side = (cols.flags[arrays.head[syns]] & ACK) != 0
    numbers, size = _track_members(arrays, syns)
    f = cols.form[numbers]
    client = np.where(np.repeat(side, size), ends.dst[f], ends.src[f])
    n_ends = int(max(ends.src.max(), ends.dst.max())) + 1
    known = unique_values(np.repeat(conv_of[syns], size) * n_ends + client)
    conv = conv_of[picked]
    src_in = in_sorted(known, conv * n_ends + ends.src[first_form])
    dst_in = in_sorted(known, conv * n_ends + ends.dst[first_form])
    used, inverse = np.unique(first_form, return_inverse=True)
    forms = list(map(cols.forms.__getitem__, used.tolist()))
    src_port = np.fromiter(map(_PORT, map(_SRC, forms)), np.int64, len(forms))
    higher = src_port > np.fromiter(map(_PORT, map(_DST, forms)), np.int64, len(forms))
    out: Bools = src_in | (~dst_in & higher[inverse.reshape(-1)])
    return out


_SRC, _DST, _PORT = itemgetter(0), itemgetter(1), itemgetter(1)  # a form's ends, an end's port


def _track_members(arrays: TrackArrays, which: Ints) -> tuple[Ints, Ints]:
    """The sightings of tracks ``which``, one track after the other, and each one's count."""
    numbers, _at = ranges(arrays.start[which], arrays.end[which])
    return arrays.members[numbers], arrays.end[which] - arrays.start[which]


def _objects(lazy: Sequence[Sequence[Sighting]], arrays: TrackArrays,
             members: Sequence[Ints]) -> list[Conversation]:
    """The conversations of ``members`` (tracks by number), their sightings and tracks
    made as ``linked_tracks_firsts`` and ``linked_conversations`` make them."""
    if not members:
        return []
    wanted = np.concatenate(members)
    numbers, size = _track_members(arrays, wanted)
    base = np.cumsum([0, *(len(v) for v in lazy)])
    point = np.searchsorted(base, numbers, side="right") - 1
    got = [iter(take(v, numbers[point == p] - base[p])) for p, v in enumerate(lazy)]
    items = [next(got[p]) for p in point.tolist()]  # (each point's in the order of numbers)
    made: dict[int, Track] = {}
    pos = 0
    for t, n in zip(wanted.tolist(), size.tolist(), strict=True):
        these = tuple(items[pos:pos + n])
        pos += n
        made[t] = tracks.linked_track(these, tuple(dict.fromkeys(s.point for s in these)),
                                      float(arrays.confidence[t]), t + 1)
    return [Conversation([made[t] for t in m.tolist()]) for m in members]
