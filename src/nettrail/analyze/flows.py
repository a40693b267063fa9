"""Single-point TCP analysis: connections, the handshake state machine, copies and retransmissions.

A :class:`FlowTracker` follows every TCP connection seen at one capture point in one streaming
pass. Per connection it keeps a small mutable list of slots (no per-packet objects beyond a few
tuples): handshake progress bits, counters, the highest sequence number sent in each direction
and the last few segments, enough to tell

* a **copy**: the same packet seen again at this point on another interface (``tcpdump -i any``
  shows a bridged or routed packet once per device): identical TCP/IP fields (and TCP
  timestamp, where both print one), each with a usable time (text without times places
  packets by line order only: nothing there says two were seen together), on a different
  (or unknown) interface or direction than its first sighting, at most
  :data:`COPY_WINDOW_NS` after it, or :data:`IDENTIFIED_COPY_WINDOW_NS` when a nonzero IP ID
  ties the two (a loaded host's userspace switch passes packets on milliseconds later; a
  retransmission always carries a new IP ID); or a piece of a segment of many MSS seen
  moments before on another named interface, or the other way (segmentation offload: cut
  up on its way out, ``_piece_of``);
* a **retransmission**: a segment that re-sends sequence space already sent (same seq, or below
  the highest sent), which is not a copy; bytes that arrive twice count once, whichever
  sending came first (reordered on the way, the first sending of some bytes may arrive
  after the segment sent again: told by their IP IDs and TCP timestamps, ``_late``);
* a sending that arrived **out of order**: behind segments its sender sent after it, so not
  a retransmission, named in a finding of its own.

:meth:`FlowTracker.finish` turns the state into :class:`~nettrail.model.flow.Connection` records
and single-point :class:`~nettrail.model.finding.Finding` s with their evidence.
"""

from __future__ import annotations

import gc
import ipaddress
import struct
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from operator import itemgetter
from typing import Any

from nettrail.analyze.describe import describe, tcp_line
from nettrail.model.addr import addr4, addr6
from nettrail.model.cache import remember
from nettrail.model.finding import Evidence, Finding, Severity
from nettrail.model.flow import Connection, Endpoint, FlowKey, Outcome, duration_text
from nettrail.model.packet import (
    ACK,
    FIN,
    PROTO_TCP,
    RST,
    SYN,
    PacketRecord,
    TCPHeader,
)

COPY_WINDOW_NS = 5_000_000
"""The longest gap between the first and a later sighting of one packet at one point (5 ms),
when nothing but the TCP fields ties them."""

IDENTIFIED_COPY_WINDOW_NS = 100_000_000
"""The same, when a nonzero IP ID ties them too (100 ms, below any retransmission timeout)."""

SAME_INSTANT_NS = 1_000
"""Two sightings of one device, the same way, closer than this (a microsecond, what pcap and
tcpdump text print) are one packet captured twice (two captures of one device, files that
overlap), never a packet sent again: no TCP sends the same segment twice within it."""

_TWICE = "="
"""In a connection's copy interfaces: a copy on the very device and way of the first."""

REUSE_GAP_NS = 1_000_000_000
"""A SYN with the original ISN this long after a finished connection opens a new one."""

IDLE_NS = 100_000_000
"""A finished connection idle this long (capture time) drops what only copies need."""

MAX_EVIDENCE = 5
"""Evidence lines kept per finding (the counts cover everything)."""
OUT_OF_ORDER = "out-of-order"
"""The kind of the finding that names the sendings which arrived late (``_late``)."""

_TOKEN_PREFIX = b"\xff" * 8
_EMPTY: dict[int, Any] = {}  # the old generation of a fresh direction: only ever read
_RECENT = 64  # segments remembered per generation and direction (two generations)
_SWEEP_EVERY = 256  # new connections between sweeps of finished ones
_PORTS = struct.Struct("!HH").pack
_PORTS_UNPACK = struct.Struct("!HH").unpack_from
_MASK = 0xFFFFFFFF
_HALF = 0x80000000
_MAX_WINDOW = 1 << 30  # the largest TCP window: 65535 scaled by 2^14
_MOST_PIECE = 1460  # the most bytes a piece of a segment cut up for Ethernet carries
_WHOLES_KEPT = 64  # segments kept as wholes a piece may be cut from, per direction
_MOST_PIECES = 64  # the most pieces looked for in one whole (64 KB in 1,024-byte pieces)
_FILLS_KEPT = 1024  # segments kept per direction that filled a hole and counted
_ID_STEPS = 4096  # IP IDs a sender may use between a segment and one it sends soon after

# Handshake progress bits (slot _H).
H_SYN = 1  # the client's SYN was seen
H_SYNACK = 2  # the server's SYN-ACK was seen
H_EST = 4  # the client acknowledged (handshake complete from what this point saw)
H_MID = 8  # the connection was already running when the capture began
H_FIN_C = 16  # the client sent FIN
H_FIN_S = 32  # the server sent FIN
H_RST = 64  # a RST was seen (before both FINs)
H_QUIET = 128  # no packet printed flags, numbers or window yet (``tcpdump -q`` text)
_H_FINS = H_FIN_C | H_FIN_S

# Slots of a connection's state list (the hot loop in consume() uses the literal numbers).
_H, _PKTS, _FIRST, _LAST, _RETX, _COPIES = 0, 1, 2, 3, 4, 5
_KEY, _CLIENT, _SERVER = 6, 7, 8
_SYN_REC, _SYNACK_REC, _RST_REC, _RST_ANSWERED = 9, 10, 11, 12
_RST_FROM_CLIENT, _RETX_EV, _COPY_EV, _COPY_IFACES, _SYN_COUNT, _DIRS = 13, 14, 15, 16, 17, 18
_LATEST = 19
_LATE, _LATE_EV = 20, 21  # first sendings that arrived behind later segments, and evidence
_N_SLOTS = 22
# _FIRST is the earliest packet time, _LAST the latest packet's (in capture order) and
# _LATEST the latest time before the clock last went back (None: it never did), so that a
# connection spans from its earliest time to its latest even when times go backwards.
_new = tuple.__new__  # a NamedTuple without its Python-level __new__ (all fields given)

# Slots of a direction's state list.
# _LASTSIG is the last segment sent;
# its time, seq and ack are also kept in _LAST_TS, _LAST_SEQ and _LAST_ACK for the hot loop.
_HIGH, _CUR, _OLD, _LASTSIG, _BYTES, _ISN = 0, 1, 2, 3, 4, 5
_LAST_TS, _LAST_SEQ, _LAST_ACK = 6, 7, 8
_TOP = 9  # the segment that last moved _HIGH on: the one a piece may be cut from
_WHOLES = 10  # the last segments of more bytes than a piece has: (seq, segment) by IP ID
_FILLED = 11  # segments that filled a hole and counted, by first byte

State = list[Any]
Seg = tuple[Any, ...]
"""One TCP segment as the tracker sees it, flat (and what is remembered of it):
(ts_ns, seq, ack, flags, payload_len, window, ip_id, ifname, direction, frame, file, key,
seq_relative, record, ts_val). ``key`` is the packed source address, packed destination address
(both 4 or both 16 bytes) and the two ports (2 bytes each, network order), exactly the bytes
of an IPv4 or IPv6 + TCP packet from the source address to the destination port; ``record``
is the (lean) PacketRecord only when the fields cannot describe the packet (VXLAN, another
point), else None; ``ts_val`` is the TCP timestamp (None when not printed or absent,
UNTIMED when the record's time is not usable). ``analyze.table_flows`` builds these from
packet table columns."""
Sig = Seg
UNTIMED = -1
"""A segment's ``ts_val`` when its record has no usable time: it is no copy of any other."""
Entry = tuple[State, State, bool]


@contextmanager
def gc_paused(freeze: bool = False) -> Iterator[None]:
    """Pause the cyclic garbage collector: tracking makes no cycles, and scanning the
    growing state again and again costs more than the analysis itself. ``freeze``: at the
    end, move every object left out of the collector's reach (``gc.freeze``) before it runs
    again, for a process about to end (its first collection would otherwise scan millions of
    objects only to find nothing). Without it, the objects made during the pause go to the
    oldest generation (``gc.freeze`` then ``gc.unfreeze``, two list splices), where the
    objects that outlive passes end up: the first young pass after the pause would otherwise
    scan all of them (3-4% of a text file's read)."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if freeze:
            gc.freeze()
        if enabled:
            if not freeze:
                gc.freeze()
                gc.unfreeze()
            gc.enable()


class FlowTracker:
    """Follows TCP connections at one capture point, one record at a time, in one pass."""

    def __init__(self, point: str) -> None:
        self.point = point
        self.packets = 0
        self._conns: dict[tuple[str, int, str, int], Entry] = {}
        self._done: list[State] = []
        self._closing: list[State] = []
        self._created = 0
        self._names: dict[bytes, str] = {}  # packed address -> text, where not canonical
        self._packed: dict[tuple[str, str], bytes] = {}
        self._tokens: dict[str, bytes] = {}
        self.late = 0
        """Packets that came to a finished connection (both FINs or a RST) more than
        :data:`IDLE_NS` after its last packet: only for these can what the tracker says
        depend on when its housekeeping ran (``capture.partition`` checks it)."""

    def consume(
        self, records: Iterable[PacketRecord], keep: list[PacketRecord] | None = None
    ) -> None:
        """Feed records in capture order; append each to ``keep`` when given (for cross-point)."""
        if keep is not None:
            records = _keeping(records, keep)
        self.consume_segments(self.segments(records))

    def consume_segments(self, segments: Iterable[Seg | int | None]) -> None:
        """Feed segments (see :data:`Seg`) in capture order; None stands for a packet that is
        not TCP (counted, not tracked); an int is a tick: the capture time (ns) at which a
        connection tracked elsewhere began (``analyze.table_flows`` tracks plain connections
        in bulk), so that housekeeping runs where it would over every connection.
        :meth:`segments` turns records into segments."""
        with gc_paused():
            self._consume(segments)

    def segments(self, records: Iterable[PacketRecord]) -> Iterator[Seg | None]:
        """The segment of each record (None for records that are not TCP)."""
        segment = self.segment
        for rec in records:
            yield segment(rec)

    def segment(self, rec: PacketRecord) -> Seg | None:
        """The flat segment tuple of one record, None when it is not TCP."""
        headers: Any = rec[7]
        if rec[8] is not None and rec[8][1] is not None:
            headers = rec[8]
        l4 = headers[2]
        if l4.__class__ is not TCPHeader:
            return None
        ip = headers[1]
        key = self._pack(ip[1], ip[2]) + _PORTS(l4[0], l4[1])
        keep = None
        if rec[8] is not None or rec[0] != self.point:  # the fields alone cannot describe it
            keep = _lean(rec)
        return (rec[1], l4[3], l4[4], l4[2], l4[6], l4[5], ip[5], rec[4], rec[5], rec[3],
                rec[2], key, l4[8], keep, l4[7][4] if rec[14] else UNTIMED)  # options.ts_val

    def _pack(self, src: str, dst: str) -> bytes:
        """Packed source and destination addresses of equal size, the address part of a key."""
        pair = self._packed.get((src, dst))
        if pair is None:
            a, b = _packed_addr(src, self._names), _packed_addr(dst, self._names)
            if a is None or b is None or len(a) != len(b):
                a, b = self._token(src), self._token(dst)
            pair = remember(self._packed, (src, dst), a + b)
        return pair

    def _token(self, text: str) -> bytes:
        """A 16-byte stand-in for an address text that does not pack (or whose peer is of
        the other family), remembered in ``_names``."""
        raw = self._tokens.get(text)
        if raw is None:
            raw = self._tokens[text] = _TOKEN_PREFIX + len(self._tokens).to_bytes(8, "big")
            self._names[raw] = text
        return raw

    def _consume(self, segments: Iterable[Seg | int | None]) -> None:
        # The hot loop: locals only, literal slot numbers (see the slot tables above).
        get = self._conns.get
        new_conn = self._new_conn
        repeat = self._repeat
        pure_repeat = self._pure_repeat
        control = self._control
        window = IDENTIFIED_COPY_WINDOW_NS  # _pure_repeat tells within it
        mask = _MASK
        half = _HALF
        recent = _RECENT
        most_piece = _MOST_PIECE
        idle = IDLE_NS
        n = 0
        try:
            for sig in segments:
                n += 1
                if sig.__class__ is not tuple:
                    if sig is not None:
                        n -= 1
                        self._tick(sig)  # type: ignore[arg-type]
                    continue
                ts, seq, ack, flags, plen, _win, _id, _if, _dir, _fr, _file, key, rel, _rec, _tsv \
                    = sig
                entry = get(key)
                if entry is None or (flags & 0x12 == 2 and _reopens(entry, seq, ts)):
                    entry = new_conn(sig)
                st, ds, fc = entry
                st[1] += 1
                if ts - st[3] > idle and (st[0] & 64 or st[0] & 48 == 48):
                    self.late += 1  # housekeeping may have slimmed it: see ``late``
                if ts < st[3]:
                    _went_back(st, ts)
                st[3] = ts
                if seq is not None and (plen or flags & 3):  # data, SYN or FIN
                    if rel and ds[5] is not None and not flags & 2:
                        seq = (seq + ds[5]) & mask
                    high = ds[0]
                    end = seq + plen + (1 if flags & 3 else 0)
                    if high is None or 0 < end - high < half or end - high < -half:
                        ds[0] = end if end <= mask else end & mask
                        ds[3] = ds[9] = sig
                        ds[6] = ts
                        ds[7] = sig[1]
                        ds[8] = ack
                        cur = ds[1]
                        cur[seq] = sig
                        if len(cur) >= recent:
                            ds[2] = cur
                            ds[1] = {}
                        if plen > most_piece:
                            _keep_whole(ds, seq, sig)
                    elif repeat(st, ds, sig, seq):
                        continue
                else:
                    if flags & 3 or (ds[3] is not None and ds[8] == ack and ds[7] == seq
                                     and ts - ds[6] <= window):
                        if pure_repeat(st, ds, sig):
                            continue
                    else:
                        ds[3] = sig
                        ds[6] = ts
                        ds[7] = seq
                        ds[8] = ack
                if flags and st[0] & 128:  # a packet that prints flags: no longer quiet
                    st[0] &= ~128
                if flags & 7:
                    control(st, fc, sig, flags, seq)
                elif not st[0] & 12 and fc and flags & 16:
                    st[0] |= 4
                if plen:
                    ds[4] += plen
        finally:
            self.packets += n

    def _new_conn(self, sig: Seg) -> Entry:
        """Start a connection at ``sig``; the side that sent the SYN (if any) is the client."""
        conns = self._conns
        fwd = sig[11]
        size = (len(fwd) - 4) >> 1
        rev = fwd[size : 2 * size] + fwd[:size] + fwd[-2:] + fwd[-4:-2]
        names = self._names
        a, b = fwd[:size], fwd[size : 2 * size]
        text = addr4 if size == 4 else addr6
        src, dst = names.get(a) or text(a), names.get(b) or text(b)
        sport, dport = _PORTS_UNPACK(fwd, 2 * size)
        flags = sig[3]
        old = conns.get(fwd)
        if old is not None:
            self._done.append(old[0])
        self._created += 1
        if self._created % _SWEEP_EVERY == 0:
            self._sweep(sig[0])
        client_is_src = not (flags & SYN and flags & ACK)
        dirs: tuple[State, State] = ([None, {}, _EMPTY, None, 0, None, 0, None, None, None,
                                      None, None],
                                     [None, {}, _EMPTY, None, 0, None, 0, None, None, None,
                                      None, None])
        a, b = _new(Endpoint, (src, sport)), _new(Endpoint, (dst, dport))
        key = _new(FlowKey, (PROTO_TCP, a, b) if a <= b else (PROTO_TCP, b, a))
        client, server = (a, b) if client_is_src else (b, a)
        ts = sig[0]
        # the slots, in order: see _H ... _DIRS above
        h = H_MID if sig[1] is not None or flags or sig[5] is not None else H_MID | H_QUIET
        st: State = [0 if flags & SYN else h, 0, ts, ts, 0, 0, key, client, server,
                     None, None, None, None, None, None, None, None, 0, dirs, None, 0, None]
        src_dir = dirs[0] if client_is_src else dirs[1]
        dst_dir = dirs[1] if client_is_src else dirs[0]
        conns[rev] = (st, dst_dir, not client_is_src)
        entry = conns[fwd] = (st, src_dir, client_is_src)
        return entry

    def _tick(self, now: int) -> None:
        """A connection tracked elsewhere began at ``now``: count it as one created here."""
        self._created += 1
        if self._created % _SWEEP_EVERY == 0:
            self._sweep(now)

    def _sweep(self, now: int) -> None:
        """Slim finished connections idle for :data:`IDLE_NS`: only counts and evidence stay."""
        keep = []
        for st in self._closing:
            if now - st[_LAST] > IDLE_NS:
                _slim(st)
            else:
                keep.append(st)
        self._closing = keep

    def _repeat(self, st: State, ds: State, sig: Seg, seq: int) -> bool:
        """Sequence space sent again: a copy (returns True) or a retransmission (False).

        A segment starting further behind the highest sequence sent than any TCP window
        reaches (2^30 bytes) is out of window: no receiver still waits for it, so it is not
        a retransmission (an injected or mangled segment, or a sequence number from another
        connection)."""
        high = ds[_HIGH]
        if high is not None and _MAX_WINDOW < (high - seq) & _MASK < _HALF:
            return False
        prev, older = ds[_CUR].get(seq), ds[_OLD].get(seq)
        if prev is None:
            prev, older = older, None
        # the latest sighting from this byte, or the one before it (a copy may come after
        # the segment was sent again: held back on its way out)
        for first in (prev, older):
            if first is not None and sig[1:7] == first[1:7] and _copy_of(sig, first):
                self._note_copy(st, ds, sig, first)
                return True
        top = ds[_TOP]
        whole = top if top is not None and _piece_of(sig, seq, top, ds[_ISN]) else \
            _whole(sig, seq, ds)
        if whole is not None:
            self._note_copy(st, ds, sig, whole, "a piece of")
            return True
        late = _late(sig, seq, prev, ds, st[_DIRS][ds is st[_DIRS][0]], st[_H])
        if late is None:
            self._retransmitted(st, ds, sig, prev)
        else:
            st[_LATE] += 1
            ev = st[_LATE_EV]
            if ev is None:
                ev = st[_LATE_EV] = []
            if len(ev) < MAX_EVIDENCE:
                ev.append((sig, _late_note(sig, *late), ds is st[_DIRS][0]))
        if sig[4] > _MOST_PIECE:  # sent again whole: its pieces may come later too
            _keep_whole(ds, seq, sig)
        ds[_CUR][seq] = sig
        _set_last(ds, sig)
        return False

    def _pure_repeat(self, st: State, ds: State, sig: Seg) -> bool:
        """A segment that consumes no known sequence space, seen soon after another (or a
        SYN/FIN without sequence numbers): a copy (True), a retransmission, or new (False)."""
        prev = ds[_LASTSIG]
        if prev is not None and sig[1:7] == prev[1:7] and _copy_of(sig, prev):
            self._note_copy(st, ds, sig, prev)
            return True
        _set_last(ds, sig)
        if prev is not None and sig[1] is None and sig[3] & 3 and sig[3] == prev[3]:
            self._retransmitted(st, ds, sig, prev)
        return False

    def _retransmitted(self, st: State, ds: State, sig: Seg, prev: Seg | None) -> None:
        """Count a retransmission and keep its evidence (with the gap when known)."""
        st[_RETX] += 1
        ev = st[_RETX_EV]
        if ev is None:
            ev = st[_RETX_EV] = []
        if len(ev) < MAX_EVIDENCE:
            note = "sequence space sent again"
            if prev is not None:
                note = retransmission_note(sig, prev)
            ev.append((sig, note, ds is st[_DIRS][0]))

    def _note_copy(self, st: State, ds: State, sig: Seg, first: Seg,
                   what: str = "copy of") -> None:
        """Count one more sighting of a packet already seen at this point (``what``: a copy
        of it, or a piece of it)."""
        st[_COPIES] += 1
        ifaces = st[_COPY_IFACES]
        if ifaces is None:
            ifaces = st[_COPY_IFACES] = set()
        ifaces.add(sig[7] or "?")
        ifaces.add(first[7] or "?")
        if sig[7] == first[7] and sig[8] == first[8] and sig[7] not in (None, "?"):
            ifaces.add(_TWICE)
        ev = st[_COPY_EV]
        if ev is None:
            ev = st[_COPY_EV] = []
        if len(ev) < MAX_EVIDENCE:
            where = f" on {first[7]}" if first[7] else ""
            ev.append((sig, f"{what} {first[10]}:{first[9]}{where}", ds is st[_DIRS][0]))

    def _control(self, st: State, fc: bool, sig: Sig, flags: int, seq: int | None) -> None:
        """Handshake and teardown: SYN, SYN-ACK, FIN and RST."""
        h = st[_H]
        if flags & RST:
            if not h & H_RST and h & _H_FINS != _H_FINS:
                st[_H] = h | H_RST
                st[_RST_REC] = sig
                st[_RST_FROM_CLIENT] = fc
                st[_RST_ANSWERED] = st[_DIRS][1 if fc else 0][_LASTSIG]
                self._closing.append(st)
            return
        client, server = st[_DIRS]
        if flags & SYN:
            if flags & ACK:
                if not fc:
                    h |= H_SYNACK
                    if st[_SYNACK_REC] is None:
                        st[_SYNACK_REC] = sig
                        server[_ISN] = seq
            elif fc:
                h |= H_SYN
                st[_SYN_COUNT] += 1
                if st[_SYN_REC] is None:
                    st[_SYN_REC] = sig
                    client[_ISN] = seq
        elif fc and flags & ACK and h & (H_SYN | H_SYNACK):
            h |= H_EST
        if flags & FIN:
            h |= H_FIN_C if fc else H_FIN_S
            if h & _H_FINS == _H_FINS and st[_H] & _H_FINS != _H_FINS and not h & H_RST:
                self._closing.append(st)
        st[_H] = h

    def finish(self) -> tuple[list[Connection], list[Finding]]:
        """The connections seen at this point, in order of earliest packet time, and their
        findings."""
        with gc_paused():
            return self._finish()

    def _finish(self) -> tuple[list[Connection], list[Finding]]:
        conns = []
        findings: list[Finding] = []
        for conn, found in self.finished():
            conns.append(conn)
            findings.extend(found)
        return conns, findings

    def finished(self) -> Iterator[tuple[Connection, list[Finding]]]:
        """Each connection, in order of earliest packet time, with its findings (call with the
        collector paused, as :meth:`finish` does)."""
        states = self._done + [st for st, _ds, fc in self._conns.values() if fc]
        states.sort(key=itemgetter(_FIRST, _KEY))
        point = self.point
        for st in states:
            conn = _connection(point, st)
            h = st[_H]  # closed with both FINs, nothing resent: no finding to make
            if h & _H_FINS != _H_FINS or h & H_RST or st[_RETX] or st[_COPIES] or st[_LATE]:
                yield conn, _findings(conn, st)
            else:
                yield conn, []


def same_ts(a: int | None, b: int | None) -> bool:
    """Whether two sightings' TCP timestamps (TS val) allow them to be one packet: equal,
    or not printed by one of them."""
    return a is None or b is None or a == b


def _copy_of(sig: Seg, prev: Seg) -> bool:
    """Can ``sig``, whose TCP/IP fields equal ``prev``'s, be another sighting of that packet?
    Yes on another interface or direction (or one unknown), soon enough after it, or on the
    same within ``SAME_INSTANT_NS``; with the same TCP timestamp where both print one. Never
    when either time is not usable (text without times: 1 µs apart by line order says
    nothing of when they were seen), nor when it carries nothing that tells packets apart
    (no flags, numbers or IP ID: text printed with ``tcpdump -q``), as any two packets of a
    direction would look the same."""
    a, b = sig[14], prev[14]
    if a == UNTIMED or b == UNTIMED or not same_ts(a, b):
        return False
    if not sig[3] and sig[1] is None and sig[2] is None and sig[6] is None:
        return False
    if sig[7] == prev[7] and sig[8] == prev[8] and sig[7] is not None and sig[7] != "?" \
            and sig[8] is not None:  # the same device, the same way: sent twice, unless
        gap: int = sig[0] - prev[0]
        return 0 <= gap < SAME_INSTANT_NS  # it is captured twice
    return copy_gap(sig[0] - prev[0], sig[6])


_PIECE_FLAGS = ~(0x08 | FIN)  # PSH and FIN: set on the last piece only


def _keep_whole(ds: State, seq: int, sig: Seg) -> None:
    """Keep segment ``sig`` (from byte ``seq``, larger than a piece, sent first or again) by
    its IP ID as one that pieces may be cut from, beyond the segments remembered for copies:
    a piece held back on its way out may come many segments later."""
    if not sig[6]:
        return  # no IP ID: no piece can be tied to it
    wholes = ds[_WHOLES]
    if wholes is None:
        wholes = ds[_WHOLES] = {}
    wholes[sig[6]] = (seq, sig)
    if len(wholes) > _WHOLES_KEPT:
        del wholes[next(iter(wholes))]


def _whole(sig: Seg, seq: int, ds: State) -> Seg | None:
    """A segment kept as a whole (``_keep_whole``) that ``sig`` (from byte ``seq``) is a piece
    of (``_piece_of``, over the longer window of an IP ID tie), tied to it by IP ID as Linux
    cuts one up: a piece's ID is its whole's plus its place among the pieces, and its bytes
    start that many piece sizes (at least its own) into the whole's. A piece held back on its
    way out while later segments passed, or a piece of a segment sent again."""
    pid, wholes = sig[6], ds[_WHOLES]
    if not pid or not sig[4] or wholes is None:
        return None
    isn = ds[_ISN]
    for place in range(_MOST_PIECES):
        kept = wholes.get((pid - place) & 0xFFFF)
        if kept is None:
            continue
        start: int = kept[0]
        whole: Seg = kept[1]
        offset = (seq - start) & _MASK
        placed = (offset % place == 0 and offset // place >= sig[4]) if place else offset == 0
        if placed and _piece_of(sig, seq, whole, isn, IDENTIFIED_COPY_WINDOW_NS):
            return whole
    return None


def _piece_of(sig: Seg, seq: int, top: Seg, isn: int | None,
              window: int = COPY_WINDOW_NS) -> bool:
    """Can ``sig`` (from byte ``seq``) be a piece of segment ``top``, seen at this point
    moments before on another interface or the other way through it? A sender's segment of
    many MSS (segmentation offload: TSO, GSO) is cut up where it leaves for a device that
    cannot take it whole (a router's egress, a NIC), so a point that sees it in and out sees
    it whole, then in pieces: the same ack and TCP timestamp, a part of its bytes. Never
    where neither the interfaces (both named) nor the directions (both known) tell the two
    sightings apart (one device: a piece is then a retransmission of part of it), nor where
    either time is unusable. ``window``: the longest gap between the two (``_whole``: longer,
    where the IP IDs tie them)."""
    other_device = sig[7] not in (None, "?") and top[7] not in (None, "?") and sig[7] != top[7]
    other_way = sig[8] is not None and top[8] is not None and sig[8] != top[8]
    if not (other_device or other_way):
        return False
    a, b = sig[14], top[14]
    if a == UNTIMED or b == UNTIMED or not same_ts(a, b) or sig[2] != top[2]:
        return False
    if (sig[3] ^ top[3]) & _PIECE_FLAGS or not 0 < sig[4] < top[4]:
        return False
    start: int = top[1]
    if top[12] and isn is not None:
        start = (start + isn) & _MASK
    gap: int = sig[0] - top[0]
    return (seq - start) & _MASK <= top[4] - sig[4] and 0 <= gap <= window


def _late(sig: Seg, seq: int, prev: Seg | None, ds: State, peer: State,
          h: int) -> tuple[Seg, int] | None:
    """Is segment ``sig`` (from byte ``seq``, below the highest sent, no copy) one more
    sending of bytes seen here, to count as a retransmission (None), or a sending that
    arrives late, behind segments its sender sent after it: (the one that came first, and
    how many remembered here begin above it; 0: it is a later sending from the same byte)?
    Where segments are reordered on the way (per-packet load balancing, a queue that holds
    some back), the first sending of some bytes may arrive after the segment sent again: the
    bytes still came twice, and are counted once. So a segment that fills a hole here (no
    segment seen here began at its byte, ``prev`` None) counts unless it was sent before
    every segment remembered here that begins above it, with one remembered below it, its
    bytes not yet acknowledged and the connection not ended (a first sending that arrives
    late: a sender sends new bytes in order, and sends a segment again after those whose
    arrival showed it missing; bytes of long ago are forgotten here); and of the later
    segments from that byte, the first one sent before the one that filled the hole and
    counted does not (the first sending, late); the others do."""
    if not sig[4] or sig[3] & 3:
        return None
    filled = ds[_FILLED]
    hole = filled.get(seq) if filled is not None else None
    if hole is not None and _sent_before(sig[6], sig[14], hole[6], hole[14]):
        del filled[seq]  # one of the sendings before it is the first: that one, once
        return hole, 0
    if prev is not None:
        return None
    above, below = [], False
    for part in (ds[_CUR], ds[_OLD]):
        for k, s in part.items():
            if (k - seq) & _MASK < _MAX_WINDOW:
                above.append(s)
            else:
                below = True
    # judged only where what is remembered reaches below it, and while its receiver
    # (``peer``: the other side's state) has not acknowledged its bytes, nor the connection
    # ended (``h``, its handshake bits): bytes taken long ago, and forgotten here, are sent
    # again
    last = peer[_LASTSIG]
    taken = (h & H_RST or h & _H_FINS == _H_FINS
             or (last is not None and last[3] & ACK and last[2] is not None
                 and not sig[12] and ((last[2] - seq - sig[4]) & _MASK) < _HALF))
    if (below and above and not taken
            and all(_sent_before(sig[6], sig[14], s[6], s[14]) for s in above)):
        return min(above, key=_ARRIVAL), len(above)
    if filled is None:
        filled = ds[_FILLED] = {}
    filled[seq] = sig  # the sending that counted: its numbers tell its first sending
    if len(filled) > _FILLS_KEPT:
        del filled[next(iter(filled))]
    return None


_ARRIVAL = itemgetter(0)


def _late_note(sig: Seg, ahead: Seg, above: int) -> str:
    """The evidence note of ``sig``, which arrived behind ``ahead`` (``_late``), with how it
    is known to have been sent before it (``_sent_before``): their IP IDs when both have one,
    else their TCP timestamps."""
    order = (f"IP ID {sig[6]} before {ahead[6]}" if sig[6] and ahead[6] else
             f"TS val {sig[14]} before {ahead[14]}")
    if not above:
        return f"sent before {ahead[10]}:{ahead[9]} from the same byte, which came first ({order})"
    return (f"sent before the {above} segment{'s' if above > 1 else ''} above it here, which "
            f"came first ({ahead[10]}:{ahead[9]} first; {order})")


def _sent_before(id_a: int | None, ts_a: int | None, id_b: int | None,
                ts_b: int | None) -> bool:
    """Was segment a (IP ID ``id_a``, TCP timestamp ``ts_a``) sent before segment b by their
    sender, by their numbers? A sender numbers what it sends in order: the IP ID (Linux: one
    more per segment, and per piece of an offloaded one; Windows: one more per packet) and
    the TCP timestamp (never going back). Not when b's timestamp is older; by the IP IDs when
    both have one (b's at most :data:`_ID_STEPS` past a's); else by a strictly older
    timestamp. None or 0: not known (``UNTIMED``: no usable time)."""
    timed = ts_a is not None and ts_b is not None and ts_a != UNTIMED and ts_b != UNTIMED
    d = (ts_b - ts_a) & _MASK if timed else 0  # type: ignore[operator]
    if d >= _HALF:
        return False
    if id_a and id_b:
        return 0 < (id_b - id_a) & 0xFFFF <= _ID_STEPS
    return timed and d > 0


def copy_gap(gap_ns: int, ip_id: int | None) -> bool:
    """True when a packet seen ``gap_ns`` after an identical one at the same point, on another
    interface, can be a copy of it (both with IP ID ``ip_id``) rather than a second packet.
    The copy rule's one definition: ``analyze.table_flows`` asks it too."""
    return gap_ns <= COPY_WINDOW_NS or (bool(ip_id) and gap_ns <= IDENTIFIED_COPY_WINDOW_NS)


def _set_last(ds: State, sig: Seg) -> None:
    """Make ``sig`` the last segment of direction ``ds``."""
    ds[_LASTSIG] = sig
    ds[_LAST_TS] = sig[0]
    ds[_LAST_SEQ] = sig[1]
    ds[_LAST_ACK] = sig[2]


def _packed_addr(text: str, names: dict[bytes, str]) -> bytes | None:
    """The packed form of an address as text (None when it is not an address); a text that
    is not the canonical form is remembered in ``names``."""
    try:
        raw = ipaddress.ip_address(text).packed
    except ValueError:
        return None
    if raw not in names and _addr_text(raw, {}) != text:
        names[raw] = text
    return raw


def _addr_text(raw: bytes, names: dict[bytes, str]) -> str:
    """The text of a packed address: as first seen in a record, else canonical."""
    text = names.get(raw)
    if text is not None:
        return text
    if len(raw) == 4:
        return addr4(raw)
    return addr6(raw)


def _keeping(records: Iterable[PacketRecord], keep: list[PacketRecord]) -> Iterator[PacketRecord]:
    """The records, each also appended to ``keep``."""
    append = keep.append
    for rec in records:
        append(rec)
        yield rec


def _lean(rec: PacketRecord) -> PacketRecord:
    """The record without its captured bytes (kept for evidence, not for export)."""
    if rec[10] is None:
        return rec
    return tuple.__new__(PacketRecord, (*rec[:10], None, *rec[11:]))


def _slim(st: State) -> None:
    """Drop what only copy and retransmission detection needs; keep evidence only where a
    finding will need it (not for a connection that closed normally)."""
    for ds in st[_DIRS]:
        ds[_CUR] = {}
        ds[_OLD] = _EMPTY
        ds[_LASTSIG] = ds[_TOP] = ds[_WHOLES] = ds[_FILLED] = None
    if not st[_H] & H_RST:  # closed normally: no finding will cite these
        st[_SYN_REC] = st[_SYNACK_REC] = None


def _went_back(st: State, ts: int) -> None:
    """A packet at ``ts``, before the connection's last one: keep that one's time if it is
    the latest so far, and ``ts`` if it is the earliest."""
    latest = st[_LATEST]
    if latest is None or st[_LAST] > latest:
        st[_LATEST] = st[_LAST]
    if ts < st[_FIRST]:
        st[_FIRST] = ts


def _reopens(entry: Entry, seq: int | None, ts: int) -> bool:
    """A SYN on a known key: does it open a new connection (port reuse) rather than retry?"""
    st, ds, _fc = entry
    h = st[_H]
    isn = ds[_ISN]
    if h & H_RST or h & _H_FINS == _H_FINS:
        return seq is None or seq != isn or ts - st[_LAST] > REUSE_GAP_NS
    if h & H_MID:
        return False
    return seq is not None and isn is not None and seq != isn and ts - st[_LAST] > COPY_WINDOW_NS


def _outcome(st: State) -> Outcome:
    """The handshake state machine's verdict for one connection at one point."""
    return outcome_of(st[_H], st[_RST_FROM_CLIENT])


def outcome_of(h: int, rst_from_client: bool | None) -> Outcome:
    """The verdict of handshake progress bits ``h`` (``rst_from_client``: who sent the RST,
    when ``h`` has :data:`H_RST`)."""
    if h & H_RST:
        if not rst_from_client and h & H_SYN and not h & (H_SYNACK | H_EST | H_MID):
            return Outcome.REFUSED
        if h & H_MID and not h & (H_SYN | H_SYNACK):
            return Outcome.RESET_MIDSTREAM
        return Outcome.RESET
    if h & _H_FINS == _H_FINS:
        return Outcome.CLOSED
    if h & H_EST:
        return Outcome.ESTABLISHED
    if h & H_QUIET:
        return Outcome.UNKNOWN
    if h & H_MID:
        return Outcome.MIDSTREAM
    if h & H_SYNACK:
        return Outcome.SYNACK_UNACKNOWLEDGED
    return Outcome.SYN_UNANSWERED


def _connection(point: str, st: State) -> Connection:
    """The immutable record of one tracked connection."""
    dirs = st[_DIRS]
    latest = st[_LATEST]
    last = st[_LAST] if latest is None or latest < st[_LAST] else latest
    return Connection(point, st[_KEY], st[_CLIENT], st[_SERVER], _outcome(st), st[_PKTS],
                      st[_FIRST], last, st[_RETX], st[_COPIES], dirs[0][_BYTES],
                      dirs[1][_BYTES])


def evidence(rec: PacketRecord, note: str = "") -> Evidence:
    """Evidence pointing at one record: point, file, frame/line, its own time, its text."""
    return Evidence(rec.point, rec.file, rec.frame, rec.ts_ns, describe(rec), rec.ifname, note)


def sig_evidence(conn: Connection, sig: Sig, from_client: bool, note: str) -> Evidence:
    """Evidence of a remembered segment (its record is gone; its fields are enough: the
    text is that of an IP header and a TCP header with them, by the line every writer
    prints for one)."""
    src, dst = (conn.client, conn.server) if from_client else (conn.server, conn.client)
    ts, seq, ack, flags, plen, win, _ip_id, ifname, _dirn, frame, file = sig[:11]
    text = tcp_line(src[0], src[1], dst[0], dst[1], flags, seq, ack, win, plen)
    return Evidence(conn.point, file, frame, ts, text, ifname, note)


def _seg_evidence(conn: Connection, kept: tuple[Seg, str, bool]) -> Evidence:
    """Evidence of a segment: from its record when one was kept, else from its fields (the
    same text: a plain TCP record is described by exactly these fields)."""
    sig, note, from_client = kept
    if sig[13] is not None:
        return evidence(sig[13], note)
    return sig_evidence(conn, sig, from_client, note)


def _findings(conn: Connection, st: State) -> list[Finding]:
    """Outcome, retransmission and copy findings of one connection."""
    out = []
    if conn.outcome in FAILED:
        outcome = _outcome_finding(conn, st)
        if outcome is not None:
            out.append(outcome)
    if not conn.retransmissions and not conn.copies and not st[_LATE]:
        return out
    flow = f"{conn.client} > {conn.server}"
    if conn.retransmissions:
        out.append(retransmission_finding(
            conn, tuple(_seg_evidence(conn, kept) for kept in st[_RETX_EV])))
    if st[_LATE]:
        n = st[_LATE]
        out.append(Finding(
            kind=OUT_OF_ORDER,
            severity=Severity.INFO,
            summary=(f"{conn.point}: {flow}: {n} segment{'s' if n > 1 else ''} arrived behind "
                     f"later ones (their sender numbered them before segments that came "
                     f"first): reordered on the way, not counted as retransmissions"),
            evidence=tuple(_seg_evidence(conn, kept) for kept in st[_LATE_EV]),
            connection=conn.key,
            details={"count": str(n), "point": conn.point},
        ))
    if conn.copies:
        n = conn.copies
        ifaces = sorted(i for i in st[_COPY_IFACES] if i not in ("?", _TWICE))
        if _TWICE in st[_COPY_IFACES] and len(ifaces) == 1:
            where = (f"captured twice at the same instant on {ifaces[0]} (two captures of one "
                     "device merged, or files of this point that overlap)")
        elif ifaces:
            where = f"on another interface or direction ({', '.join(ifaces)})"
        else:  # nothing says where: a frame captured twice (a mirror port, a bridge loop)
            where = ("with every TCP/IP field the same (the capture names no interface, so "
                     "whether they crossed another interface is not known)")
        out.append(Finding(
            kind="multi-interface-copy",
            severity=Severity.INFO,
            summary=(f"{conn.point}: {flow}: {n} extra sighting{'s' if n > 1 else ''} of packets "
                     f"{where}; copies, not retransmissions"),
            evidence=tuple(_seg_evidence(conn, kept) for kept in st[_COPY_EV]),
            connection=conn.key,
            details={"count": str(n), "interfaces": ",".join(ifaces), "point": conn.point},
        ))
    return out


def retransmission_finding(conn: Connection, evidence: tuple[Evidence, ...]) -> Finding:
    """The finding that ``conn`` resent sequence space, with the first resent segments."""
    n = conn.retransmissions
    return Finding(
        kind="retransmission",
        severity=Severity.WARNING,
        summary=f"{conn.point}: {conn.client} > {conn.server}: {n} "
                f"retransmission{'s' if n > 1 else ''}",
        evidence=evidence,
        connection=conn.key,
        details={"count": str(n), "point": conn.point},
    )


def retransmission_note(sig: Seg, prev: Seg) -> str:
    """The evidence note of segment ``sig``, sent again after ``prev``: the gap between them
    when both have a time of their own (untimed text has none), said as the capture's times
    going back when ``sig`` is stamped before ``prev``."""
    where = f"previously {prev[10]}:{prev[9]}"
    if sig[14] == UNTIMED or prev[14] == UNTIMED:
        return f"sent again ({where}; no time printed, so no gap)"
    gap_ns = sig[0] - prev[0]
    if gap_ns < 0:
        return (f"sent again ({where}, stamped {duration_text(-gap_ns)} later: the capture's "
                "times go back)")
    return f"sent again after {gap_ns / 1e6:.1f} ms ({where})"


FAILED = frozenset({Outcome.REFUSED, Outcome.RESET, Outcome.RESET_MIDSTREAM,
                    Outcome.SYN_UNANSWERED, Outcome.SYNACK_UNACKNOWLEDGED})
"""The outcomes of a connection that failed at a point (a finding states each)."""


def outcome_finding(conn: Connection, h: int, syn: Seg | None, synack: Seg | None,
                    rst: Seg | None, rst_from_client: bool | None, answered: Seg | None,
                    syn_count: int) -> Finding | None:
    """The finding that states ``conn``'s failed outcome, from what the state machine would
    have kept of it: progress bits, the first SYN and SYN-ACK, the RST and who sent it, the
    last segment from the other side before it (the very SYN object when that is the one)
    and the number of SYNs. ``analyze.table_flows`` asks it for connections done on arrays."""
    st: State = [None] * _N_SLOTS
    st[_H], st[_SYN_REC], st[_SYNACK_REC], st[_RST_REC] = h, syn, synack, rst
    st[_RST_FROM_CLIENT], st[_RST_ANSWERED], st[_SYN_COUNT] = rst_from_client, answered, syn_count
    return _outcome_finding(conn, st)


def _outcome_finding(conn: Connection, st: State) -> Finding | None:
    """The finding that states a failed outcome, with the packets that show it."""
    flow = f"{conn.client} > {conn.server}"
    syn, synack, rst = st[_SYN_REC], st[_SYNACK_REC], st[_RST_REC]
    from_client = st[_RST_FROM_CLIENT]
    ev: list[Evidence] = []
    if syn is not None:
        ev.append(sig_evidence(conn, syn, True, "SYN"))
    if conn.outcome is Outcome.REFUSED:
        kind, root = "refused", True
        summary = f"{conn.point}: {flow}: the server answered the SYN with RST"
        ev.append(sig_evidence(conn, rst, False, "RST from the server"))
    elif conn.outcome is Outcome.RESET or conn.outcome is Outcome.RESET_MIDSTREAM:
        kind, root = "reset", False
        # One point sees who the RST claims to come from, not who made it: a device that
        # answers for the server's address (a NAT box without state) looks the same here.
        who = "client" if from_client else "server's address"
        if st[_H] & H_MID and not st[_H] & (H_SYN | H_SYNACK):
            # The handshake was not captured: "client" is only the side seen first.
            who = str(conn.client if from_client else conn.server)
            summary = (f"{conn.point}: {flow}: RST from {who} (the handshake was not "
                       f"captured, so which side is the client is not known)")
        else:
            who = f"the {who}"
            summary = f"{conn.point}: {flow}: RST from {who}"
        if not st[_H] & (H_EST | H_MID):
            summary += " during the handshake"
        answered = st[_RST_ANSWERED]
        if answered is not None and answered is not syn:
            ev.append(sig_evidence(conn, answered, not from_client,
                                    "last packet from the other side before the RST"))
        ev.append(sig_evidence(conn, rst, from_client, f"RST from {who}"))
    elif conn.outcome is Outcome.SYN_UNANSWERED:
        kind, root = "syn-unanswered", False
        n = st[_SYN_COUNT]
        summary = f"{conn.point}: {flow}: SYN unanswered ({n} sent, no SYN-ACK seen here)"
    elif conn.outcome is Outcome.SYNACK_UNACKNOWLEDGED:
        kind, root = "synack-unacknowledged", False
        summary = f"{conn.point}: {flow}: SYN-ACK never acknowledged by the client here"
        if synack is not None:
            ev.append(sig_evidence(conn, synack, False, "SYN-ACK"))
    else:
        return None
    return Finding(
        kind=kind,
        severity=Severity.ERROR,
        summary=summary,
        evidence=tuple(ev),
        root_cause=root,
        connection=conn.key,
        details={"outcome": str(conn.outcome), "point": conn.point},
    )
