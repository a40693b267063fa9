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

import numpy as np
import numpy.typing as npt

from nettrail.analyze.anchors import Links
from nettrail.analyze.columns import groups
from nettrail.analyze.tracks import Conversation, Track, _components, _conv_order
from nettrail.model.flow import Endpoint
from nettrail.model.packet import PROTO_ICMP, PROTO_ICMPV6

Ints = npt.NDArray[np.int64]


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


def conversation_members(firsts: Ints, links: Links) -> list[Ints] | None:
    """The tracks (numbers from 0, in order) of each conversation ``linked_conversations``
    makes, in the order it makes them; None when it makes none."""
    columns = links.columns
    if not columns or not all(bool(c.single.all()) for c in columns):
        return None
    # a node per point, protocol and unordered pair of endpoints (a flow key), numbered
    # on arrays: the endpoints (shared by every point's forms) numbered first
    ends: dict[Endpoint, int] = {}
    number = ends.setdefault
    parts: list[tuple[Ints, Ints, Ints, Ints]] = []
    for p, c in enumerate(columns):
        assert c.proto is not None
        src = np.array([number(f[0], len(ends)) for f in c.forms], np.int64)[c.form]
        dst = np.array([number(f[1], len(ends)) for f in c.forms], np.int64)[c.form]
        parts.append((np.full(len(c.form), p, np.int64), c.proto, np.minimum(src, dst),
                      np.maximum(src, dst)))
    point, proto, low, high = (np.concatenate([x[j] for x in parts]) for j in range(4))
    node = groups(point, proto, low, high)
    label = _components(int(node.max()) + 1 if len(node) else 0, node[links.a],
                        node[links.b])
    head = label[node[firsts]]
    kept = np.flatnonzero((proto[firsts] != PROTO_ICMP) & (proto[firsts] != PROTO_ICMPV6))
    order = kept[np.argsort(head[kept], kind="stable")]  # each one's tracks in their order
    ranked = head[order]
    members = np.split(order, np.flatnonzero(ranked[1:] != ranked[:-1]) + 1)
    members.sort(key=_first)  # in the order of their first track, as ``build_conversations``
    return [m for m in members if len(m)]


def _first(members: Ints) -> int:
    return int(members[0]) if len(members) else -1
