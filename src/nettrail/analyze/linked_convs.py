"""Conversations of tracks made from links (``tracks.linked_tracks_firsts``), on arrays.

``build_conversations`` joins, track by track, the flows (a node per point and flow key) its
sightings' forms belong to. When the tracks come from links, the same groups follow from the
links themselves: two linked sightings are one packet, so their flows are one connection.
The flows are numbered per point from its columns (a form and protocol at a time), the
connected flows found on arrays (``tracks._components``); only the conversations themselves
are objects.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np

from nettrail.analyze.anchors import Links, PointColumns, numbered_ends
from nettrail.analyze.columns import groups, stable_order
from nettrail.analyze.tracks import Conversation, Track, _components, _conv_order
from nettrail.model.arrays import Ints
from nettrail.model.packet import PROTO_ICMP, PROTO_ICMPV6


def linked_conversations(tracks: Sequence[Track], firsts: Ints, links: Links,
                         ) -> list[Conversation] | None:
    """``build_conversations`` of the tracks that are not ICMP (``firsts``: the number of
    each track's first sighting), or None when the links lack the points' columns or a
    sighting holds several copies (its forms are then joined one by one)."""
    members = conversation_members(firsts, links)
    if members is None:
        return None
    convs = [Conversation([tracks[i] for i in m.tolist()]) for m in members]
    convs.sort(key=_conv_order)
    return convs


def conversation_members(firsts: Ints, links: Links, ends: FormEnds | None = None,
                         ) -> list[Ints] | None:
    """The tracks (numbers from 0, in order) of each conversation ``linked_conversations``
    makes, in the order it makes them; None when it makes none. ``ends``: the endpoints of
    the points' forms (``form_ends``), when already numbered."""
    columns = links.columns
    if not columns or not all(bool(c.single.all()) for c in columns):
        return None
    node, proto = _nodes(columns, form_ends(columns) if ends is None else ends)
    # the flows two linked sightings join (a connection's packets all join the same few:
    # the labels they spread are few and read again and again, quicker than pairs made
    # distinct first)
    n = int(node.max()) + 1 if len(node) else 0
    label = _components(n, node[links.a], node[links.b]) if n else node
    head = label[node[firsts]]
    kept = np.flatnonzero((proto[firsts] != PROTO_ICMP) & (proto[firsts] != PROTO_ICMPV6))
    order = kept[stable_order(head[kept])]  # each one's tracks in their order
    ranked = head[order]
    if not len(order):
        return []
    starts = np.r_[0, np.flatnonzero(ranked[1:] != ranked[:-1]) + 1]
    stops = np.r_[starts[1:], len(order)].tolist()
    # in the order of their first track, as ``build_conversations`` (a track is in one
    # conversation: the first tracks differ), each one a slice of ``order``
    ranks = stable_order(order[starts]).tolist()
    at = starts.tolist()
    return [order[at[k]:stops[k]] for k in ranks]


class FormEnds(NamedTuple):
    """The points' forms one after the other (``PointColumns.forms``, point by point): each
    one's source and destination endpoint as numbers (equal endpoints, equal numbers)."""

    src: Ints
    dst: Ints


def form_ends(columns: Sequence[PointColumns]) -> FormEnds:
    """``FormEnds`` of the points' forms."""
    known = [c.ends for c in columns if c.ends is not None]
    if known and len(known) == len(columns) and all(
            e.by_value is known[0].by_value for e in known):  # one numbering
        return FormEnds(np.concatenate([e.src for e in known]),
                        np.concatenate([e.dst for e in known]))
    src, dst, _ends = numbered_ends([f for c in columns for f in c.forms])
    return FormEnds(src, dst)


def _nodes(columns: Sequence[PointColumns], ends: FormEnds) -> tuple[Ints, Ints]:
    """Each sighting's flow (a number per point, protocol and unordered pair of endpoints:
    a flow key), numbered on arrays, and its protocol. Where each form holds one protocol
    (the rule), a form's flow is worked out once for all its sightings."""
    parts: list[tuple[Ints, Ints, Ints, Ints]] = []
    per_form = True
    base = np.cumsum([0, *(len(c.forms) for c in columns)])
    for p, c in enumerate(columns):
        assert c.proto is not None
        src, dst = ends.src[base[p]:base[p + 1]], ends.dst[base[p]:base[p + 1]]
        proto_of = np.zeros(len(c.forms), np.int64)
        proto_of[c.form] = c.proto
        per_form = per_form and np.array_equal(proto_of[c.form], c.proto)
        parts.append((np.full(len(c.forms), p, np.int64), proto_of, np.minimum(src, dst),
                      np.maximum(src, dst)))
    proto = np.concatenate([c.proto for c in columns if c.proto is not None])
    if per_form:
        flow = groups(*(np.concatenate([x[j] for x in parts]) for j in range(4)))
        return np.concatenate([flow[base[p] + c.form] for p, c in enumerate(columns)]), proto
    point = np.concatenate([np.full(len(c.form), p, np.int64) for p, c in enumerate(columns)])
    low, high = (np.concatenate([x[j][c.form] for x, c in zip(parts, columns, strict=True)])
                 for j in (2, 3))
    return groups(point, proto, low, high), proto

