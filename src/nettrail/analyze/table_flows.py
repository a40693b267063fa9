"""Single-point TCP analysis of a packet table: plain connections in bulk, the rest tracked.

The TCP rows are grouped by connection key (both directions: the smaller endpoint first) with
one sort. A group is *plain* when the per-packet state machine of
:class:`~nettrail.analyze.flows.FlowTracker` would find nothing to say about it: no RST, at
most the one SYN that opens it (and one SYN-ACK from the server), sequence space that only
grows in each direction, no packet repeating the one before it within the copy window, and an
outcome that needs no evidence (closed, established or already running). Its
:class:`Connection` is computed from per-group sums (``reduceat``). A group whose only event is
a retransmission (a data segment that does not move the highest sequence sent, found with a
running maximum per direction, before the close, not a copy, from the first byte of exactly
one earlier segment within the tracker's memory, from a side seen on one interface and one
way: a segment that fills a hole may be a first sending arriving late, a third sighting
a late copy, and a piece may be cut from a segment seen whole, which the tracker tells) is
computed the same way, with the tracker's retransmission finding and evidence notes. So is a
group that is plain but for a failed handshake (a SYN unanswered, a
SYN-ACK never acknowledged) or a RST as its last row, with the tracker's outcome finding
(``analyze.table_failed``); a series of SYNs of which each begins a connection of its own (a
client retrying with new sequence numbers) is split into one group per SYN first. A SYN printed
without its ack and a pure ACK printed without its seq (tcpdump's text prints neither) are rows
the columns describe as the tracker sees them: the missing number is none. Every other
group (and any group with a row the columns cannot describe) goes through a ``FlowTracker``,
row by row, in capture order; the tracker is told where each plain connection began, so that
its housekeeping runs exactly when it would have over the whole capture (it is not run at all
when no group needs it). The result is the tracker's over all packets: the same connections,
in the same order, and the same findings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from typing import Any, NamedTuple

import numpy as np

from nettrail.analyze.columns import endpoint_numbers, stable_order
from nettrail.analyze.flows import (
    MAX_EVIDENCE,
    FlowTracker,
    Seg,
    copy_gap,
    gc_paused,
    retransmission_finding,
    retransmission_note,
    sig_evidence,
)
from nettrail.analyze.one_side import OneSide, one_side, seen_one_side
from nettrail.analyze.table_failed import Failed, failed_groups, final_resets, syn_retries
from nettrail.model.arrays import Arr
from nettrail.model.finding import Evidence, Finding
from nettrail.model.flow import Connection, Endpoint, FlowKey, Outcome
from nettrail.model.packet import ACK, FIN, PROTO_TCP, RST, SYN
from nettrail.model.setters import field_setters
from nettrail.model.table import (
    DIRECTIONS,
    K_ACK1,
    K_IPID,
    K_REL,
    K_SEQ,
    K_SEQ1,
    K_TS,
    K_WIN,
    PacketTable,
)

_NEEDED = ("ts", "flags", "seq", "ack", "window", "payload_len", "ip_id", "known")
"""Columns every TCP row is sorted with; the others are read only for the rows that need
them (:func:`_at`)."""
_MASK = 0xFFFFFFFF
_HALF = 0x80000000
_MAX_WINDOW = 1 << 30
_RECENT = 64  # rows resent beyond this many consuming rows back: left to the tracker
_HASH = np.uint64(0x9E3779B97F4A7C15)


def _tcp_rows(table: PacketTable) -> tuple[list[Arr], Arr, Arr]:
    """Which rows of each batch are TCP; their table row numbers; which keep a record."""
    sels, rows, odds = [], [], []
    start = 0
    for b in table.batches:
        c = b.cols
        sel = np.flatnonzero((c["proto"] == PROTO_TCP) & (c["family"] != 0))
        sels.append(sel)
        rows.append((sel + start).astype(np.int32))
        odd = np.zeros(len(sel), bool)
        if b.odd:
            odd = np.isin(sel, np.fromiter(b.odd, np.int64, len(b.odd)))
        odds.append(odd)
        start += len(b)
    if not sels:
        return [], np.zeros(0, np.int32), np.zeros(0, bool)
    return sels, np.concatenate(rows), np.concatenate(odds)


def _column(table: PacketTable, sels: list[Arr], name: str, order: Arr | None = None) -> Arr:
    """Column ``name`` of the selected rows (in ``order`` when given)."""
    parts = [b.cols[name][sel] for b, sel in zip(table.batches, sels, strict=True)]
    col = parts[0] if len(parts) == 1 else np.concatenate(parts)
    return col if order is None else col[order]


def _at(table: PacketTable, name: str, rows: Arr) -> Arr:
    """Column ``name`` at table rows ``rows``."""
    batches = table.batches
    if len(batches) == 1:
        out: Arr = batches[0].cols[name][rows]
        return out
    bounds = np.cumsum([0] + [len(b) for b in batches])
    which = np.searchsorted(bounds, rows, side="right") - 1
    out = np.zeros(len(rows), batches[0].cols[name].dtype)
    for i in np.unique(which, return_index=True)[0].tolist():
        sel = which == i
        out[sel] = batches[i].cols[name][rows[sel] - bounds[i]]
    return out


def _endpoints(table: PacketTable, sels: list[Arr]) -> tuple[Arr, Arr]:
    """Endpoint numbers (``columns.endpoint_numbers``) of source and destination."""
    family = _column(table, sels, "family")
    return (endpoint_numbers(family, _column(table, sels, "src"), _column(table, sels, "sport")),
            endpoint_numbers(family, _column(table, sels, "dst"), _column(table, sels, "dport")))


def _group_order(eps: Arr, epd: Arr) -> tuple[Arr, Arr, Arr, Arr]:
    """Row order grouping rows of one connection key (both directions) together, capture
    order within a group; the endpoints in that order and where each group starts. Sorted
    by a hash of the key; by the key itself if two keys share a hash (the run counts then
    differ). The hash's high bits and the row number share one 64-bit value, sorted as values
    (quicker than a stable sort of the hashes)."""
    h = np.minimum(eps, epd).view(np.uint64)  # endpoint numbers are never negative
    h *= _HASH
    h ^= np.maximum(eps, epd).view(np.uint64)
    h *= _HASH  # every bit of the key into the high bits
    bits = np.uint64(max(len(h) - 1, 1).bit_length())
    h >>= bits
    h <<= bits
    h |= np.arange(len(h), dtype=np.uint64)
    h.sort()
    order = (h & ((np.uint64(1) << bits) - np.uint64(1))).astype(np.int64)
    h >>= bits
    runs = 1 + np.count_nonzero(h[1:] != h[:-1])
    del h
    src, dst = eps[order], epd[order]
    new = _starts(src, dst)
    if np.count_nonzero(new) != runs:
        order = np.lexsort((np.maximum(eps, epd), np.minimum(eps, epd)))
        src, dst = eps[order], epd[order]
        new = _starts(src, dst)
    return order.astype(np.int32), src, dst, new


def _starts(eps: Arr, epd: Arr) -> Arr:
    """Rows (in key order) where a new key begins."""
    new = np.ones(len(eps), bool)
    lo = np.minimum(eps, epd)
    new[1:] = lo[1:] != lo[:-1]
    del lo
    hi = np.maximum(eps, epd)
    new[1:] |= hi[1:] != hi[:-1]
    return new


def _pairs_by_direction(fc: Arr, gid: Arr, mask: Arr) -> Iterator[tuple[Arr, Arr]]:
    """(earlier, later) index pairs of consecutive rows of ``mask`` in the same group and
    direction (sorted order)."""
    for d in (True, False):
        r = np.flatnonzero(mask & (fc == d))
        same = gid[r[1:]] == gid[r[:-1]]
        yield r[:-1][same], r[1:][same]


def track_table(table: PacketTable) -> tuple[list[Connection], list[Finding]]:
    """The connections at ``table``'s point, in order of first packet, and their findings
    (those of a capture proven to show one side of each connection only, ``one_side``, as
    ``seen_one_side`` words them)."""
    done, _late, _began, side = tracked(table)
    findings = [f for _c, found in done for f in found]
    if side is not None and side.proven:
        findings = seen_one_side(table.point, side, findings)
    return [c for c, _f in done], findings


class Tracked(NamedTuple):
    """Each connection of a table, in order of first packet, with its findings; the
    tracker's late packets (``FlowTracker.late``); the rows where a connection began; the
    one side of each connection the table shows, when it shows one only."""

    done: Done
    late: int
    began: Arr
    side: OneSide | None = None


def tracked(table: PacketTable, ticks: tuple[Arr, Arr] | None = None,
            numbers: Arr | None = None) -> Tracked:
    """The table's connections. ``ticks``: (capture order numbers, times) of connections
    that began elsewhere, in order (for the tracker's housekeeping); ``numbers``: each row's
    capture order number (by default its row number)."""
    with gc_paused():
        return _track(table, ticks, numbers)


def _track(table: PacketTable, ticks: tuple[Arr, Arr] | None, numbers: Arr | None) -> Tracked:
    sels, rows, odd = _tcp_rows(table)
    n = len(rows)
    if n == 0:
        return Tracked([], 0, np.zeros(0, np.int64))
    eps, epd = _endpoints(table, sels)
    order, eps, epd, new = _group_order(eps, epd)
    s = {k: _column(table, sels, k, order) for k in _NEEDED}
    s["row"], s["odd"] = rows[order], odd[order]
    del rows, odd, sels, order
    flags = s["flags"].astype(np.int32)
    split = syn_retries(flags, s["known"], s["odd"], s["ts"], s["seq"], eps, epd, new)
    if split is not None:  # each SYN of the series begins a connection of its own
        new |= split
    del split
    starts = np.flatnonzero(new)
    gid = np.cumsum(new, dtype=np.int32) - 1
    first_flags = flags[starts]
    client_is_src = ~((first_flags & SYN != 0) & (first_flags & ACK != 0))
    client_ep = np.where(client_is_src, eps[starts], epd[starts])
    fc = eps == client_ep[gid]
    side = one_side(fc, flags, s["ack"], s["known"], starts)
    looped = eps == epd
    eps, epd = eps[starts], epd[starts]  # what connections are named by
    fin_c = np.logical_or.reduceat(fc & (flags & FIN != 0), starts)
    fin_s = np.logical_or.reduceat(~fc & (flags & FIN != 0), starts)
    rst = flags & RST != 0
    bad, resent, prev = _complex_rows(s, flags, fc, gid, new, looped, starts,
                                      final_resets(flags, s["payload_len"], new, rst))
    del looped
    bad |= _maybe_pieces(table, s, resent, gid, fc)
    mid = first_flags & SYN == 0
    bad |= mid[gid] & (flags & SYN != 0)
    complex_group = np.logical_or.reduceat(bad, starts)
    reset = np.logical_or.reduceat(rst, starts)
    est = np.logical_or.reduceat(fc & (flags & ACK != 0) & (flags & SYN == 0), starts)
    closed = fin_c & fin_s
    complex_group |= reset & closed  # a RST after both FINs: the tracker ignores it
    plain = ~complex_group
    failed = plain & (reset | ~(closed | mid | est))  # a failed handshake or a final RST
    state = failed_groups(flags, fc, starts, np.flatnonzero(failed), mid, fin_c, fin_s)
    groups = _Groups(table, s, starts, fc, eps, epd, client_is_src, gid)
    plain_starts = new & plain[gid]
    done, late, began = _tracked(table, s, complex_group[gid], plain_starts, ticks,
                                 numbers)
    began = np.concatenate((s["row"][plain_starts], began))
    del flags, bad, rst
    conns, found, first = groups.connections(plain, closed, mid, resent & plain[gid], prev,
                                             state)
    return Tracked(_in_order(done, conns, found, first), late, began, side)


def _in_order(tracked: Done, conns: list[Connection], found: dict[int, list[Finding]],
              first: Arr) -> Done:
    """The tracked connections and the plain ones (``first``: their first packet times;
    ``found``: their findings by index) with their findings, in order of first packet, then
    of key, as a stable sort of the tracked ones followed by the plain ones would put them.
    Sorted by time in bulk; only runs of equal times compare keys."""
    m = len(tracked)
    every = [c for c, _f in tracked] + conns
    firsts = np.concatenate([np.fromiter((c.first_ns for c in every[:m]), np.int64, m), first])
    order = stable_order(firsts)
    tied = firsts[order]
    tied = tied[1:] == tied[:-1]
    del firsts
    at = order.tolist()
    if tied.any():
        edge = np.diff(tied.astype(np.int8), prepend=0, append=0)
        for a, b in zip(np.flatnonzero(edge == 1).tolist(),
                        (np.flatnonzero(edge == -1) + 1).tolist(), strict=True):
            at[a:b] = sorted(at[a:b], key=lambda i: every[i].key)
    notes = [f for _c, f in tracked]
    return [(every[i], notes[i] if i < m else found.get(i - m, [])) for i in at]


def _complex_rows(s: dict[str, Arr], flags: Arr, fc: Arr, gid: Arr, new: Arr,
                  looped: Arr, starts: Arr, resets: Arr) -> tuple[Arr, Arr, Arr]:
    """Rows that make their connection need the per-packet state machine (``resets``: the
    RST rows the arrays cannot take); rows that resend sequence space (retransmissions) and,
    for those, the row of the segment they resend (-1: none remembered)."""
    bad = s["odd"] | looped | resets | ~_described(s["known"], flags, s["payload_len"])
    syn_only = flags & (SYN | ACK) == SYN
    bad |= syn_only & ~new  # a SYN after the first packet: a retry or a new connection
    synack = flags & (SYN | ACK) == SYN | ACK
    bad |= synack & (fc | ~new & _seen_before(synack, gid))
    del syn_only, synack
    plen = s["payload_len"]
    ctl = flags & (SYN | FIN) != 0
    consuming = (plen > 0) | ctl
    end = s["seq"].astype(np.int64)
    end += plen
    end += ctl
    del ctl
    bad |= consuming & (end > _MASK)
    resent = np.zeros(len(fc), bool)
    prev = np.full(len(fc), -1, np.int64)
    closing = _closing_rows(flags, fc, gid, starts)
    for d in (True, False):
        r = np.flatnonzero(consuming & (fc == d))
        if len(r):
            _resends(r, gid, s["seq"], end, bad, resent, prev)
    del end
    again = np.flatnonzero(resent)
    bad[again[(flags[again] & (SYN | FIN) != 0) | (again > closing[gid[again]])]] = True
    known = again[prev[again] >= 0]
    bad[known[_same_segment(s, flags, prev[known], known)]] = True
    for a, b in _pairs_by_direction(fc, gid, np.ones(len(fc), bool)):
        pure = ~consuming[b]
        a, b = a[pure], b[pure]
        bad[b[_same_segment(s, flags, a, b)]] = True
    return bad, resent, prev


def _maybe_pieces(table: PacketTable, s: dict[str, Arr], resent: Arr, gid: Arr,
                  fc: Arr) -> Arr:
    """Rows that resend sequence space of a side of a connection seen on more than one
    interface, or both ways through one, and whose bytes overlap other bytes of that side
    than their very own (``_overlapping``): they may be pieces of a segment seen whole on the
    other (``flows._piece_of``, ``flows._whole``), which the tracker tells."""
    out = np.zeros(len(resent), bool)
    again = np.flatnonzero(resent)
    if not len(again):
        return out
    # the rows of the connections with such a row (a connection's rows are together)
    with_again = np.zeros(int(gid[-1]) + 1, bool)
    with_again[gid[again]] = True
    at = np.flatnonzero(with_again[gid])
    side = gid[at].astype(np.int64) * 2 + fc[at]
    many = np.zeros(int(side.max()) + 1, bool)
    for name, known in (("iface", 0), ("direction", 1)):
        col = _at(table, name, s["row"][at]).astype(np.int64)
        named = col >= known
        lo = np.full(len(many), np.iinfo(np.int64).max)
        hi = np.full(len(many), -1)
        np.minimum.at(lo, side[named], col[named])
        np.maximum.at(hi, side[named], col[named])
        many |= (hi >= known) & (lo < hi)
    mine = resent[at] & many[side]
    if mine.any():
        mine &= _overlapping(side, s["seq"][at], s["payload_len"][at], s["known"][at])
        out[at[mine]] = True
    return out


def _overlapping(side: Arr, seq: Arr, plen: Arr, known: Arr) -> Arr:
    """Rows with bytes that share bytes with another span of their side (``side``: a number
    per side of a connection) than their very own: a piece and the segment it was cut from
    (a piece's bytes lie inside its whole's, ``flows._piece_of``); a segment sent again with
    the same bytes shares only its own. Every data row of a side whose numbers wrap or span
    over 2^31, and every data row without a sequence number, is taken as one (the spans are
    not compared there)."""
    data = plen > 0
    out: Arr = data & (known & K_SEQ == 0)
    idx = np.flatnonzero(data & (known & K_SEQ != 0))
    if not len(idx):
        return out
    sd, lo = side[idx], seq[idx].astype(np.int64)
    hi = lo + plen[idx]
    n_sides = int(sd.max()) + 1
    least = np.full(n_sides, np.iinfo(np.int64).max)
    most = np.full(n_sides, -1)
    np.minimum.at(least, sd, lo)
    np.maximum.at(most, sd, hi)
    wraps = most - least > 1 << 31
    order = np.lexsort((-hi, lo, sd))
    o_sd, o_lo, o_hi = sd[order], lo[order], hi[order]
    distinct = np.ones(len(order), bool)
    distinct[1:] = (o_sd[1:] != o_sd[:-1]) | (o_lo[1:] != o_lo[:-1]) | (o_hi[1:] != o_hi[:-1])
    u = np.flatnonzero(distinct)
    u_sd, u_lo, u_hi = o_sd[u], o_lo[u], o_hi[u]
    # the largest end of the earlier spans in (side, start) order, its side above its bits:
    # an earlier side's is below this side's base, so never past a start of this side
    base = u_sd << 34
    before = np.empty(len(u), np.int64)
    before[0] = -1
    before[1:] = np.maximum.accumulate(base + u_hi)[:-1]
    shared = before - base > u_lo
    shared[:-1] |= (u_sd[1:] == u_sd[:-1]) & (u_lo[1:] < u_hi[:-1])
    hit = np.empty(len(idx), bool)
    hit[order] = shared[np.cumsum(distinct) - 1]
    out[idx] = hit | wraps[sd]
    return out


def _described(known: Arr, flags: Arr, plen: Arr) -> Arr:
    """Rows whose numbers the columns give as the tracker sees them: seq, ack and window all
    known, or what tcpdump prints of a SYN (no ack) and of a pure ACK (no seq), each with its
    window and absolute numbers; the tracker takes the missing number as none."""
    k = known & (K_SEQ | K_SEQ1 | K_REL | K_ACK1 | K_WIN)
    out: Arr = ((known & K_SEQ != 0)
                | ((k == K_SEQ1 | K_WIN) & (flags & (SYN | FIN | RST | ACK) == SYN))
                | ((k == K_ACK1 | K_WIN) & (flags & (SYN | FIN | RST | ACK) == ACK)
                   & (plen == 0)))
    return out


_HAS = {"seq": K_SEQ | K_SEQ1, "ack": K_SEQ | K_ACK1}
"""The known bits of which any one gives a row its seq (or ack) number: all numbers known, or
that one alone (what tcpdump's text prints of a SYN, of a pure ACK)."""


def _numbers(s: dict[str, Arr], name: str, rows: Arr) -> Arr:
    """Column ``name`` (seq or ack) of ``rows`` as the tracker compares it: -1 where a row
    has none (``_described``)."""
    out: Arr = s[name][rows].astype(np.int64)
    out[s["known"][rows] & _HAS[name] == 0] = -1
    return out


def _same_segment(s: dict[str, Arr], flags: Arr, a: Arr, b: Arr) -> Arr:
    """Rows ``b`` that may be copies of rows ``a`` under the tracker's copy rule: the fields
    a copy repeats (seq, ack, flags, length, window, IP ID) equal, and the gap between them
    one that ``flows.copy_gap`` (the rule itself) allows. The interfaces are not compared: a
    repeat on the same one goes to the tracker too, which tells it from a copy."""
    ids = _ip_ids(s, b)
    same: Arr = ((_numbers(s, "seq", a) == _numbers(s, "seq", b))
            & (_numbers(s, "ack", a) == _numbers(s, "ack", b))
            & (flags[a] == flags[b]) & (s["payload_len"][a] == s["payload_len"][b])
            & (s["window"][a] == s["window"][b]) & (_ip_ids(s, a) == ids))
    k = np.flatnonzero(same)  # repeats are few: the rule is asked about each
    gaps = (s["ts"][b[k]] - s["ts"][a[k]]).tolist()
    tied = [None if i < 0 else i for i in ids[k].tolist()]
    same[k] = np.fromiter(map(copy_gap, gaps, tied), bool, len(k))
    return same


def _ip_ids(s: dict[str, Arr], rows: Arr) -> Arr:
    """The IP ID of each of ``rows`` as the tracker sees it: -1 where a row has none (IPv6)."""
    ids: Arr = s["ip_id"][rows].astype(np.int32)
    ids[s["known"][rows] & K_IPID == 0] = -1
    return ids


def _closing_rows(flags: Arr, fc: Arr, gid: Arr, starts: Arr) -> Arr:
    """Per group, the row at which both sides have sent a FIN (past the end when never)."""
    n = len(fc)
    pos = np.arange(n)
    fin = flags & FIN != 0
    far = np.int64(n)
    first_c = np.minimum.reduceat(np.where(fin & fc, pos, far), starts)
    first_s = np.minimum.reduceat(np.where(fin & ~fc, pos, far), starts)
    out: Arr = np.maximum(first_c, first_s)
    return out


def _resends(r: Arr, gid: Arr, seq: Arr, end: Arr, bad: Arr, resent: Arr, prev: Arr) -> None:
    """Mark, among the sequence-consuming rows ``r`` of one direction (sorted order), those
    that do not move the highest sequence sent (``resent``) and the row each resends."""
    g = gid[r]
    first = np.ones(len(r), bool)
    first[1:] = g[1:] != g[:-1]
    head = np.maximum.accumulate(np.where(first, np.arange(len(r)), 0))
    sr = seq[r].astype(np.int64)
    base = sr[head]
    rel = (end[r] - base) & _MASK
    bad[r[rel >= _HALF]] = True
    key = g.astype(np.int64) << 32 | rel
    top = np.maximum.accumulate(key)
    before = np.empty(len(r), np.int64)
    before[0] = -1
    before[1:] = top[:-1]
    before[first] = (g[first].astype(np.int64) << 32) - 1
    again = key <= before
    if not again.any():
        return
    idx = np.flatnonzero(again)
    high = (base[idx] + (before[idx] & _MASK)) & _MASK
    bad[r[idx[((high - sr[idx]) & _MASK) > _MAX_WINDOW]]] = True
    resent[r[idx]] = True
    ks = g.astype(np.int64) << 32 | sr
    by_seq = stable_order(ks)
    ks = ks[by_seq]
    same = np.zeros(len(r), bool)
    same[1:] = ks[1:] == ks[:-1]
    earlier = np.full(len(r), -1, np.int64)
    earlier[by_seq[same]] = by_seq[np.flatnonzero(same) - 1]
    e = earlier[idx]
    far = (e >= 0) & (idx - e > _RECENT)
    bad[r[idx[far]]] = True  # the tracker may have forgotten it: let it say so
    # a third sighting from one byte may be a copy of the first (``flows.FlowTracker._repeat``)
    bad[r[idx[(e >= 0) & (earlier[np.maximum(e, 0)] >= 0)]]] = True
    # bytes never begun here before, below others: they may have been sent before those and
    # arrive late, and then count only when their twin comes (``flows._late``); the tracker
    # tells
    bad[r[idx[e < 0]]] = True
    prev[r[idx]] = np.where(e >= 0, r[np.maximum(e, 0)], -1)


def _seen_before(mask: Arr, gid: Arr) -> Arr:
    """Rows of ``mask`` that follow another row of ``mask`` in the same group."""
    r = np.flatnonzero(mask)
    out = np.zeros(len(mask), bool)
    out[r[1:][gid[r[1:]] == gid[r[:-1]]]] = True
    return out


_OCTETS = [str(i) for i in range(256)]


def _endpoint_list(addrs: list[str], eps: Arr) -> list[Endpoint]:
    """The Endpoints of endpoint numbers ``eps`` (address text as the tracker writes it;
    ``addrs``: the table's side list of other addresses), the text of each address (and of
    each /24) made once."""
    octets = _OCTETS
    nets: dict[int, str] = {}
    hosts, at = np.unique(eps >> 16, return_inverse=True)
    texts = []
    for host in hosts.tolist():
        addr = host & _MASK
        if host >> 32:
            texts.append(addrs[addr])
            continue
        net = addr >> 8
        head = nets.get(net)
        if head is None:
            head = nets[net] = f"{net >> 16}.{net >> 8 & 255}.{net & 255}."
        texts.append(head + octets[addr & 255])
    new = tuple.__new__  # Endpoint's own __new__, without its Python-level call
    return [new(Endpoint, pair) for pair in zip(map(texts.__getitem__, at.tolist()),
                                                (eps & 0xFFFF).tolist(), strict=True)]


Done = list[tuple[Connection, list[Finding]]]


def _evidence(conn: Connection, sigs: dict[int, Seg], k: int, p: int,
              from_client: bool) -> Evidence:
    """Evidence of the resent segment at sorted row ``k`` (``p``: the one it resends)."""
    sig = sigs[k]
    note = "sequence space sent again"
    if p >= 0:
        prev = sigs[p]
        note = retransmission_note(sig, prev)
    return sig_evidence(conn, sig, from_client, note)


_CONNECTION_SLOTS = field_setters(Connection)  # a plain connection is made with them


class _Groups:
    """The grouped rows, to make Connections (and retransmission findings) from."""

    def __init__(self, table: PacketTable, s: dict[str, Arr], starts: Arr, fc: Arr,
                 eps: Arr, epd: Arr, client_is_src: Arr, gid: Arr) -> None:
        self.table, self.s, self.starts, self.fc, self.gid = table, s, starts, fc, gid
        self.eps, self.epd, self.client_is_src = eps, epd, client_is_src

    def connections(self, plain: Arr, closed: Arr, mid: Arr, resent: Arr, prev: Arr,
                    failed: Failed) -> tuple[list[Connection], dict[int, list[Finding]], Arr]:
        """The Connection of every plain group (in group order), the findings of those that
        resent, failed or were reset (by index in that list: ``failed`` holds what the
        tracker would know of the last two), and their first packet times."""
        s, starts, fc = self.s, self.starts, self.fc
        n = len(fc)
        g_all = np.flatnonzero(plain)
        ends = np.append(starts[1:], n)
        plen = s["payload_len"].astype(np.int64)
        bytes_c = np.add.reduceat(np.where(fc, plen, 0), starts)[g_all].tolist()
        bytes_s = np.add.reduceat(np.where(fc, 0, plen), starts)[g_all].tolist()
        del plen
        n_resent = np.add.reduceat(resent.astype(np.int64), starts)[g_all]
        evidence = self._evidence_rows(resent)
        wanted = [k for rows in evidence.values() for k in rows]
        at = np.array(wanted, np.int64)
        prev_of = dict(zip(wanted, prev[at].tolist(), strict=True))
        from_client = dict(zip(wanted, self.fc[at].tolist(), strict=True))
        sigs = self._sigs(wanted + [p for p in prev_of.values() if p >= 0] + failed.rows())
        del at
        ts = s["ts"]
        # earliest and latest times (not the first and last rows': times may go backwards)
        first = np.minimum.reduceat(ts, starts)[g_all]
        last = np.maximum.reduceat(ts, starts)[g_all].tolist()
        del ts
        s.clear()  # the rows are done with: free them before the objects are made
        point = self.table.point
        m = len(g_all)
        uniq, inverse = np.unique(np.concatenate([self.eps[g_all], self.epd[g_all]]),
                                  return_inverse=True)
        eps = _endpoint_list(self.table.addrs, uniq)
        ep_at = inverse.tolist()
        names = (Outcome.CLOSED, Outcome.MIDSTREAM, Outcome.ESTABLISHED)
        outcomes = [names[i] for i in np.where(closed, 0, np.where(mid, 1, 2))[g_all].tolist()]
        group = g_all.tolist()
        failed_at = np.flatnonzero(np.isin(g_all, np.fromiter(failed.h, np.int64,
                                                             len(failed.h)))).tolist()
        for j in failed_at:
            outcomes[j] = failed.outcome(group[j])
        new_key = tuple.__new__  # FlowKey's own __new__, without its Python-level call
        new = object.__new__
        (s_point, s_key, s_client, s_server, s_outcome, s_packets, s_first, s_last, s_retx,
         s_copies, s_bytes_c, s_bytes_s) = _CONNECTION_SLOTS
        conns = []
        for ia, ib, fwd, oc, packets, t0, t1, nr, bc, bs in zip(
                ep_at[:m], ep_at[m:], self.client_is_src[g_all].tolist(), outcomes,
                (ends[g_all] - starts[g_all]).tolist(), first.tolist(), last,
                n_resent.tolist(), bytes_c, bytes_s, strict=True):
            a, b = eps[ia], eps[ib]
            conn = new(Connection)  # each field set once, as Connection(...) would
            s_point(conn, point)
            s_key(conn, new_key(FlowKey, (PROTO_TCP, a, b) if a <= b else (PROTO_TCP, b, a)))
            s_client(conn, a if fwd else b)
            s_server(conn, b if fwd else a)
            s_outcome(conn, oc)
            s_packets(conn, packets)
            s_first(conn, t0)
            s_last(conn, t1)
            s_retx(conn, nr)
            s_copies(conn, 0)
            s_bytes_c(conn, bc)
            s_bytes_s(conn, bs)
            conns.append(conn)
        found: dict[int, list[Finding]] = {}
        for j in failed_at:
            outcome = failed.finding(group[j], conns[j], sigs)
            found[j] = [] if outcome is None else [outcome]
        for j in np.flatnonzero(n_resent).tolist():
            conn = conns[j]
            ev = tuple([_evidence(conn, sigs, k, prev_of[k], from_client[k])
                        for k in evidence[group[j]]])
            found.setdefault(j, []).append(retransmission_finding(conn, ev))
        return conns, found, first

    def _evidence_rows(self, resent: Arr) -> dict[int, list[int]]:
        """The first :data:`MAX_EVIDENCE` resent rows of each group."""
        out: dict[int, list[int]] = {}
        for k, g in zip(np.flatnonzero(resent).tolist(),
                        self.gid[resent].tolist(), strict=True):
            rows = out.setdefault(g, [])
            if len(rows) < MAX_EVIDENCE:
                rows.append(k)
        return out

    def _sigs(self, rows: list[int]) -> dict[int, Seg]:
        """The tracker's segment tuples of sorted rows ``rows`` (plain IPv4/IPv6 rows: column
        rows, their times usable)."""
        s, table = self.s, self.table
        idx = np.array(rows, np.int64)
        at = s["row"][idx]
        ipid = _ip_ids(s, idx).tolist()
        ifnames = [*table.ifnames, None]
        files = table.files
        seqs, acks, wins, _rels = _printed(s, idx)  # a plain row is never left relative
        cols = zip(rows, s["ts"][idx].tolist(), seqs, acks,
                   s["flags"][idx].tolist(), s["payload_len"][idx].tolist(), wins, ipid,
                   _at(table, "iface", at).tolist(),
                   _at(table, "direction", at).tolist(), _at(table, "frame", at).tolist(),
                   _at(table, "file", at).tolist(), strict=True)
        return {k: (ts, seq, ack, fl, plen, win, None if i < 0 else i, ifnames[iface],
                    DIRECTIONS[d], frame, files[file], None, False, None, None)
                for k, ts, seq, ack, fl, plen, win, i, iface, d, frame, file in cols}


def _tracked(table: PacketTable, s: dict[str, Arr], rows: Arr, starts: Arr,
             ticks: tuple[Arr, Arr] | None, numbers: Arr | None) -> tuple[Done, int, Arr]:
    """Connections and findings of the rows that need the state machine, tracked in capture
    order, with a tick where each plain connection (and each of ``ticks``) began; the
    tracker's late packets; the rows where it began a connection."""
    if not rows.any():  # nothing to track: the ticks alone change nothing
        return [], 0, np.zeros(0, np.int64)
    idx = np.flatnonzero(rows | starts)
    idx = idx[stable_order(s["row"][idx])]
    tracker = _Tracker(table.point)
    segments = _segments(table, s, idx, rows[idx], tracker)
    if ticks is not None and len(ticks[0]):
        at = s["row"][idx]
        segments = _ticked(segments, at if numbers is None else numbers[at], ticks)
    tracker.consume_segments(segments)
    with gc_paused():
        return list(tracker.finished()), tracker.late, np.array(tracker.began, np.int64)


class _Tracker(FlowTracker):
    """A tracker that notes the row where it begins each connection (``row``: the row of
    the segment being fed)."""

    def __init__(self, point: str) -> None:
        super().__init__(point)
        self.row = -1
        self.began: list[int] = []

    def _new_conn(self, sig: Seg) -> Any:
        self.began.append(self.row)
        return super()._new_conn(sig)


def _ticked(segments: Iterator[Seg | int | None], numbers: Arr,
            ticks: tuple[Arr, Arr]) -> Iterator[Seg | int | None]:
    """The segments (capture order ``numbers``) with the ticks before the rows they precede."""
    when, times = ticks[0].tolist(), ticks[1].tolist()
    j, m = 0, len(when)
    for k, seg in zip(numbers.tolist(), segments, strict=True):
        while j < m and when[j] < k:
            yield times[j]
            j += 1
        yield seg
    yield from times[j:]


def _printed(s: dict[str, Arr], idx: Arr) -> tuple[list[Any], list[Any], list[Any],
                                                  list[bool]]:
    """The seq, ack and window of rows ``idx`` as the tracker takes them (None where the text
    printed none) and whether each row's numbers are left relative."""
    known = s["known"][idx]
    seqs, acks = s["seq"][idx].tolist(), s["ack"][idx].tolist()
    wins, rels = s["window"][idx].tolist(), [False] * len(idx)
    has_seq, has_ack = _HAS["seq"], _HAS["ack"]
    for j in np.flatnonzero((known & (K_SEQ | K_WIN)) != (K_SEQ | K_WIN)).tolist():
        k = int(known[j])  # text: numbers it did not print, or left relative
        seqs[j] = seqs[j] if k & has_seq else None
        acks[j] = acks[j] if k & has_ack else None
        wins[j] = wins[j] if k & K_WIN else None
        rels[j] = bool(k & K_REL)
    return seqs, acks, wins, rels


def _segments(table: PacketTable, s: dict[str, Arr], idx: Arr, real: Arr,
              tracker: _Tracker) -> Iterator[Seg | int | None]:
    """The tracker's segment for each row of ``idx`` (its capture time for a tick)."""
    odd = table.odd_rows() if any(b.odd for b in table.batches) else {}
    at = s["row"][idx]
    keys = _keys(table, at)
    ifnames = [*table.ifnames, None]
    files = table.files
    ipid = _ip_ids(s, idx).tolist()
    seqs, acks, wins, rels = _printed(s, idx)
    tsv = np.where(s["known"][idx] & K_TS != 0, _at(table, "ts_val", at).astype(np.int64), -1)
    cols = zip(real.tolist(), s["ts"][idx].tolist(), seqs, acks, s["flags"][idx].tolist(),
               s["payload_len"][idx].tolist(), wins, ipid,
               _at(table, "iface", at).tolist(), _at(table, "direction", at).tolist(),
               _at(table, "frame", at).tolist(), _at(table, "file", at).tolist(), keys,
               at.tolist(), rels, tsv.tolist(), strict=True)
    for is_row, ts, seq, ack, fl, plen, win, ip_id, iface, dirn, frame, file, key, row, rel, \
            ts_val in cols:
        if not is_row:
            yield ts
            continue
        tracker.row = row
        rec = odd.get(row)
        if rec is not None:
            yield tracker.segment(rec)
            continue
        yield (ts, seq, ack, fl, plen, win, None if ip_id < 0 else ip_id, ifnames[iface],
               DIRECTIONS[dirn], frame, files[file], key, rel, None,
               None if ts_val < 0 else ts_val)  # a row of the columns: its time is usable


def _keys(table: PacketTable, rows: Arr) -> list[bytes | None]:
    """The tracker's key bytes (packed addresses and ports) of IPv4/IPv6 table rows; None
    for others (their records are kept)."""
    fam = _at(table, "family", rows)
    src, dst = _at(table, "src", rows), _at(table, "dst", rows)
    sport, dport = _at(table, "sport", rows), _at(table, "dport", rows)
    out: list[bytes | None] = [None] * len(rows)
    v4 = np.flatnonzero(fam == 4)
    if len(v4):
        k = np.zeros((len(v4), 12), np.uint8)
        k[:, 0:4] = src[v4].astype(">u4").view(np.uint8).reshape(-1, 4)
        k[:, 4:8] = dst[v4].astype(">u4").view(np.uint8).reshape(-1, 4)
        k[:, 8:10] = sport[v4].astype(">u2").view(np.uint8).reshape(-1, 2)
        k[:, 10:12] = dport[v4].astype(">u2").view(np.uint8).reshape(-1, 2)
        for j, key in zip(v4.tolist(), k.view("V12")[:, 0].tolist(), strict=True):
            out[j] = key
    packed: dict[int, bytes] = {}
    for j in np.flatnonzero(fam == 6).tolist():
        a, b = int(src[j]), int(dst[j])
        for x in (a, b):
            if x not in packed:
                packed[x] = ipaddress.ip_address(table.addrs[x]).packed
        out[j] = (packed[a] + packed[b] + int(sport[j]).to_bytes(2, "big")
                  + int(dport[j]).to_bytes(2, "big"))
    return out
