"""What a point's packet table tells at once about all its rows, for the steps that can then
read columns instead of records (``suspects``, ``correlate.fold_copies``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from nettrail.analyze.flows import COPY_WINDOW_NS
from nettrail.model.packet import PacketRecord, TCPHeader
from nettrail.model.table import K_IPID, K_SEQ, PacketTable

Ints = npt.NDArray[np.int64]


def column_ready(table: PacketTable, records: Sequence[PacketRecord]) -> bool:
    """True when ``records`` are the table's rows in order (a binary capture's: no text row,
    whose time may have been repaired) and no kept record is a TCP packet (those would need
    their record's fields)."""
    if len(table) != len(records) or not bool((table.column("linktype") >= 0).all()):
        return False
    for b in table.batches:
        if b.rebuild is not None:
            return False
        for r in b.odd.values():
            if type(r.headers.l4) is TCPHeader:
                return False
    return True


def one_place(table: PacketTable) -> bool:
    """True when every row was captured on one interface, in no known direction (a plain
    capture file): no two rows are copies of one packet, and none arrived or left."""
    iface = table.column("iface")
    if not len(iface):
        return True
    return bool((table.column("direction") == 0).all() and (iface == iface[0]).all())


def groups(*cols: npt.NDArray[Any]) -> Ints:
    """A group number per row: rows equal in every column share one (numbered by sort order)."""
    n = len(cols[0])
    if not n:
        return np.zeros(0, np.int64)
    order = np.lexsort(cols[::-1])
    new = np.zeros(n, np.bool_)
    new[0] = True
    for c in cols:
        s = c[order]
        new[1:] |= s[1:] != s[:-1]
    out = np.empty(n, np.int64)
    out[order] = np.cumsum(new) - 1
    return out


def copy_free(table: PacketTable) -> bool:
    """True when no TCP row with seq numbers can be a copy of an earlier one: rows with one
    copy key (flags, seq, ack, payload length, IP ID) are all further apart than the copy
    window (``column_ready`` must hold: every TCP row is a column row)."""
    col = table.column
    rows = np.flatnonzero((col("proto") == 6) & ((col("known") & K_SEQ) != 0))
    if len(rows) < 2:
        return True
    known = col("known")[rows]
    ip_id = np.where((known & K_IPID) != 0, col("ip_id")[rows].astype(np.int64), -1)
    ts = col("ts")[rows]
    key = groups(col("flags")[rows], col("seq")[rows], col("ack")[rows],
                 col("payload_len")[rows], ip_id)
    order = np.lexsort((ts, key))
    k, t = key[order], ts[order]
    return not bool(((k[1:] == k[:-1]) & (t[1:] - t[:-1] <= COPY_WINDOW_NS)).any())


def rows_in(values: Sequence[Ints], wanted: Sequence[Ints]) -> npt.NDArray[np.bool_]:
    """True for each row whose values (one array per column) are all those of one wanted row
    (``wanted``: the wanted rows' values, one array per column): set membership of tuples.
    The rows whose hash falls in a wanted row's bucket are checked exactly."""
    n, m = len(values[0]), len(wanted[0])
    hit = np.zeros(n, np.bool_)
    if not m or not n:
        return hit
    bits = min(max(m.bit_length() + 6, 10), 22)  # 64 buckets a wanted row, to 4 M
    bucket = np.zeros(1 << bits, np.bool_)
    bucket[_hashed(wanted, bits)] = True
    maybe = np.flatnonzero(bucket[_hashed(values, bits)])
    hit[maybe] = _exactly_in([v[maybe] for v in values], wanted)
    return hit


_MIX = np.uint64(0x9E3779B97F4A7C15)


def _hashed(columns: Sequence[Ints], bits: int) -> Ints:
    """A ``bits``-bit hash of each row's values (multiplicative, on the high bits)."""
    h = np.zeros(len(columns[0]), np.uint64)
    for c in columns:
        h ^= c.view(np.uint64) if c.dtype == np.int64 else c.astype(np.uint64)
        h *= _MIX
    h >>= np.uint64(64 - bits)
    out: Ints = h.view(np.int64)
    return out


def _exactly_in(values: Sequence[Ints], wanted: Sequence[Ints]) -> npt.NDArray[np.bool_]:
    """``rows_in`` by binary search: each column's values numbered among the wanted rows',
    the prefixes of columns numbered as they grow."""
    n, m = len(values[0]), len(wanted[0])
    hit = np.ones(n, np.bool_)
    code = np.zeros(n, np.int64)  # the row's number among the wanted prefixes so far
    want = np.zeros(m, np.int64)
    for v, w in zip(values, wanted, strict=True):
        known = np.unique(w)
        at = _position(known, v)
        hit &= at >= 0
        prefixes, want = np.unique(want * len(known) + np.searchsorted(known, w),
                                   return_inverse=True)
        code = _position(prefixes, code * len(known) + np.maximum(at, 0))
        hit &= code >= 0
        want = want.reshape(-1)
    return hit


def _position(known: Ints, values: Ints) -> Ints:
    """Where each value is in ``known`` (sorted, distinct), -1 where it is not."""
    at = np.searchsorted(known, values)
    inside = at < len(known)
    found = inside.copy()
    found[inside] = known[at[inside]] == values[inside]
    return np.where(found, at, -1)
