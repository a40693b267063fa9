"""Packets followed across points (tracks) and connections followed across NAT (conversations).

A *track* is one packet's sightings joined by matches, in corrected time: where it went. A
*conversation* is one connection as every point saw it: the flows (one per point and address
form) that its tracks tie together. Detectors work on conversations; paths for reports are
built from tracks.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from nettrail.analyze.correlate import Form, Match, Sighting, UnionFind, flow_key
from nettrail.analyze.describe import describe
from nettrail.model.analysis import Hop
from nettrail.model.finding import Evidence
from nettrail.model.flow import Endpoint, FlowKey
from nettrail.model.packet import ACK, SYN


class Track:
    """One packet followed across points: its sightings in corrected-time order.

    ``t`` is the corrected time of the first sighting; ``points`` the points that saw the
    packet, in the order it reached them (both fixed once the clocks are known).
    """

    __slots__ = ("confidence", "direction", "first", "id", "points", "sightings", "t")

    def __init__(self, sightings: list[Sighting], confidence: float) -> None:
        if len(sightings) > 1:
            sightings = sorted(sightings, key=lambda s: (s.t, s.point))
        self.sightings = sightings
        self.first = sightings[0]
        self.t = self.first.t
        self.points: list[str] = []
        for s in sightings:
            if s.point not in self.points:
                self.points.append(s.point)
        self.confidence = confidence
        self.direction = ""
        self.id = 0

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
    items: list[Sighting] = []
    for point, point_items in sightings.items():
        off = round(offsets.get(point, 0.0))
        for s in point_items:
            s.offset = off
            items.append(s)
    index = {id(s): i for i, s in enumerate(items)}
    parent = list(range(len(items)))
    conf = [1.0] * len(items)

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for m in matches:
        ra, rb = find(index[id(m.a)]), find(index[id(m.b)])
        conf[rb] = min(conf[ra], conf[rb], m.confidence)
        parent[ra] = rb
    groups: dict[int, list[Sighting]] = defaultdict(list)
    for i, s in enumerate(items):
        groups[find(i)].append(s)
    tracks = [Track(group, conf[root]) for root, group in groups.items()]
    tracks.sort(key=lambda t: (t.t, t.first.point))
    for i, track in enumerate(tracks, 1):
        track.id = i
    return tracks


class Conversation:
    """One connection followed across points, whatever NAT made of its addresses.

    ``key`` is the flow as its client saw it (the first SYN's first form); ``clients`` holds
    every form the client endpoint took (SNAT gives it several).
    """

    def __init__(self, tracks: list[Track]) -> None:
        self.tracks = sorted(tracks, key=lambda t: t.t)
        syn = next((t for t in self.tracks if t.flags & SYN and not t.flags & ACK), None)
        first = syn or self.tracks[0]
        src, dst = first.first.forms[0]
        self.proto = first.first.proto
        self.key = FlowKey.of(self.proto, src, dst)
        self.clients: set[Endpoint] = set()
        for t in self.tracks:
            for s in t.sightings:
                for f in s.forms:
                    if t.flags & SYN and not t.flags & ACK:
                        self.clients.add(f[0])
                    elif t.flags & SYN:
                        self.clients.add(f[1])
        self.has_handshake = syn is not None
        for t in self.tracks:
            t.direction = self.direction_of(t.first.forms[0])
        self._routes: dict[str, list[str]] = {}

    def direction_of(self, form: Form) -> str:
        """``c2s`` (client to server) or ``s2c`` for a form of a packet of this connection."""
        if form[0] in self.clients:
            return "c2s"
        if form[1] in self.clients:
            return "s2c"
        return "c2s" if form[0].port > form[1].port else "s2c"

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

    def route_observed(self, direction: str) -> bool:
        """True when a packet in ``direction`` was itself seen at two or more points."""
        return len(self._own_route(direction)) >= 2

    def _own_route(self, direction: str) -> list[str]:
        best: list[str] = []
        for t in self.tracks:
            if t.direction == direction and len(t.points) > len(best):
                best = t.points
        return best

    @property
    def server_point(self) -> str | None:
        """The deepest point on the client-to-server route: the one nearest the server."""
        route = self.route("c2s")
        return route[-1] if route else None


def build_conversations(tracks: Sequence[Track]) -> list[Conversation]:
    """Group tracks into connections: the forms a packet takes along its track are one flow."""
    uf = UnionFind()
    first_node: dict[int, object] = {}
    for t in tracks:
        node0: object = None
        for s in t.sightings:
            for f in s.forms:
                node = (s.point, flow_key(f, s.proto))
                if node0 is None:
                    node0 = node
                else:
                    uf.union(node, node0)
        first_node[t.id] = node0
    groups: dict[object, list[Track]] = defaultdict(list)
    for t in tracks:
        groups[uf.find(first_node[t.id])].append(t)
    convs = [Conversation(g) for g in groups.values()]
    convs.sort(key=lambda c: c.tracks[0].t)
    return convs


class PointSpan(NamedTuple):
    """When a point was capturing, in corrected time: from its first packet to the end of the
    whole capture set (a capture file has no end marker, and a quiet point sees nothing)."""

    first: int
    last: int

    def covers(self, t: int, margin: int = 0) -> bool:
        """True when the point was capturing from before ``t`` until ``margin`` after it."""
        return self.first <= t and self.last >= t + margin


def spans(sightings: Mapping[str, Sequence[Sighting]]) -> dict[str, PointSpan]:
    """Each point's capture span in corrected time."""
    firsts = {p: min(s.t for s in items) for p, items in sightings.items() if items}
    if not firsts:
        return {}
    end = max(max(s.t_last for s in items) for items in sightings.values() if items)
    return {p: PointSpan(first, end) for p, first in firsts.items()}


def evidence(s: Sighting, note: str = "", copy: int = 0) -> Evidence:
    """Evidence for a finding: one copy of a sighting, located and in corrected time."""
    record = s.records[copy]
    return Evidence(point=s.point, file=record.file, frame=record.frame,
                    time_ns=s.corrected(record), text=describe(record), ifname=record.ifname,
                    note=note)


def hops(s: Sighting) -> list[Hop]:
    """Every copy of a sighting as a hop of a packet path."""
    out = []
    for record, in_form in zip(s.records, s.copy_forms, strict=True):
        out.append(Hop(point=s.point, ifname=record.ifname, time_ns=s.corrected(record),
                       file=record.file, frame=record.frame, text=describe(record),
                       src=in_form[0], dst=in_form[1]))
    return out
