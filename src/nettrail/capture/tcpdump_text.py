"""tcpdump text (what ``tcpdump`` prints) to PacketRecords, as people paste it.

A packet starts on a line with a timestamp (any ``-t`` variant, see ``text_time``; after the
``-#`` packet number if printed) or, in text printed with ``-t``, on a line that starts like a
packet (``IP``, ``IP6``, ``ARP,``, a MAC, an ``-i any`` interface column, ``a > b:``). Lines
after it without a timestamp belong to it: the ``-v`` transport line, the inner frame of a
tunnel, the header an ICMP error quotes, lines wrapped where it was pasted (``text_wrap``:
joined where the join reads every field). Hex dumps, option details and the bytes ``-A``
prints (``text_dump``) are ignored. Pasting damage (mail quoting, quoted-printable, markdown,
HTML, CRLF) is repaired by ``text_paste`` with a warning naming the line; ``...`` elisions are
skipped. Packets of protocols nettrail does not model (LLDP, STP, IGMP...) are counted in
``stats.skipped["other-protocol"]``, lines that cannot be read in
``stats.skipped["unparsed-line"]``, each with a warning. tcpdump's own messages (``listening
on``, ``N packets captured``) are skipped quietly.

Records: ``frame`` is the packet's first line (1-based), ``linktype`` -1, ``data`` None; seq/ack
printed relative (no ``-S``) are turned back into absolute numbers (see ``text_seq``). A line
with no time of its own, or a timestamp that does not fit its neighbours (mangled in pasting),
keeps its place by order with ``time_ok=False``.

Fatal faults (an empty file, NUL bytes or invalid UTF-8, text with no packet at all: "not
tcpdump text") set ``stats.error`` and raise it, after the good records before them.

The file is read a block (BLOCK bytes of whole lines) at a time: one pattern (``text_fast``)
cuts the block into lines and the fields of the common TCP and UDP forms, whose records are
built directly and judged in bulk; every other line goes through the line-by-line path here
(one that cannot change how the common lines after it read, ``text_holes``, in its place
among them, without ending their run).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Generator, Iterable, Iterator
from datetime import UTC, datetime
from itertools import chain, islice
from operator import itemgetter
from typing import Any

import numpy as np

from nettrail.analyze.flows import gc_paused
from nettrail.capture import text_block, text_dump
from nettrail.capture.base import CaptureStats
from nettrail.capture.text_fast import OTHER, STAMP, Chunk, Row
from nettrail.capture.text_fields import OtherProtocol, TextError
from nettrail.capture.text_holes import (
    Hole,
    HoleAt,
    Outcome,
    Piece,
    Stretch,
    find_holes,
    parsed,
)
from nettrail.capture.text_hosts import HostLines
from nettrail.capture.text_link import LinkLine
from nettrail.capture.text_parse import Body, parse_body
from nettrail.capture.text_paste import Paste, Warner, other_tool
from nettrail.capture.text_seq import SeqTracker
from nettrail.capture.text_table import TextSink
from nettrail.capture.text_time import (
    TIMESTAMP,
    Clock,
    SinceFirst,
    near_zero,
    read_stamp,
)
from nettrail.capture.text_tunnel import DIRECTION_WORDS, MAC
from nettrail.capture.text_wrap import Pending
from nettrail.errors import CaptureError
from nettrail.model.packet import ACK, SYN, Headers, PacketRecord, TCPHeader
from nettrail.model.table import PacketTable

FORMAT = "tcpdump-text"
MANGLED_JUMP_NS = 3600 * 1_000_000_000
"""A time this far from both neighbours (which agree) was mangled in pasting."""
_DELTA_MODES = frozenset({"delta", "since-first"})
_USUAL_SHAPES = frozenset({(2, 6), (2, 9), (10, 6), (10, 9)})
BLOCK = 1 << 14
"""Bytes read at a time: lines are cut and matched a block at a time."""
TABLE_BLOCK = 1 << 18
"""Bytes read at a time into a table: its lines are filled a field at a time (``text_block``),
which costs per block more than per line."""
_STAMP = itemgetter(STAMP)
_TIME = itemgetter(1)

_BANNER = re.compile(
    r"(?:(?:sudo )?tcpdump(?:: | )|listening on |reading from file |dropped privs|Warning: "
    r"|\d+ packets? (?:captured|received by filter|dropped by (?:kernel|interface))"
    r"|\^C|(?:\[[^\]]*\]|\S*)[#$](?: .*tcpdump |\s*$))"
)
_DROPPED = re.compile(r"(\d+) packets? dropped by (?:kernel|interface)")
"""tcpdump's closing count of the packets its capture lost (pasted with the text)."""
_LOG_STAMP = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:?\d\d) ")
"""The time a log collector puts before each line (``kubectl logs --timestamps``: RFC 3339),
before tcpdump's own."""
_CAPLEN = re.compile(r"caplen \d+ len \d+ ")
_NUMBERED = re.compile(r"( *\d+\t)?(?: *\d+  (?=\S| \d))?")
"""tcpdump ``-#``'s packet number column, after any line number ``cat -n`` or ``nl`` put
before it (group 1)."""
_NUMBER_START = frozenset(" 0123456789")
_ELISION = re.compile(r"\s*(?:\.{3,}|…|\[\.{3}\]|\(\.{3}\)|\[(?:snip|cut|\.\.\.)[^\]]*\])\s*$",
                      re.IGNORECASE)
_PACKET_START = re.compile(
    rf"(?:[^\s>]+ +(?:{DIRECTION_WORDS}) +)?(?:IP6? |ARP, |{MAC} "
    r"|[A-Z]{2,}[\w.-]*,? |[^\s>]+ > [^\s>]+: )"
)
_HEX = re.compile(r"\s*0x[0-9a-f]{4}:\s")
"""A line of a packet's bytes as ``tcpdump -x`` or ``-X`` prints them (``-X``'s last column
is the bytes as text: anything, an ``=`` at its end or HTML included)."""
_DETAIL = re.compile(r"\t[ \t]|" + _HEX.pattern)


class _BadLine(Exception):
    """A line that is binary data: why, and its number."""

    def __init__(self, reason: str, line: int) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line


def _utf8(data: bytes) -> bool:
    try:
        data.decode("utf-8")
    except UnicodeDecodeError:
        return False
    return True


def _cr_only(data: bytes) -> bool:
    """Whether a file's first bytes end their lines with CR alone (old Mac OS editors): CRs
    and no LF at all (a stray CR in a file of LF lines is left alone). Read as one line,
    every packet after the first would be lost."""
    return b"\r" in data and b"\n" not in data


def _bad_line(block: bytes) -> int:
    """Where the first line of ``block`` with a NUL byte or invalid UTF-8 starts."""
    end = len(block)
    nul = block.find(b"\0")
    if nul >= 0:
        end = nul
    try:
        block[:end].decode("utf-8")
    except UnicodeDecodeError as exc:
        end = exc.start
    return block.rfind(b"\n", 0, end) + 1


class _FastPending:
    """A line of the common form waiting for the next one (which may continue it)."""

    __slots__ = ("index", "line", "orig", "row", "text")

    def __init__(self, line: int, row: Row, index: int) -> None:
        self.line = line
        self.row = row
        self.index = index  # in its block, until the text is taken from it
        self.text: str | None = None
        self.orig: list[str] | None = None  # a rewritten row's original lines


def _keep_held(rows_of: dict[int, Any], held: list[object]) -> None:
    """Forget the rows of records no longer held (changed by judging, or given out)."""
    keep = {id(rec) for rec in held if rec is not None}
    for key in [k for k in rows_of if k not in keep]:
        del rows_of[key]


class TextReader:
    """Reads one tcpdump text file; ``records()`` streams, ``stats`` is filled along the way."""

    def __init__(self, path: str, point: str, stats: CaptureStats, day_ns: int = 0,
                 lines_of: HostLines | None = None) -> None:
        self.path = path
        self.lines_of = lines_of
        """In a text of several hosts' lines, the lines this point reads (``text_hosts``)."""
        self.keep: list[int] | None = None
        """Of such a text, where each line of the block being read stands in the file's."""
        self.kept = 0
        """Of such a text, the lines of this point's host read so far."""
        self.point = point
        self.stats = stats
        self.clock = Clock(day_ns)
        self.seq = SeqTracker()
        self.warner = Warner(stats)
        self.pending: Pending | None = None
        self.fast_pending: _FastPending | None = None
        self.crlf = 0
        self.timed: bool | None = None
        self.others: set[str] = set()
        self.banners = 0
        self.last_banner = ""
        """The last of tcpdump's own messages (``tcpdump: eth9: No such device exists``)."""
        self.fast = LinkLine(path, point, self.clock, self.seq)
        self.shapes: dict[int, tuple[tuple[int, int], str]] = {}
        self.usual_shape = (2, 6)
        self.since_first: SinceFirst | None = None
        self.first_unread = ""
        self.paste = Paste(self.warner)
        self.quiet = False
        self.delta_held: list[PacketRecord] = []
        self.lineno = 0
        self.block = b""
        self.block_lines: list[bytes] | None = None
        self.at: list[int] | None = None  # the line of each row of a rewritten block
        self.orig: dict[int, int] = {}  # a rewritten block's rewritten rows: how many lines
        self.prev: PacketRecord | None = None
        self.held: PacketRecord | None = None
        self.rows_of: dict[int, tuple[Chunk, int, PacketRecord]] = {}
        """Records made from a chunk's row, by identity, while they are judged: into a table,
        one given out as it was made goes in as that row's columns (``fill``)."""
        self.block_size = BLOCK
        self.bodies: dict[str, Outcome] = {}
        """What parsing gave for recent bodies (``text_holes.parsed``)."""
        self.dump_left = 0
        """Characters the bytes of the packet before may still take, as ``tcpdump -A`` prints
        them (``text_dump``); 0: none are being printed."""
        self.dump_lines = 0
        """Lines of packet bytes skipped so far (more than 0: the file is ``-A`` text)."""
        self.given: PacketRecord | None = None
        """The last packet given out, until its bytes start (``_dump_starts``)."""

    def records(self) -> Iterator[PacketRecord]:
        """The file's packets in line order; raises CaptureError on a fatal fault at its end.

        A timestamp that does not fit its neighbours (hours away from both while they agree,
        or shaped unlike both: digits lost in pasting) keeps its place by order, with the
        previous packet's time and ``time_ok=False``. Each record is judged when the next one
        is known (``_judged``); a run of common lines close in time, in bulk (``_bulk``).
        """
        try:
            for item in self._records():
                if isinstance(item, Chunk):
                    yield from self._bulk(item.records())
                elif isinstance(item, Stretch):
                    yield from self._bulk(self._stretch_records(item))
                else:
                    yield from self._judged(item)
        except CaptureError:
            yield from self._close()
            raise
        yield from self._close()

    def fill(self, sink: TextSink) -> None:
        """``records()`` into ``sink``: the lines of a run of common ones that ``_bulk`` gives
        out without judging them one by one go in as columns, every other packet as its
        record. Raises CaptureError on a fatal fault, after the packets before it."""
        rows_of = self.rows_of

        def add(rec: PacketRecord) -> None:
            at = rows_of.pop(id(rec), None)  # (the entry holds rec: its id is not reused)
            if at is not None:  # as made from its row: the row's columns
                sink.add_chunk(at[0], at[1], at[1] + 1)
            else:
                sink.add_record(rec)

        self.block_size = max(self.block_size, TABLE_BLOCK)
        self.fast.by_fields = True
        try:
            for item in self._records():
                if len(rows_of) > 8:  # only records still held (or this one) come out later
                    _keep_held(rows_of, [self.held, *self.delta_held, item])
                if isinstance(item, Chunk):
                    item = Stretch(item, [])
                if isinstance(item, Stretch):
                    self._given(item, add, sink)
                    continue
                for rec in self._judged(item):
                    add(rec)
        except CaptureError:
            for rec in self._close():
                add(rec)
            sink.flush()
            raise
        for rec in self._close():
            add(rec)
        sink.flush()

    def _given(self, item: Stretch, add: Callable[[PacketRecord], None], sink: TextSink
               ) -> None:
        """The packets of ``item`` into ``sink`` (``add`` for one), judged as ``_judged`` would
        one by one, each hole read just before its judging; when their times lie within
        MANGLED_JUMP_NS of each other and no odd stamp is waiting, every one but the last is
        fine once the next is known: the lines go in as columns, without a record each."""
        chunk, pieces = item.chunk, item.pieces()
        recs: list[PacketRecord] = []
        if len(item) >= 3 and self.clock.mode not in _DELTA_MODES \
                and item.span() <= MANGLED_JUMP_NS:
            if self._read(pieces, 0):
                recs += self._judged(self._piece_record(chunk, _first(pieces, True), True))
            if self._read(pieces, 0):
                recs += self._judged(self._piece_record(chunk, _first(pieces, False), False))
            if not self.shapes:
                k = 1  # every hole left read, in line order: nothing is judged on the way
                while k < len(pieces):
                    k += self._read(pieces, k)
                if sum(len(range(*p)) if isinstance(p, list) else 1 for p in pieces) >= 2:
                    for rec in recs:
                        add(rec)
                    last = _last(pieces)
                    self.prev = self._piece_record(chunk, _last(pieces, False), False)
                    self.held = self._piece_record(chunk, last, True)
                    for piece in pieces:
                        if isinstance(piece, list):
                            sink.add_chunk(chunk, piece[0], piece[1])
                        else:
                            assert not isinstance(piece, HoleAt)  # all read above
                            add(piece)
                    return
            if pieces:
                _first(pieces, True)  # judged above
        while self._read(pieces, 0):
            recs += self._judged(self._piece_record(chunk, _first(pieces, True), True))
        for rec in recs:
            add(rec)

    def _read(self, pieces: list[Piece], k: int) -> bool:
        """Whether ``pieces`` has a piece ``k`` once a hole there is read (its record in its
        place; a hole that gives none taken out, and the next one read)."""
        while k < len(pieces):
            at = pieces[k]
            if not isinstance(at, HoleAt):
                return True
            rec = self._hole(at)
            if rec is not None:
                pieces[k] = rec
                return True
            del pieces[k]
        return False

    def _hole(self, at: HoleAt) -> PacketRecord | None:
        """The record of a hole (None if it gives none), read as line by line: the clock as
        the line before it left it, and given back as it was."""
        clock = self.clock
        saved = clock.last_tod, clock.last_ns
        clock.last_ns, clock.last_tod = at.before_ns, at.before_ns - clock.day_ns
        rec = self._parse(Pending(at.line, at.hole.stamp, at.hole.body))  # as _take would
        clock.last_tod, clock.last_ns = saved
        if rec is not None:
            self.stats.packets += 1
        return rec

    def _stretch_records(self, item: Stretch) -> list[PacketRecord]:
        """The records of ``item`` in line order, its holes read on the way."""
        out: list[PacketRecord] = []
        pieces = item.pieces()
        while self._read(pieces, 0):
            piece = pieces.pop(0)
            if isinstance(piece, list):
                out += item.chunk.records(piece[0], piece[1])
            else:
                assert not isinstance(piece, HoleAt)  # read by _read
                out.append(piece)
        return out

    def _piece_record(self, chunk: Chunk, at: int | PacketRecord, made: bool) -> PacketRecord:
        """The record of line ``at`` of ``chunk`` (``made``: noted as made from its row), or
        a hole's record."""
        if isinstance(at, int):
            rec = chunk.record(at)
            return self._from_row(chunk, at, rec) if made else rec
        return at

    def _judged(self, rec: PacketRecord) -> Iterator[PacketRecord]:
        """The records that can be given out once ``rec`` is known (held back: ``rec``)."""
        held, shapes, jump = self.held, self.shapes, MANGLED_JUMP_NS
        if self.clock.mode in _DELTA_MODES:
            if held is not None:
                self.held = None
                yield held
            yield from self._deltas(rec)
        elif not rec[14]:  # time_ok: no time of its own, nothing to judge
            if held is not None:
                self.prev, self.held = held, None
                yield held
            yield rec
        else:
            if held is not None:
                prev = self.prev
                if -jump <= rec[1] - held[1] <= jump and held[3] not in shapes:
                    yield held  # close to the next one, shaped as usual: fine
                    if shapes and prev is not None:
                        shapes.pop(prev[3], None)
                    self.prev = held
                else:
                    held = self._judge_time(prev, held, rec)
                    yield held
                    if held.time_ok:
                        if prev is not None:
                            shapes.pop(prev.frame, None)
                        self.prev = held
            self.held = rec

    def _bulk(self, recs: list[PacketRecord]) -> Iterable[PacketRecord]:
        """Records of common lines in a row, judged as ``_judged`` would one by one: when their
        times lie within MANGLED_JUMP_NS of each other and no odd stamp is waiting, every one
        but the last is fine once the next is known (given out without a Python frame each)."""
        n = len(recs)
        times = list(map(_TIME, recs))
        if n < 3 or self.clock.mode in _DELTA_MODES or max(times) - min(times) > MANGLED_JUMP_NS:
            return [out for rec in recs for out in self._judged(rec)]
        first = [*self._judged(recs[0]), *self._judged(recs[1])]
        if self.shapes:
            return first + [out for rec in islice(recs, 2, None) for out in self._judged(rec)]
        self.prev, self.held = recs[n - 2], recs[n - 1]
        return chain(first, islice(recs, 1, n - 1))

    def _close(self) -> Iterator[PacketRecord]:
        """The records still held back at the end."""
        if self.held is not None:
            held, self.held = self.held, None
            yield self._judge_time(self.prev, held, None)
        yield from self._deltas(None)

    def _deltas(self, rec: PacketRecord | None) -> Iterator[PacketRecord]:
        """Records of a ``-ttt``/``-ttttt`` file, held until it is clear which (None: the end)."""
        judge = self.since_first
        if judge is None:
            if rec is None:
                return
            judge = self.since_first = SinceFirst(self.clock)
        if rec is not None and judge.kind is not None:
            yield rec  # decided: the clock itself gives the right time now
            return
        if rec is not None:
            self.delta_held.append(rec)
            if not rec.time_ok:
                judge.held.append(judge.held[-1] if judge.held else (0, rec.ts_ns))
                return
            if judge.feed(rec.ts_ns) is None:
                return
        elif judge.close() == "ambiguous" and self.delta_held:
            self.warner.warn("odd timestamps", self.delta_held[0].frame,
                             "times since the previous packet (-ttt) or since the first (-ttttt)?"
                             " too few packets to tell: kept in line order, not used for timing")
        ok = judge.kind != "ambiguous"
        if ok and self.delta_held:
            self._relative(judge.kind == "delta", self.delta_held[0].frame)
        for i, held in enumerate(self.delta_held):
            yield held._replace(ts_ns=judge.time(i), time_ok=ok and held.time_ok)
        self.delta_held.clear()

    def _relative(self, delta: bool, line: int) -> None:
        """Say that the text's times tell no time of day: where its packets are placed, and
        what a clock offset against other points then means."""
        day = datetime.fromtimestamp(self.clock.day_ns // 1_000_000_000, UTC)
        which = "previous packet (-ttt)" if delta else "first packet (-ttttt)"
        self.warner.warn("relative times", line,
                         f"times since the {which}: the text tells no time of day, so its "
                         f"packets are placed from {day:%Y-%m-%d} 00:00:00 UTC, and its clock "
                         "against other points only lines its packets up with theirs")

    def _judge_time(
        self, prev: PacketRecord | None, rec: PacketRecord, nxt: PacketRecord | None
    ) -> PacketRecord:
        """``rec`` as is, or placed by order when its time does not fit ``prev`` and ``nxt``."""
        odd = self.shapes.get(rec.frame)
        shape = odd[0] if odd is not None else None
        neighbours = [r for r in (prev, nxt) if r is not None]
        if not neighbours:
            return rec
        shapes = {self._shape(r) for r in neighbours}
        misshapen = shape is not None and len(shapes) == 1 and shape not in shapes and (
            len(neighbours) == 2 or shapes <= _USUAL_SHAPES)
        far = all(abs(rec.ts_ns - r.ts_ns) > MANGLED_JUMP_NS for r in neighbours)
        if far and prev is not None and nxt is not None:
            far = abs(nxt.ts_ns - prev.ts_ns) <= MANGLED_JUMP_NS
        if not (misshapen or (far and ((nxt is not None and prev is not None) or shape))):
            return rec
        what = f"timestamp {odd[1]!r}" if odd is not None else "timestamp"
        why = "shaped unlike its neighbours'" if misshapen else "hours away from its neighbours'"
        self.warner.warn("odd timestamps", rec.frame,
                         f"{what} {why} (mangled?): kept in line order, not used for timing")
        ts = prev.ts_ns if prev is not None else min(rec.ts_ns, neighbours[0].ts_ns)
        return rec._replace(ts_ns=ts, time_ok=False)

    def _shape(self, rec: PacketRecord) -> tuple[int, int]:
        """The shape of the stamp of an already judged record."""
        odd = self.shapes.get(rec.frame)
        return odd[0] if odd is not None else self.usual_shape

    def _records(self) -> Iterator[PacketRecord | Chunk | Stretch]:
        """The file's packets in line order, times as printed: one record, or a list of the
        records of common lines in a row."""
        self.stats.format = FORMAT
        try:
            with open(self.path, "rb") as f:
                rest = b""
                cr_only = None
                while data := f.read(max(self.block_size, len(rest))):  # a long line: double
                    if cr_only is None:
                        cr_only = _cr_only(data)
                        if cr_only:
                            self.warner.warn("CR line ends", 1, "CR line ends (read as LF)")
                    if cr_only:
                        data = data.replace(b"\r", b"\n")
                    block = rest + data
                    cut = block.rfind(b"\n") + 1
                    rest = block[cut:]
                    if cut:
                        yield from self._block(block[:cut])
                if rest:
                    self._check(rest)
                    if self.lines_of is not None:
                        rest = self._mine(rest + b"\n", self.lineno)[0][:-1]
                    if rest:
                        yield from self._other(self.lineno + 1, rest.decode())
                    self.lineno += 1
            yield from self._flush()
        except OSError as exc:
            raise self._fail(f"cannot read: {exc.strerror or exc}", self.lineno or None) from exc
        except _BadLine as bad:
            yield from self._flush()
            raise self._fail(bad.reason, bad.line) from bad.__cause__
        finally:
            self.warner.close()
        self._end(self.lineno, self.lineno if self.lines_of is None else self.kept)

    def _mine(self, block: bytes, first: int) -> tuple[bytes, list[int]]:
        """The lines of ``block`` (after line ``first``) of the host that is this point, and
        where each stands in it; what pdsh or ansible said of the host, in warnings."""
        assert self.lines_of is not None
        mine = self.lines_of.select(block, first)
        self.kept += len(mine[1])
        for k, words in self.lines_of.said:
            self.warner.warn("the words of pdsh or ansible", first + k + 1, words)
        return mine

    def _end(self, lineno: int, count: int) -> None:
        """Fail a file of ``lineno`` lines with no packet in its ``count`` lines read (a
        host's, of a text of several hosts' lines), or warn when only other protocols were
        found."""
        if lineno == 0:
            raise self._fail("empty file", None)
        if self.stats.packets == 0 and not self.others:
            unread = self.stats.skipped["unparsed-line"]
            if self.banners and not unread:
                raise self._fail("no packet: only tcpdump's own messages, the last "
                                 f"{self.last_banner[:100]!r}", lineno)
            first = f", first: {self.first_unread}" if self.first_unread else ""
            if self.timed is None:
                raise self._fail(f"not tcpdump text: no packet in {count} lines{first}", None)
            raise self._fail(f"no packet could be read in {count} lines{first}", None)
        if self.stats.packets == 0:
            self.stats.warnings.append(f"{self.path}: no IP or ARP packets in this text")
        steps, falls, _ = self.clock.near_zero
        if falls >= 2 and 4 * falls >= steps:  # one clock's times rarely go down
            self.stats.warnings.append(
                f"{self.path}: -tt seconds near 0 went down {falls} times in {steps + 1} "
                "packets: not one clock's times (deltas?); read as printed, do not trust timing")

    def _block(self, block: bytes) -> Iterator[PacketRecord | Chunk | Stretch]:
        """The packets of whole lines; a line that is binary data ends the file there."""
        if b"\0" in block or not (block.isascii() or _utf8(block)):
            bad = _bad_line(block)
            if bad:
                yield from self._block(block[:bad])
            self._check(block[bad : block.index(b"\n", bad) + 1])
        first = self.lineno
        count = None
        if self.lines_of is not None:  # this host's lines alone, numbered as in the file
            count = block.count(b"\n")
            block, self.keep = self._mine(block, first)
            if not block:
                self.lineno = first + count
                return
        stored = self.fast.ex_n
        prepared = self.fast.prepare(block, first)  # -e / -v lines in the common form
        if self.keep is not None:  # their fields kept by line: under the file's numbers
            self.fast.renumber(stored, first, self.keep)
        if prepared is None:
            rows, self.at, self.orig = self.fast.scan(block), None, {}
            lines = len(rows)
        else:
            rows, self.at, self.orig, lines, size = prepared
            if self.block_size >= TABLE_BLOCK:  # as many lines a block as the common form
                self.block_size = max(self.block_size,
                                      min(len(block) * TABLE_BLOCK // max(size, 1),
                                          4 * TABLE_BLOCK))
        self.block, self.block_lines = block, None
        stamps = list(map(_STAMP, rows))  # empty: not the common form
        i, n = 0, len(rows)
        across = self.fast.by_fields and self.at is None
        while i < n:
            if stamps[i] and self.timed is not False and self.paste.carry is None:
                try:
                    j = stamps.index(b"", i)
                except ValueError:
                    j = n
                if across and j < n:
                    end, holes = find_holes(rows, stamps, j, self.fast, self.paste,
                                            self.bodies)
                    if holes and end - i - len(holes) > text_block.MIN_LINES and (
                            yield from self._across(rows, i, end, holes, first)):
                        i = end
                        continue
                yield from self._run(rows, i, j, first)
                i = j
            else:  # another form, or a common one the general path reads here
                self.lineno = lineno = self._lineno(first, i)
                if i in self.orig:  # a rewritten line: its original lines
                    yield from self._replay(lineno, self._orig_lines(i))
                else:
                    line = self._row_text(i) if stamps[i] else rows[i][OTHER].decode()
                    yield from self._other(lineno, line + "\n")
                i += 1
        self.lineno = first + (lines if count is None else count)
        fast = self.fast_pending
        if fast is not None and fast.text is None and fast.orig is None:  # its text, before
            if fast.index == n - 1:
                fast.text = block[block.rfind(b"\n", 0, -1) + 1 : -1].decode()
            else:
                fast.text = self._row_text(fast.index)

    def _run(self, rows: list[Row], i: int, j: int, first: int
             ) -> Iterator[PacketRecord | Chunk]:
        """Lines ``i`` to ``j`` of a block (after line ``first``), all of the common form: the
        packet before them is complete, their records are built, but the last line's waits
        for the next line (which may continue it)."""
        rec = self._take()
        if rec is not None:
            yield rec
        self.timed = True
        out = Chunk(self.fast)
        k, last = i, j - 1
        while k < last:
            k += self.fast.fill(rows[k:last], first + k, out)
            if k < last:  # a field out of range: the general path says what is wrong
                if len(out):
                    self.stats.packets += len(out)
                    yield self._lines(out, first)
                    out = Chunk(self.fast)
                if k in self.orig:
                    yield from self._replay(self._lineno(first, k), self._orig_lines(k))
                else:
                    self.pending = self._slow(self._lineno(first, k), self._row_text(k))
                rec = self._take()
                if rec is not None:
                    yield rec
                k += 1
        if len(out):
            self.stats.packets += len(out)
            yield self._lines(out, first)
        self.fast_pending = _FastPending(self._lineno(first, last), rows[last], last)
        if last in self.orig:
            self.fast_pending.orig = self._orig_lines(last, j == len(rows))

    def _across(self, rows: list[Row], i: int, end: int, holes: list[Hole], first: int
                ) -> Generator[PacketRecord | Chunk | Stretch, None, bool]:
        """Rows ``i`` to ``end`` of a block (after line ``first``): common lines with
        ``holes`` among them (``text_holes``), read as ``_run`` and ``_other`` would read them
        in turn, but the common lines filled in one go, all of them and the holes one Stretch.
        False (nothing read but the packet before them) when they are not taken as a
        whole."""
        rec = self._take()
        if rec is not None:
            yield rec
        self.timed = True
        clock = self.clock
        if clock.mode != "tod" or clock.last_tod < 0:
            return False
        at = [hole.row for hole in holes]
        starts, stops = [i, *(k + 1 for k in at)], [*at, end - 1]  # the last waits, as in _run
        chunk = Chunk(self.fast)
        if not text_block.fill_block(self.fast, list(chain.from_iterable(map(
                rows.__getitem__, map(slice, starts, stops)))), first, chunk):
            return False
        assert chunk.block is not None
        lines = np.delete(np.arange(first + i + 1, first + end, dtype=np.int64),
                          np.asarray(at, np.int64) - i)
        chunk.block[1][:] = lines
        self._lines(chunk, first)  # a host's lines of a text of several hosts: the file's
        self.stats.packets += len(lines)
        ts, day = chunk.block[0], clock.day_ns
        found: list[tuple[int, HoleAt]] = []
        for n, hole in enumerate(holes):
            cut = hole.row - i - n  # the common lines before it (at least the first one)
            # the clock as the line before left it (a hole: at its time)
            before_ns = found[-1][1].ts_ns if found and found[-1][0] == cut else int(ts[cut - 1])
            found.append((cut, HoleAt(hole, self._lineno(first, hole.row), before_ns,
                                      day + hole.stamp.ns)))
        yield Stretch(chunk, found)
        self.fast_pending = _FastPending(self._lineno(first, end - 1), rows[end - 1], end - 1)
        return True

    def _lineno(self, first: int, index: int) -> int:
        """The number of the (first) line of row ``index`` of the block after line
        ``first``."""
        line = index if self.at is None else self.at[index]
        return first + (line if self.keep is None else self.keep[line]) + 1

    def _lines(self, out: Chunk, first: int) -> Chunk:
        """``out`` with its rows' numbers made line numbers (rows of a rewritten block)."""
        at, keep = self.at, self.keep
        if at is None and keep is None:
            return out
        if out.block is not None:  # filled a field at a time
            line = out.block[1]
            index = line - first - 1
            if at is not None:
                index = np.asarray(at, np.int64)[index]
            if keep is not None:
                index = np.asarray(keep, np.int64)[index]
            line[:] = index + first + 1
        else:
            out.line[:] = [self._lineno(first, x - first - 1) for x in out.line]
        return out

    def _replay(self, lineno: int, lines: list[str]) -> Iterator[PacketRecord]:
        """The original lines of a rewritten row (the first is line ``lineno``), read as if
        the row had not been rewritten."""
        for k, line in enumerate(lines):
            yield from self._other(lineno + k, line + "\n")

    def _replay_pending(self, fast: _FastPending) -> None:
        """The original lines of a rewritten row waiting as ``fast``, as the pending packet."""
        assert fast.orig is not None
        done = list(self._replay(fast.line, fast.orig))
        assert not done  # its first line only starts a packet

    def _orig_lines(self, index: int, last: bool = False) -> list[str]:
        """The original lines of rewritten row ``index`` of the current block (``last``: its
        last row, whose lines end it)."""
        if last and self.block_lines is None:  # from the end: no split of the whole block
            block, cut = self.block, len(self.block) - 1
            for _ in range(self.orig[index]):
                cut = block.rfind(b"\n", 0, cut)
            return block[cut + 1 : -1].decode().split("\n")
        if self.block_lines is None:
            self.block_lines = self.block.split(b"\n")
        at = index if self.at is None else self.at[index]
        return [b.decode() for b in self.block_lines[at : at + self.orig[index]]]

    def _row_text(self, index: int) -> str:
        """The text of row ``index`` of the current block (not a rewritten one)."""
        if self.block_lines is None:
            self.block_lines = self.block.split(b"\n")
        return self.block_lines[index if self.at is None else self.at[index]].decode()

    def _check(self, raw: bytes) -> None:
        """Raise _BadLine if the line ``raw`` (the next one) is binary data."""
        lineno = self.lineno + 1
        if b"\0" in raw:
            raise _BadLine("NUL bytes: binary data, not tcpdump text", lineno)
        try:
            raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise _BadLine(f"invalid UTF-8 at byte {exc.start} of the line: binary data, not "
                           "tcpdump text", lineno) from exc

    def _other(self, lineno: int, line: str) -> Iterator[PacketRecord]:
        """One line that is not of the common form as it stands (or not read as such)."""
        paste = self.paste
        if paste.carry is None:
            # a line of a packet's bytes (tcpdump -A) is no other line, pasting repaired or not
            bare = self._bare(lineno, line)
            if self.dump_left and self._in_dump(bare):
                return
            if (yield from self._dump_starts(lineno, bare)):
                return
        soft = line[-2:] == "=\n" or line[-3:] == "=\r\n"  # (an -X line's text may end so)
        if paste.carry is not None or (soft and _HEX.match(line) is None):
            joined = paste.soft_break(line, lineno)
            if joined is None:
                return
            line = joined
        if line[:1] == "\ufeff" and lineno == 1:  # saved by an editor that marks UTF-8
            line = line[1:]
            self.warner.warn("byte-order mark", lineno, "a UTF-8 byte-order mark (ignored)")
        line = paste.spaces(self._unprefixed(lineno, line), lineno)
        if line[-1:] == "\n":
            line = line[:-1]
        if line[-1:] == "\r":
            line = line[:-1]
            if not self.crlf:
                self._crlf(lineno)
        if self.timed is not False and (row := self.fast.row(line)) is not None:
            rec = self._take()
            if rec is not None:
                yield rec
            self.timed = True
            self.fast_pending = _FastPending(lineno, row, 0)
            self.fast_pending.text = line
        elif ("<" in line or "&" in line or "`" in line or "*" in line
                or "=" in line or line[:1] in (">", " ")) and line[:1] != "\t" and (
                _HEX.match(line) is None):  # (tcpdump's own detail lines, bytes in hex)
            for part in paste.clean(line, lineno):
                yield from self._line(lineno, part)
        else:
            yield from self._line(lineno, line)

    def _unprefixed(self, lineno: int, line: str) -> str:
        """``line`` without what other tools put before tcpdump's text: line numbers (``cat
        -n``, ``nl``; tcpdump ``-#``'s own), ``--lengths``' caplen, a log's times."""
        if line[:1] in _NUMBER_START and (num := _NUMBERED.match(line)) and num.end():
            if num.group(1) and "line numbers" not in self.warner.counts:
                self.warner.warn("line numbers", lineno,
                                 "line numbers before the packets (cat -n, nl) removed")
            line = line[num.end() :]
        if line[:7] == "caplen " and (cap := _CAPLEN.match(line)) is not None:
            line = line[cap.end() :]  # tcpdump --lengths
        if line[10:11] == "T" and (logged := _LOG_STAMP.match(line)) is not None:
            line = line[logged.end() :]
            if "log times" not in self.warner.counts:
                self.warner.warn("log times", lineno, "the log's own times before the lines "
                                 "(kubectl logs --timestamps) removed: tcpdump's are read")
        return line

    def _bare(self, lineno: int, line: str) -> str:
        """``line`` without its end (a CRLF file's CR too: tcpdump drops a CR before a line
        feed) and what other tools put before it."""
        text = self._unprefixed(lineno, line[:-1] if line[-1:] == "\n" else line)
        return text[:-1] if text[-1:] == "\r" else text

    def _in_dump(self, text: str) -> bool:
        """Whether ``text`` (a ``_bare`` line) is one of the bytes of the packet before it as
        ``tcpdump -A`` prints them (``text_dump``); its characters are taken off what is left
        of them."""
        size = len(text) + 1 if text.strip() else 1  # (nl leaves an empty line spaces)
        if size > self.dump_left or text_dump.ends(text) or (
                self.timed is False and _PACKET_START.match(text)):
            self.dump_left = 0
            return False
        self.dump_left -= size
        self.dump_lines += 1
        return True

    def _dump_starts(self, lineno: int, line: str) -> Generator[PacketRecord, None, bool]:
        """Whether ``line``, after a complete IP or ARP packet, starts that packet's bytes as
        ``tcpdump -A`` prints them (``text_dump``); the packet is given out first (a
        generator: its return value is the answer). The packet is the one that waits, or,
        where none does, the last one given out (lines that were neither a packet's nor its
        bytes, such as the rest of a wrapped line it did not need, may stand between)."""
        if not line.strip():
            return False
        waits = self.fast_pending is not None or self.pending is not None
        kind = self._complete() if waits else _kind(self.given)
        if kind is None or not text_dump.starts(line, kind, sure=self.dump_lines > 0):
            return False
        rec = self._take() if waits else self.given
        if rec is None:  # (read above as a whole: not expected)
            return False
        if waits:
            yield rec
        self.given = None
        left = text_dump.budget(rec.wire_len) - len(line) - 1
        if left < 0:
            return False
        if not self.dump_lines:
            self.warner.warn("packet bytes", lineno, "the packets' bytes as tcpdump -A prints "
                             "them (the lines after each packet's line) are not read")
        self.dump_left, self.dump_lines = left, self.dump_lines + 1
        return True

    def _complete(self) -> int | None:
        """The kind (``text_dump``: IP version, or ARP) of the packet that waits, if its
        lines so far read as a whole (else None)."""
        fast = self.fast_pending
        if fast is not None:  # a common line: IPv4 unless it says IP6
            return 6 if fast.row[3][:4] == b"IP6 " else 4
        p = self.pending
        if p is None or p.expects_more():
            return None
        if p.breaks:  # a wrapped line: complete when its lines joined read
            body: Body | Outcome | None = p.joined()[0]
        else:
            body = parsed(self.bodies, " ".join(p.parts))
        return _kind(body.headers) if isinstance(body, Body) else None

    def _crlf(self, lineno: int) -> None:
        self.crlf = lineno
        self.warner.warn("CRLF line ends", lineno, "CRLF line ends (read as LF)")

    def _fail(self, reason: str, line: int | None) -> CaptureError:
        if self.lines_of is not None:
            reason += f" (the lines of {self.lines_of.host})"
        err = CaptureError(reason, path=self.path, line=line, records=self.stats.packets)
        self.stats.error = err
        return err

    def _line(self, lineno: int, line: str) -> Iterator[PacketRecord]:
        if not line.strip():
            if line[:1] != "\t" or (self.pending is None and self.fast_pending is None):
                yield from self._flush()
            # else: an empty line of what -v decodes after a packet (an HTTP message's, a
            # whois reply's), printed with its tab: the packet's lines go on
            return
        if (tool := other_tool(line)) is not None:  # never a packet's continuation either
            yield from self._flush()
            why = f"{tool} (give nettrail the capture file itself, or tcpdump -n -r's text)"
            self._unread(lineno, why, why)
            return
        m = _stamped(line, False)
        indented = False
        if m is None and line[:1] in (" ", "\t"):
            stripped = line.lstrip()
            m = _stamped(stripped, True)
            if m is not None:
                line, indented = stripped, True
        if m is not None:
            yield from self._flush()
            stamp = read_stamp(m)
            if near_zero(m) and "times near 0" not in self.warner.counts:
                self.warner.warn("times near 0", lineno, f"timestamp {m.group(0).strip()!r}: "
                                 "read as tcpdump -tt seconds since 1970-01-01 (a capture whose "
                                 "clock started at 0; -ttt and -ttttt print 00:00:00.000000)")
            if stamp.invalid:
                self._unusable(lineno, m.group(0))
            elif stamp.shape not in _USUAL_SHAPES:
                self.shapes[lineno] = (stamp.shape, m.group(0).strip())
            if indented:
                self.warner.warn("indented lines", lineno, "indented packet line read")
            if self.timed is None:
                self.timed = True
            self.pending = Pending(lineno, stamp, line[m.end() :])
            return
        if _BANNER.match(line):
            yield from self._flush()
            self.banners += 1
            self.last_banner = line.strip()
            if (drops := _DROPPED.match(line)) is not None:
                self.stats.dropped += int(drops.group(1))
            return
        if _ELISION.match(line):
            yield from self._flush()
            self.warner.warn("elisions", lineno, "lines left out here ('...'): the gap is the "
                             "paster's, not packet loss")
            return
        if self._continues(line):
            self._continue(lineno, line)
            return
        if _PACKET_START.match(line):
            yield from self._flush()
            if self.timed is None:
                self.timed = False
                self.warner.warn("no timestamps", lineno,
                                 "no timestamps (tcpdump -t): packets placed 1 µs apart in order")
            elif self.timed:
                self.warner.warn("lines without time", lineno,
                                 "packet line without a timestamp: given the previous one's")
            self.pending = Pending(lineno, None, line)
            return
        if self.fast_pending is not None or (self.pending is not None
                                             and self.pending.takes(line)):
            self._continue(lineno, line)  # a wrapped line: joined while the packet needs it
            return
        yield from self._flush()
        self._unread(lineno, f"not a tcpdump packet line: {line[:60]!r}", repr(line[:40]))

    def _unread(self, lineno: int, why: str, first: str) -> None:
        """Count line ``lineno`` as unreadable, saying ``why`` (``first``: what names it
        when it is the file's first unread line)."""
        self.stats.skipped["unparsed-line"] += 1
        if not self.first_unread:
            self.first_unread = f"line {lineno} {first}"
        self.warner.warn("unreadable lines", lineno, why)

    def _continues(self, line: str) -> bool:
        """Whether ``line`` (no timestamp) belongs to the pending packet in any case."""
        if self.fast_pending is not None:
            return line[:1] in (" ", "\t")
        p = self.pending
        return p is not None and (line[:1] in (" ", "\t") or p.expects_more())

    def _continue(self, lineno: int, line: str) -> None:
        fast = self.fast_pending
        if fast is not None:
            self.fast_pending = None
            if fast.orig is not None:
                self._replay_pending(fast)
            else:
                self.pending = self._slow(fast.line, self._fast_text(fast))
        p = self.pending
        assert p is not None
        if _DETAIL.match(line):
            return
        p.add(lineno, line)

    def _flush(self) -> Iterator[PacketRecord]:
        rec = self._take()
        if rec is not None:
            yield rec

    def _take(self) -> PacketRecord | None:
        """The record of the packet gathered so far (None if it was not one), and forget it
        (and what is left of the bytes of the one before: a packet starts); kept as ``given``
        until its bytes start (``_dump_starts``)."""
        self.dump_left = 0
        rec = self._taken()
        if rec is not None:
            self.given = rec
        return rec

    def _taken(self) -> PacketRecord | None:
        """``_take``'s record: the packet's, made from its row or parsed from its lines."""
        fast = self.fast_pending
        if fast is not None:
            self.fast_pending = None
            chunk = Chunk(self.fast)
            if self.fast.fill((fast.row,), fast.line - 1, chunk):
                self.stats.packets += 1
                line = chunk.record(0)
                if self.fast.by_fields:  # into a table: its row can go in as columns
                    self._from_row(chunk, 0, line)
                return line
            if fast.orig is not None:
                self._replay_pending(fast)
            else:
                self.pending = self._slow(fast.line, self._fast_text(fast))
        p = self.pending
        if p is None:
            return None
        self.pending = None
        rec = self._parse(p)
        if rec is not None:
            self.stats.packets += 1
        return rec

    def _from_row(self, chunk: Chunk, i: int, rec: PacketRecord) -> PacketRecord:
        """``rec``, noted as made from row ``i`` of ``chunk`` (``rows_of``)."""
        self.rows_of[id(rec)] = (chunk, i, rec)
        return rec

    def _fast_text(self, fast: _FastPending) -> str:
        return fast.text if fast.text is not None else self._row_text(fast.index)

    def _slow(self, lineno: int, line: str) -> Pending:
        """A line of the common form as a pending packet of the general path (a time out of
        range, such as ``25:13:20``, named as ``_line`` names it)."""
        ts = TIMESTAMP.match(line)
        assert ts is not None
        stamp = read_stamp(ts)
        if stamp.invalid:
            self._unusable(lineno, ts.group(0))
        return Pending(lineno, stamp, line[ts.end() :])

    def _unusable(self, lineno: int, stamp: str) -> None:
        self.warner.warn("odd timestamps", lineno, f"timestamp {stamp.strip()!r} is not a "
                         "usable time: kept in line order, not used for timing")

    def _parse(self, p: Pending) -> PacketRecord | None:
        try:
            body = self._body(" ".join(p.parts)) if not p.wrapped else self._unwrap(p)
        except OtherProtocol as other:
            self.stats.skipped["other-protocol"] += 1
            if other.name not in self.others:
                self.others.add(other.name)
                self.warner.warn("other protocols", p.line,
                                 f"{other.name} packets are not read (counted as other-protocol)")
            self.clock.time(p.stamp)
            return None
        except TextError as exc:
            self.stats.skipped["unparsed-line"] += 1
            if not self.first_unread:
                self.first_unread = f"line {p.line} ({exc})"
            self.warner.warn("unreadable lines", p.line, f"cannot read this packet: {exc}")
            self.clock.time(p.stamp)
            return None
        tcp = body.headers.l4 if body.inner is None else body.inner.l4
        if isinstance(tcp, TCPHeader) and not tcp.flags and tcp.window is None and not self.quiet:
            self.quiet = True
            self.warner.warn("TCP without flags", p.line,
                             "TCP printed without flags, numbers or window (tcpdump -q, or cut "
                             "short): how its connection went cannot be told from it")
        for lineno, _, _ in p.breaks if p.wrapped else ():
            self.warner.warn("wrapped lines", lineno,
                             f"read as the rest of line {p.line} (a wrapped line?)")
        headers = self._absolute(body.headers)
        inner = self._absolute(body.inner) if body.inner is not None else None
        time_ok = p.stamp is not None and not p.stamp.invalid
        return PacketRecord(
            self.point, self.clock.time(p.stamp), self.path, p.line, body.ifname, body.direction,
            body.wire_len, headers, inner, body.vni, time_ok=time_ok,
        )

    def _body(self, text: str) -> Body:
        """``parse_body(text)``, kept for the next like it (``text_holes.parsed``)."""
        outcome = parsed(self.bodies, text)
        if isinstance(outcome, Exception):  # a new one: a raise adds to its traceback
            raise type(outcome)(*outcome.args)
        return outcome

    def _unwrap(self, p: Pending) -> Body:
        """The body of a packet with wrapped lines (``Pending.joined``); if they do not read, they
        were not a wrap: the packet read alone, as its own line says it, and each of them
        counted as unreadable, named as not read with it."""
        body, _ = p.joined()
        if body is not None:
            return body
        body = parse_body(p.head())  # or another protocol's
        for lineno, at, _ in p.breaks:
            self.stats.skipped["unparsed-line"] += 1
            self.warner.warn("unreadable lines", lineno,
                             f"not a tcpdump packet line, nor the rest of line {p.line} (read "
                             f"without it): {p.parts[at][:60]!r}")
        p.wrapped = 0
        return body

    def _absolute(self, h: Headers) -> Headers:
        tcp = h.l4
        if isinstance(tcp, TCPHeader) and h.ip is not None:
            if tcp.flags & ACK:
                return h._replace(l4=self.seq.absolute(h.ip.src, h.ip.dst, tcp))
            if tcp.flags & SYN and tcp.seq is not None:
                self.seq.syn(h.ip.src, tcp.sport, h.ip.dst, tcp.dport, tcp.seq)
        return h


def _kind(found: PacketRecord | Headers | None) -> int | None:
    """The kind of a packet's bytes (``text_dump``) by its record or headers: its IP version,
    ARP, or None (another protocol, or no packet)."""
    headers = found.headers if isinstance(found, PacketRecord) else found
    if headers is None:
        return None
    if headers.arp is not None:
        return text_dump.ARP
    return headers.ip.version if headers.ip is not None else None


def _stamped(text: str, indented: bool) -> re.Match[str] | None:
    """TIMESTAMP's match at the start of ``text``; -tt seconds near 0 (``0.000000``) only
    before what starts a packet, or unindented and not before ``>`` (a decode's line:
    ``\\t3.1024 > 2.1234 CONNECT``)."""
    m = TIMESTAMP.match(text)
    if m is not None and near_zero(m) and _PACKET_START.match(text, m.end()) is None and (
            indented or text[m.end() : m.end() + 1] == ">"):
        return None
    return m


def _first(pieces: list[Piece], take: bool = True) -> int | PacketRecord:
    """The first line (its number in the chunk) or hole of a Stretch's ``pieces`` (``take``:
    taken off them)."""
    piece = pieces[0]
    if not isinstance(piece, list):
        assert not isinstance(piece, HoleAt)  # read before (TextReader._read)
        if take:
            del pieces[0]
        return piece
    at = piece[0]
    if take:
        if piece[1] - at == 1:
            del pieces[0]
        else:
            piece[0] += 1
    return at


def _last(pieces: list[Piece], take: bool = True) -> int | PacketRecord:
    """The last line or hole of a Stretch's ``pieces`` (``take``: taken off them)."""
    piece = pieces[-1]
    if not isinstance(piece, list):
        assert not isinstance(piece, HoleAt)  # read before (TextReader._read)
        if take:
            pieces.pop()
        return piece
    at = piece[1] - 1
    if take:
        if at == piece[0]:
            pieces.pop()
        else:
            piece[1] = at
    return at


def read_text(
    path: str, point: str, stats: CaptureStats, *, day_ns: int = 0,
    lines_of: HostLines | None = None,
) -> Iterator[PacketRecord]:
    """Stream the packets of a tcpdump text file at capture point ``point``.

    Fills ``stats`` as it goes (format ``tcpdump-text``, packets, skipped lines by reason,
    warnings naming lines); on a fatal fault sets ``stats.error`` and raises that CaptureError
    after the good records. ``day_ns`` is the date (ns since the epoch, midnight UTC) given to
    times of day, which carry none; 0 means 1970-01-01. ``lines_of``: in a text of several
    hosts' lines, the lines of the host that is this point (``text_hosts``).
    """
    return TextReader(path, point, stats, day_ns, lines_of).records()


def read_text_table(path: str, point: str, stats: CaptureStats, table: PacketTable, *,
                    day_ns: int = 0, lines_of: HostLines | None = None) -> None:
    """Append the packets of a tcpdump text file to ``table`` (``text_table``): the same
    packets, statistics and fault as ``read_text``; on a fault the rows before it stay."""
    reader = TextReader(path, point, stats, day_ns, lines_of)
    try:
        with gc_paused():  # reading makes no cycles; the collector's passes cost 10-20% here
            reader.fill(TextSink(table, reader.fast, stats))
    finally:
        reader.fast.release()  # the table's batches keep it, to rebuild their records
