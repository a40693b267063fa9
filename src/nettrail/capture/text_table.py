"""tcpdump text into a packet table: the common lines' fields straight into the columns.

The text reader's fast path keeps the fields of common lines as lists (``text_fast.Chunk``);
here they become a batch's column arrays without a record per packet. Every other packet
(the general path's records, the few the time judging hands over one by one, and any line
whose fields the columns cannot hold: a host name for an address, a value out of a column's
range) keeps its record in the batch. A row without a record gets the very record the reader
would have made, on demand (``Batch.rebuild``, many rows at once), from its columns and a few
side arrays (TS echo, the line's address pair and ``-i any`` column, options other than the usual
timestamps). Numbers the text did not print (seq of a pure ACK, ack of a SYN, a missing
window) and numbers left relative are marked in ``known`` (``K_SEQ1``, ``K_ACK1``, ``K_REL``).
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import partial
from itertools import chain
from operator import attrgetter, itemgetter
from typing import Any, cast

import numpy as np

from nettrail.capture.base import CaptureStats
from nettrail.capture.text_block import RELATIVE
from nettrail.capture.text_fast import Chunk, FastLine
from nettrail.capture.text_link import link_columns
from nettrail.model.arrays import Arr
from nettrail.model.cache import CACHE_LIMIT
from nettrail.model.packet import PROTO_UDP, PacketRecord, TCPOptions
from nettrail.model.table import (
    BATCH_ROWS,
    K_ACK1,
    K_REL,
    K_SEQ,
    K_SEQ1,
    K_TS,
    K_WIN,
    OCTET,
    Batch,
    PacketTable,
    address_value,
    empty_columns,
    fill_row,
    lean,
)

_U32 = 1 << 32
_PROTO, _SPORT, _DPORT, _KEY, _HDR_LEN = (itemgetter(0), itemgetter(1), itemgetter(2),
                                          itemgetter(3), itemgetter(4))  # of an address pair
_SRC, _DST = itemgetter(0), itemgetter(2)  # of its connection key
_TS_VAL = attrgetter("ts_val")
_QUADS = re.compile(rf"(?:({OCTET}\.{OCTET}\.{OCTET}\.{OCTET})|[^\n]*)\n")
"""Each line of address texts: a canonical dotted quad (as ``inet_ntoa`` prints it), or
not (empty)."""
_PLACES = np.array([1 << 24, 1 << 16, 1 << 8, 1], np.int64)
_NONE = np.zeros((0, 4), np.int64)


def _dotted_quads(texts: list[str]) -> tuple[list[bool], Arr]:
    """Which of ``texts`` are canonical dotted quads, and those ones' values in order, all
    read at once (none is, when a text holds a line end)."""
    quads = _QUADS.findall("\n".join(texts) + "\n") if texts else []
    if len(quads) != len(texts):
        return [False] * len(texts), _NONE[:, 0]
    canon = ".".join(q for q in quads if q)
    octets = np.fromstring(canon, np.int64, sep=".").reshape(-1, 4) if canon else _NONE
    values: Arr = octets @ _PLACES
    return list(map(bool, quads)), values
_FIELDS = ("ts", "line", "pair", "col", "flags", "seq", "ack", "win", "plen", "wire", "tsv",
           "ecr")
"""The fields of a Chunk, in its order."""


_PAIR_COLUMNS = ("family", "src", "dst", "proto", "sport", "dport", "wire_len", "payload_len")
_TCP_COLUMNS = ("flags", "seq", "ack", "window", "ts_val", "known")


def _zero(cols: dict[str, Arr], names: tuple[str, ...], keep: Arr) -> None:
    """Columns ``names`` zeroed on the rows not in ``keep`` (written for every row at once,
    the few others cleared after: cheaper than writing the kept rows by index)."""
    off = np.flatnonzero(~keep)
    for name in names:
        cols[name][off] = 0


def _ints(values: list[int]) -> Arr:
    """``values`` as int64 (every one fits: the fast pattern's numbers have at most 10
    digits)."""
    return np.array(values, np.int64)


_Part = tuple[Arr, Arr, Arr, list[int], list[tuple[Any, ...]]]
"""What a partition file keeps of some rows' ``TextRows``: their pairs, columns and TS
echoes, and the rows with other options and those options' fields."""
_OPTIONS = partial(tuple.__new__, TCPOptions)
"""A TCPOptions of its fields' tuple (what ``TCPOptions._make`` does, minus its checks)."""


@dataclass
class TextRows:
    """What rebuilds the records of one batch's rows (``Batch.rebuild``): the batch's columns,
    each row's address pair and ``-i any`` column (in ``fast``'s lists), TS echo, and the
    options other than the usual timestamps."""

    fast: FastLine
    cols: dict[str, Arr]
    pair: Arr
    col: Arr
    ecr: Arr
    opts: dict[int, TCPOptions]

    def __call__(self, rows: Arr) -> list[PacketRecord]:
        """The reader's records of rows ``rows`` (row numbers in the batch), in that order:
        their fields read off the columns an array at a time, then built in one loop."""
        c = self.cols
        known = c["known"][rows].astype(np.int64)
        tcp = c["proto"][rows] != PROTO_UDP
        flags = np.where(tcp, c["flags"][rows].astype(np.int64)
                         | np.where(known & K_REL, RELATIVE, 0), -1)
        both = known & K_SEQ != 0
        seq = np.where(both | (known & K_SEQ1 != 0), c["seq"][rows].astype(np.int64), -1)
        ack = np.where(both | (known & K_ACK1 != 0), c["ack"][rows].astype(np.int64), -1)
        win = np.where(known & K_WIN != 0, c["window"][rows].astype(np.int64), -1)
        tsv = np.where(known & K_TS != 0, c["ts_val"][rows].astype(np.int64), -1)
        fields = (c["ts"][rows], c["frame"][rows], self.pair[rows], self.col[rows], flags, seq,
                  ack, win, c["payload_len"][rows], c["wire_len"][rows], tsv, self.ecr[rows])
        return self.fast.records(zip(*(f.tolist() for f in fields), strict=True),
                                 self._options_of(rows), 0)

    def _options_of(self, rows: Arr) -> dict[int, TCPOptions]:
        """The other options of rows ``rows``, by their place in ``rows``."""
        opts = self.opts
        return {k: opts[i] for k, i in enumerate(rows.tolist()) if i in opts} if opts else {}

    @property
    def source(self) -> FastLine:
        """The reader's pairs, columns and caches, which every batch of the file shares."""
        return self.fast

    def part(self, rows: Arr) -> _Part:
        """Rows ``rows``' pairs, columns, TS echoes and options (by their place in ``rows``,
        as plain tuples: they pickle several times faster than TCPOptions), for a partition
        file."""
        given = self._options_of(rows)
        return (self.pair[rows], self.col[rows], self.ecr[rows], list(given),
                list(map(tuple, given.values())))

    def joined(self, parts: Sequence[object], cols: dict[str, Arr]) -> TextRows:
        """The rows of ``parts`` (``part``'s) one after another, with columns ``cols``."""
        got = [cast(_Part, p) for p in parts]
        opts: dict[int, TCPOptions] = {}
        start = 0
        for pair, _col, _ecr, at, values in got:
            opts.update(zip(map(start.__add__, at), map(_OPTIONS, values), strict=True))
            start += len(pair)
        pair, col, ecr = (np.concatenate([p[k] for p in got]) for k in range(3))
        return TextRows(self.fast, cols, pair, col, ecr, opts)


class TextSink:
    """Rows of one text file gathered in line order and made into batches of a table."""

    def __init__(self, table: PacketTable, fast: FastLine, stats: CaptureStats) -> None:
        self.table = table
        self.fast = fast
        self.stats = stats
        self.file_id = table.file_id(fast.path)
        self.pieces: list[tuple[Arr, ...]] = []
        """The fields of the lines given as columns, in row order (the rows that keep their
        records lie between them: the rows of ``odd``)."""
        self.rows = 0
        self.lines: tuple[Chunk, int, int, int] | None = None
        """Lines at the end given as columns, not yet in ``pieces``: of a chunk, from, to, and
        the row the first one is."""
        self.gaps: list[int] = []
        """The rows that keep their records among ``lines`` (lines of another form among the
        common ones): for each, the line of the chunk it comes before (``to``: after the
        last)."""
        self.odd: dict[int, PacketRecord] = {}
        self.opts: dict[int, TCPOptions] = {}
        self.pair_values = np.zeros((0, 7), np.int64)
        self.host_values = np.zeros(0, np.int64)
        self.col_values: list[tuple[int, int]] = []
        self.addr_values: dict[str, tuple[int, int]] = {}

    def add_record(self, rec: PacketRecord) -> None:
        """A packet that keeps its record (the lines after it may join the lines before it
        in one piece)."""
        if self.lines is not None:
            self.gaps.append(self.lines[2])
        self.odd[self.rows] = lean(rec)
        self.rows += 1
        if self.rows >= BATCH_ROWS:
            self.flush()

    def add_chunk(self, chunk: Chunk, start: int, end: int) -> None:
        """Lines ``start`` to ``end`` of ``chunk``, as columns (lines that follow the ones
        added last, of the same chunk, join them in one piece)."""
        lines = self.lines
        if lines is not None and lines[0] is chunk and lines[2] == start:
            self.lines = (chunk, lines[1], end, lines[3])
        else:
            self._close_lines()
            self.lines = (chunk, start, end, self.rows)
        self.rows += end - start
        if self.rows >= BATCH_ROWS:
            self.flush()

    def _close_lines(self) -> None:
        """The lines added last as a piece, their options noted by row."""
        if self.lines is None:
            return
        chunk, start, end, row = self.lines
        gaps, self.gaps = self.gaps, []
        self.lines = None
        at, opts = row - start, chunk.opts
        if end - start < len(opts) and not gaps:  # a piece of a chunk with many options
            for i in range(start, end):
                if i in opts:
                    self.opts[at + i] = opts[i]
        else:  # each line moved on by the rows that keep records before it
            for i, options in opts.items():
                if start <= i < end:
                    self.opts[at + i + (bisect_right(gaps, i) if gaps else 0)] = options
        self.pieces.append(chunk.fields(start, end))

    def _fields(self, n: int) -> list[Arr]:
        """The twelve fields of the ``n`` rows gathered, in row order (every field -1 on a
        row that keeps its record: the record says it all)."""
        pieces, odd = self.pieces, self.odd
        if not odd:
            return [np.concatenate([p[k] for p in pieces]) for k in range(len(_FIELDS))]
        kept = np.fromiter(odd, np.int64, len(odd))
        lines = np.ones(n, np.bool_)
        lines[kept] = False
        at = np.cumsum(lines) - 1  # each row's place among the lines; past them: -1
        m = n - len(kept)
        at[kept] = m
        out = []
        for k in range(len(_FIELDS)):
            values = np.empty(m + 1, np.int64)
            values[m] = -1
            if pieces:
                np.concatenate([p[k] for p in pieces], out=values[:m])
            out.append(values.take(at))
        return out

    def flush(self) -> None:
        """Make a batch of the rows gathered so far."""
        n = self.rows
        if n == 0:
            return
        self._close_lines()
        ts, line, pair, col, flags, seq, ack, win, plen, wire, tsv, ecr = self._fields(n)
        opts, odd = self.opts, self.odd
        self.pieces, self.rows, self.opts, self.odd = [], 0, {}, {}
        cols = empty_columns(n)
        if opts:
            tsv[np.fromiter(opts, np.int64, len(opts))] = np.fromiter(
                (-1 if v is None else v for v in map(_TS_VAL, opts.values())), np.int64,
                len(opts))
        at = np.maximum(pair, 0)
        per_pair = self._pairs().T
        good = (pair >= 0) & (per_pair[6][at] == 1) & (plen >= 0) & (wire >= 0) & (wire < _U32)
        good &= (seq < _U32) & (ack < _U32) & (win <= 0xFFFF) & (tsv < _U32) & (ecr >= -1)
        good &= (seq >= -1) & (ack >= -1) & (win >= -1) & (tsv >= -1) & (flags >= -1)
        cols["ts"][:] = ts
        cols["frame"][:] = line
        cols["file"][:] = self.file_id
        cols["linktype"][:] = -1
        if col.max() >= 0:  # ``-i any``
            cv = self._cols()[np.maximum(col, 0)]
            cols["iface"][:] = np.where(col >= 0, cv[:, 0], -1)
            cols["direction"][:] = np.where(col >= 0, cv[:, 1], 0)
        else:
            cols["iface"][:] = -1
        for name, k in (("family", 0), ("src", 1), ("dst", 2), ("proto", 3), ("sport", 4),
                        ("dport", 5)):  # each pair value cast into its column as it is gathered
            per_pair[k].astype(cols[name].dtype).take(at, out=cols[name])
        cols["wire_len"][:] = wire
        cols["payload_len"][:] = plen
        if not good.all():  # the other rows as zeroed: their records fill them (``fill_row``)
            _zero(cols, _PAIR_COLUMNS, good)
        self._tcp(cols, good, flags, seq, ack, win, tsv)
        link_columns(self.fast, cols, good)
        bad = [i for i in np.flatnonzero(~good).tolist() if i not in odd]
        if bad:
            got = self.fast.records(zip(*(f[bad].tolist() for f in (
                ts, line, pair, col, flags, seq, ack, win, plen, wire, tsv, ecr)), strict=True),
                {k: opts[i] for k, i in enumerate(bad) if i in opts}, 0)
            odd.update(zip(bad, got, strict=True))
        for i, rec in odd.items():
            fill_row(self.table, cols, i, rec, self.file_id)
        rows = TextRows(self.fast, cols, pair.astype(np.int32), col.astype(np.int32), ecr,
                        {i: o for i, o in opts.items() if i not in odd})
        self.table.add_batch(Batch(cols, odd, rows))

    @staticmethod
    def _tcp(cols: dict[str, Arr], good: Arr, flags: Arr, seq: Arr, ack: Arr, win: Arr,
             tsv: Arr) -> None:
        """The TCP columns and ``known`` bits of the good rows."""
        tcp = good & (flags >= 0)
        rel = flags > 0xFFFF
        has_seq, has_ack, has_win = seq >= 0, ack >= 0, win >= 0
        full = has_seq & has_ack & has_win & ~rel
        u16, zero = np.uint16, np.uint16(0)
        known = np.where(full, u16(K_SEQ), np.where(has_seq, u16(K_SEQ1), zero)
                         | np.where(has_ack, u16(K_ACK1), zero))
        known |= np.where(has_win, u16(K_WIN), zero) | np.where(rel, u16(K_REL), zero)
        known |= np.where(tsv >= 0, u16(K_TS), zero)
        np.bitwise_and(flags, 0xFFFF, out=cols["flags"], casting="unsafe")
        for name, values in (("seq", seq), ("ack", ack), ("window", win), ("ts_val", tsv)):
            np.maximum(values, 0, out=cols[name], casting="unsafe")
        cols["known"][:] = known
        if not tcp.all():  # UDP rows, and rows their records fill: zeroed
            _zero(cols, _TCP_COLUMNS, tcp)

    def _pairs(self) -> Arr:
        """Per address pair of the FastLine: family, src, dst, proto, sport, dport and whether
        the columns hold it (both addresses of the line's IP version). The pairs made since
        the last call are added from ``FastLine.per_pair`` where both hosts are canonical
        dotted quads, the others a field at a time."""
        start = len(self.pair_values)
        new = self.fast.pairs[start:]
        if new:
            n = len(new)
            per = self.fast.per_pair()[start : start + n]
            rows = np.empty((n, 7), np.int64)
            rows[:, 0] = 4
            rows[:, 1:3] = self._hosts(per[:, 7:9])
            rows[:, 3:6] = per[:, 4:7]
            rows[:, 6] = 1
            other = np.flatnonzero((rows[:, 1] < 0) | (rows[:, 2] < 0)).tolist()
            if other:
                rows[other] = self._other_pairs([new[i] for i in other])
            self.pair_values = np.concatenate([self.pair_values, rows])
        return self.pair_values if len(self.pair_values) else np.zeros((1, 7), np.int64)

    def _hosts(self, numbers: Arr) -> Arr:
        """The values of the FastLine's dotted-quad hosts of these numbers (-1: none, or one
        not printed canonically). The hosts seen since the last call are read at once."""
        values = self.host_values
        new = self.fast.v4_host_list[len(values):]
        if new:
            is_quad, quad_values = _dotted_quads(new)
            got = np.full(len(new), -1, np.int64)
            got[np.flatnonzero(is_quad)] = quad_values
            values = self.host_values = np.concatenate([values, got])
        if not len(values):
            return np.full(numbers.shape, -1, np.int64)
        out: Arr = np.where(numbers >= 0, values[np.maximum(numbers, 0)], -1)
        return out

    def _other_pairs(self, new: list[Any]) -> Arr:
        """The rows of ``_pairs`` of ``new`` pairs, a field at a time, their addresses read
        in order (a name is interned as first seen)."""
        keys = list(map(_KEY, new))  # (source, its port, destination, its port)
        srcs, dsts = list(map(_SRC, keys)), list(map(_DST, keys))
        ends = chain.from_iterable(zip(srcs, dsts, strict=True))
        found = self._addresses(dict.fromkeys(ends))
        at = dict(zip(found, range(len(found)), strict=True))
        values = np.array(list(found.values()), np.int64).reshape(-1, 2)
        n = len(new)
        src = values[np.fromiter(map(at.__getitem__, srcs), np.int64, n)]
        dst = values[np.fromiter(map(at.__getitem__, dsts), np.int64, n)]
        rows = np.empty((n, 7), np.int64)
        rows[:, 0:2] = src
        rows[:, 2] = dst[:, 1]
        rows[:, 3] = np.fromiter(map(_PROTO, new), np.int64, n)
        rows[:, 4] = np.fromiter(map(_SPORT, new), np.int64, n)
        rows[:, 5] = np.fromiter(map(_DPORT, new), np.int64, n)
        version = np.where(np.fromiter(map(_HDR_LEN, new), np.int64, n) == 20, 4, 6)
        rows[:, 6] = (src[:, 0] == dst[:, 0]) & (dst[:, 0] == version)
        return rows

    def _addresses(self, texts: Iterable[str]) -> dict[str, tuple[int, int]]:
        """``address_value`` of each address text (in order: a name is interned as first
        seen), cached; the canonical dotted quads among the new ones read at once."""
        cache = self.addr_values
        found = {t: cache.get(t) for t in texts}
        new = [t for t, got in found.items() if got is None]
        is_quad, quad_values = _dotted_quads(new)
        values = iter(quad_values.tolist())
        got = [(4, next(values)) if quad else address_value(self.table, text)
               for text, quad in zip(new, is_quad, strict=True)]
        found.update(zip(new, got, strict=True))
        if len(cache) + len(new) > CACHE_LIMIT:
            cache.clear()
        cache.update(zip(new, got, strict=True))
        return found  # type: ignore[return-value]  # every None replaced

    def _cols(self) -> Arr:
        """Per ``-i any`` column of the FastLine: the table's interface id and direction."""
        values = self.col_values
        for name, direction in self.fast.column_list[len(values):]:
            values.append((self.table.iface_id(name), 1 if direction == "in" else 2))
        return np.array(values or [(0, 0)], np.int64).reshape(-1, 2)
