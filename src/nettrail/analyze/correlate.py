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

from collections import defaultdict, deque
from collections.abc import Iterable, Mapping, Sequence
from typing import NamedTuple

from nettrail.model.flow import Endpoint, FlowKey
from nettrail.model.packet import (
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    ICMPHeader,
    PacketRecord,
    TCPHeader,
    UDPHeader,
)

# Copies of one packet at one point are microseconds apart; a retransmission is >= 200 ms later.
COPY_WINDOW_NS = 5_000_000
WEAK_COPY_WINDOW_NS = 1_000_000
SAME_FORM_WINDOW_NS = 100_000
_CANDIDATES = 4
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
        self.offset = 0
        self.key = self._strong_key()

    @property
    def t(self) -> int:
        """First sighting time in the reference clock (after clock correction)."""
        return self.first_ns - self.offset

    @property
    def t_last(self) -> int:
        """Last copy's time in the reference clock."""
        return self.last_ns - self.offset

    def corrected(self, record: PacketRecord) -> int:
        """A copy's timestamp in the reference clock."""
        return record.ts_ns - self.offset

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


def _form(cache: dict[tuple[str, int, str, int], Form], src: str, sport: int, dst: str,
          dport: int) -> Form:
    """One shared (source, destination) pair per distinct address/port quadruple."""
    key = (src, sport, dst, dport)
    form = cache.get(key)
    if form is None:
        form = cache[key] = (Endpoint(src, sport), Endpoint(dst, dport))
    return form


def _fields(record: PacketRecord, cache: dict[tuple[str, int, str, int], Form] | None = None,
            ) -> tuple[Form, _Fields] | None:
    if cache is None:
        cache = {}
    inner = record.inner
    h = inner if inner is not None and inner.ip is not None else record.headers
    ip = h.ip
    if ip is None or ip.proto not in _MATCHED_PROTOS:
        return None
    l4 = h.l4
    if type(l4) is TCPHeader:
        rel = l4.seq_relative
        form = _form(cache, ip.src, l4.sport, ip.dst, l4.dport)
        fields = _Fields(PROTO_TCP, l4.flags, None if rel else l4.seq, None if rel else l4.ack,
                         l4.payload_len, ip.ip_id, ip.length, l4.options.ts_val,
                         rel and l4.seq is not None, l4.seq, l4.ack)
        return form, fields
    if isinstance(l4, UDPHeader):
        form = _form(cache, ip.src, l4.sport, ip.dst, l4.dport)
        return form, _Fields(ip.proto, 0, None, None, l4.payload_len, ip.ip_id, ip.length, None,
                             False, None, None)
    plen = 0
    if isinstance(l4, ICMPHeader):
        plen = l4.type * 256 + l4.code
    form = _form(cache, ip.src, 0, ip.dst, 0)
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
    within microseconds (a bridge or veth hop), not a second packet a little later. A new form
    keeps one endpoint and, as 1:1 NAT and masquerading do, the other endpoint's port: two
    clients' packets to one server at the same moment are two packets, not one SNATed.
    """
    last = s.copy_forms[-1]
    if form == last:
        return ts_ns - s.last_ns <= SAME_FORM_WINDOW_NS
    if form in s.forms:
        return False
    if form[0] == last[0]:
        return form[1].port == last[1].port
    return form[1] == last[1] and form[0].port == last[0].port


def fold_copies(records: Iterable[PacketRecord]) -> list[Sighting]:
    """The sightings of one point: records in time order, copies of one packet folded.

    Candidates are the last few sightings under the record's copy key, kept only while a copy
    of them could still come (a few milliseconds), so memory stays bounded by the traffic of
    that window.
    """
    ordered = sorted(records, key=lambda r: r.ts_ns)
    recent: dict[tuple[object, ...], list[Sighting]] = {}
    expiry: deque[tuple[int, tuple[object, ...]]] = deque()
    forms: dict[tuple[str, int, str, int], Form] = {}
    out: list[Sighting] = []
    for record in ordered:
        got = _fields(record, forms)
        if got is None:
            continue
        ts = record.ts_ns
        while expiry and ts - expiry[0][0] > COPY_WINDOW_NS:
            old = expiry.popleft()[1]
            held = recent.get(old)
            if held is not None and ts - held[-1].last_ns > COPY_WINDOW_NS:
                del recent[old]
        form, f = got
        window, keys = _copy_keys(form, f)
        found = _copy_of(recent, keys, record, form, window)
        if found is None:
            found = Sighting(record, form, f)
            out.append(found)
        else:
            found.add_copy(record, form)
        for key in keys:
            held = recent.setdefault(key, [])
            if not held or held[-1] is not found:
                held.append(found)
                if len(held) > _CANDIDATES:
                    del held[0]
            expiry.append((ts, key))
    return out


def _copy_of(recent: Mapping[tuple[object, ...], list[Sighting]], keys: list[tuple[object, ...]],
             record: PacketRecord, form: Form, window: int) -> Sighting | None:
    """The sighting ``record`` is a copy of, if any."""
    weak = window == WEAK_COPY_WINDOW_NS
    for key in keys:
        for s in reversed(recent.get(key, ())):
            if (record.ts_ns - s.last_ns <= window and _distinct_interface(s, record)
                    and (not weak or _weak_copy(s, form, record.ts_ns))):
                return s
    return None


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
        delta = (b.first_ns - a.first_ns) - offset_ba
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
        if len(xa) == 1 and len(xb) == 1 and (
                offset_ba is None or abs(xb[0].first_ns - xa[0].first_ns - offset_ba) <= tol):
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
                offset_ba is None or abs(xb[0].first_ns - xa[0].first_ns - offset_ba) <= tol):
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


class UnionFind:
    """Disjoint sets of hashable items (path compression, no ranks: sets here are small)."""

    def __init__(self) -> None:
        self.parent: dict[object, object] = {}

    def find(self, x: object) -> object:
        """The representative of ``x``'s set (``x`` itself when never joined)."""
        parent = self.parent
        root = x
        while parent.get(root, root) != root:
            root = parent[root]
        while parent.get(x, x) != root:
            parent[x], x = root, parent[x]
        return root

    def union(self, x: object, y: object) -> None:
        """Join the sets of ``x`` and ``y``."""
        rx, ry = self.find(x), self.find(y)
        if rx != ry:
            self.parent[rx] = ry
