"""A pcapng file into a packet table: one block walk, then the columns in bulk.

The walk is ``pcapng``'s own reader (sections, interfaces, every block kind, the same faults
at the same offsets) with one shortcut: an enhanced packet block without options on an
interface of a link type the columns read (``columns.FAST_LINKTYPES``) is only noted (where
its frame is, its time, length and interface); the columns of all noted frames of a chunk
are then read at once (``table_fill``). Every other packet block becomes the reader's record,
kept by its row.
"""

from __future__ import annotations

from array import array
from collections.abc import Mapping

import numpy as np
import numpy.typing as npt

from nettrail.capture.base import CaptureStats
from nettrail.capture.columns import FAST_LINKTYPES, PAD
from nettrail.capture.pcapng import MAX_BLOCK, _Reader
from nettrail.capture.table_fill import Filler
from nettrail.model.packet import PacketRecord
from nettrail.model.table import PacketTable

CHUNK = 8 << 20


def read_pcapng_table(path: str, table: PacketTable, stats: CaptureStats,
                      ifnames: Mapping[int, str] | None = None) -> None:
    """Append the packets of pcapng file ``path`` to ``table``; a fault is raised (and kept
    in ``stats.error``) after every row before it is in the table."""
    stats.format = "pcapng"
    _Walker(path, table, stats, ifnames or {}).walk()


class _Chunk:
    """The rows of one buffer's worth of blocks, in order."""

    def __init__(self) -> None:
        self.starts = array("q")
        self.caplen = array("q")
        self.wire = array("q")
        self.ts = array("q")
        self.frames = array("q")
        self.linktype = array("q")
        self.if_ids = array("q")
        self.recs: dict[int, PacketRecord] = {}

    def note(self, start: int, caplen: int, wire: int, ts: int, frame: int, linktype: int,
             if_id: int) -> None:
        self.starts.append(start)
        self.caplen.append(caplen)
        self.wire.append(wire)
        self.ts.append(ts)
        self.frames.append(frame)
        self.linktype.append(linktype)
        self.if_ids.append(if_id)


class _Walker(_Reader):
    """``pcapng._Reader`` walking into a table."""

    def __init__(self, path: str, table: PacketTable, stats: CaptureStats,
                 ifnames: Mapping[int, str]) -> None:
        super().__init__(path, table.point, stats, ifnames)
        self.fill = Filler(table, path, stats, ifnames)
        self.if_names: list[str | None] = []  # by running interface number (all sections)
        self.if_base = 0  # running number of the current section's first interface

    def walk(self) -> None:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            raise self.error(f"cannot read: {exc.strerror or exc}", 0) from exc
        room = bytearray(CHUNK + MAX_BLOCK + PAD)
        view = memoryview(room)
        npbuf = np.frombuffer(room, np.uint8)
        base = end = 0
        try:
            while True:
                got = f.readinto(view[end : end + CHUNK])
                if not got:
                    break
                end += got
                rows = _Chunk()
                try:
                    pos = self._blocks(view[:end], base, rows)
                finally:
                    self._add(npbuf, rows)
                left = end - pos
                room[:left] = room[pos:end]
                base += pos
                end = left
            self._finish(bytes(room[:end]), base)
        except OSError as exc:
            raise self.error(f"cannot read: {exc.strerror or exc}", 0) from exc
        finally:
            f.close()
            self.fill.flush()
            self.stats.packets = self.frame

    def _blocks(self, buf: memoryview, base: int, rows: _Chunk) -> int:
        """Walk the whole blocks in ``buf``; returns where the first partial one starts."""
        pos = 0
        end = len(buf)
        while pos + 12 <= end:
            section = self.section
            plain = self.plain_epb(buf, pos, end)
            if plain is not None and plain[1].linktype in FAST_LINKTYPES:
                if_id, iface, size, raw_ts, caplen, wire_len = plain
                self.frame += 1
                ts = self.last_ts = iface.ts_ns(raw_ts)
                rows.note(pos + 28, caplen, wire_len, ts, self.frame, iface.linktype,
                          self.if_base + if_id)
                pos += size
                continue
            block_size = self._block_size(buf, pos, base)  # type: ignore[arg-type]
            if block_size is None or pos + block_size > end:
                break
            if self.section is not section:
                self.if_base = len(self.if_names)
            rec = self._block(bytes(buf[pos + 8 : pos + block_size - 4]),
                              buf, pos, base)  # type: ignore[arg-type]
            while len(self.if_names) < self.n_interfaces:  # an IDB was read
                ifc = self.section.interfaces[len(self.if_names) - self.if_base]  # type: ignore[union-attr]
                self.if_names.append(ifc.name)
            pos += block_size
            if rec is not None:
                rows.recs[len(rows.starts)] = rec
                rows.note(0, 0, rec.wire_len, rec.ts_ns, rec.frame, rec.linktype, 0)
        return pos

    def _add(self, npbuf: npt.NDArray[np.uint8], rows: _Chunk) -> None:
        """Hand the chunk's rows to the filler."""
        def arr(a: array[int]) -> npt.NDArray[np.int64]:
            return np.frombuffer(a, np.int64) if len(a) else np.zeros(0, np.int64)

        self.fill.add(npbuf, arr(rows.starts), arr(rows.caplen), arr(rows.wire), arr(rows.ts),
                      arr(rows.frames), arr(rows.linktype), arr(rows.if_ids),
                      self.if_names or [None], rows.recs)

    def _finish(self, tail: bytes, base: int) -> None:
        """The end-of-file checks of ``pcapng._Reader.records``."""
        if base == 0 and not tail:
            raise self.error("empty file", 0)
        if tail:
            raise self.error(f"truncated block ({self._cut(tail, 0)})", base)
        if self.unsupported is not None and self.unread == self.frame:
            linktype, at = self.unsupported
            raise self.error(f"unsupported link type {linktype}", at)
