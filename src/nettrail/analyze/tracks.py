"""Packets followed across points (tracks) and connections followed across NAT (conversations).

A *track* is one packet's sightings joined by matches, in corrected time: where it went. A
*conversation* is one connection as every point saw it: the flows (one per point and address
form) that its tracks tie together. Detectors work on conversations; paths for reports are
built from tracks.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from itertools import pairwise
from operator import attrgetter
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from nettrail.analyze.anchors import Links
from nettrail.analyze.columns import sort_order
from nettrail.analyze.correlate import Form, Match, Sighting, flow_key
from nettrail.analyze.describe import describe, tcp_line
from nettrail.model.analysis import Hop
from nettrail.model.arrays import Ints
from nettrail.model.cache import Memo
from nettrail.model.finding import Evidence
from nettrail.model.flow import Endpoint, FlowKey
from nettrail.model.packet import ACK, SYN, PacketRecord, TCPHeader
from nettrail.model.setters import field_setters

_ROUTES: dict[tuple[str, ...], tuple[str, ...]] = {}
_FIRST_NS = attrgetter("first_ns")
_LAST_NS = attrgetter("last_ns")
_POINT = attrgetter("point")


def _time_point(s: Sighting) -> tuple[int, str]:
    return (s.first_ns - s.offset, s.point)


TTL_WINDOW_NS = 2_000_000
"""How close in corrected time two points' sightings of one packet must be for their TTLs to
order them: within it, a late stamp or a clock error can put a point out of order; beyond
it, the times are trusted (a device that rewrites TTLs does not reorder distant points)."""


def ttl_orders(a: Sighting, b: Sighting) -> bool:
    """Whether the TTLs the packet arrived with at ``a`` and ``b`` tell which point it
    reached first (both known and not equal): two points that saw it at the same time are
    then not tied (``by_ttl`` put the higher first)."""
    ta, tb = a.arrival_ttl(), b.arrival_ttl()
    return ta is not None and tb is not None and ta != tb


def _near(a: Sighting, b: Sighting) -> bool:
    """Whether ``b``, after ``a``, is within ``TTL_WINDOW_NS`` of it at another point."""
    return a.point != b.point and (b.first_ns - b.offset) - (a.first_ns - a.offset) \
        <= TTL_WINDOW_NS


def by_ttl(sightings: tuple[Sighting, ...], points: tuple[str, ...],
           ) -> tuple[tuple[Sighting, ...], tuple[str, ...]]:
    """Sightings in corrected-time order and their points, with two neighbours at different
    points turned where they are near (``_near``) and the later one's arrival TTL is
    higher: a TTL only falls along a path (one per routing hop), whatever the clocks say.
    The same tuples when nothing turns."""
    if len(points) < 2 or not any(map(_near, sightings, sightings[1:])):
        return sightings, points
    out = [(s, s.arrival_ttl()) for s in sightings]
    turned, changed = True, False
    while turned:
        turned = False
        for i in range(len(out) - 1):
            (a, ta), (b, tb) = out[i], out[i + 1]
            if ta is not None and tb is not None and tb > ta and _near(a, b):
                out[i], out[i + 1] = out[i + 1], out[i]
                turned = changed = True
    if not changed:
        return sightings, points
    turned_out = tuple(s for s, _ in out)
    return turned_out, tuple(dict.fromkeys(s.point for s in turned_out))


class Track:
    """One packet followed across points: its sightings in corrected-time order.

    ``t`` is the corrected time of the first sighting; ``points`` the points that saw the
    packet, in the order it reached them (both fixed once the clocks are known).
    ``ordered``: the sightings come sorted by corrected time, then point name (stably).
    """

    __slots__ = ("confidence", "connection", "direction", "first", "id", "points", "sightings",
                 "t")

    def __init__(self, sightings: Sequence[Sighting], confidence: float,
                 ordered: bool = False) -> None:
        self.sightings: tuple[Sighting, ...]
        points: tuple[str, ...]
        if ordered and len(sightings) > 1:  # already in corrected-time, then point, order
            self.sightings = tuple(sightings)
            points = tuple(dict.fromkeys(s.point for s in self.sightings))
        elif len(sightings) == 2:
            a, b = sightings
            ta, tb = a.first_ns - a.offset, b.first_ns - b.offset
            if tb < ta or (tb == ta and b.point < a.point):
                a, b = b, a
            self.sightings = (a, b)
            points = (a.point,) if a.point == b.point else (a.point, b.point)
        elif len(sightings) > 1:
            self.sightings = tuple(sorted(sightings, key=_time_point))
            points = tuple(dict.fromkeys(s.point for s in self.sightings))
        else:
            self.sightings = (sightings[0],)
            points = (sightings[0].point,)
        self.sightings, points = by_ttl(self.sightings, points)
        # one shared tuple per route: millions of tracks take a handful of routes
        self.points: tuple[str, ...] = _ROUTES.setdefault(points, points)
        self.first = self.sightings[0]
        self.t = self.first.first_ns - self.first.offset
        self.confidence = confidence
        self.direction = ""
        self.id = 0
        self.connection: FlowKey | None = None

    @property
    def flags(self) -> int:
        """TCP flag bits (0 for other protocols)."""
        return self.first.flags

    @property
    def plen(self) -> int:
        """Payload length."""
        return self.first.plen

    def at(self, point: str) -> Sighting | None:
        """This packet's sighting at ``point``, if that point saw it."""
        for s in self.sightings:
            if s.point == point:
                return s
        return None


def build_tracks(sightings: Mapping[str, Sequence[Sighting]], matches: Iterable[Match],
                 offsets: Mapping[str, float]) -> list[Track]:
    """Tracks from matched sightings (clock-corrected), every unmatched sighting its own track.

    Matches are joined transitively (union-find over sighting indexes); a track's confidence is
    that of its weakest match.
    """
    items = _offset_items(sightings, offsets)
    parent = list(range(len(items)))
    for s, i in zip(items, parent, strict=True):
        s.idx = i  # shares the int objects of ``parent``
    conf = [1.0] * len(items)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for m in matches:
        ra, rb = find(m.a.idx), find(m.b.idx)
        conf[rb] = min(conf[ra], conf[rb], m.confidence)
        parent[ra] = rb
    groups: dict[int, list[Sighting]] = {}
    for s in items:
        root = find(s.idx)
        group = groups.get(root)
        if group is None:
            groups[root] = [s]
        else:
            group.append(s)
    for s in items:
        s.idx = 0  # the index served its purpose: drop the int objects
    del items
    tracks = []
    while groups:  # each group freed as its track is made (then back to first-seen order)
        root, group = groups.popitem()
        tracks.append(Track(group, conf[root]))
    tracks.reverse()
    tracks.sort(key=_track_order)
    for i, track in enumerate(tracks, 1):
        track.id = i
    return tracks


def linked_tracks(sightings: Mapping[str, Sequence[Sighting]], links: Links,
                  offsets: Mapping[str, float]) -> list[Track]:
    """``build_tracks`` of matches given as columns (sightings numbered point after point).

    The tracks are the connected sightings, found by spreading the smallest number along the
    links until it settles, so each group is named by its first member: groups in the order
    of their first member, members in number order, a group's confidence the smallest of
    its links' (1.0 alone), as ``build_tracks`` makes them."""
    return linked_tracks_firsts(sightings, links, offsets)[0]


class TrackArrays(NamedTuple):
    """Tracks of sightings numbered point after point, as arrays, in the tracks' order:
    track ``i`` (numbered ``i + 1``) is the sightings ``members[start[i]:end[i]]`` (in the
    order ``Track`` sorts them), of confidence ``confidence[i]``; ``head[i]`` its first."""

    members: Ints
    start: Ints
    end: Ints
    confidence: npt.NDArray[np.float64]
    head: Ints


def track_arrays(names: Sequence[str], sizes: Sequence[int], corrected: Ints,
                 links: Links) -> TrackArrays:
    """The tracks of ``links`` over the sightings of points ``names`` (``sizes`` of each,
    their first copies' ``corrected`` times): the connected sightings, found by spreading
    the smallest number along the links until it settles, so each group is named by its
    first member: groups in the order of their first member, members in number order, a
    group's confidence the smallest of its links' (1.0 alone), as ``build_tracks`` makes
    them."""
    if not len(corrected):
        empty = np.zeros(0, np.int64)
        return TrackArrays(empty, empty, empty, np.zeros(0, np.float64), empty)
    label = _components(len(corrected), links.a, links.b)
    conf = np.ones(len(corrected), np.float64)
    np.minimum.at(conf, label[links.a], links.confidence)
    # each group's members in the order ``Track`` sorts them: corrected time, then point
    # name, then number (lexsort is stable); the groups as before
    rank = {p: i for i, p in enumerate(sorted(names))}
    point_rank = np.repeat(np.array([rank[p] for p in names], np.int64), sizes)
    within = sort_order(label, corrected, point_rank)
    grouped = label[within]
    firsts = np.flatnonzero(np.r_[True, grouped[1:] != grouped[:-1]])
    ends = np.r_[firsts[1:], len(within)]
    head = within[firsts]  # each track's first sighting
    # in time order, then by the first sighting's point (``_track_order``; both stable)
    ranked = sort_order(corrected[head], point_rank[head])
    # a group's label is its smallest member, where its confidence was gathered
    return TrackArrays(within, firsts[ranked], ends[ranked], conf[grouped[firsts]][ranked],
                       head[ranked])


def linked_tracks_firsts(sightings: Mapping[str, Sequence[Sighting]], links: Links,
                         offsets: Mapping[str, float]) -> tuple[list[Track], Ints]:
    """``linked_tracks``, and the number of each track's first sighting."""
    items = _offset_items(sightings, offsets)
    if not items:
        return [], np.zeros(0, np.int64)
    sizes = [len(v) for v in sightings.values()]
    corrected = np.fromiter(map(_FIRST_NS, items), np.int64, len(items)) - np.repeat(
        np.array([v[0].offset if v else 0 for v in sightings.values()], np.int64), sizes)
    got = track_arrays(list(sightings), sizes, corrected, links)
    members = [items[i] for i in got.members.tolist()]
    points = list(map(_POINT, members))
    for s in items:
        s.idx = 0
    tracks = [linked_track(tuple(members[start:end]), tuple(dict.fromkeys(points[start:end])), c,
                      i)
              for i, (start, end, c) in enumerate(zip(got.start.tolist(), got.end.tolist(),
                                                      got.confidence.tolist(), strict=True),
                                                  1)]
    return tracks, got.head


def linked_track(sightings: tuple[Sighting, ...], points: tuple[str, ...], confidence: float,
            number: int) -> Track:
    """``Track(sightings, confidence, ordered=True)`` numbered ``number``, its route
    (``points``) given: its slots filled directly."""
    track: Track = _NEW(Track)
    sightings, points = by_ttl(sightings, points)
    track.sightings = sightings
    track.points = _ROUTES.setdefault(points, points)
    first = track.first = sightings[0]
    track.t = first.first_ns - first.offset
    track.confidence = confidence
    track.direction = ""
    track.id = number
    track.connection = None
    return track


def _components(n: int, a: npt.NDArray[np.int64], b: npt.NDArray[np.int64],
                ) -> npt.NDArray[np.int64]:
    """Each of ``n`` nodes' smallest connected node, over the edges ``a[k]``-``b[k]``."""
    # 32-bit labels where they fit: the gathers below are random reads, half the bytes
    label = np.arange(n, dtype=np.int32 if n < 1 << 31 else np.int64)
    while True:
        low = np.minimum(label[a], label[b])
        np.minimum.at(label, a, low)
        np.minimum.at(label, b, low)
        while True:  # each node's label is a smaller node of its group: follow them down
            deeper = label[label]
            if np.array_equal(deeper, label):
                break
            label = deeper
        # done when every edge's two ends share a label: each label is then one group's,
        # and a node of that group no larger than any of its nodes, so its smallest
        if np.array_equal(label[a], label[b]):
            return label.astype(np.int64)


def _track_order(t: Track) -> tuple[int, str]:
    return (t.t, t.first.point)


class Conversation:
    """One connection followed across points, whatever NAT made of its addresses.

    ``key`` is the flow as its client saw it (the first SYN's first form); ``clients`` holds
    every form the client endpoint took (SNAT gives it several).
    """

    def __init__(self, tracks: list[Track]) -> None:
        self.tracks = sorted(tracks, key=lambda t: t.t)
        syn = next((t for t in self.tracks if t.flags & SYN and not t.flags & ACK), None)
        first = syn or self.tracks[0]
        src, dst = first.first.form
        self.proto = first.first.proto
        self.key = FlowKey.of(self.proto, src, dst)
        self.clients: set[Endpoint] = set()
        for t in self.tracks:
            flags = t.first.flags
            if not flags & SYN:
                continue
            side = 0 if not flags & ACK else 1
            for s in t.sightings:
                for f in s.forms:
                    self.clients.add(f[side])
        self.has_handshake = syn is not None
        for t in self.tracks:
            t.direction = self.direction_of(t.first.form)
            t.connection = self.key
        self._routes: dict[str, list[str]] = {}
        self._tied: dict[str, bool] = {}
        self._orders: dict[str, set[tuple[str, str]]] = {}
        self.rewrites: dict[tuple[object, ...], Any] = {}
        """``nat.track_translations``' memo for these tracks (by route and forms)."""

    def direction_of(self, form: Form) -> str:
        """``c2s`` (client to server) or ``s2c`` for a form of a packet of this connection."""
        return direction(self.clients, form)

    def route(self, direction: str) -> list[str]:
        """The points packets in ``direction`` pass, in order (from the most-travelled packet);
        failing that, the reverse of the other direction's route. A route ends where the other
        direction starts (replies are due back at the point the requests came from)."""
        if direction not in self._routes:
            best = self._own_route(direction)
            other = self._own_route("s2c" if direction == "c2s" else "c2s")
            if len(best) < 2 and len(other) > len(best):
                best = other[::-1]
            elif best and other and other[0] not in best:
                best = [*best, other[0]]
            self._routes[direction] = best
        return self._routes[direction]

    def route_tied(self, direction: str) -> bool:
        """True when two neighbours on the route of ``direction`` were reached at the same
        corrected time by every packet (of either direction) that reached both, with TTLs
        that do not tell them apart: the order of those points along the path is not known
        (the same capture given as two points, the two ends of a veth stamped in the same
        microsecond, times printed too coarsely), and nothing that reads the route may name
        one of them as nearer an end."""
        if direction not in self._tied:
            need = {(a, b) if a < b else (b, a) for a, b in pairwise(self.route(direction))}
            tied: set[tuple[str, str]] = set()
            for t in self.tracks:  # until every neighbour pair is told apart by a packet
                if len(t.points) < 2:
                    continue
                for a, b, told in _pair_orders(t):
                    pair = (a, b) if a < b else (b, a)
                    if pair in need:
                        if told:
                            need.discard(pair)
                        else:
                            tied.add(pair)
                if not need:
                    break
            self._tied[direction] = bool(tied & need)
        return self._tied[direction]

    def _told(self, direction: str) -> set[tuple[str, str]]:
        """The pairs of points (a, b) that a packet in ``direction`` reached a first and b
        after, told apart by corrected time or by TTL (``ttl_orders``)."""
        if direction not in self._orders:
            self._orders[direction] = {(a, b) for t in self.tracks if t.direction == direction
                                       for a, b, told in _pair_orders(t) if told}
        return self._orders[direction]

    def route_observed(self, direction: str) -> bool:
        """True when a packet in ``direction`` was itself seen at two or more points."""
        return len(self._own_route(direction)) >= 2

    def _own_route(self, direction: str) -> list[str]:
        best: tuple[str, ...] = ()
        chosen: Track | None = None
        for t in self.tracks:
            if t.direction == direction and len(t.points) > len(best):
                best, chosen = t.points, t
        out = list(best)
        if chosen is not None and len(out) > 1 and track_tied(chosen):
            told = self._told(direction)  # neighbours a tie left in name order: turned
            for _ in range(len(out)):  # where another packet tells the other order
                turned = False
                for i in range(len(out) - 1):
                    a, b = out[i], out[i + 1]
                    if (b, a) in told and (a, b) not in told:
                        out[i], out[i + 1] = b, a
                        turned = True
                if not turned:
                    break
        return out

    @property
    def server_point(self) -> str | None:
        """The deepest point on the client-to-server route: the one nearest the server."""
        route = self.route("c2s")
        return route[-1] if route else None


def _pair_orders(track: Track) -> Iterator[tuple[str, str, bool]]:
    """Each pair of the points a packet reached, (a, b) in the order of its first sightings
    there, and whether they are told apart: by corrected time or by TTL (``ttl_orders``)."""
    if len(track.points) < 2:
        return
    firsts: dict[str, Sighting] = {}
    for s in track.sightings:
        firsts.setdefault(s.point, s)
    seen = list(firsts.values())
    for i, a in enumerate(seen):
        for b in seen[i + 1:]:
            yield (a.point, b.point,
                   a.first_ns - a.offset != b.first_ns - b.offset or ttl_orders(a, b))


def track_tied(track: Track) -> bool:
    """True when two of the points a packet reached saw it first at the same corrected
    time, with TTLs that do not tell their order (``ttl_orders``)."""
    if len(track.points) < 2:
        return False
    times = {s.point: s.first_ns - s.offset for s in reversed(track.sightings)}  # firsts
    if len(set(times.values())) == len(times):
        return False  # no two points at the same time (the common case, at once)
    return any(not told for _a, _b, told in _pair_orders(track))


def direction(clients: set[Endpoint], form: Form) -> str:
    """``c2s`` (client to server) or ``s2c`` for a form of a packet of a connection whose
    client endpoint took the forms ``clients``: the side in them, failing that the side with
    the higher port."""
    if form[0] in clients:
        return "c2s"
    if form[1] in clients:
        return "s2c"
    return "c2s" if form[0].port > form[1].port else "s2c"


def build_conversations(tracks: Sequence[Track]) -> list[Conversation]:
    """Group tracks into connections: the forms a packet takes along its track are one flow."""
    by_form: dict[tuple[int, str, int], int] = {}  # (id of a form object, point, proto)
    by_key: dict[tuple[str, FlowKey], int] = {}
    keys: Memo[tuple[Form, int], FlowKey] = Memo(lambda key: flow_key(*key))
    parent: list[int] = []

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_node: list[int] = []
    for t in tracks:
        node0 = -1
        for s in t.sightings:
            point, proto = s.point, s.proto
            for f in (s.form,) if s.single else s.forms:
                node = by_form.get((id(f), point, proto))
                if node is None:
                    fk = keys[(f, proto)]
                    node = by_key.get((point, fk))
                    if node is None:
                        node = by_key[(point, fk)] = len(parent)
                        parent.append(node)
                    by_form[(id(f), point, proto)] = node
                if node0 < 0:
                    node0 = node
                else:
                    r0, r1 = find(node), find(node0)
                    if r0 != r1:
                        parent[r0] = r1
        first_node.append(node0)
    roots = [find(node0) for node0 in first_node]
    del by_form, by_key, keys, first_node
    groups: dict[int, list[Track]] = {}
    for t, root in zip(tracks, roots, strict=True):
        group = groups.get(root)
        if group is None:
            groups[root] = [t]
        else:
            group.append(t)
    del roots
    convs = []
    while groups:  # each group freed as its conversation is made (then back in order)
        convs.append(Conversation(groups.popitem()[1]))
    convs.reverse()
    convs.sort(key=_conv_order)
    return convs


def _conv_order(c: Conversation) -> int:
    return c.tracks[0].t


class PointSpan(NamedTuple):
    """When a point was capturing, in corrected time: from its first packet to the end of the
    whole capture set (a capture file has no end marker, and a quiet point sees nothing);
    ``seen_until``: its own last packet, until which it is known to have been capturing (a
    capture stopped early, or read up to a fault, ends there)."""

    first: int
    last: int
    seen_until: int

    def covers(self, t: int, margin: int = 0) -> bool:
        """True when the point was capturing from before ``t`` until ``margin`` after it."""
        return self.first <= t and self.last >= t + margin


def spans(sightings: Mapping[str, Sequence[Sighting]]) -> dict[str, PointSpan]:
    """Each point's capture span in corrected time."""
    # one clock offset per point (``build_tracks`` sets them point by point)
    firsts = {p: min(map(_FIRST_NS, items)) - items[0].offset
              for p, items in sightings.items() if items}
    if not firsts:
        return {}
    lasts = {p: max(map(_LAST_NS, items)) - items[0].offset
             for p, items in sightings.items() if items}
    end = max(lasts.values())
    return {p: PointSpan(first, end, lasts[p]) for p, first in firsts.items()}


def evidence(s: Sighting, note: str = "", copy: int = 0) -> Evidence:
    """Evidence for a finding: one copy of a sighting, located and in corrected time."""
    record = s.records[copy]
    return Evidence(point=s.point, file=record.file, frame=record.frame,
                    time_ns=s.corrected(record), text=describe(record), ifname=record.ifname,
                    note=note)


def hops(s: Sighting) -> list[Hop]:
    """Every copy of a sighting as a hop of a packet path."""
    point, offset = s.point, s.offset
    if s.single:  # the bulk: one copy
        record, in_form = s.record, s.form
        return [_hop(point, record.ifname, record.ts_ns - offset, record.file, record.frame,
                     _describe(record), in_form[0], in_form[1])]
    out = []
    for record, in_form in zip(s.records, s.copy_forms, strict=True):
        out.append(_hop(point, record.ifname, record.ts_ns - offset, record.file,
                        record.frame, _describe(record), in_form[0], in_form[1]))
    return out


_HOP_SET = field_setters(Hop)
_NEW = object.__new__


def _hop(point: str, ifname: str | None, time_ns: int, file: str, frame: int, text: str,
         src: Endpoint, dst: Endpoint) -> Hop:
    """``Hop(...)`` with its slots filled directly: the frozen dataclass's ``__init__`` goes
    through ``object.__setattr__`` once per field, and a report holds a hop per packet per
    point (the same object either way: no field has a default factory or a check)."""
    hop: Hop = _NEW(Hop)
    s_point, s_ifname, s_time, s_file, s_frame, s_text, s_src, s_dst = _HOP_SET
    s_point(hop, point)
    s_ifname(hop, ifname)
    s_time(hop, time_ns)
    s_file(hop, file)
    s_frame(hop, frame)
    s_text(hop, text)
    s_src(hop, src)
    s_dst(hop, dst)
    return hop


def _describe(record: PacketRecord) -> str:
    """``describe(record)``, plain TCP records (the bulk) straight from their fields."""
    h = record.headers
    l4 = h.l4
    ip = h.ip
    if record.inner is not None or h.arp is not None or type(l4) is not TCPHeader or ip is None:
        return describe(record)
    return tcp_line(ip.src, l4.sport, ip.dst, l4.dport, l4.flags, l4.seq, l4.ack, l4.window,
                    l4.payload_len)


def _offset_items(sightings: Mapping[str, Sequence[Sighting]],
                  offsets: Mapping[str, float]) -> list[Sighting]:
    """Every point's sightings, point after point, each given its point's clock offset."""
    items: list[Sighting] = []
    for point, point_items in sightings.items():
        off = round(offsets.get(point, 0.0))
        for s in point_items:
            s.offset = off
        items.extend(point_items)
    return items
