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
    """A group number per row: rows equal in every column share one (numbered by sort order,
    the first column first). Neighbouring columns are packed into one integer key while it
    fits in 62 bits (each as its offset from its smallest value, most significant first), so
    the sort takes fewer keys."""
    n = len(cols[0])
    if not n:
        return np.zeros(0, np.int64)
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
    order = np.argsort(keys[0]) if len(keys) == 1 else np.lexsort(keys[::-1])
    new = np.zeros(n, np.bool_)
    new[0] = True
    for k in keys:
        s = k[order]
        new[1:] |= s[1:] != s[:-1]
    out = np.empty(n, np.int64)
    out[order] = np.cumsum(new) - 1
    return out


_FITS = 1 << 62


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
