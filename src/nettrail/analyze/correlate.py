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

from nettrail.analyze.flows import COPY_WINDOW_NS, same_ts
from nettrail.analyze.in_order import in_order, sent_again
from nettrail.model.flow import Endpoint, FlowKey
from nettrail.model.packet import (
    ACK,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    ICMPHeader,
    PacketRecord,
    TCPHeader,
    UDPHeader,
)

# Copies of one packet at one point are microseconds apart; a retransmission is >= 200 ms later
# (COPY_WINDOW_NS: the one window of flows, where a point's copies are first told apart).
WEAK_COPY_WINDOW_NS = 1_000_000
SAME_FORM_WINDOW_NS = 100_000
_CANDIDATES = 4
# How far apart (in corrected time) two sightings of one packet may be at two points.
MATCH_TOLERANCE_NS = 50_000_000
UNKNOWN_IFNAME = "?"

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
    than one means the packet was translated inside this point; ``copy_forms`` is the form of
    each copy. Most packets are seen once: ``record`` and ``form`` hold the first copy, and the
    lists are only built for packets seen several times (a sighting costs little memory).
    """

    __slots__ = (
        "_more",
        "ack",
        "first_ns",
        "flags",
        "form",
        "idx",
        "ip_id",
        "ip_len",
        "last_ns",
        "offset",
        "plen",
        "point",
        "proto",
        "record",
        "seq",
        "ts_val",
    )
    idx: int  # position among all points' sightings, set by ``build_tracks``
    point: str
    record: PacketRecord
    form: Form
    # None, or (records, forms, copy_forms) once a second copy is folded in
    _more: tuple[list[PacketRecord], list[Form], list[Form]] | None
    first_ns: int
    last_ns: int
    proto: int
    flags: int
    seq: int | None
    ack: int | None
    plen: int
    ip_id: int | None
    ip_len: int | None
    ts_val: int | None
    offset: int

    def __init__(self, record: PacketRecord, form: Form, proto: int, flags: int,
                 seq: int | None, ack: int | None, plen: int, ip_id: int | None,
                 ip_len: int | None, ts_val: int | None) -> None:
        self.record = record
        fill_sighting(self, record.point, form, record.ts_ns, proto, flags, seq, ack, plen,
                      ip_id, ip_len, ts_val)

    @property
    def records(self) -> list[PacketRecord]:
        """Every copy's record, in time order."""
        more = self._more
        return [self.record] if more is None else more[0]

    @property
    def forms(self) -> list[Form]:
        """The distinct forms of the copies, in time order."""
        more = self._more
        return [self.form] if more is None else more[1]

    @property
    def copy_forms(self) -> list[Form]:
        """The form of each copy, in time order."""
        more = self._more
        return [self.form] if more is None else more[2]

    @property
    def single(self) -> bool:
        """True when the packet was seen once at this point (one copy, one form)."""
        return self._more is None

    def arrival_ttl(self) -> int | None:
        """The TTL (hop limit) the packet had when it reached this point: its highest over
        the copies here (a point that routes it on sees it again one lower); None when the
        capture does not give it (text without ``-v``)."""
        if self._more is None:  # seen once: its record's (the common case)
            return _ttl_of(self.record)
        ttls = [t for t in map(_ttl_of, self.records) if t is not None]
        return max(ttls) if ttls else None

    @property
    def key(self) -> tuple[object, ...] | None:
        """Key on fields NAT never changes, or None when the capture lacks them (text). The
        ack of a segment without the ACK flag means nothing (a pcap has the field, often 0;
        tcpdump prints none): it is left out."""
        if self.proto == PROTO_TCP:
            seq, flags = self.seq, self.flags
            return None if seq is None else (PROTO_TCP, flags, seq,
                                             self.ack if flags & ACK else None, self.plen)
        ip_id = self.ip_id
        return None if ip_id is None else (self.proto, ip_id, self.ip_len, self.plen)

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
        return self.form[0]

    @property
    def dst(self) -> Endpoint:
        """Destination endpoint of the first copy."""
        return self.form[1]

    @property
    def copies(self) -> int:
        """How many records (interfaces) this packet was seen as at its point."""
        more = self._more
        return 1 if more is None else len(more[0])

    def add_copy(self, record: PacketRecord, form: Form) -> None:
        """Fold another copy of the same packet into this sighting."""
        more = self._more
        if more is None:
            more = self._more = ([self.record], [self.form], [self.form])
        records, forms, copy_forms = more
        records.append(record)
        copy_forms.append(form)
        self.last_ns = record.ts_ns
        if form not in forms:
            forms.append(form)

    def strong_key(self) -> tuple[object, ...] | None:
        """Key on fields NAT never changes, or None when the capture lacks them (text)."""
        return self.key

    def __repr__(self) -> str:
        return f"Sighting({self.point}@{self.first_ns} {self.src}>{self.dst} f={self.flags})"


class Match(NamedTuple):
    """Two sightings judged to be the same packet, with the confidence of that judgement."""

    a: Sighting
    b: Sighting
    confidence: float



def _ttl_of(r: PacketRecord) -> int | None:
    """A record's TTL (hop limit), of the inner packet when it was carried in a tunnel."""
    h = r.inner if r.inner is not None and r.inner.ip is not None else r.headers
    return h.ip.ttl if h.ip is not None else None


def fill_sighting(s: Sighting, point: str, form: Form, ts: int, proto: int, flags: int,
                  seq: int | None, ack: int | None, plen: int, ip_id: int | None,
                  ip_len: int | None, ts_val: int | None) -> None:
    """Set the fields of a new sighting, seen once at ``point`` at ``ts`` in ``form`` (its
    record apart: a sighting built from a record, or from a table row, sets its own)."""
    s.point = point
    s.form = form
    s._more = None
    s.first_ns = s.last_ns = ts
    s.proto = proto
    s.flags = flags
    s.seq = seq
    s.ack = ack
    s.plen = plen
    s.ip_id = ip_id
    s.ip_len = ip_len
    s.ts_val = ts_val
    s.offset = 0

def _form(cache: dict[tuple[str, int, str, int], Form], src: str, sport: int, dst: str,
          dport: int) -> Form:
    """One shared (source, destination) pair per distinct address/port quadruple."""
    key = (src, sport, dst, dport)
    form = cache.get(key)
    if form is None:
        form = cache[key] = (Endpoint(src, sport), Endpoint(dst, dport))
    return form


_Copyable = tuple[Sighting, bool, int | None, int | None]
"""A record's new sighting, and what its copy keys need besides: whether its TCP seq/ack are
relative (the sighting keeps none then), and the seq and ack as the record has them."""


def _new_sighting(record: PacketRecord,
                  cache: dict[tuple[str, int, str, int], Form] | None = None,
                  ) -> _Copyable | None:
    """The sighting ``record`` starts when it is no copy of another (see ``_Copyable``)."""
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
        s = Sighting(record, form, PROTO_TCP, l4.flags, None if rel else l4.seq,
                     None if rel else l4.ack, l4.payload_len, ip.ip_id, ip.length,
                     l4.options.ts_val)
        return s, rel and l4.seq is not None, l4.seq, l4.ack
    # without TCP sequence numbers an IP ID of 0 names no packet: senders of atomic datagrams
    # (DF set, e.g. Open vSwitch's userspace tunnels) may put 0 in every one of them
    ip_id = ip.ip_id or None
    if isinstance(l4, UDPHeader):
        form = _form(cache, ip.src, l4.sport, ip.dst, l4.dport)
        return (Sighting(record, form, ip.proto, 0, None, None, l4.payload_len, ip_id,
                         ip.length, None), False, None, None)
    plen = 0
    if isinstance(l4, ICMPHeader):
        plen = l4.type * 256 + l4.code
    form = _form(cache, ip.src, 0, ip.dst, 0)
    return (Sighting(record, form, ip.proto, 0, None, None, plen, ip_id, ip.length, None),
            False, None, None)


def _copy_keys(s: Sighting, relative: bool, raw_seq: int | None, raw_ack: int | None,
               ) -> tuple[int, list[tuple[object, ...]]]:
    if s.proto == PROTO_TCP and (s.seq is not None or relative):
        return COPY_WINDOW_NS, [("s", s.flags, raw_seq, raw_ack, s.plen, s.ip_id)]
    if s.ip_id is not None:
        return COPY_WINDOW_NS, [("i", s.proto, s.ip_id, s.ip_len, s.flags, s.plen)]
    form = s.form
    return WEAK_COPY_WINDOW_NS, [
        ("w", s.proto, s.flags, s.plen, raw_ack, 0, form[0]),
        ("w", s.proto, s.flags, s.plen, raw_ack, 1, form[1]),
    ]


def _distinct_interface(s: Sighting, record: PacketRecord) -> bool:
    """False when ``record`` repeats an interface and direction ``s`` already has (``?`` is
    how tcpdump prints an interface it cannot name: unknown, like none)."""
    if record.ifname is None or record.ifname == UNKNOWN_IFNAME:
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


def _ts_of(record: PacketRecord) -> int:
    return record.ts_ns


def _new_form(endpoints: dict[tuple[str, int], Endpoint], src: str, sport: int, dst: str,
              dport: int) -> Form:
    """A new (source, destination) pair, its endpoints shared with every other form's."""
    a = endpoints.get((src, sport))
    if a is None:
        a = endpoints[(src, sport)] = tuple.__new__(Endpoint, (src, sport))
    b = endpoints.get((dst, dport))
    if b is None:
        b = endpoints[(dst, dport)] = tuple.__new__(Endpoint, (dst, dport))
    return (a, b)


def fold_copies(records: Iterable[PacketRecord],
                endpoints: dict[tuple[str, int], Endpoint] | None = None,
                copy_free: bool = False,
                forms: dict[tuple[str, int, str, int], Form] | None = None) -> list[Sighting]:
    """The sightings of one point: records in time order, copies of one packet folded.

    Candidates are the last few sightings under the record's copy key. Keys whose sightings
    are all older than the copy window are swept out every few milliseconds of capture (they
    can never match again), so memory stays bounded by the traffic of that window. Plain TCP
    records with seq numbers or an IP ID (the bulk of any capture) take an inline path;
    everything else goes through ``_new_sighting``. ``endpoints`` shares Endpoint objects
    between calls (points). ``copy_free``: the caller knows that no plain TCP record with seq
    numbers is a copy of another (``columns.copy_free``), so those skip the candidates.
    ``forms``: the point's forms by address/port quadruple, when the caller makes some of them
    too. A record whose time is not usable (text without times) is no copy of another, nor a
    candidate for one; neither is a TCP record whose timestamp (TS val) differs from the
    candidate's, where both print one.
    """
    if endpoints is None:
        endpoints = {}
    ordered = sorted(records, key=_ts_of)
    recent: dict[tuple[object, ...], list[Sighting]] = {}
    if forms is None:
        forms = {}
    out: list[Sighting] = []
    tcp_header = TCPHeader
    sweep_at = ordered[0].ts_ns + COPY_WINDOW_NS if ordered else 0
    for record in ordered:
        ts = record.ts_ns
        if ts > sweep_at:
            recent = {k: v for k, v in recent.items() if ts - v[-1].last_ns <= COPY_WINDOW_NS}
            sweep_at = ts + COPY_WINDOW_NS
        h = record.headers
        ip = h.ip
        l4 = h.l4
        if (record.inner is None and ip is not None and type(l4) is tcp_header
                and ip.proto == PROTO_TCP and (l4.seq is not None or ip.ip_id is not None)):
            key4 = (ip.src, l4.sport, ip.dst, l4.dport)
            form = forms.get(key4)
            if form is None:
                form = forms[key4] = _new_form(endpoints, ip.src, l4.sport, ip.dst, l4.dport)
            raw_seq, flags, plen, ip_id = l4.seq, l4.flags, l4.payload_len, ip.ip_id
            if copy_free and raw_seq is not None:
                rel = l4.seq_relative
                out.append(Sighting(record, form, PROTO_TCP, flags, None if rel else raw_seq,
                                    None if rel else l4.ack, plen, ip_id, ip.length,
                                    l4.options.ts_val))
                continue
            key: tuple[object, ...] = (("s", flags, raw_seq, l4.ack, plen, ip_id)
                                       if raw_seq is not None
                                       else ("i", PROTO_TCP, ip_id, ip.length, flags, plen))
            held = recent.get(key)
            found = None
            timed = record.time_ok  # untimed: no copy of any other, nor held as a candidate
            if held is not None and timed:
                tsv = l4.options.ts_val
                for cand in reversed(held):
                    if (ts - cand.last_ns <= COPY_WINDOW_NS and _distinct_interface(cand, record)
                            and same_ts(tsv, cand.ts_val)):
                        found = cand
                        break
            if found is None:
                rel = l4.seq_relative
                found = Sighting(record, form, PROTO_TCP, flags, None if rel else raw_seq,
                                 None if rel else l4.ack, plen, ip_id, ip.length,
                                 l4.options.ts_val)
                out.append(found)
            else:
                found.add_copy(record, form)
            if not timed:
                continue
            if held is None:  # ``_hold``, inline: the bulk of records come this way
                recent[key] = [found]
            elif held[-1] is not found:
                held.append(found)
                if len(held) > _CANDIDATES:
                    del held[0]
            continue
        if (record.inner is None and ip is not None and type(l4) is tcp_header
                and ip.proto == PROTO_TCP):  # TCP without seq numbers or IP ID (text)
            key4 = (ip.src, l4.sport, ip.dst, l4.dport)
            form = forms.get(key4)
            if form is None:
                form = forms[key4] = _new_form(endpoints, ip.src, l4.sport, ip.dst, l4.dport)
            flags, plen, ack = l4.flags, l4.payload_len, l4.ack
            keys: list[tuple[object, ...]] = [("w", PROTO_TCP, flags, plen, ack, 0, form[0]),
                                              ("w", PROTO_TCP, flags, plen, ack, 1, form[1])]
            found = _copy_of(recent, keys, record, form, WEAK_COPY_WINDOW_NS)
            if found is None:
                found = Sighting(record, form, PROTO_TCP, flags, None,
                                 None if l4.seq_relative else ack, plen, None, ip.length,
                                 l4.options.ts_val)
                out.append(found)
            else:
                found.add_copy(record, form)
        else:
            got = _new_sighting(record, forms)
            if got is None:
                continue
            new = got[0]
            window, keys = _copy_keys(*got)
            found = _copy_of(recent, keys, record, new.form, window)
            if found is None:
                found = new
                out.append(found)
            else:
                found.add_copy(record, new.form)
        if not record.time_ok:
            continue
        for key in keys:
            _hold(recent, key, found)
    return out


def _hold(recent: dict[tuple[object, ...], list[Sighting]], key: tuple[object, ...],
          found: Sighting) -> None:
    """Keep ``found`` as the newest candidate under copy key ``key`` (the last few only)."""
    held = recent.get(key)
    if held is None:
        recent[key] = [found]
    elif held[-1] is not found:
        held.append(found)
        if len(held) > _CANDIDATES:
            del held[0]


def _copy_of(recent: Mapping[tuple[object, ...], list[Sighting]], keys: list[tuple[object, ...]],
             record: PacketRecord, form: Form, window: int) -> Sighting | None:
    """The sighting ``record`` is a copy of, if any (none when its time is not usable, or
    where both print a TCP timestamp and they differ)."""
    if not record.time_ok:
        return None
    weak = window == WEAK_COPY_WINDOW_NS
    ts = record.ts_ns
    l4 = record.headers.l4
    tsv = l4.options.ts_val if isinstance(l4, TCPHeader) else None
    for key in keys:
        held = recent.get(key)
        if held is None:
            continue
        for s in reversed(held):
            if (ts - s.last_ns <= window and _distinct_interface(s, record)
                    and same_ts(tsv, s.ts_val)
                    and (not weak or _weak_copy(s, form, ts))):
                return s
    return None


def _index(items: Iterable[Sighting], key_of: str) -> dict[tuple[object, ...], list[Sighting]]:
    """Sightings by weak key: flags, length and the source (``src``) or destination endpoint."""
    index: dict[tuple[object, ...], list[Sighting]] = defaultdict(list)
    role = 0 if key_of == "src" else 1
    for s in items:
        index[(s.proto, s.flags, s.plen, role, s.form[role])].append(s)
    return index


StrongIndex = tuple[dict[tuple[object, ...], "Sighting | list[Sighting]"], bool]


def strong_index(items: Iterable[Sighting]) -> StrongIndex:
    """Sightings by strong key (one sighting, or a list when the key repeats), and whether any
    sighting lacks a strong key. Build it once per point and pass it to ``match_points``."""
    index: dict[tuple[object, ...], Sighting | list[Sighting]] = {}
    keyless = False
    for s in items:
        k = s.key
        if k is None:
            keyless = True
            continue
        held = index.get(k)
        if held is None:
            index[k] = s
        elif type(held) is list:
            held.append(s)
        else:
            index[k] = [held, s]  # type: ignore[list-item]
    return index, keyless


def _timed(xa: Sequence[Sighting], xb: Sequence[Sighting], offset_ba: float, tol: float,
           confidence: float, used: set[int]) -> list[Match]:
    """Pair two time-ordered lists monotonically where corrected times agree within ``tol``
    (``timed_pairs`` of the sightings not ``used`` yet; those it pairs are used then)."""
    la = [a for a in xa if id(a) not in used]
    lb = [b for b in xb if id(b) not in used]
    out: list[Match] = []
    for i, j in timed_pairs([a.first_ns for a in la], [b.first_ns for b in lb], offset_ba,
                            tol):
        a, b = la[i], lb[j]
        out.append(Match(a, b, confidence))
        used.add(id(a))
        used.add(id(b))
    return out


def timed_pairs(ta: Sequence[int], tb: Sequence[int], offset_ba: float, tol: float,
                ) -> list[tuple[int, int]]:
    """Pair two ordered lists of times monotonically where B's, corrected by ``offset_ba``,
    is within ``tol`` of A's: the places of each pair."""
    out = []
    i = j = 0
    while i < len(ta) and j < len(tb):
        delta = (tb[j] - ta[i]) - offset_ba
        if abs(delta) <= tol:
            out.append((i, j))
            i += 1
            j += 1
        elif delta < 0:
            j += 1
        else:
            i += 1
    return out


def _in_order(xa: Sequence[Sighting], xb: Sequence[Sighting], used: set[int]) -> list[Match]:
    """The copies of a packet sent again that IP IDs left apart, paired in time order where
    ``in_order`` holds them to (those it pairs are used then)."""
    la = [a for a in xa if id(a) not in used]
    lb = [b for b in xb if id(b) not in used]
    first = la[0] if la else None
    if first is None or not sent_again(first.proto, first.flags, first.plen) or not in_order(
            [a.first_ns for a in la], [b.first_ns for b in lb],
            [(a.ip_id, a.ts_val) for a in la], [(b.ip_id, b.ts_val) for b in lb]):
        return []
    for s in (*la, *lb):
        used.add(id(s))
    return [Match(a, b, CONF_STRONG_TIMED) for a, b in zip(la, lb, strict=True)]


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


StrongPairs = tuple[list[tuple["Sighting | list[Sighting]", "Sighting | list[Sighting]"]], bool]


def strong_pairs(index_a: StrongIndex, index_b: StrongIndex) -> StrongPairs:
    """The strong keys both points saw, as (A's sightings, B's sightings) in A's order, and
    whether weak matching is needed (some sighting lacks a strong key). Computed once, it
    serves both matching passes (the indexes can go once it is built)."""
    (ia, keyless_a), (ib, keyless_b) = index_a, index_b
    get = ib.get
    pairs = []
    for key, xa in ia.items():
        xb = get(key)
        if xb is not None:
            pairs.append((xa, xb))
    return pairs, keyless_a or keyless_b


def match_points(sa: Sequence[Sighting], sb: Sequence[Sighting],
                 offset_ba: float | None = None,
                 tol: float = MATCH_TOLERANCE_NS,
                 indexes: tuple[StrongIndex, StrongIndex] | None = None,
                 pairs: StrongPairs | None = None) -> list[Match]:
    """Matches between two points' sightings.

    Without ``offset_ba`` (point B's clock minus point A's, in ns) only unambiguous matches are
    made: the anchors the clock estimate is built from (copies of a packet sent again, each
    point's in time order, among them: ``analyze/in_order.py``). With it, ambiguous
    candidates (a retransmitted segment, the many pure ACKs of tcpdump text) are paired in
    corrected time.
    ``indexes`` are the two sides' ``strong_index`` and ``pairs`` their ``strong_pairs``, when
    already built.
    """
    if pairs is None:
        pairs = strong_pairs(*(indexes or (strong_index(sa), strong_index(sb))))
    candidates, weak = pairs  # without weak matching, no "used" bookkeeping is needed
    used: set[int] = set()
    out: list[Match] = []
    new = tuple.__new__
    deferred: list[tuple[list[Sighting], list[Sighting]]] = []
    for xa, xb in candidates:
        if not isinstance(xa, list) and not isinstance(xb, list) and (
                offset_ba is None or abs(xb.first_ns - xa.first_ns - offset_ba) <= tol):
            ida, ta = xa.ip_id, xa.ts_val
            conf = (CONF_STRONG_CONFIRMED if (ida is not None and ida == xb.ip_id)
                    or (ta is not None and ta == xb.ts_val) else CONF_STRONG)
            out.append(new(Match, (xa, xb, conf)))
            if weak:
                used.add(id(xa))
                used.add(id(xb))
            continue
        la: list[Sighting] = xa if type(xa) is list else [xa]  # type: ignore[list-item]
        lb: list[Sighting] = xb if type(xb) is list else [xb]  # type: ignore[list-item]
        out.extend(_by_ip_id(la, lb, used))
        deferred.append((la, lb))
    if offset_ba is not None:
        for la, lb in deferred:
            out.extend(_timed(la, lb, offset_ba, tol, CONF_STRONG_TIMED, used))
    else:
        for la, lb in deferred:
            out.extend(_in_order(la, lb, used))
    if weak:
        out.extend(_weak_matches(sa, sb, offset_ba, tol, used))
    return out


def _weak_matches(sa: Sequence[Sighting], sb: Sequence[Sighting], offset_ba: float | None,
                  tol: float, used: set[int]) -> list[Match]:
    """Matches on flags, length and one untranslated endpoint, when a side lacks seq numbers.

    Two sightings that both carry seq numbers and did not match on them are different packets,
    so weak keys only pair a sighting without seq numbers with any other.
    """
    a_weak: list[Sighting] = []
    a_strong: list[Sighting] = []
    for s in sa:
        if id(s) not in used:
            (a_weak if s.key is None else a_strong).append(s)
    b_weak: list[Sighting] = []
    b_all: list[Sighting] = []
    for s in sb:
        if id(s) not in used:
            b_all.append(s)
            if s.key is None:
                b_weak.append(s)
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
