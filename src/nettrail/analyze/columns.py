"""What a point's packet table tells at once about all its rows, for the steps that can then
read columns instead of records (``suspects``, ``correlate.fold_copies``)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from nettrail.analyze.flows import COPY_WINDOW_NS
from nettrail.model.arrays import Ints
from nettrail.model.packet import PacketRecord, TCPHeader
from nettrail.model.table import K_IPID, K_SEQ, PacketTable


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


def ranges(lo: Ints, hi: Ints) -> tuple[Ints, Ints]:
    """The numbers of ranges ``lo[k]``..``hi[k]`` (end excluded) one range after another,
    and where each range begins among them."""
    sizes = hi - lo
    at = np.zeros(len(lo), np.int64)
    np.cumsum(sizes[:-1], out=at[1:])
    rows = np.arange(int(sizes.sum()), dtype=np.int64) + np.repeat(lo - at, sizes)
    return rows, at


def endpoint_numbers(family: npt.NDArray[Any], addr: npt.NDArray[Any],
                     port: npt.NDArray[Any]) -> Ints:
    """Each row's endpoint (of IPv4 or IPv6 rows) as one number, equal where the endpoints
    are: a tag for IPv6 (bit 48), the address column's value (32 bits) and the port (16).
    ``table_flows`` reads the endpoints back from these numbers."""
    out: Ints = (family != 4).astype(np.int64) << 48
    out |= addr.astype(np.int64) << 16
    out |= port
    return out


def groups(*cols: npt.NDArray[Any]) -> Ints:
    """A group number per row: rows equal in every column share one (numbered by sort order,
    the first column first), by one sort of the packed columns (``packed``)."""
    n = len(cols[0])
    if not n:
        return np.zeros(0, np.int64)
    keys = packed(*cols)
    order = stable_order(keys[0]) if len(keys) == 1 else np.lexsort(keys[::-1])
    new = np.zeros(n, np.bool_)
    new[0] = True
    for k in keys:
        s = k[order]
        new[1:] |= s[1:] != s[:-1]
    out = np.empty(n, np.int64)
    out[order] = np.cumsum(new) - 1
    return out


def sort_order(*cols: npt.NDArray[Any]) -> Ints:
    """The rows' stable order by the columns, the first column first (``np.lexsort`` of the
    columns reversed), by one sort of the packed columns (``packed``)."""
    if not len(cols[0]):
        return np.zeros(0, np.int64)
    keys = packed(*cols)
    order: Ints = stable_order(keys[0]) if len(keys) == 1 else np.lexsort(keys[::-1])
    return order


def packed(*cols: npt.NDArray[Any]) -> list[Ints]:
    """The columns (of at least one row) as fewer sort keys in the same order: neighbouring
    columns packed into one integer while it fits in 62 bits (each as its offset from its
    smallest value, most significant first); a column wider than that a key of its own."""
    keys: list[Ints] = []
    span = _FITS
    for c in cols:
        lo, hi = int(c.min()), int(c.max())
        width = hi - lo + 1
        if width >= _FITS:  # a key of its own, as it is
            keys.append(c)
            span = _FITS
            continue
        part = c.astype(np.int64) - lo
        if span * width >= _FITS:
            keys.append(part)
            span = width
        else:
            keys[-1] = keys[-1] * width + part
            span *= width
    return keys


_FITS = 1 << 62


def copy_free(table: PacketTable) -> bool:
    """True when no TCP row with seq numbers can be a copy of an earlier one: rows with one
    copy key (flags, seq, ack, payload length, IP ID) are all further apart than the copy
    window (``column_ready`` must hold: every TCP row is a column row). Only rows whose key's
    64-bit hash is not unique can be copies; those are sorted by hash, then time: rows of
    one key are then neighbours, apart from rows of another key with the same hash between
    them, which are in the window too, so any two rows of one key in the window show as a
    neighbouring pair in it. Only such pairs are compared in full (a pair of two keys is a
    hash collision: the rows are then sorted by the keys themselves)."""
    col = table.column
    rows = np.flatnonzero((col("proto") == 6) & ((col("known") & K_SEQ) != 0))
    if len(rows) < 2:
        return True
    known = col("known")[rows]
    ip_id = np.where((known & K_IPID) != 0, col("ip_id")[rows].astype(np.int64), -1)
    ts = col("ts")[rows]
    fields = (col("flags")[rows], col("seq")[rows], col("ack")[rows],
              col("payload_len")[rows], ip_id)
    h = row_hash(*fields)
    by_hash = np.sort(h)
    repeated = np.flatnonzero(by_hash[1:] == by_hash[:-1])
    if not len(repeated):  # every hash once: no two rows share a key
        return True
    # only the rows of repeated hashes can be copies: sorted by hash, then time
    rows_r = np.flatnonzero(np.isin(h, by_hash[repeated]))
    order = rows_r[np.lexsort((ts[rows_r], h[rows_r]))]
    hs, t = h[order], ts[order]
    near = np.flatnonzero((hs[1:] == hs[:-1]) & (t[1:] - t[:-1] <= COPY_WINDOW_NS))
    if not len(near):
        return True
    a, b = order[near], order[near + 1]
    if all(np.array_equal(f[a], f[b]) for f in fields):
        return False
    key = groups(*fields)  # a collision: by the keys themselves
    order = np.lexsort((ts, key))
    k, t = key[order], ts[order]
    return not bool(((k[1:] == k[:-1]) & (t[1:] - t[:-1] <= COPY_WINDOW_NS)).any())


_MIX = np.uint64(0x9E3779B97F4A7C15)


def stable_order(values: npt.NDArray[Any]) -> Ints:
    """``np.argsort(values, kind="stable")`` of integers. A column already in order is its
    own order; when the values' spread leaves room for the row numbers in 63 bits, value
    and row number are packed into one integer and sorted (a plain sort of integers is
    several times faster than an argsort)."""
    n = len(values)
    if n < 2 or not bool((values[1:] < values[:-1]).any()):
        return np.arange(n, dtype=np.int64)
    bits = (n - 1).bit_length()
    lo, hi = int(values.min()), int(values.max())
    if hi - lo >= 1 << (63 - bits):
        order: Ints = np.argsort(values, kind="stable")
        return order
    keys = ((values - np.uint64(lo)).astype(np.int64) if values.dtype == np.uint64
            else values.astype(np.int64) - lo)
    keys <<= bits
    keys |= np.arange(n, dtype=np.int64)
    keys.sort()
    keys &= (1 << bits) - 1
    return keys


def hash_order(h: npt.NDArray[np.uint64]) -> Ints:
    """``np.argsort(h, kind="stable")`` of 64-bit hashes: ``stable_order`` of their high
    bits, which is the same order but where different hashes share those bits (with
    millions of rows, a few do): those runs are sorted again by the whole hash."""
    return _hash_sorted(h)[0]


def _hash_sorted(h: npt.NDArray[np.uint64]) -> tuple[Ints, npt.NDArray[np.uint64]]:
    """``hash_order(h)`` and the hashes in that order. The high bits leave room for the row
    numbers in 63 bits: packed with them and sorted as values (``stable_order`` without its
    checks, which hashes never need)."""
    n = len(h)
    bits = max((n - 1).bit_length(), 1)
    keys = (h >> np.uint64(bits + 1)).view(np.int64)
    keys <<= bits
    keys |= np.arange(n, dtype=np.int64)
    keys.sort()
    order = keys & ((1 << bits) - 1)
    keys >>= bits  # each row's high bits, in order
    s = h[order]
    shared = np.flatnonzero((keys[1:] == keys[:-1]) & (s[1:] != s[:-1]))
    if len(shared):  # the runs of those high bits, in place (the runs are in order)
        at = np.flatnonzero(np.isin(keys, keys[shared]))
        again = np.argsort(s[at], kind="stable")
        order[at] = order[at][again]
        s[at] = s[at][again]
    return order, s


def sorted_runs(values: npt.NDArray[Any], order: Ints) -> tuple[Ints, Ints]:
    """For ``values`` in ``order`` (sorted): the number of each row's run of equal values
    (runs numbered in order) and where each run starts in ``order``."""
    return _runs(values[order], order)


def _runs(s: npt.NDArray[Any], order: Ints) -> tuple[Ints, Ints]:
    """``sorted_runs`` of the values ``s`` already in ``order``."""
    new = np.empty(len(s), np.bool_)
    new[:1] = True
    np.not_equal(s[1:], s[:-1], out=new[1:])
    starts = np.flatnonzero(new)
    number = np.empty(len(s), np.int64)
    number[order] = np.cumsum(new) - 1
    return number, starts


def unique_values(values: npt.NDArray[Any]) -> npt.NDArray[Any]:
    """``np.unique(values)``: the distinct values in order, by one sort."""
    s = np.sort(values)
    if len(s) < 2:
        return s
    keep = np.empty(len(s), np.bool_)
    keep[0] = True
    np.not_equal(s[1:], s[:-1], out=keep[1:])
    return s[keep]


def row_hash(*cols: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """A 64-bit hash of each row's values in ``cols`` (equal rows, equal hashes)."""
    h = np.zeros(len(cols[0]), np.uint64)
    shifted = np.empty_like(h)  # one buffer for every column's step (no array a step)
    for c in cols:
        h ^= as_uint64(c)
        h *= _MIX
        np.right_shift(h, np.uint64(29), out=shifted)
        h ^= shifted
    return h


def as_uint64(c: npt.NDArray[Any]) -> npt.NDArray[np.uint64]:
    """``c.astype(np.uint64)``: a 64-bit integer column's own bits seen as unsigned (no
    copy), any other column converted."""
    if c.dtype == np.int64 or c.dtype == np.uint64:
        return c.view(np.uint64)
    return c.astype(np.uint64)


def hashed_groups(*cols: npt.NDArray[Any]) -> tuple[Ints, Ints]:
    """A group number per row, rows equal in every column sharing one (numbered in the order
    of their hashes, not of their values), and one row of each group: one sort of a hash,
    checked against the columns (on a collision, ``groups``' numbers)."""
    order, s = _hash_sorted(row_hash(*cols))
    inverse, starts = _runs(s, order)
    del s
    some = order[starts]  # a row of each group: its first
    if all(np.array_equal(c[some][inverse], c) for c in cols):
        return inverse, some
    numbers = groups(*cols)
    some = np.empty(int(numbers.max()) + 1, np.int64)
    some[numbers] = np.arange(len(numbers))
    return numbers, some


def distinct_rows(*cols: npt.NDArray[Any]) -> tuple[Ints, Ints]:
    """Where each distinct row (equal in every column) first stands, in row order, and how
    many rows are equal to it: one sort of a hash, checked against the columns (on a
    collision, by ``groups``)."""
    order, s = _hash_sorted(row_hash(*cols))
    inverse, starts = _runs(s, order)
    first = order[starts]
    count = np.diff(starts, append=len(s))
    if not all(np.array_equal(c[first][inverse], c) for c in cols):
        _u, first, count = np.unique(groups(*cols), return_index=True, return_counts=True)
    ranked = np.argsort(first)
    return first[ranked], count[ranked]


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


def _hashed(columns: Sequence[Ints], bits: int) -> Ints:
    """A ``bits``-bit hash of each row's values (``row_hash``'s high bits)."""
    out: Ints = (row_hash(*columns) >> np.uint64(64 - bits)).view(np.int64)
    return out


def _exactly_in(values: Sequence[Ints], wanted: Sequence[Ints]) -> npt.NDArray[np.bool_]:
    """``rows_in`` by binary search: each column's values numbered among the wanted rows',
    the prefixes of columns numbered as they grow."""
    n, m = len(values[0]), len(wanted[0])
    hit = np.ones(n, np.bool_)
    code = np.zeros(n, np.int64)  # the row's number among the wanted prefixes so far
    want = np.zeros(m, np.int64)
    for v, w in zip(values, wanted, strict=True):
        known = unique_values(w)
        at = _position(known, v)
        hit &= at >= 0
        prefixes, want = np.unique(want * len(known) + np.searchsorted(known, w),
                                   return_inverse=True)
        code = _position(prefixes, code * len(known) + np.maximum(at, 0))
        hit &= code >= 0
        want = want.reshape(-1)
    return hit


def in_sorted(known: Ints, values: Ints) -> npt.NDArray[np.bool_]:
    """``np.isin(values, known)`` for ``known`` sorted and distinct (``unique_values``): a
    binary search of each value, no sort of the two together."""
    if not len(known):
        return np.zeros(len(values), np.bool_)
    at = np.searchsorted(known, values)
    np.minimum(at, len(known) - 1, out=at)
    hit: npt.NDArray[np.bool_] = known[at] == values
    return hit


def _position(known: Ints, values: Ints) -> Ints:
    """Where each value is in ``known`` (sorted, distinct), -1 where it is not."""
    at = np.searchsorted(known, values)
    inside = at < len(known)
    found = inside.copy()
    found[inside] = known[at[inside]] == values[inside]
    return np.where(found, at, -1)
