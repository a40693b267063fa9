"""Single-point TCP analysis of a packet table: plain connections in bulk, the rest tracked.

The TCP rows are grouped by connection key (both directions: the smaller endpoint first) with
one sort. A group is *plain* when the per-packet state machine of
:class:`~nettrail.analyze.flows.FlowTracker` would find nothing to say about it: no RST, at
most the one SYN that opens it (and one SYN-ACK from the server), sequence space that only
grows in each direction, no packet repeating the one before it within the copy window, and an
outcome that needs no evidence (closed, established or already running). Its
:class:`Connection` is computed from per-group sums (``reduceat``). A group whose only event is
a retransmission (a data segment that does not move the highest sequence sent, found with a
running maximum per direction, before the close, not a copy, its earlier sending within the
tracker's memory) is computed the same way, with the tracker's retransmission finding and
evidence notes. Every other group (and any group with a row the columns cannot describe) goes
through a ``FlowTracker``, row by row, in capture order; the tracker is told where each plain
connection began, so that its housekeeping runs exactly when it would have over the whole
capture. The result is the tracker's over all packets: the same connections, in the same order,
and the same findings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from nettrail.analyze.flows import (
    COPY_WINDOW_NS,
    IDENTIFIED_COPY_WINDOW_NS,
    MAX_EVIDENCE,
    FlowTracker,
    Seg,
    gc_paused,
    retransmission_finding,
    retransmission_note,
    sig_evidence,
)
from nettrail.model.finding import Evidence, Finding
from nettrail.model.flow import Connection, Endpoint, FlowKey, Outcome
from nettrail.model.packet import ACK, FIN, PROTO_TCP, RST, SYN
from nettrail.model.table import (
    DIRECTIONS,
    K_ACK1,
    K_IPID,
    K_REL,
    K_SEQ,
    K_SEQ1,
    K_WIN,
    PacketTable,
)

Arr = npt.NDArray[Any]
_NEEDED = ("ts", "flags", "seq", "ack", "window", "payload_len", "ip_id", "known")
"""Columns every TCP row is sorted with; the others are read only for the rows that need
them (:func:`_at`)."""
_ORDER = attrgetter("first_ns", "key")
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
    """Endpoint numbers (address tag, address, port) of source and destination."""
    tag = (_column(table, sels, "family") != 4).astype(np.int64) << 48
    src = tag | (_column(table, sels, "src").astype(np.int64) << 16)
    src |= _column(table, sels, "sport")
    dst = tag | (_column(table, sels, "dst").astype(np.int64) << 16)
    dst |= _column(table, sels, "dport")
    return src, dst


def _group_order(eps: Arr, epd: Arr) -> tuple[Arr, Arr, Arr, Arr]:
    """Row order grouping rows of one connection key (both directions) together, capture
    order within a group; the endpoints in that order and where each group starts. Sorted
    by a hash of the key; by the key itself if two keys share a hash (the run counts then
    differ)."""
    h = np.minimum(eps, epd).view(np.uint64)  # endpoint numbers are never negative
    h *= _HASH
    h ^= np.maximum(eps, epd).view(np.uint64)
    order = np.argsort(h, kind="stable")
    h = h[order]
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
    """The connections at ``table``'s point, in order of first packet, and their findings."""
    with gc_paused():
        return _track(table)


def _track(table: PacketTable) -> tuple[list[Connection], list[Finding]]:
    sels, rows, odd = _tcp_rows(table)
    n = len(rows)
    if n == 0:
        return [], []
    eps, epd = _endpoints(table, sels)
    order, eps, epd, new = _group_order(eps, epd)
    s = {k: _column(table, sels, k, order) for k in _NEEDED}
    s["row"], s["odd"] = rows[order], odd[order]
    del rows, odd, sels, order
    starts = np.flatnonzero(new)
    gid = np.cumsum(new, dtype=np.int32) - 1
    flags = s["flags"].astype(np.int32)
    first_flags = flags[starts]
    client_is_src = ~((first_flags & SYN != 0) & (first_flags & ACK != 0))
    client_ep = np.where(client_is_src, eps[starts], epd[starts])
    fc = eps == client_ep[gid]
    looped = eps == epd
    eps, epd = eps[starts], epd[starts]  # what connections are named by
    fin_c = np.logical_or.reduceat(fc & (flags & FIN != 0), starts)
    fin_s = np.logical_or.reduceat(~fc & (flags & FIN != 0), starts)
    bad, resent, prev = _complex_rows(s, flags, fc, gid, new, looped, starts)
    del looped
    mid = first_flags & SYN == 0
    bad |= mid[gid] & (flags & SYN != 0)
    complex_group = np.logical_or.reduceat(bad, starts)
    est = np.logical_or.reduceat(fc & (flags & ACK != 0) & (flags & SYN == 0), starts)
    closed = fin_c & fin_s
    complex_group |= ~(closed | mid | est)  # a failed handshake: the tracker gives evidence
    plain = ~complex_group
    groups = _Groups(table, s, starts, fc, eps, epd, client_is_src, gid)
    done = _tracked(table, s, complex_group[gid], new & plain[gid])
    del flags, bad
    done.extend(groups.connections(plain, closed, mid, resent & plain[gid], prev))
    done.sort(key=lambda cf: _ORDER(cf[0]))
    return [c for c, _f in done], [f for _c, found in done for f in found]


def _complex_rows(s: dict[str, Arr], flags: Arr, fc: Arr, gid: Arr, new: Arr,
                  looped: Arr, starts: Arr) -> tuple[Arr, Arr, Arr]:
    """Rows that make their connection need the per-packet state machine; rows that resend
    sequence space (retransmissions) and, for those, the row of the segment they resend
    (-1: none remembered)."""
    bad = s["odd"] | looped | (flags & RST != 0) | ((s["known"] & K_SEQ) == 0)
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


def _same_segment(s: dict[str, Arr], flags: Arr, a: Arr, b: Arr) -> Arr:
    """Rows ``a`` and ``b`` have the fields a copy repeats (seq, ack, flags, length,
    window, IP ID); for repeats, also within the copy window (the longer one when a nonzero
    IP ID ties them, as ``flows.copy_gap`` allows)."""
    same: Arr = ((s["seq"][a] == s["seq"][b]) & (s["ack"][a] == s["ack"][b])
            & (flags[a] == flags[b]) & (s["payload_len"][a] == s["payload_len"][b])
            & (s["window"][a] == s["window"][b]) & (s["ip_id"][a] == s["ip_id"][b])
            & ((s["known"][a] & K_IPID) == (s["known"][b] & K_IPID))
            & (s["ts"][b] - s["ts"][a] <= np.where(
                (s["ip_id"][b] != 0) & (s["known"][b] & K_IPID != 0),
                IDENTIFIED_COPY_WINDOW_NS, COPY_WINDOW_NS)))
    return same


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
    by_seq = np.argsort(ks, kind="stable")
    ks = ks[by_seq]
    same = np.zeros(len(r), bool)
    same[1:] = ks[1:] == ks[:-1]
    earlier = np.full(len(r), -1, np.int64)
    earlier[by_seq[same]] = by_seq[np.flatnonzero(same) - 1]
    e = earlier[idx]
    far = (e >= 0) & (idx - e > _RECENT)
    bad[r[idx[far]]] = True  # the tracker may have forgotten it: let it say so
    prev[r[idx]] = np.where(e >= 0, r[np.maximum(e, 0)], -1)


def _seen_before(mask: Arr, gid: Arr) -> Arr:
    """Rows of ``mask`` that follow another row of ``mask`` in the same group."""
    r = np.flatnonzero(mask)
    out = np.zeros(len(mask), bool)
    out[r[1:][gid[r[1:]] == gid[r[:-1]]]] = True
    return out


Done = list[tuple[Connection, list[Finding]]]
_NO_FINDINGS: list[Finding] = []  # shared by every connection without one: never changed


class _Groups:
    """The grouped rows, to make Connections (and retransmission findings) from."""

    def __init__(self, table: PacketTable, s: dict[str, Arr], starts: Arr, fc: Arr,
                 eps: Arr, epd: Arr, client_is_src: Arr, gid: Arr) -> None:
        self.table, self.s, self.starts, self.fc, self.gid = table, s, starts, fc, gid
        self.eps, self.epd, self.client_is_src = eps, epd, client_is_src
        self.names = _Names(table)

    def connections(self, plain: Arr, closed: Arr, mid: Arr, resent: Arr, prev: Arr) -> Done:
        """The Connection of every plain group, with its retransmission finding if any."""
        s, starts, fc = self.s, self.starts, self.fc
        n = len(fc)
        ends = np.append(starts[1:], n)
        plen = s["payload_len"].astype(np.int64)
        bytes_c = np.add.reduceat(np.where(fc, plen, 0), starts).tolist()
        bytes_s = np.add.reduceat(np.where(fc, 0, plen), starts).tolist()
        n_resent = np.add.reduceat(resent.astype(np.int64), starts).tolist()
        evidence = self._evidence_rows(resent)
        wanted = [k for rows in evidence.values() for k in rows]
        sigs = self._sigs(wanted + [int(prev[k]) for k in wanted if prev[k] >= 0])
        ts = s["ts"]
        first_ts, last_ts = ts[starts].tolist(), ts[ends - 1].tolist()
        del plen, ts
        s.clear()  # the rows are done with: free them before the objects are made
        point = self.table.point
        endpoint = self.names.endpoint
        outcomes = np.where(closed, 0, np.where(mid, 1, 2))
        names = (Outcome.CLOSED, Outcome.MIDSTREAM, Outcome.ESTABLISHED)
        g_all = np.flatnonzero(plain)
        out: Done = []
        for g, i, j, first, last, src, dst, fwd, oc in zip(
                g_all.tolist(), starts[g_all].tolist(), ends[g_all].tolist(),
                [first_ts[g] for g in g_all.tolist()], [last_ts[g] for g in g_all.tolist()],
                self.eps[g_all].tolist(), self.epd[g_all].tolist(),
                self.client_is_src[g_all].tolist(), outcomes[g_all].tolist(), strict=True):
            a, b = endpoint(src), endpoint(dst)
            key = FlowKey(PROTO_TCP, a, b) if a <= b else FlowKey(PROTO_TCP, b, a)
            client, server = (a, b) if fwd else (b, a)
            conn = Connection(point, key, client, server, names[oc], j - i, first, last,
                              n_resent[g], 0, bytes_c[g], bytes_s[g])
            found = _NO_FINDINGS
            if n_resent[g]:
                ev = tuple(self._evidence(conn, k, int(prev[k]), sigs) for k in evidence[g])
                found = [retransmission_finding(conn, ev)]
            out.append((conn, found))
        return out

    def _evidence_rows(self, resent: Arr) -> dict[int, list[int]]:
        """The first :data:`MAX_EVIDENCE` resent rows of each group."""
        out: dict[int, list[int]] = {}
        for k, g in zip(np.flatnonzero(resent).tolist(),
                        self.gid[resent].tolist(), strict=True):
            rows = out.setdefault(g, [])
            if len(rows) < MAX_EVIDENCE:
                rows.append(k)
        return out

    def _evidence(self, conn: Connection, k: int, p: int, sigs: dict[int, Seg]) -> Evidence:
        """Evidence of the resent segment at sorted row ``k`` (``p``: the one it resends)."""
        sig = sigs[k]
        note = "sequence space sent again"
        if p >= 0:
            prev = sigs[p]
            note = retransmission_note(sig[0] - prev[0], prev[10], prev[9])
        return sig_evidence(conn, sig, bool(self.fc[k]), note)

    def _sigs(self, rows: list[int]) -> dict[int, Seg]:
        """The tracker's segment tuples of sorted rows ``rows`` (plain IPv4/IPv6 rows)."""
        s, table = self.s, self.table
        idx = np.array(rows, np.int64)
        at = s["row"][idx]
        ipid = np.where(s["known"][idx] & K_IPID != 0, s["ip_id"][idx].astype(np.int64),
                        -1).tolist()
        ifnames = [*table.ifnames, None]
        files = table.files
        cols = zip(rows, s["ts"][idx].tolist(), s["seq"][idx].tolist(), s["ack"][idx].tolist(),
                   s["flags"][idx].tolist(), s["payload_len"][idx].tolist(),
                   s["window"][idx].tolist(), ipid, _at(table, "iface", at).tolist(),
                   _at(table, "direction", at).tolist(), _at(table, "frame", at).tolist(),
                   _at(table, "file", at).tolist(), strict=True)
        return {k: (ts, seq, ack, fl, plen, win, None if i < 0 else i, ifnames[iface],
                    DIRECTIONS[d], frame, files[file], None, False, None)
                for k, ts, seq, ack, fl, plen, win, i, iface, d, frame, file in cols}


class _Names:
    """Endpoint numbers to Endpoints (text as the tracker writes it), cached."""

    def __init__(self, table: PacketTable) -> None:
        self.addrs = table.addrs
        self.cache: dict[int, Endpoint] = {}

    def endpoint(self, ep: int) -> Endpoint:
        """The Endpoint of endpoint number ``ep``."""
        e = self.cache.get(ep)
        if e is None:
            addr = (ep >> 16) & _MASK
            text = (self.addrs[addr] if ep >> 48 else
                    f"{addr >> 24}.{addr >> 16 & 255}.{addr >> 8 & 255}.{addr & 255}")
            e = self.cache[ep] = Endpoint(text, ep & 0xFFFF)
        return e


def _tracked(table: PacketTable, s: dict[str, Arr], rows: Arr, ticks: Arr) -> Done:
    """Connections and findings of the rows that need the state machine, tracked in capture
    order, with a tick where each plain connection began."""
    tracker = FlowTracker(table.point)
    idx = np.flatnonzero(rows | ticks)
    if len(idx) == 0:
        return []
    idx = idx[np.argsort(s["row"][idx], kind="stable")]
    tracker.consume_segments(_segments(table, s, idx, rows[idx], tracker))
    with gc_paused():
        return list(tracker.finished())


def _segments(table: PacketTable, s: dict[str, Arr], idx: Arr, real: Arr,
              tracker: FlowTracker) -> Iterator[Seg | int | None]:
    """The tracker's segment for each row of ``idx`` (its capture time for a tick)."""
    odd = table.odd_rows() if any(b.odd for b in table.batches) else {}
    at = s["row"][idx]
    keys = _keys(table, at)
    ifnames = [*table.ifnames, None]
    files = table.files
    known = s["known"][idx]
    ipid = np.where(known & K_IPID != 0, s["ip_id"][idx].astype(np.int64), -1).tolist()
    seqs, acks = s["seq"][idx].tolist(), s["ack"][idx].tolist()
    wins, rels = s["window"][idx].tolist(), [False] * len(idx)
    for j in np.flatnonzero((known & (K_SEQ | K_WIN)) != (K_SEQ | K_WIN)).tolist():
        k = int(known[j])  # text: numbers it did not print, or left relative
        seqs[j] = seqs[j] if k & (K_SEQ | K_SEQ1) else None
        acks[j] = acks[j] if k & (K_SEQ | K_ACK1) else None
        wins[j] = wins[j] if k & K_WIN else None
        rels[j] = bool(k & K_REL)
    cols = zip(real.tolist(), s["ts"][idx].tolist(), seqs, acks, s["flags"][idx].tolist(),
               s["payload_len"][idx].tolist(), wins, ipid,
               _at(table, "iface", at).tolist(), _at(table, "direction", at).tolist(),
               _at(table, "frame", at).tolist(), _at(table, "file", at).tolist(), keys,
               at.tolist(), rels, strict=True)
    for is_row, ts, seq, ack, fl, plen, win, ip_id, iface, dirn, frame, file, key, row, rel \
            in cols:
        if not is_row:
            yield ts
            continue
        rec = odd.get(row)
        if rec is not None:
            yield tracker.segment(rec)
            continue
        yield (ts, seq, ack, fl, plen, win, None if ip_id < 0 else ip_id, ifnames[iface],
               DIRECTIONS[dirn], frame, files[file], key, rel, None)


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
