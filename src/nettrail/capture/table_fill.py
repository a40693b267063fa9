"""Rows of a packet table from frames in a read buffer: what the pcap and pcapng walkers share.

A walker finds where each frame is in its buffer (one Python step per record) and hands the
positions over in bulk: :meth:`Filler.add` reads the common frames' fields as columns
(``capture.columns``) and gives every other frame to the general decoder, whose record the
row keeps. Rows are gathered into batches of :data:`~nettrail.model.table.BATCH_ROWS`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from nettrail.capture import decode
from nettrail.capture.base import CaptureStats
from nettrail.capture.columns import decode_columns
from nettrail.model.arrays import Arr
from nettrail.model.packet import PacketRecord
from nettrail.model.table import BATCH_ROWS, Batch, PacketTable, empty_columns, fill_row, lean

Decoder = Callable[[int, bytes, int | None], decode.Frame]


def ifname_of(ifnames: Mapping[int, str], base: str | None, ifindex: int) -> str | None:
    """The interface name of a frame: a Linux cooked v2 index names it (by ``ifnames``, else
    ``if<N>``) unless the capture's own interface has a real name."""
    if ifindex < 0:
        return base
    known = ifnames.get(ifindex)
    if known is not None or base in (None, "any"):
        return known or f"if{ifindex}"
    return base


class Filler:
    """Builds one file's rows into a table, batch by batch."""

    def __init__(self, table: PacketTable, path: str, stats: CaptureStats,
                 ifnames: Mapping[int, str]) -> None:
        self.table = table
        self.path = path
        self.file_id = table.file_id(path)
        self.stats = stats
        self.ifnames = ifnames
        self.pieces: list[tuple[dict[str, Arr], dict[int, PacketRecord]]] = []
        self.rows = 0

    def add(self, buf: Arr, starts: Arr, caplen: Arr, wire_len: Arr, ts: Arr, frames: Arr,
            linktypes: Arr, if_ids: Arr, if_names: Sequence[str | None],
            recs: dict[int, PacketRecord]) -> None:
        """Rows for frames in ``buf`` (a uint8 array with room past the last frame, see
        ``columns.PAD``): where each starts and its captured length, its length on the wire,
        time, frame number, link type and interface (an index into ``if_names``);
        ``recs`` are records the walker already made for some rows (by row number here)."""
        n = len(starts)
        if n == 0:
            return
        table = self.table
        cols = empty_columns(n)
        cols["ts"][:] = ts
        cols["frame"][:] = frames
        cols["file"][:] = self.file_id
        cols["wire_len"][:] = wire_len
        cols["linktype"][:] = linktypes
        taken = np.zeros(n, bool)
        ifindex = np.full(n, -1, np.int64)
        todo = np.ones(n, bool)
        if recs:
            todo[list(recs)] = False
        for lt in np.unique(linktypes[todo], return_index=True)[0]:  # (no numpy.ma import)
            sel = np.flatnonzero(todo & (linktypes == lt))
            sub = cols if len(sel) == n else empty_columns(len(sel))
            ok, ix = decode_columns(buf, starts[sel], caplen[sel], int(lt), sub, table,
                                    wire_len[sel])
            if sub is not cols:
                for name in ("direction", "family", "src", "dst", "proto", "sport", "dport",
                             "flags", "seq", "ack", "window", "ip_len", "payload_len",
                             "ip_id", "ttl", "tos", "ts_val", "known"):
                    cols[name][sel] = sub[name]
            taken[sel] = ok
            ifindex[sel] = ix
        self._ifaces(cols, if_ids, if_names, ifindex)
        odd = {i: lean(rec) for i, rec in recs.items()}
        for i in np.flatnonzero(~taken & todo).tolist():
            odd[i] = self._general(buf, int(starts[i]), int(caplen[i]), int(linktypes[i]),
                                   int(ts[i]), int(frames[i]), int(wire_len[i]),
                                   if_names[if_ids[i]])
        for i, rec in odd.items():
            fill_row(table, cols, i, rec, self.file_id)
        self.pieces.append((cols, odd))
        self.rows += n
        if self.rows >= BATCH_ROWS:
            self.flush()

    def _ifaces(self, cols: dict[str, Arr], if_ids: Arr, if_names: Sequence[str | None],
                ifindex: Arr) -> None:
        """The ``iface`` column from each row's capture interface and cooked index."""
        pairs = (if_ids.astype(np.int64) << 32) | (ifindex & 0xFFFFFFFF)
        uniq, inverse = np.unique(pairs, return_inverse=True)
        ids = []
        for p in uniq.tolist():
            ix = p & 0xFFFFFFFF
            name = ifname_of(self.ifnames, if_names[p >> 32], ix if ix < 0x80000000 else -1)
            ids.append(self.table.iface_id(name))
        cols["iface"][:] = np.array(ids, np.int32)[inverse]

    def _general(self, buf: Arr, start: int, caplen: int, linktype: int, ts: int, frame: int,
                 wire_len: int, base: str | None) -> PacketRecord:
        """The general decoder's record of one frame (its problem counted as skipped)."""
        data = buf[start : start + caplen].tobytes()
        fr = decode.decode_frame_general(linktype, data, wire_len)
        if fr.problem is not None:
            self.stats.skipped[fr.problem] += 1
        ifname = ifname_of(self.ifnames, base, -1 if fr.ifindex is None else fr.ifindex)
        return PacketRecord(self.table.point, ts, self.path, frame, ifname, fr.direction,
                            wire_len, fr.headers, fr.inner, fr.vni, None, linktype,
                            tunnel=fr.tunnel)

    def flush(self) -> None:
        """Make a batch of the rows added so far."""
        if not self.pieces:
            return
        if len(self.pieces) == 1:
            cols, odd = self.pieces[0]
        else:
            cols = {k: np.concatenate([p[0][k] for p in self.pieces]) for k in self.pieces[0][0]}
            odd = {}
            start = 0
            for p_cols, p_odd in self.pieces:
                for i, rec in p_odd.items():
                    odd[start + i] = rec
                start += len(p_cols["ts"])
        self.table.add_batch(Batch(cols, odd))
        self.pieces = []
        self.rows = 0
