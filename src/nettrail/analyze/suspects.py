"""Host findings' suspects from a point's packet table: the cheap pass as column operations.

``findings_host._suspects`` walks every TCP record of a point three times to pick the
connections worth a closer look. In a table every TCP row but the kept records that are not
a bare segment is described by its columns, so the same choice is made with sorts and set
lookups on the columns, a batch at a time (``chosen_rows``, then ``again_rows``; the
point's whole: ``host_scope``); only the chosen rows' records are touched.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from nettrail.analyze.columns import groups, rows_in, sort_order
from nettrail.analyze.flows import COPY_WINDOW_NS
from nettrail.analyze.icmp_tie import named_flows
from nettrail.model.arrays import Bools, Ints
from nettrail.model.packet import RST, SYN, PacketRecord, TCPHeader
from nettrail.model.table import (
    K_IPID,
    K_SEQ,
    K_TTL,
    K_WIN,
    Batch,
    PacketTable,
    address_code,
)


def odd_rows(table: PacketTable) -> Bools:
    """The table's rows not read by their columns here: kept records that are not a bare TCP
    segment (ICMP, a tunnel, ...)."""
    odd = np.zeros(len(table), np.bool_)
    odd[[i for i, r in table.odd_rows().items()
         if type(r.headers.l4) is not TCPHeader or r.inner is not None]] = True
    return odd


Invariants = tuple[Ints, Ints, Ints]
"""(flags, seq, ack, payload length, IP ID) of packets packed in three numbers
(``_invariant``), one array each."""


def joined_invariants(parts: Sequence[Invariants]) -> Invariants:
    """The invariants of several tables' (or batches') rows, one after another."""
    none = np.zeros(0, np.int64)
    return (np.concatenate([none, *(p[0] for p in parts)]),
            np.concatenate([none, *(p[1] for p in parts)]),
            np.concatenate([none, *(p[2] for p in parts)]))


def chosen_rows(table: PacketTable, odd: Bools, icmp: Sequence[PacketRecord], own: Ints,
                resets_only: bool = False, judged: Ints | None = None,
                ) -> tuple[Ints, Invariants]:
    """Every TCP row (in order) of the connections worth a closer look (``odd``: the rows
    not read by their columns, ``odd_rows``; ``own``: the host's addresses,
    ``host_scope.HostScope.own``; ``icmp``: the point's ICMP errors), and the invariants of
    those with a seq or IP ID, by which the same packets in another form are found
    (``again_rows``; none with ``resets_only``).
    ``judged``: ``reset_rows`` of the table, when already known."""
    if judged is None:  # the connections with a RST that may be injected
        judged = reset_rows(table, odd)
    if resets_only:
        return judged, joined_invariants(())
    flows = _flagged(table, odd, icmp, own)
    if len(judged):
        cols = {n: table.column(n)[judged] for n in _END_COLUMNS}
        whole = np.arange(len(judged))
        _add(flows, cols, whole, *_ends(cols, whole)[2:])
    if not flows:
        return np.zeros(0, np.int64), joined_invariants(())
    ends = np.array([(a << 16 | p, b << 16 | q) for a, p, b, q in flows
                     if 0 <= p <= 0xFFFF and 0 <= q <= 0xFFFF], np.int64).reshape(-1, 2)
    want = (ends.min(axis=1), ends.max(axis=1))
    chosen: list[Ints] = []
    keys: list[Invariants] = []
    for start, b in _starts(table):
        at = _tcp_rows(b, odd, start)
        hit = at[rows_in(_ends(b.cols, at)[:2], want)]
        chosen.append(hit + start)
        inv, keyed = _invariant(b.cols, hit)
        keys.append((inv[0][keyed], inv[1][keyed], inv[2][keyed]))
    return np.concatenate([np.zeros(0, np.int64), *chosen]), joined_invariants(keys)


def again_rows(table: PacketTable, odd: Bools, chosen: Bools, wanted: Invariants) -> Ints:
    """The TCP rows (in order) not ``chosen`` that are a chosen packet in another form
    (translated here): the same flags, seq, ack, payload length and IP ID (``wanted``:
    ``chosen_rows``' invariants, of this table or of every partition of a point)."""
    if not len(wanted[0]):
        return np.zeros(0, np.int64)
    again = [np.zeros(0, np.int64)]
    for start, b in _starts(table):
        at = _tcp_rows(b, odd, start)
        at = at[~chosen[at + start]]
        again.append(at[rows_in(_invariant(b.cols, at)[0], wanted)] + start)
    return np.concatenate(again)


def _tcp_rows(b: Batch, odd: Bools, start: int) -> Ints:
    """The TCP rows of batch ``b`` (its first row ``start``) read by their columns (``odd``:
    the table's rows that are not)."""
    return np.flatnonzero((b.cols["proto"] == 6) & ~odd[start:start + len(b)])


def _invariant(c: Mapping[str, npt.NDArray[Any]], at: Ints,
               ) -> tuple[tuple[Ints, Ints, Ints], Bools]:
    """Of rows ``at`` of columns ``c``: (flags, seq, ack, payload length, IP ID) packed in
    three numbers (exact: seq/ack + 1 take 33 bits, flags 16, IP ID + 1 17; -1 + 1 where
    unknown), which the same packet in another form has too; and which rows have a seq or
    an IP ID, the ones such a packet can be told by."""
    known = c["known"][at]
    has_seq = (known & K_SEQ) != 0
    seq = np.where(has_seq, c["seq"][at].astype(np.int64), -1)
    ack = np.where(has_seq, c["ack"][at].astype(np.int64), -1)
    ip_id = np.where((known & K_IPID) != 0, c["ip_id"][at].astype(np.int64), -1)
    inv = ((seq + 1) << 16 | c["flags"][at], (ack + 1) << 17 | (ip_id + 1),
           c["payload_len"][at].astype(np.int64))
    return inv, (seq >= 0) | (ip_id > 0)


def own_parts(table: PacketTable) -> tuple[Ints, Ints]:
    """Where the table's packets show its host's addresses (family and code, as ``_ends``
    numbers them; ``findings_host.own_addresses`` reads the same from records), as two sets
    that the partitions of a point add up: the addresses that leave with a TTL senders start
    with (or none shown), and those that arrive or leave older. Those of the first set and
    not the second live on the host (``host_scope.HostScope.own``)."""
    col = table.column
    family, src, way = col("family"), col("src"), col("direction")
    ends = family.astype(np.int64) << 32 | src
    ips = family != 0
    told = (col("known") & K_TTL) != 0
    first = np.isin(col("ttl"), FIRST_TTLS)
    left = ips & (way == 2)
    return (np.unique(ends[left & (first | ~told)]),
            np.unique(ends[(ips & (way == 1)) | (left & told & ~first)]))


FIRST_TTLS = (64, 128, 255)
"""The TTLs (hop limits) senders start with: Linux and most others, Windows, network gear."""


def reset_rows(table: PacketTable, odd: Bools) -> Ints:
    """Every TCP row (``odd``: the rows not read by their columns) of the connections with a
    RST that ``_may_be_injected``: the connections with a RST are found first, then their
    rows, a batch at a time, so that a large table costs no column-long temporaries."""
    wanted: list[tuple[Ints, Ints]] = []
    for start, b in _starts(table):
        at = _tcp_rows(b, odd, start)
        at = at[(b.cols["flags"][at] & RST) != 0]
        if len(at):
            wanted.append(_ends(b.cols, at)[:2])
    if not wanted:
        return np.zeros(0, np.int64)
    want = (np.concatenate([w[0] for w in wanted]), np.concatenate([w[1] for w in wanted]))
    picked: list[tuple[Ints, ...]] = []
    for start, b in _starts(table):
        c = b.cols
        at = _tcp_rows(b, odd, start)
        ends = _ends(c, at)
        hit = rows_in(ends[:2], want)
        picked.append((at[hit] + start, *(e[hit] for e in ends),
                       c["flags"][at[hit]].astype(np.int64)))
    rows, low, high, src, dst, flags = (np.concatenate(x) for x in zip(*picked, strict=True))
    return rows[_may_be_injected(table.column, rows, low, high, src, dst, flags)]


def _starts(table: PacketTable) -> Iterator[tuple[int, Batch]]:
    """Each batch of ``table`` with the number of its first row."""
    start = 0
    for b in table.batches:
        yield start, b
        start += len(b)


_END_COLUMNS = ("family", "src", "dst", "sport", "dport")


def _ends(c: Mapping[str, npt.NDArray[Any]], at: Ints) -> tuple[Ints, Ints, Ints, Ints]:
    """Of rows ``at`` of columns ``c`` (``_END_COLUMNS``): each connection's two ends, lower first
    (address and port as one number: the address 35 bits with its family, the port 16),
    and the source and destination addresses (with their family)."""
    family = c["family"][at].astype(np.int64) << 32
    src = family | c["src"][at]
    dst = family | c["dst"][at]
    src_end = src << 16 | c["sport"][at]
    dst_end = dst << 16 | c["dport"][at]
    return np.minimum(src_end, dst_end), np.maximum(src_end, dst_end), src, dst


def _may_be_injected(col: Callable[[str], npt.NDArray[Any]], rows: Ints, low: Ints,
                     high: Ints, src: Ints, dst: Ints, flags: Ints) -> Bools:
    """Which of ``rows`` (every TCP row of some connections, with the connection's ends, the
    source and destination address and the flags of each) belong to a connection with a RST
    that ``findings_host._injected_reset`` could judge injected: its TTL (when known) is
    none of the known ones of its sender's other packets seen the same way (interface and
    direction), its TOS (DSCP) none of theirs, its window above four times the largest its
    sender announced after the handshake, or its IP ID 1 to 3 past one of the other side's
    (every other RST fits all four checks)."""
    conn = groups(low, high)
    # a sender: the rows of a connection from one address (both ends when they share it)
    sender = conn * 2 + (src == high >> 16)
    # and the way each row was seen: a router sees its sender's packets leave one hop older
    way = (sender << 20 | (col("iface")[rows].astype(np.int64) + 1) << 2
           | col("direction")[rows])
    known = col("known")[rows]
    rst = (flags & RST) != 0
    at = np.flatnonzero(rst)
    mine = ~rst  # the sender's other packets
    by, by_way = sender[at], way[at]
    ttl = col("ttl")[rows].astype(np.int64)  # TTL and DSCP packed beside the way
    with_ttl = mine & ((known & K_TTL) != 0)
    odd_ttl = (((known[at] & K_TTL) != 0) & np.isin(by_way, way[with_ttl])
               & ~np.isin(by_way << 8 | ttl[at], way[with_ttl] << 8 | ttl[with_ttl]))
    dscp = col("tos")[rows].astype(np.int64) >> 2
    odd_tos = np.isin(by_way, way[mine]) & ~np.isin(by_way << 6 | dscp[at],
                                                    way[mine] << 6 | dscp[mine])
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


def _flagged(table: PacketTable, odd: Bools, icmp: Sequence[PacketRecord],
             own: Ints) -> set[tuple[int, int, int, int]]:
    """The connections (source, port, destination, port of a packet) named by an ICMP error,
    or with a SYN or data segment sent again later than a copy would be, to or from an
    address of the host (``own``; the only segments a host finding can judge dropped after
    the capture). The table is read a batch at a time; only the segments that may be late
    are held across batches."""
    flows: set[tuple[int, int, int, int]] = set()
    unquoted: set[tuple[int, int]] = set()
    named, unquoted_texts = named_flows(icmp)
    for src_text, p, dst_text, q in named:
        x, y = address_code(table, src_text), address_code(table, dst_text)
        if x is not None and y is not None:
            flows.add((x, p, y, q))
    for src_text, dst_text in unquoted_texts:
        x, y = address_code(table, src_text), address_code(table, dst_text)
        if x is not None and y is not None:
            unquoted.add((x, y))
    sent: list[dict[str, npt.NDArray[Any]]] = []
    for start, b in _starts(table):
        c = b.cols
        at = _tcp_rows(b, odd, start)
        _low, _high, src, dst = _ends(c, at)
        marked = np.zeros(len(at), np.bool_)
        for x, y in unquoted:
            marked |= (src == x) & (dst == y)
        flags, plen = c["flags"][at], c["payload_len"][at]
        pick = (~marked & ((flags & RST) == 0) & (((flags & SYN) != 0) | (plen != 0))
                & (np.isin(src, own) | np.isin(dst, own)))
        _add(flows, c, at[marked], src[marked], dst[marked])
        p = at[pick]
        sent.append({"src": src[pick], "dst": dst[pick], **{
            n: c[n][p] for n in ("sport", "dport", "known", "seq", "flags", "payload_len",
                                 "ts")}})
    seg = {n: np.concatenate([x[n] for x in sent]) for n in sent[0]} if sent else {}
    if seg and len(seg["src"]):
        late = _late(seg.__getitem__, np.arange(len(seg["src"])),
                     seg["src"] << 16 | seg["sport"])
        _add(flows, seg, np.flatnonzero(late), seg["src"][late], seg["dst"][late])
    return flows


def _add(flows: set[tuple[int, int, int, int]], c: Mapping[str, npt.NDArray[Any]], at: Ints,
         src: Ints, dst: Ints) -> None:
    """Add to ``flows`` the connections of rows ``at`` of columns ``c`` (their source and
    destination addresses ``src`` and ``dst``, as ``_ends`` numbers them)."""
    flows.update(zip(src.tolist(), c["sport"][at].tolist(), dst.tolist(),
                     c["dport"][at].tolist(), strict=True))


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
