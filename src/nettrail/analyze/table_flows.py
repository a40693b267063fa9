"""Single-point TCP analysis of a packet table: plain connections in bulk, the rest tracked.

The TCP rows are grouped by connection key (both directions: the smaller endpoint first)
with one sort. A group is *plain* when the per-packet state machine of
:class:`~nettrail.analyze.flows.FlowTracker` would find nothing to say about it: no RST, at
most the one SYN that opens it (and one SYN-ACK from the server), sequence space that only
grows in each direction, no packet repeating the one before it within the copy window, and
an outcome that needs no evidence (closed, established or already running). Its
:class:`Connection` is computed from per-group sums (``reduceat``). Every other group (and any
group with a row the columns cannot describe) goes through a ``FlowTracker``, row by row, in
capture order; the tracker is told where each plain connection began, so that its
housekeeping runs exactly when it would have over the whole capture. The result is the
tracker's over all packets: the same connections, in the same order, and the same findings.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterator
from operator import attrgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from nettrail.analyze.flows import COPY_WINDOW_NS, FlowTracker, Seg, gc_paused
from nettrail.model.finding import Finding
from nettrail.model.flow import Connection, Endpoint, FlowKey, Outcome
from nettrail.model.packet import ACK, FIN, PROTO_TCP, RST, SYN
from nettrail.model.table import DIRECTIONS, K_IPID, K_SEQ, PacketTable

Arr = npt.NDArray[Any]
_NEEDED = ("ts", "frame", "file", "iface", "direction", "family", "src", "dst", "sport",
           "dport", "flags", "seq", "ack", "window", "payload_len", "ip_id", "known")
_ORDER = attrgetter("first_ns", "key")
_MASK = 0xFFFFFFFF
_HALF = 0x80000000
_HASH = np.uint64(0x9E3779B97F4A7C15)


def _tcp_rows(table: PacketTable) -> dict[str, Arr]:
    """The TCP rows' columns (the ones analysis reads) with ``row`` (table row number) and
    ``odd`` (the row keeps a record)."""
    parts: dict[str, list[Arr]] = {k: [] for k in (*_NEEDED, "row", "odd")}
    start = 0
    for b in table.batches:
        c = b.cols
        sel = np.flatnonzero((c["proto"] == PROTO_TCP) & (c["family"] != 0))
        for k in _NEEDED:
            parts[k].append(c[k][sel])
        parts["row"].append(sel + start)
        odd = np.zeros(len(sel), bool)
        if b.odd:
            odd = np.isin(sel, np.fromiter(b.odd, np.int64, len(b.odd)))
        parts["odd"].append(odd)
        start += len(b)
    return {k: (np.concatenate(v) if v else np.zeros(0)) for k, v in parts.items()}


def _endpoints(t: dict[str, Arr]) -> tuple[Arr, Arr]:
    """Endpoint numbers (address tag, address, port) of source and destination."""
    tag = (t["family"] != 4).astype(np.int64) << 48
    src = tag | (t["src"].astype(np.int64) << 16) | t["sport"]
    dst = tag | (t["dst"].astype(np.int64) << 16) | t["dport"]
    return src, dst


def _group_order(lo: Arr, hi: Arr) -> Arr:
    """Row order grouping equal (lo, hi) keys together, capture order within a group."""
    h = lo.astype(np.uint64) * _HASH ^ hi.astype(np.uint64)
    order = np.argsort(h, kind="stable")
    hs = h[order]
    same = hs[1:] == hs[:-1]
    if np.any(same & ((lo[order][1:] != lo[order][:-1]) | (hi[order][1:] != hi[order][:-1]))):
        order = np.lexsort((hi, lo))  # a hash collision: sort by the keys themselves
    return order


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
    t = _tcp_rows(table)
    n = len(t["row"])
    if n == 0:
        return [], []
    eps, epd = _endpoints(t)
    lo, hi = np.minimum(eps, epd), np.maximum(eps, epd)
    order = _group_order(lo, hi)
    s = {k: v[order] for k, v in t.items()}
    eps, epd, lo, hi = eps[order], epd[order], lo[order], hi[order]
    new = np.ones(n, bool)
    new[1:] = (lo[1:] != lo[:-1]) | (hi[1:] != hi[:-1])
    starts = np.flatnonzero(new)
    gid = np.cumsum(new) - 1
    flags = s["flags"].astype(np.int64)
    first_flags = flags[starts]
    client_is_src = ~((first_flags & SYN != 0) & (first_flags & ACK != 0))
    client_ep = np.where(client_is_src, eps[starts], epd[starts])
    fc = eps == client_ep[gid]
    bad = _complex_rows(s, flags, fc, gid, new, eps == epd)
    mid = first_flags & SYN == 0
    bad |= mid[gid] & (flags & SYN != 0)
    complex_group = np.logical_or.reduceat(bad, starts)
    fin_c = np.logical_or.reduceat(fc & (flags & FIN != 0), starts)
    fin_s = np.logical_or.reduceat(~fc & (flags & FIN != 0), starts)
    est = np.logical_or.reduceat(fc & (flags & ACK != 0) & (flags & SYN == 0), starts)
    closed = fin_c & fin_s
    complex_group |= ~(closed | mid | est)  # a failed handshake: the tracker gives evidence
    plain = ~complex_group
    conns = _plain_connections(table, s, starts, plain, fc, closed, mid, eps, epd,
                               client_is_src)
    tracked, found = _tracked(table, s, complex_group[gid], new & plain[gid])
    conns.extend(tracked)
    conns.sort(key=_ORDER)
    return conns, found


def _complex_rows(s: dict[str, Arr], flags: Arr, fc: Arr, gid: Arr, new: Arr,
                  looped: Arr) -> Arr:
    """Rows that make their connection need the per-packet state machine."""
    bad = s["odd"] | looped | (flags & RST != 0) | ((s["known"] & K_SEQ) == 0)
    syn_only = flags & (SYN | ACK) == SYN
    bad |= syn_only & ~new  # a SYN after the first packet: a retry or a new connection
    synack = flags & (SYN | ACK) == SYN | ACK
    bad |= synack & (fc | ~new & _seen_before(synack, gid))
    plen = s["payload_len"].astype(np.int64)
    seq = s["seq"].astype(np.int64)
    ctl = (flags & (SYN | FIN) != 0).astype(np.int64)
    consuming = (plen > 0) | (ctl > 0)
    end = seq + plen + ctl
    bad |= consuming & (end > _MASK)
    for a, b in _pairs_by_direction(fc, gid, consuming):
        step = (end[b] - end[a]) & _MASK
        bad[b[(step == 0) | (step >= _HALF)]] = True
    ts = s["ts"]
    for a, b in _pairs_by_direction(fc, gid, np.ones(len(fc), bool)):
        same = ((s["seq"][a] == s["seq"][b]) & (s["ack"][a] == s["ack"][b])
                & (ts[b] - ts[a] <= COPY_WINDOW_NS) & (flags[a] == flags[b])
                & (plen[a] == plen[b]) & (s["window"][a] == s["window"][b])
                & (s["ip_id"][a] == s["ip_id"][b])
                & ((s["known"][a] & K_IPID) == (s["known"][b] & K_IPID)))
        bad[b[same & ~consuming[b]]] = True
    return bad


def _seen_before(mask: Arr, gid: Arr) -> Arr:
    """Rows of ``mask`` that follow another row of ``mask`` in the same group."""
    r = np.flatnonzero(mask)
    out = np.zeros(len(mask), bool)
    out[r[1:][gid[r[1:]] == gid[r[:-1]]]] = True
    return out


def _plain_connections(table: PacketTable, s: dict[str, Arr], starts: Arr, plain: Arr,
                       fc: Arr, closed: Arr, mid: Arr, eps: Arr, epd: Arr,
                       client_is_src: Arr) -> list[Connection]:
    """The Connection of every plain group."""
    n = len(fc)
    ends = np.append(starts[1:], n)
    plen = s["payload_len"].astype(np.int64)
    bytes_c = np.add.reduceat(np.where(fc, plen, 0), starts)
    bytes_s = np.add.reduceat(np.where(fc, 0, plen), starts)
    ts = s["ts"]
    point = table.point
    names = _Names(table)
    out = []
    for g in np.flatnonzero(plain).tolist():
        i = int(starts[g])
        a, b = names.endpoint(int(eps[i])), names.endpoint(int(epd[i]))
        key = FlowKey(PROTO_TCP, a, b) if a <= b else FlowKey(PROTO_TCP, b, a)
        client, server = (a, b) if client_is_src[g] else (b, a)
        outcome = (Outcome.CLOSED if closed[g] else Outcome.MIDSTREAM if mid[g]
                   else Outcome.ESTABLISHED)
        j = int(ends[g])
        out.append(Connection(point, key, client, server, outcome, j - i, int(ts[i]),
                              int(ts[j - 1]), 0, 0, int(bytes_c[g]), int(bytes_s[g])))
    return out


class _Names:
    """Endpoint numbers to Endpoints (text as the tracker writes it), cached."""

    def __init__(self, table: PacketTable) -> None:
        self.addrs = table.addrs
        self.cache: dict[int, Endpoint] = {}

    def endpoint(self, ep: int) -> Endpoint:
        e = self.cache.get(ep)
        if e is None:
            addr = (ep >> 16) & _MASK
            text = (self.addrs[addr] if ep >> 48 else
                    f"{addr >> 24}.{addr >> 16 & 255}.{addr >> 8 & 255}.{addr & 255}")
            e = self.cache[ep] = Endpoint(text, ep & 0xFFFF)
        return e


def _tracked(table: PacketTable, s: dict[str, Arr], rows: Arr,
             ticks: Arr) -> tuple[list[Connection], list[Finding]]:
    """Connections and findings of the rows that need the state machine, tracked in capture
    order, with a tick where each plain connection began."""
    tracker = FlowTracker(table.point)
    idx = np.flatnonzero(rows | ticks)
    if len(idx) == 0:
        return [], []
    idx = idx[np.argsort(s["row"][idx], kind="stable")]
    tracker.consume_segments(_segments(table, s, idx, rows[idx], tracker))
    return tracker.finish()


def _segments(table: PacketTable, s: dict[str, Arr], idx: Arr, real: Arr,
              tracker: FlowTracker) -> Iterator[Seg | int]:
    """The tracker's segment for each row of ``idx`` (its capture time for a tick)."""
    odd = table.odd_rows() if any(b.odd for b in table.batches) else {}
    keys = _keys(table, s, idx)
    ifnames = [*table.ifnames, None]
    files = table.files
    known = s["known"][idx]
    ipid = np.where(known & K_IPID != 0, s["ip_id"][idx], -1).tolist()
    cols = zip(real.tolist(), s["ts"][idx].tolist(), s["seq"][idx].tolist(),
               s["ack"][idx].tolist(), s["flags"][idx].tolist(),
               s["payload_len"][idx].tolist(), s["window"][idx].tolist(), ipid,
               s["iface"][idx].tolist(), s["direction"][idx].tolist(),
               s["frame"][idx].tolist(), s["file"][idx].tolist(), keys,
               s["row"][idx].tolist(), strict=True)
    for is_row, ts, seq, ack, fl, plen, win, ip_id, iface, dirn, frame, file, key, row in cols:
        if not is_row:
            yield ts
            continue
        rec = odd.get(row)
        if rec is not None:
            yield tracker.segment(rec)
            continue
        yield (ts, seq, ack, fl, plen, win, None if ip_id < 0 else ip_id, ifnames[iface],
               DIRECTIONS[dirn], frame, files[file], key, False, None)


def _keys(table: PacketTable, s: dict[str, Arr], idx: Arr) -> list[bytes | None]:
    """The tracker's key bytes (packed addresses and ports) of IPv4/IPv6 rows; None for
    others (their records are kept)."""
    fam = s["family"][idx]
    out: list[bytes | None] = [None] * len(idx)
    v4 = np.flatnonzero(fam == 4)
    if len(v4):
        k = np.zeros((len(v4), 12), np.uint8)
        sel = idx[v4]
        k[:, 0:4] = s["src"][sel].astype(">u4").view(np.uint8).reshape(-1, 4)
        k[:, 4:8] = s["dst"][sel].astype(">u4").view(np.uint8).reshape(-1, 4)
        k[:, 8:10] = s["sport"][sel].astype(">u2").view(np.uint8).reshape(-1, 2)
        k[:, 10:12] = s["dport"][sel].astype(">u2").view(np.uint8).reshape(-1, 2)
        for j, key in zip(v4.tolist(), k.view("V12")[:, 0].tolist(), strict=True):
            out[j] = key
    packed: dict[int, bytes] = {}
    for j in np.flatnonzero(fam == 6).tolist():
        i = idx[j]
        src, dst = int(s["src"][i]), int(s["dst"][i])
        for a in (src, dst):
            if a not in packed:
                packed[a] = ipaddress.ip_address(table.addrs[a]).packed
        out[j] = (packed[src] + packed[dst] + int(s["sport"][i]).to_bytes(2, "big")
                  + int(s["dport"][i]).to_bytes(2, "big"))
    return out
