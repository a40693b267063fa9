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

from nettrail.capture import linktypes
from nettrail.capture.base import CaptureStats
from nettrail.capture.columns import FAST_LINKTYPES, PAD, rows_at
from nettrail.capture.pcap import MAX_CAPLEN
from nettrail.capture.pcapng import EPB, MAX_BLOCK, _Reader, _Section
from nettrail.capture.table_fill import Filler
from nettrail.capture.table_pcap import follow_chain
from nettrail.model.packet import PacketRecord
from nettrail.model.table import PacketTable

CHUNK = 8 << 20
MIN_REACH = 16 << 10
"""The least a run of plain blocks is looked for in bulk (its reach grows while it goes on)."""


def read_pcapng_table(path: str, table: PacketTable, stats: CaptureStats,
                      ifnames: Mapping[int, str] | None = None) -> None:
    """Append the packets of pcapng file ``path`` to ``table``; a fault is raised (and kept
    in ``stats.error``) after every row before it is in the table."""
    stats.format = "pcapng"
    _Walker(path, table, stats, ifnames or {}).walk()


class _Chunk:
    """The rows of one buffer's worth of blocks, in order: where each plain enhanced packet
    block starts (-1 for a row that keeps the reader's record), the records, and the runs of
    plain blocks (first row, the section's first interface number, the section)."""

    def __init__(self, first_frame: int) -> None:
        self.first_frame = first_frame
        self.blocks = array("q")
        self.recs: dict[int, PacketRecord] = {}
        self.runs: list[tuple[int, int, _Section]] = []


class _Walker(_Reader):
    """``pcapng._Reader`` walking into a table."""

    def __init__(self, path: str, table: PacketTable, stats: CaptureStats,
                 ifnames: Mapping[int, str]) -> None:
        super().__init__(path, table.point, stats, ifnames)
        self.fill = Filler(table, path, stats, ifnames)
        self.if_names: list[str | None] = []  # by running interface number (all sections)
        self.if_base = 0  # running number of the current section's first interface
        self.npbuf: npt.NDArray[np.uint8] = np.zeros(0, np.uint8)  # the read buffer
        self.reach = MIN_REACH  # how far the next run of plain blocks is looked for at first
        self.known: tuple[tuple[int, int], tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]] \
            = (0, 0), (np.zeros(1, bool), np.zeros(1, np.int64))

    def walk(self) -> None:
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            raise self.error(f"cannot read: {exc.strerror or exc}", 0) from exc
        room = bytearray(CHUNK + MAX_BLOCK + PAD)
        view = memoryview(room)
        npbuf = self.npbuf = np.frombuffer(room, np.uint8)
        base = end = 0
        try:
            while True:
                got = f.readinto(view[end : end + CHUNK])
                if not got:
                    break
                end += got
                rows = _Chunk(self.frame)
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
        blocks = rows.blocks
        append = blocks.append
        while pos + 12 <= end:
            section = self.section
            if section is not None:  # a run of plain blocks: only where each one is
                first = len(blocks)
                rows.runs.append((first, self.if_base, section))
                pos = self._run(buf, pos, end, section, blocks)
                self.frame += len(blocks) - first
                if len(blocks) > first:
                    self.last_ts = self._time(buf, blocks[-1], section)
                if pos + 12 > end:
                    break
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
                rows.recs[len(blocks)] = rec
                append(-1)
        return pos

    def _run(self, buf: memoryview, pos: int, end: int, section: _Section,
             blocks: array[int]) -> int:
        """Append where each plain enhanced packet block of the run from ``pos`` starts
        (found in bulk, :func:`_chained`, over a reach that doubles while the run goes on);
        returns where the run stops (the first block that is not plain, or not whole)."""
        reach, start = self.reach, pos
        while (pos + 28 <= end and (got := self.plain_epb(buf, pos, end)) is not None
               and got[1].linktype in FAST_LINKTYPES):
            lim = min(end, pos + max(reach, 2 * got[2]))  # at least the block at pos
            starts, pos = _chained(self.npbuf, pos, lim, section, self._interfaces(section))
            blocks.frombytes(starts.tobytes())
            if not len(starts) or lim == end:
                break
            reach = min(2 * reach, CHUNK)
        self.reach = min(max(2 * (pos - start), MIN_REACH), CHUNK)
        return pos

    def _interfaces(self, section: _Section) -> tuple[npt.NDArray[np.bool_],
                                                      npt.NDArray[np.int64]]:
        """By interface number of ``section`` (one more for those beyond): whether the
        columns read its link type, and the bound of its raw times' high words."""
        key = (id(section), len(section.interfaces))
        if self.known[0] != key:
            fast = np.array([i.linktype in FAST_LINKTYPES for i in section.interfaces] + [False])
            self.known = key, (fast, np.array([*section.hi_below, 0], np.int64))
        return self.known[1]

    @staticmethod
    def _time(buf: memoryview, pos: int, section: _Section) -> int:
        """The time (ns) of the plain enhanced packet block at ``pos``."""
        if_id, ts_hi, ts_lo, _caplen, _wire = section.epb(buf, pos + 8)
        return int(section.interfaces[if_id].ts_ns(ts_hi << 32 | ts_lo))

    def _add(self, npbuf: npt.NDArray[np.uint8], rows: _Chunk) -> None:
        """The chunk's rows: the plain blocks' headers read as columns, then the filler."""
        n = len(rows.blocks)
        if n == 0:
            return
        blocks = np.array(rows.blocks, np.int64)
        cols = {k: np.zeros(n, np.int64) for k in ("caplen", "wire", "ts", "linktype", "if")}
        bounds = [first for first, _b, _s in rows.runs] + [n]
        spans: dict[int, tuple[list[tuple[int, int]], int, _Section]] = {}
        for (first, if_base, section), stop in zip(rows.runs, bounds[1:], strict=True):
            spans.setdefault(id(section), ([], if_base, section))[0].append((first, stop))
        for parts, if_base, section in spans.values():  # the runs of a section at once
            mine = np.zeros(n + 1, np.int8)
            for first, stop in parts:
                mine[first] += 1
                mine[stop] -= 1
            idx = np.flatnonzero(np.cumsum(mine[:n]).astype(bool) & (blocks >= 0))
            if len(idx):
                _epb_columns(npbuf, blocks[idx], idx, if_base, section, cols)
        for i, rec in rows.recs.items():
            cols["wire"][i], cols["ts"][i], cols["linktype"][i] = (rec.wire_len, rec.ts_ns,
                                                                   rec.linktype)
        frames = np.arange(rows.first_frame + 1, rows.first_frame + n + 1, dtype=np.int64)
        self.fill.add(npbuf, np.maximum(blocks, 0) + 28, cols["caplen"], cols["wire"],
                      cols["ts"], frames, cols["linktype"], cols["if"],
                      self.if_names or [None], rows.recs)

    def _finish(self, tail: bytes, base: int) -> None:
        """The end-of-file checks of ``pcapng._Reader.records``."""
        if base == 0 and not tail:
            raise self.error("empty file", 0)
        if tail:
            raise self.error(f"truncated block ({self._cut(tail, 0)})", base)
        if self.unsupported is not None and self.unread == self.frame:
            linktype, at = self.unsupported
            raise self.error(linktypes.unsupported(linktype), at)


def _epb_columns(npbuf: npt.NDArray[np.uint8], blocks: npt.NDArray[np.int64],
                 idx: npt.NDArray[np.int64], if_base: int, section: _Section,
                 cols: dict[str, npt.NDArray[np.int64]]) -> None:
    """Captured and wire length, time, link type and interface of the plain enhanced packet
    blocks at ``blocks`` (rows ``idx``) of one section."""
    head = rows_at(npbuf, blocks + 8, 20).view(section.order + "u4").astype(np.int64)
    if_id = head[:, 0]
    raw = (head[:, 1].astype(np.uint64) << np.uint64(32)) | head[:, 2].astype(np.uint64)
    cols["caplen"][idx] = head[:, 3]
    cols["wire"][idx] = head[:, 4]
    cols["if"][idx] = if_base + if_id
    for i in np.unique(if_id, return_index=True)[0].tolist():
        iface = section.interfaces[i]
        sel = if_id == i
        cols["linktype"][idx[sel]] = iface.linktype
        ticks = raw[sel]
        if int(ticks.max()) * iface.mul < 1 << 62 and iface.div < 1 << 62:
            small = ticks.astype(np.int64)
            cols["ts"][idx[sel]] = ((small * iface.mul // iface.div) >> iface.shift) \
                + iface.offset_ns
        else:  # beyond 64-bit arithmetic: one at a time
            cols["ts"][idx[sel]] = [iface.ts_ns(t) for t in ticks.tolist()]


def _chained(npbuf: npt.NDArray[np.uint8], pos: int, lim: int, section: _Section,
             interfaces: tuple[npt.NDArray[np.bool_], npt.NDArray[np.int64]]
             ) -> tuple[npt.NDArray[np.int64], int]:
    """Where the plain enhanced packet blocks chained from ``pos`` (a plain one) start, up
    to ``lim``; and where the chain stops. Candidates are the 4-byte words from ``pos`` that
    read as the head of a plain block (the block type; the captured length filling the
    block exactly, that is, no options; a known interface of a link type the columns read;
    a time in range; the trailer repeating the size when the block is whole;
    ``interfaces``: ``_Walker._interfaces``); the chain
    follows each block's size to the next (``table_pcap.follow_chain``), so a candidate in
    a payload is never taken."""
    none = np.zeros(0, np.int64), pos
    n = (lim - pos) // 4
    if n < 8:
        return none
    words = npbuf[pos : pos + 4 * n].view(section.order + "u4")
    k = np.flatnonzero(words[: n - 6] == EPB)
    if not len(k) or k[0] != 0:
        return none
    size = words[k + 1].astype(np.int64)
    if_id = words[k + 2].astype(np.int64)
    caplen = words[k + 5].astype(np.int64)
    fast, hi_below = interfaces
    known = np.minimum(if_id, len(fast) - 1)
    ok = ((size >= 32) & (if_id < len(fast) - 1) & fast[known] & (caplen <= MAX_CAPLEN)
          & (32 + ((caplen + 3) & ~3) == size) & (words[k + 3] < hi_below[known]))
    whole = ok & (4 * k + size <= 4 * n)
    ok[whole] = words[k[whole] + (size[whole] >> 2) - 1] == size[whole]
    k, size = k[ok], size[ok]
    if not len(k) or k[0] != 0:
        return none
    starts, stop = follow_chain(4 * k, 4 * k + size, lim - pos)
    return starts + pos, stop + pos
