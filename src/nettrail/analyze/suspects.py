"""Host findings' suspects from a point's packet table: the cheap pass as column operations.

``findings_host._suspects`` walks every TCP record of a point three times to pick the
connections worth a closer look. On a binary capture's table every TCP row but the kept
(odd) ones is described by its columns alone, so the same choice is made with sorts and
set lookups on the columns; only the chosen rows' records are touched.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from nettrail.analyze.columns import groups, rows_in, sort_order
from nettrail.analyze.flows import COPY_WINDOW_NS
from nettrail.analyze.icmp_tie import named_flows
from nettrail.model.arrays import Bools, Ints
from nettrail.model.packet import RST, SYN, ICMPHeader, PacketRecord
from nettrail.model.rows import TableRows
from nettrail.model.table import K_IPID, K_SEQ, K_TTL, K_WIN, PacketTable, address_code


def icmp_errors(table: PacketTable) -> list[PacketRecord]:
    """The ICMP destination-unreachable records of the table, in row order (only kept
    records can be ICMP)."""
    return [r for _i, r in sorted(table.odd_rows().items())
            if type(r.headers.l4) is ICMPHeader and r.headers.l4.type == 3]


def column_suspects(table: PacketTable, records: Sequence[PacketRecord],
                    icmp: Sequence[PacketRecord], resets_only: bool = False,
                    ) -> list[PacketRecord]:
    """``_suspects(records, icmp)`` from the columns (``column_ready`` must hold);
    ``resets_only``: only the suspects of connections with a RST among their suspects (where
    no packet can have ended at the point, a RST is the one thing left to judge), and of
    those only the connections where a RST may be found injected (``_may_be_injected``)."""
    col = table.column
    odd = np.zeros(len(records), np.bool_)
    odd[list(table.odd_rows())] = True
    rows = np.flatnonzero(~odd & (col("proto") == 6))
    if not len(rows):
        return []
    # an end (address and port) as one number: the address takes 35 bits, the port 16
    family = col("family")[rows].astype(np.int64) << 32
    src = family | col("src")[rows]
    dst = family | col("dst")[rows]
    sport = col("sport")[rows].astype(np.int64)
    dport = col("dport")[rows].astype(np.int64)
    src_end, dst_end = src << 16 | sport, dst << 16 | dport
    flags = col("flags")[rows].astype(np.int64)
    # a connection: its two ends, either way
    low, high = np.minimum(src_end, dst_end), np.maximum(src_end, dst_end)
    if resets_only:
        # every RST is a suspect, and so is every packet of its connection; a packet in
        # another form (``again`` below) belongs to a connection with none
        rst = (flags & RST) != 0
        reset = np.flatnonzero(rows_in((low, high), (low[rst], high[rst])))
        kept = _may_be_injected(col, rows[reset], low[reset], high[reset], src[reset],
                                dst[reset], flags[reset])
        return _records(records, rows[reset[kept]])
    flows = _flagged(table, col, rows, icmp, src, dst, sport, dport, flags)
    if not flows:
        return []
    ends = np.array([(a << 16 | p, b << 16 | q) for a, p, b, q in flows
                     if 0 <= p <= 0xFFFF and 0 <= q <= 0xFFFF], np.int64).reshape(-1, 2)
    chosen = rows_in((low, high), (ends.min(axis=1), ends.max(axis=1)))
    known = col("known")[rows]
    has_seq = (known & K_SEQ) != 0
    seq = np.where(has_seq, col("seq")[rows].astype(np.int64), -1)
    ack = np.where(has_seq, col("ack")[rows].astype(np.int64), -1)
    ip_id = np.where((known & K_IPID) != 0, col("ip_id")[rows].astype(np.int64), -1)
    # the same packet in another form: (flags, seq, ack, payload length, IP ID) of a chosen
    # packet with a seq or IP ID (exact packings: seq/ack + 1 take 33 bits, flags 16, IP ID +
    # 1 17)
    inv = ((seq + 1) << 16 | flags, (ack + 1) << 17 | (ip_id + 1),
           col("payload_len")[rows].astype(np.int64))
    keyed = chosen & ((seq >= 0) | (ip_id > 0))
    again = ~chosen & rows_in(inv, tuple(c[keyed] for c in inv))
    return _records(records, rows[np.concatenate([np.flatnonzero(chosen),
                                                  np.flatnonzero(again)])])


def _may_be_injected(col: Callable[[str], npt.NDArray[Any]], rows: Ints, low: Ints,
                     high: Ints, src: Ints, dst: Ints, flags: Ints) -> Bools:
    """Which of ``rows`` (every TCP row of some connections, with the connection's ends, the
    source and destination address and the flags of each) belong to a connection with a RST
    that ``findings_host._injected_reset`` could judge injected: its TTL (when known) is
    none of the known ones of its sender's other packets, its TOS (DSCP) none of theirs, its
    window above four times their largest after the handshake, or its IP ID 1 to 3 past
    one of the other side's (every other RST fits all four checks)."""
    conn = groups(low, high)
    # a sender: the rows of a connection from one address (both ends when they share it)
    sender = conn * 2 + (src == high >> 16)
    known = col("known")[rows]
    rst = (flags & RST) != 0
    at = np.flatnonzero(rst)
    mine = ~rst  # the sender's other packets
    by = sender[at]
    ttl = col("ttl")[rows].astype(np.int64)  # TTL and DSCP packed beside the sender
    with_ttl = mine & ((known & K_TTL) != 0)
    odd_ttl = (((known[at] & K_TTL) != 0) & np.isin(by, sender[with_ttl])
               & ~np.isin(by << 8 | ttl[at], sender[with_ttl] << 8 | ttl[with_ttl]))
    dscp = col("tos")[rows].astype(np.int64) >> 2
    odd_tos = np.isin(by, sender[mine]) & ~np.isin(by << 6 | dscp[at],
                                                   sender[mine] << 6 | dscp[mine])
    window = np.where((known & K_WIN) != 0, col("window")[rows].astype(np.int64), -1)
    wins = mine & ((flags & SYN) == 0) & (window >= 0)
    largest = np.full(2 * len(rows), -1, np.int64)
    np.maximum.at(largest, sender[wins], window[wins])
    most = largest[by]
    odd_window = (window[at] > 0) & (most >= 0) & (window[at] > 4 * most)
    ip_id = np.where((known & K_IPID) != 0, col("ip_id")[rows].astype(np.int64), 0)
    with_id = ip_id != 0
    theirs = np.repeat(conn[at] * 2 + (dst[at] == high[at] >> 16), 3)  # the other address
    wanted = np.repeat(ip_id[at], 3) - np.tile(np.array([1, 2, 3], np.int64), len(at))
    near = ((wanted > 0) & np.isin(theirs << 16 | np.maximum(wanted, 0),
                                   sender[with_id] << 16 | ip_id[with_id]))
    odd_id = with_id[at] & (src[at] != dst[at]) & near.reshape(-1, 3).any(axis=1)
    judged = odd_ttl | odd_tos | odd_window | odd_id
    return np.isin(conn, conn[at[judged]])


def _flagged(table: PacketTable, col: Callable[[str], npt.NDArray[Any]], rows: Ints,
             icmp: Sequence[PacketRecord], src: Ints, dst: Ints, sport: Ints, dport: Ints,
             flags: Ints) -> set[tuple[int, int, int, int]]:
    """The connections (source, port, destination, port of a packet) named by an ICMP error,
    with a RST, or with a SYN or data segment sent again later than a copy would be."""
    flows: set[tuple[int, int, int, int]] = set()
    unquoted: set[tuple[int, int]] = set()
    named, unquoted_texts = named_flows(icmp)
    for src_text, p, dst_text, q in named:
        a, b = address_code(table, src_text), address_code(table, dst_text)
        if a is not None and b is not None:
            flows.add((a, p, b, q))
    for src_text, dst_text in unquoted_texts:
        a, b = address_code(table, src_text), address_code(table, dst_text)
        if a is not None and b is not None:
            unquoted.add((a, b))
    marked = (flags & RST) != 0
    for a, b in unquoted:
        marked |= (src == a) & (dst == b)
    plen = col("payload_len")[rows]
    picked = np.flatnonzero(~marked & (((flags & SYN) != 0) | (plen != 0)))
    if len(picked):
        marked[picked[_late(col, rows[picked], src[picked] << 16 | sport[picked])]] = True
    flagged = np.flatnonzero(marked)
    flows.update(zip(src[flagged].tolist(), sport[flagged].tolist(), dst[flagged].tolist(),
                     dport[flagged].tolist(), strict=True))
    return flows


def _late(col: Callable[[str], npt.NDArray[Any]], rows: Ints, src_end: Ints) -> Bools:
    """Which of ``rows`` (SYN or data segments, with their source ends) repeat one sent
    earlier (the same source end, seq, flags and payload length; the first such row in row
    order) later than a copy would be."""
    known = col("known")[rows]
    seq = np.where((known & K_SEQ) != 0, col("seq")[rows].astype(np.int64), -1)
    flags = col("flags")[rows].astype(np.int64)
    plen = col("payload_len")[rows].astype(np.int64)
    keys = (src_end, seq, flags, plen)
    order = sort_order(*keys)
    n = len(rows)
    new = np.zeros(n, np.bool_)
    new[0] = True
    for k in keys:
        s = k[order]
        new[1:] |= s[1:] != s[:-1]
    # the sort is stable: a group's first row in sorted order is its first in row order
    start = np.maximum.accumulate(np.where(new, np.arange(n), 0))
    ts = col("ts")[rows][order]
    late = np.zeros(n, np.bool_)
    late[order] = ts - ts[start] > COPY_WINDOW_NS
    return late


def _records(records: Sequence[PacketRecord], picked: Ints) -> list[PacketRecord]:
    """The records of rows ``picked``, in that order."""
    if isinstance(records, TableRows):  # built for these rows alone
        return records.take(picked)
    return [records[i] for i in picked.tolist()]
