"""The same packet across capture points: copies folded per point, then matched by invariants.

A *sighting* is one packet at one capture point: every copy of it that point saw (``-i any``
shows a routed or bridged packet once per interface it crosses, microseconds apart, possibly
already NATed). Sightings at two points are *matched* on what NAT leaves alone: TCP seq/ack,
flags and payload length (the strong key), the IP ID and TS value to break ties; and, for
tcpdump text without seq numbers, on flags, payload length and the untranslated endpoint (the
weak key), ordered by time once the clocks are known. Everything here is hash joins and sorted
merges: linear in the number of packets, apart from sorting.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from nettrail.analyze.describe import describe
from nettrail.model.analysis import Hop
from nettrail.model.finding import Evidence
from nettrail.model.flow import Endpoint, FlowKey
from nettrail.model.packet import (
    ACK,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    SYN,
    ICMPHeader,
    PacketRecord,
    TCPHeader,
    UDPHeader,
)

# Copies of one packet at one point are microseconds apart; a retransmission is >= 200 ms later.
COPY_WINDOW_NS = 5_000_000
WEAK_COPY_WINDOW_NS = 1_000_000
SAME_FORM_WINDOW_NS = 100_000
# How far apart (in corrected time) two sightings of one packet may be at two points.
MATCH_TOLERANCE_NS = 50_000_000

CONF_STRONG_CONFIRMED = 1.0
CONF_STRONG = 0.95
CONF_STRONG_TIMED = 0.85
CONF_WEAK = 0.7
CONF_WEAK_TIMED = 0.5

Form = tuple[Endpoint, Endpoint]
_MATCHED_PROTOS = frozenset({PROTO_ICMP, PROTO_TCP, PROTO_UDP, PROTO_ICMPV6})


class Sighting:
    """One packet at one capture point, with every copy of it seen on that point's interfaces.

    ``forms`` lists the distinct (source, destination) pairs of the copies in time order: more
    than one means the packet was translated inside this point.
    """

    __slots__ = (
        "ack",
        "copy_forms",
        "first_ns",
        "flags",
        "forms",
        "ip_id",
        "ip_len",
        "key",
        "last_ns",
        "offset",
        "plen",
        "point",
        "proto",
        "records",
        "seq",
        "ts_val",
    )

    def __init__(self, record: PacketRecord, form: Form, fields: _Fields) -> None:
        self.point = record.point
        self.records: list[PacketRecord] = [record]
        self.first_ns = record.ts_ns
        self.last_ns = record.ts_ns
        self.forms: list[Form] = [form]
        self.copy_forms: list[Form] = [form]
        self.proto, self.flags, self.seq, self.ack, self.plen, self.ip_id, self.ip_len = fields[:7]
        self.ts_val = fields.ts_val
        self.offset = 0.0
        self.key = self._strong_key()

    @property
    def t(self) -> int:
        """First sighting time in the reference clock (after clock correction)."""
        return int(self.first_ns - self.offset)

    @property
    def t_last(self) -> int:
        """Last copy's time in the reference clock."""
        return int(self.last_ns - self.offset)

    def corrected(self, record: PacketRecord) -> int:
        """A copy's timestamp in the reference clock."""
        return int(record.ts_ns - self.offset)

    @property
    def src(self) -> Endpoint:
        """Source endpoint of the first copy."""
        return self.forms[0][0]

    @property
    def dst(self) -> Endpoint:
        """Destination endpoint of the first copy."""
        return self.forms[0][1]

    @property
    def copies(self) -> int:
        """How many records (interfaces) this packet was seen as at its point."""
        return len(self.records)

    def add_copy(self, record: PacketRecord, form: Form) -> None:
        """Fold another copy of the same packet into this sighting."""
        self.records.append(record)
        self.copy_forms.append(form)
        self.last_ns = record.ts_ns
        if form not in self.forms:
            self.forms.append(form)

    def strong_key(self) -> tuple[object, ...] | None:
        """Key on fields NAT never changes, or None when the capture lacks them (text)."""
        return self.key

    def _strong_key(self) -> tuple[object, ...] | None:
        if self.proto == PROTO_TCP:
            if self.seq is None:
                return None
            return (PROTO_TCP, self.flags, self.seq, self.ack, self.plen)
        if self.ip_id is None:
            return None
        return (self.proto, self.ip_id, self.ip_len, self.plen)

    def __repr__(self) -> str:
        return f"Sighting({self.point}@{self.first_ns} {self.src}>{self.dst} f={self.flags})"


class _Fields(NamedTuple):
    proto: int
    flags: int
    seq: int | None
    ack: int | None
    plen: int
    ip_id: int | None
    ip_len: int | None
    ts_val: int | None
    relative: bool
    raw_seq: int | None
    raw_ack: int | None


class Match(NamedTuple):
    """Two sightings judged to be the same packet, with the confidence of that judgement."""

    a: Sighting
    b: Sighting
    confidence: float


def _fields(record: PacketRecord) -> tuple[Form, _Fields] | None:
    inner = record.inner
    h = inner if inner is not None and inner.ip is not None else record.headers
    ip = h.ip
    if ip is None or ip.proto not in _MATCHED_PROTOS:
        return None
    l4 = h.l4
    if type(l4) is TCPHeader:
        rel = l4.seq_relative
        form = (Endpoint(ip.src, l4.sport), Endpoint(ip.dst, l4.dport))
        fields = _Fields(PROTO_TCP, l4.flags, None if rel else l4.seq, None if rel else l4.ack,
                         l4.payload_len, ip.ip_id, ip.length, l4.options.ts_val,
                         rel and l4.seq is not None, l4.seq, l4.ack)
        return form, fields
    if isinstance(l4, UDPHeader):
        form = (Endpoint(ip.src, l4.sport), Endpoint(ip.dst, l4.dport))
        return form, _Fields(ip.proto, 0, None, None, l4.payload_len, ip.ip_id, ip.length, None,
                             False, None, None)
    plen = 0
    if isinstance(l4, ICMPHeader):
        plen = l4.type * 256 + l4.code
    form = (Endpoint(ip.src, 0), Endpoint(ip.dst, 0))
    return form, _Fields(ip.proto, 0, None, None, plen, ip.ip_id, ip.length, None, False,
                         None, None)


def _copy_keys(form: Form, f: _Fields) -> tuple[int, list[tuple[object, ...]]]:
    if f.proto == PROTO_TCP and (f.seq is not None or f.relative):
        return COPY_WINDOW_NS, [("s", f.flags, f.raw_seq, f.raw_ack, f.plen, f.ip_id)]
    if f.ip_id is not None:
        return COPY_WINDOW_NS, [("i", f.proto, f.ip_id, f.ip_len, f.flags, f.plen)]
    return WEAK_COPY_WINDOW_NS, [
        ("w", f.proto, f.flags, f.plen, f.raw_ack, 0, form[0]),
        ("w", f.proto, f.flags, f.plen, f.raw_ack, 1, form[1]),
    ]


def _distinct_interface(s: Sighting, record: PacketRecord) -> bool:
    """False when ``record`` repeats an interface and direction ``s`` already has."""
    if record.ifname is None:
        return True
    for r in s.records:
        if r.ifname == record.ifname and r.direction == record.direction:
            return False
    return True


def _weak_copy(s: Sighting, form: Form, ts_ns: int) -> bool:
    """Without seq numbers or IP ID, is this record another copy of ``s``?

    A packet's copies at one point go through its forms in order (before NAT, after NAT), so
    a form ``s`` already left behind starts a new packet; the same form again is a copy only
    within microseconds (a bridge or veth hop), not a second packet a little later.
    """
    if form == s.copy_forms[-1]:
        return ts_ns - s.last_ns <= SAME_FORM_WINDOW_NS
    return form not in s.forms


def fold_copies(records: Iterable[PacketRecord]) -> list[Sighting]:
    """The sightings of one point: records in time order, copies of one packet folded."""
    ordered = sorted(records, key=lambda r: r.ts_ns)
    recent: dict[tuple[object, ...], Sighting] = {}
    out: list[Sighting] = []
    for record in ordered:
        got = _fields(record)
        if got is None:
            continue
        form, f = got
        window, keys = _copy_keys(form, f)
        found: Sighting | None = None
        for key in keys:
            s = recent.get(key)
            if (s is not None and record.ts_ns - s.last_ns <= window
                    and _distinct_interface(s, record)
                    and (window != WEAK_COPY_WINDOW_NS or _weak_copy(s, form, record.ts_ns))):
                found = s
                break
        if found is None:
            found = Sighting(record, form, f)
            out.append(found)
        else:
            found.add_copy(record, form)
        for key in keys:
            recent[key] = found
    return out


def _weak_keys(s: Sighting) -> tuple[tuple[object, ...], tuple[object, ...]]:
    return ((s.proto, s.flags, s.plen, 0, s.src), (s.proto, s.flags, s.plen, 1, s.dst))


def _index(items: Iterable[Sighting], key_of: str) -> dict[tuple[object, ...], list[Sighting]]:
    index: dict[tuple[object, ...], list[Sighting]] = defaultdict(list)
    for s in items:
        if key_of == "strong":
            k = s.strong_key()
            if k is not None:
                index[k].append(s)
        else:
            src_key, dst_key = _weak_keys(s)
            index[src_key if key_of == "src" else dst_key].append(s)
    return index


def _timed(xa: Sequence[Sighting], xb: Sequence[Sighting], offset_ba: float, tol: float,
           confidence: float, used: set[int]) -> list[Match]:
    """Pair two time-ordered lists monotonically where corrected times agree within ``tol``."""
    out: list[Match] = []
    i = j = 0
    while i < len(xa) and j < len(xb):
        a, b = xa[i], xb[j]
        if id(a) in used:
            i += 1
            continue
        if id(b) in used:
            j += 1
            continue
        delta = (b.first_ns - offset_ba) - a.first_ns
        if abs(delta) <= tol:
            out.append(Match(a, b, confidence))
            used.add(id(a))
            used.add(id(b))
            i += 1
            j += 1
        elif delta < 0:
            j += 1
        else:
            i += 1
    return out


def _by_ip_id(xa: Sequence[Sighting], xb: Sequence[Sighting], used: set[int]) -> list[Match]:
    """Break a tie between retransmissions of one segment by IP ID, when both sides have it."""
    ids_b: dict[int, list[Sighting]] = defaultdict(list)
    for b in xb:
        if b.ip_id is not None:
            ids_b[b.ip_id].append(b)
    ids_a: dict[int, list[Sighting]] = defaultdict(list)
    for a in xa:
        if a.ip_id is not None:
            ids_a[a.ip_id].append(a)
    out = []
    for ip_id, la in ids_a.items():
        lb = ids_b.get(ip_id, [])
        if len(la) == 1 and len(lb) == 1:
            out.append(Match(la[0], lb[0], CONF_STRONG))
            used.add(id(la[0]))
            used.add(id(lb[0]))
    return out


def _confirmed(a: Sighting, b: Sighting) -> float:
    if (a.ip_id is not None and a.ip_id == b.ip_id) or (
            a.ts_val is not None and a.ts_val == b.ts_val):
        return CONF_STRONG_CONFIRMED
    return CONF_STRONG


def match_points(sa: Sequence[Sighting], sb: Sequence[Sighting],
                 offset_ba: float | None = None,
                 tol: float = MATCH_TOLERANCE_NS) -> list[Match]:
    """Matches between two points' sightings.

    Without ``offset_ba`` (point B's clock minus point A's, in ns) only unambiguous matches are
    made: the anchors the clock estimate is built from. With it, ambiguous candidates (a
    retransmitted segment, the many pure ACKs of tcpdump text) are paired in corrected time.
    """
    used: set[int] = set()
    out: list[Match] = []
    ia, ib = _index(sa, "strong"), _index(sb, "strong")
    deferred: list[tuple[list[Sighting], list[Sighting]]] = []
    for key, xa in ia.items():
        xb = ib.get(key)
        if not xb:
            continue
        if len(xa) == 1 and len(xb) == 1:
            out.append(Match(xa[0], xb[0], _confirmed(xa[0], xb[0])))
            used.add(id(xa[0]))
            used.add(id(xb[0]))
            continue
        out.extend(_by_ip_id(xa, xb, used))
        deferred.append((xa, xb))
    if offset_ba is not None:
        for xa, xb in deferred:
            out.extend(_timed(xa, xb, offset_ba, tol, CONF_STRONG_TIMED, used))
    out.extend(_weak_matches(sa, sb, offset_ba, tol, used))
    return out


def _weak_matches(sa: Sequence[Sighting], sb: Sequence[Sighting], offset_ba: float | None,
                  tol: float, used: set[int]) -> list[Match]:
    """Matches on flags, length and one untranslated endpoint, when a side lacks seq numbers.

    Two sightings that both carry seq numbers and did not match on them are different packets,
    so weak keys only pair a sighting without seq numbers with any other.
    """
    a_weak = [s for s in sa if id(s) not in used and s.strong_key() is None]
    a_strong = [s for s in sa if id(s) not in used and s.strong_key() is not None]
    b_weak = [s for s in sb if id(s) not in used and s.strong_key() is None]
    b_all = [s for s in sb if id(s) not in used]
    out: list[Match] = []
    for ra, rb in ((a_weak, b_all), (a_strong, b_weak)):
        if not ra or not rb:
            continue
        for role in ("src", "dst"):
            out.extend(_weak_role(ra, rb, role, offset_ba, tol, used))
    return out


def _weak_role(ra: Sequence[Sighting], rb: Sequence[Sighting], role: str,
               offset_ba: float | None, tol: float, used: set[int]) -> list[Match]:
    ia = _index((s for s in ra if id(s) not in used), role)
    ib = _index((s for s in rb if id(s) not in used), role)
    out: list[Match] = []
    deferred = []
    for key, xa in ia.items():
        xb = ib.get(key)
        if not xb:
            continue
        if len(xa) == 1 and len(xb) == 1 and (
                offset_ba is None or abs(xb[0].first_ns - offset_ba - xa[0].first_ns) <= tol):
            out.append(Match(xa[0], xb[0], CONF_WEAK))
            used.add(id(xa[0]))
            used.add(id(xb[0]))
        else:
            deferred.append((xa, xb))
    if offset_ba is not None:
        for xa, xb in deferred:
            out.extend(_timed(xa, xb, offset_ba, tol, CONF_WEAK_TIMED, used))
    return out


def flow_key(form: Form, proto: int) -> FlowKey:
    """The direction-normalised flow key of one form of a packet."""
    return FlowKey.of(proto, form[0], form[1])


class Track:
    """One packet followed across points: its sightings in corrected-time order."""

    __slots__ = ("confidence", "direction", "id", "sightings")

    def __init__(self, sightings: list[Sighting], confidence: float) -> None:
        self.sightings = sorted(sightings, key=lambda s: (s.t, s.point))
        self.confidence = confidence
        self.direction = ""
        self.id = 0

    @property
    def first(self) -> Sighting:
        """The earliest sighting (where the packet was first seen)."""
        return self.sightings[0]

    @property
    def t(self) -> int:
        """Corrected time of the first sighting."""
        return self.sightings[0].t

    @property
    def flags(self) -> int:
        """TCP flag bits (0 for other protocols)."""
        return self.sightings[0].flags

    @property
    def plen(self) -> int:
        """Payload length."""
        return self.sightings[0].plen

    @property
    def points(self) -> list[str]:
        """The points that saw this packet, in the order it reached them."""
        out: list[str] = []
        for s in self.sightings:
            if s.point not in out:
                out.append(s.point)
        return out

    def at(self, point: str) -> Sighting | None:
        """This packet's sighting at ``point``, if that point saw it."""
        for s in self.sightings:
            if s.point == point:
                return s
        return None

    def forms(self) -> list[tuple[str, Form]]:
        """(point, form) for every distinct form along the path, in order."""
        out: list[tuple[str, Form]] = []
        for s in self.sightings:
            for f in s.forms:
                if not out or out[-1] != (s.point, f):
                    out.append((s.point, f))
        return out


class UnionFind:
    """Disjoint sets of hashable items (path-halving find, no ranks: sets here are small)."""

    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, x: object) -> object:
        parent = self.parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, x: object, y: object) -> None:
        rx, ry = self.find(x), self.find(y)
        if rx != ry:
            self.parent[rx] = ry


def build_tracks(sightings: Mapping[str, Sequence[Sighting]], matches: Iterable[Match],
                 offsets: Mapping[str, float]) -> list[Track]:
    """Tracks from matched sightings (clock-corrected), every unmatched sighting its own track."""
    uf = UnionFind()
    confidence: dict[object, float] = {}
    for m in matches:
        ra, rb = uf.find(id(m.a)), uf.find(id(m.b))
        conf = min(confidence.get(ra, 1.0), confidence.get(rb, 1.0), m.confidence)
        uf.union(ra, rb)
        confidence[uf.find(ra)] = conf
    groups: dict[object, list[Sighting]] = defaultdict(list)
    for point, items in sightings.items():
        off = float(offsets.get(point, 0.0))
        for s in items:
            s.offset = off
            groups[uf.find(id(s)) if uf.parent else id(s)].append(s)
    tracks = [Track(group, confidence.get(root, 1.0)) for root, group in groups.items()]
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
        failing that, the reverse of the other direction's route."""
        if direction not in self._routes:
            best: list[str] = []
            for t in self.tracks:
                if t.direction == direction:
                    pts = t.points
                    if len(pts) > len(best):
                        best = pts
            if len(best) < 2:
                other = "s2c" if direction == "c2s" else "c2s"
                back = self._own_route(other)
                if len(back) > len(best):
                    best = back[::-1]
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


def record_form(record: PacketRecord) -> Form | None:
    """(source, destination) endpoints of a record's (inner) IP packet, or None."""
    got = _fields(record)
    return got[0] if got is not None else None

