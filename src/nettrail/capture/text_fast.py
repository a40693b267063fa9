"""The fast path for the common tcpdump lines, read a block of text at a time.

One pattern (``_LINE``) cuts a block of bytes into lines and gives, for a line of the common
form, its fields: a TCP segment ``08:10:55.545140 [eth0 In  ]IP[6] A.p > B.q: Flags [P.], seq
1:41, ack 1, win 63, options [...], length 40`` or a UDP datagram (``... A.p > B.q: UDP,
length 29``, or an application decode that starts with a number, DNS ``4242+ A? ...``), with
a time of day, a ``-tttt`` date and time or a ``-tt`` epoch time. ``FastLine.fill`` makes the
fields of such lines directly (``Chunk.records`` their records), with caches for what repeats
(seconds, address pairs, flags, small numbers); any other line, and any line with a field out
of range, takes the general path in ``text_parse``, which reads every form (the fast one
included, to the same records).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from itertools import repeat
from operator import itemgetter
from typing import Any

import numpy as np
import numpy.typing as npt

from nettrail.capture.scanner import COMPILED
from nettrail.capture.text_block import CLOCK_LINES, RELATIVE, SYN_ORDER, fill_block
from nettrail.capture.text_fields import (
    DIGITS_LIMIT,
    ETH_LEN,
    MOST_PAYLOAD,
    V4_HOST,
    TextError,
    parse_options,
    split_endpoint,
    tcp_flags,
)
from nettrail.capture.text_parse import udp_text_len
from nettrail.capture.text_replay import ConvBases
from nettrail.capture.text_seq import SeqTracker
from nettrail.capture.text_time import (
    DAY_NS,
    HALF_DAY_NS,
    LAST_NS,
    NS,
    TIMESTAMP,
    Clock,
    read_stamp,
)
from nettrail.capture.text_tunnel import DIRECTION_WORDS, DIRECTIONS
from nettrail.model.cache import CACHE_LIMIT, remember
from nettrail.model.packet import (
    ACK,
    NO_OPTIONS,
    PROTO_TCP,
    PROTO_UDP,
    SYN,
    Headers,
    IPHeader,
    PacketRecord,
    TCPHeader,
    TCPOptions,
    UDPHeader,
    tcp_header_len,
)

Row = tuple[bytes, ...]
"""One line as ``_LINE`` cuts it: the 13 fields of the common form (empty when absent: stamp
seconds, its six digits of microseconds, ``-i any`` column, ``IP a.p > b.q``, TCP flags, seq, ack,
win, TS val and ecr, other options, length, UDP text), or only OTHER, the line itself."""

_U32 = 0xFFFFFFFF


class _OverU32(Exception):
    """A TCP number over 32 bits (a mangled line): ``fill`` stops before it."""


STAMP, OTHER = 0, 13
"""Fields of a Row: the stamp's seconds (empty: not the fast form), any other line itself."""

_WORD = rb"[!-~]{1,%d}" % DIGITS_LIMIT
_NAME = rb"[!-=?-~]{1,%d}" % DIGITS_LIMIT
DIRECTION = rb" +(?:" + DIRECTION_WORDS.encode() + rb")"
"""An ``-i any`` column's direction word, after the interface name and its spaces."""
LINE_START = rb"(?:(\d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\d{10})\.(\d{6}) "
"""The stamp (seconds, microseconds) that opens ``_LINE``: also ``text_link``'s start."""
LINE_AFTER_FLAGS = (
    rb"(?:, seq (\d{1,10}+)(?::\d{1,10}+|)|)(?:, ack (\d{1,10}+)|)"
    rb"(?:, win (\d{1,10}+)|)(?:, options \[(?:nop,nop,TS val (\d{1,10}+) ecr (\d{1,10}+)|"
    rb"([^\]\n]{0,%d}+))\]|), length (\d{1,10}+)(?:: [^\r\n<]{0,%d}[^\r\n<=]|)"
    % (DIGITS_LIMIT, DIGITS_LIMIT - 1)
    + rb"|(\d[^\r\n<]*[^\r\n<=]|UDP, length \d++))"
    rb"|(.*+))\n"
)
"""The rest of ``_LINE`` after a TCP segment's flags: also the end of ``text_link``'s
patterns."""
_LINE = re.compile(
    LINE_START + rb"(?:(?=IP)|(" + _NAME + DIRECTION + rb") +)(IP6?+ " + _WORD + rb"+ > "
    + _WORD + rb"): (?:Flags \[([SFRPU.EWe]++)\]" + LINE_AFTER_FLAGS
)
"""A line of the common form (fields), or any other line (OTHER). A tail with ``<`` (HTML
pasted) or ending in ``=`` (a quoted-printable soft break) is not the common form. Written for
the regular-expression engine: ``(...|)`` rather than ``(...)?``, the addresses checked when
first seen (``_ends``) rather than by the pattern, and possessive repeats (``++``,
``{1,10}+``) wherever what follows a repeat cannot start with what it repeats: the engine
keeps no way back into them (about 1,200 fewer instructions a line; atomic groups cost more
than they saved). The destination's repeat stays greedy: it takes the ``:`` after the port,
then gives it back. Numbers of over 10 digits (a mangled line) are not the common form: the
line parser names them. The ``-i any`` column and the addresses
are printable ASCII (``_NAME``, ``_WORD``): a byte the line parser takes for a space (``\x1c``
to ``\x1f``, a no-break space in UTF-8) or for part of a name (``\x01``, a letter of another
script) leaves the line to it. No text of the line is longer than DIGITS_LIMIT (the UDP text
is checked by ``fill``): no run of digits in it is one the line parser names as too long."""
_PATTERN = _LINE
"""``_LINE`` as written here (a test may replace ``_LINE``: the reader then uses what it is)."""
_ALL_OTHER = re.compile(rb"()" * OTHER + rb"(.*)\n")
"""Every line as another form: what the reader uses when ``_LINE`` is not a pattern."""
_NOP_NOP_TS = ("nop", "nop", "TS")
_NO_COLUMN = (None, None)
_SYN_OPTS = re.compile(
    rb"mss (\d{1,10}),sackOK,TS val (\d{1,10}) ecr (\d{1,10}),nop,wscale (\d{1,10})\Z")
_SMALL = 1 << 16
_KEY = itemgetter(3)
"""The connection key of an address pair (``_Ends``)."""
_new: Any = tuple.__new__
"""Records are built with tuple.__new__ (what NamedTuple.__new__ does, minus a Python-level
call), the fields after the ones given spelt out: they must stay the declared defaults."""


def _defaults(cls: Any, given: int) -> tuple[Any, ...]:
    return tuple(cls._field_defaults[f] for f in cls._fields[given:])


if (_defaults(PacketRecord, 8) != (None, None, None, -1, None, None, True, None)
        or _defaults(Headers, 3) != (None, None) or _defaults(TCPHeader, 8) != (False,)
        or len(TCPOptions._fields) != 7):  # pragma: no cover - a guard for model changes
    raise ImportError("text_fast builds records with the model's old field defaults")

PER_PAIR = 9
"""The numbers ``FastLine.per_pair`` keeps of each pair."""
_BACK_ROW = [0, 1, 3, 2, 4, 6, 5, 8, 7]
"""A pair's row of ``per_pair`` from the other direction's: the direction marks, ports and
hosts swapped."""
_Ends = tuple[int, int, int, tuple[str, int, str, int], int]
"""An address pair: IP protocol, ports, the connection key of SeqTracker (source, its port,
destination, its port), IP header length (20: IPv4, 40: IPv6). Its IP header is made when a
record needs it (``FastLine.ip_header``)."""


def _port(ports: dict[bytes, int], text: bytes) -> int:
    """The port a port text of an address pair gives (-1: not one), kept in ``ports`` (a
    text not in it yet: ``make_pairs`` looks it up first)."""
    if len(ports) >= CACHE_LIMIT:
        ports.clear()
    port = ports[text] = int(text) if len(text) <= 5 and text.isdigit() else -1
    return port


class Chunk:
    """The fields of common lines, one list per field (what ``FastLine.fill`` adds): time,
    line, address pair and ``-i any`` column (indexes into the FastLine's lists), flags (-1:
    UDP; RELATIVE added), seq, ack, window, payload and wire lengths, TS value and echo (-1:
    absent), and the options other than the usual timestamps, by index. A run filled a field
    at a time (``text_block``) keeps its fields as arrays instead, in ``block``."""

    __slots__ = ("ack", "block", "col", "ecr", "fast", "flags", "line", "opts", "pair", "plen",
                 "seq", "ts", "tsv", "win", "wire")

    def __init__(self, fast: FastLine) -> None:
        self.fast = fast
        self.ts: list[int] = []
        self.line: list[int] = []
        self.pair: list[int] = []
        self.col: list[int] = []
        self.flags: list[int] = []
        self.seq: list[int] = []
        self.ack: list[int] = []
        self.win: list[int] = []
        self.plen: list[int] = []
        self.wire: list[int] = []
        self.tsv: list[int] = []
        self.ecr: list[int] = []
        self.opts: dict[int, TCPOptions] = {}
        self.block: tuple[npt.NDArray[np.int64], ...] | None = None

    def __len__(self) -> int:
        return len(self.ts) if self.block is None else len(self.block[0])

    def span(self) -> int:
        """The time from the earliest line to the latest."""
        if self.block is not None:
            return int(self.block[0].max() - self.block[0].min())
        return max(self.ts) - min(self.ts)

    def fields(self, start: int, end: int) -> tuple[npt.NDArray[np.int64], ...]:
        """The twelve fields of lines ``start`` to ``end``, as arrays."""
        if self.block is not None:
            return tuple(f[start:end] for f in self.block)
        parts = (f[start:end] for f in self.lists())
        return tuple(np.fromiter(part, np.int64, len(part)) for part in parts)

    def record(self, i: int) -> PacketRecord:
        """The record of line ``i`` of the chunk."""
        return self.records(i, i + 1)[0]

    def records(self, start: int = 0, end: int | None = None) -> list[PacketRecord]:
        """The records of lines ``start`` to ``end`` (None: the last) of the chunk."""
        fields: tuple[list[int], ...]
        if self.block is not None:
            fields = tuple(f[start:end].tolist() for f in self.block)
        else:
            fields = self.lists()
            if start or end is not None:
                fields = tuple(f[start:end] for f in fields)
        return self.fast.records(zip(*fields, strict=True), self.opts, start)

    def lists(self) -> tuple[list[int], ...]:
        """The twelve field lists (the fields of ``block`` moved into them first)."""
        if self.block is not None:
            block, self.block = self.block, None
            for part, values in zip(self.lists(), block, strict=True):
                part += values.tolist()
        return (self.ts, self.line, self.pair, self.col, self.flags, self.seq, self.ack,
                self.win, self.plen, self.wire, self.tsv, self.ecr)


class FastLine:
    """Cuts blocks of one file into lines and builds the records of common ones."""

    def __init__(self, path: str, point: str, clock: Clock, seqs: SeqTracker) -> None:
        self.path = path
        self.point = point
        self.clock = clock
        self.seqs = seqs
        pattern = _LINE
        self.scan: Callable[[bytes], list[Row]] = (
            COMPILED.scan if pattern is _PATTERN and COMPILED is not None
            else (pattern if isinstance(pattern, re.Pattern) else _ALL_OTHER).findall)
        self.seconds: dict[bytes, int] = {}
        self.ends: tuple[dict[bytes, int], dict[bytes, int]] = ({}, {})
        self.pairs: list[_Ends] = []
        self.ips: list[IPHeader | None] = []
        """The IP header of each pair, once asked for (``ip_header``; None before)."""
        self.columns: dict[bytes, int] = {}
        self.column_list: list[tuple[str, str]] = []
        self.flags: dict[bytes, int] = {}
        self.numbers: dict[bytes, int] = {}
        self.addrs: dict[bytes, str | None] = {}
        self.columns[b""] = self.numbers[b""] = -1  # absent: what text_block looks up
        self.udp_lens: dict[bytes, int] = {}
        """The payload length of each plain ``UDP, length N`` text read, cached apart from
        ``numbers``: a datagram's text of digits alone is not the number they spell."""
        self.by_fields = False
        """Whether runs of lines are filled a field at a time (``text_block``): for a table,
        whose rows need no record; records are made as cheaply line by line."""
        self._keys: list[tuple[str, int, str, int]] = []
        """The connection key of each address pair (``pairs[i][3]``)."""
        self._rows: list[int] = []
        """The rows of ``per_pair`` of the pairs made from a text since it was last asked for,
        one after the other, each with a last number 1 where the other direction's pair was
        made after it (its row is this one's, the directions swapped: ``_BACK_ROW``)."""
        self.conn_ids: dict[tuple[str, int, str, int], int] = {}
        """The number of each conversation, by its first key (the lesser of its two)."""
        self.conv_keys: list[tuple[str, int, str, int]] = []
        """The first key of each conversation, by number."""
        self.conv_bases: ConvBases | None = None
        """SeqTracker's bases by conversation as a block's replay keeps them."""
        self._per_pair = np.zeros((64, PER_PAIR), np.int64)
        self.v4_hosts: dict[str, int] = {}
        """The number of each host seen printed as a dotted quad (an index into
        ``v4_host_list``)."""
        self.v4_host_list: list[str] = []
        self.ports: dict[bytes, int] = {}
        """The port of each port text of an address pair (-1: not one), cached."""

    def release(self) -> None:
        """Once the file is read: drop what only reading uses (the caches of texts, the
        per-pair rows, the conversations' numbers and bases, the sequence tracker and
        clock). The records of the rows (``records``, what a table's batches rebuild them
        with) need only the pairs, their IP headers and the ``-i any`` columns, which stay:
        the rest grows with the conversations of the file and would outlive it."""
        self.seconds, self.ends, self.columns, self.flags = {}, ({}, {}), {}, {}
        self.numbers, self.addrs, self.udp_lens, self.ports = {}, {}, {}, {}
        self._keys, self._rows, self.conn_ids, self.conv_keys = [], [], {}, []
        self.conv_bases, self._per_pair = None, np.zeros((0, PER_PAIR), np.int64)
        self.v4_hosts, self.v4_host_list = {}, []
        self.seqs, self.clock = SeqTracker(), Clock(0)

    def pair_keys(self) -> list[tuple[str, int, str, int]]:
        """SeqTracker's connection key of each address pair (by index into ``pairs``)."""
        self._grow()
        return self._keys

    def per_pair(self) -> npt.NDArray[np.int64]:
        """Per address pair (by index into ``pairs``): its IP header length, a number of its
        conversation (both directions the same), 1 for the direction named first and 1 if the
        other direction is the one named first (both 1: the two directions are one key); its
        protocol, ports and the numbers of its hosts in ``v4_host_list`` where both are
        IPv4 ones printed as dotted quads (else -1)."""
        self._grow()
        return self._per_pair

    def _grow(self) -> None:
        rows = self._rows
        if not rows:
            return
        made = np.fromiter(rows, np.int64, len(rows)).reshape(-1, PER_PAIR + 1)
        rows.clear()
        back = made[:, PER_PAIR] == 1
        end = len(self._keys)
        start = end - len(made) - int(np.count_nonzero(back))
        if end > len(self._per_pair):
            grown = np.zeros((2 * end, PER_PAIR), np.int64)
            grown[:start] = self._per_pair[:start]
            self._per_pair = grown
        out = self._per_pair[start:end]
        at = np.arange(len(made)) + np.cumsum(back) - back  # each text's pair, after the
        out[at] = made[:, :PER_PAIR]                         # other directions before it
        out[at[back] + 1] = made[back][:, _BACK_ROW]

    def row(self, line: str) -> Row | None:
        """The fields of one line (no line end) if it has the common form."""
        rows = self.scan(line.encode() + b"\n")
        return rows[0] if len(rows) == 1 and rows[0][STAMP] else None

    def fill(self, rows: Sequence[Row], lineno: int, chunk: Chunk) -> int:
        """Append the fields of ``rows`` (common lines, the first one after line ``lineno``)
        to ``chunk``; how many were added: fewer than all when a line has a field out of range
        (the general path then says what is wrong with it)."""
        if self.by_fields:
            if fill_block(self, rows, lineno, chunk):
                return len(rows)
            if self.clock.mode is None and len(rows) > 4 * CLOCK_LINES:
                # a file's first run: its first lines set the clock, the rest go at once
                built = self._fill_lines(rows[:CLOCK_LINES], lineno, chunk)
                if built < CLOCK_LINES or self.clock.mode is None:
                    return built
                return built + self.fill(rows[CLOCK_LINES:], lineno + CLOCK_LINES, chunk)
        return self._fill_lines(rows, lineno, chunk)

    def _fill_lines(self, rows: Sequence[Row], lineno: int, chunk: Chunk) -> int:
        """``fill`` line by line."""
        chunk.lists()  # lines go into the lists
        clock, seqs = self.clock, self.seqs
        seconds, columns, flag_bits, numbers = self.seconds, self.columns, self.flags, self.numbers
        udp_lens = self.udp_lens
        tcp_ends, udp_ends = self.ends
        ends_list = self.pairs
        bases, settle = seqs.bases, seqs.settle
        mode, last_tod, day = clock.mode, clock.last_tod, clock.day_ns
        add_ts, add_line, add_pair, add_col = (chunk.ts.append, chunk.line.append,
                                               chunk.pair.append, chunk.col.append)
        add_flags, add_seq, add_ack, add_win = (chunk.flags.append, chunk.seq.append,
                                                chunk.ack.append, chunk.win.append)
        add_plen, add_wire, add_tsv, add_ecr = (chunk.plen.append, chunk.wire.append,
                                                chunk.tsv.append, chunk.ecr.append)
        opts_of, base_n = chunk.opts, len(chunk.ts)
        built = 0
        ts = clock.last_ns
        try:
            for (stamp, frac, column, addrs, flags_s, seq_s, ack_s, win_s, ts_val, ts_ecr,
                 opts_s, len_s, udp, _) in rows:
                sec = seconds.get(stamp)
                if sec is None:
                    sec = self._second(stamp)
                pid = (tcp_ends if flags_s else udp_ends).get(addrs)
                if pid is None:
                    pid = self._ends(addrs, PROTO_TCP if flags_s else PROTO_UDP)
                if sec < 0 or pid < 0:
                    break
                _proto, sp, dp, key, iphdr = ends_list[pid]
                options: TCPOptions | None = None
                if flags_s:
                    if ts_val:
                        tsv, ecr = int(ts_val), int(ts_ecr)
                        if tsv > _U32 or ecr > _U32:
                            break
                        hdr = 32
                    elif not opts_s:
                        tsv = ecr = -1
                        hdr = 20
                    else:
                        found = self._options(opts_s)
                        if found is None:
                            break
                        options, hdr = found
                        tsv = ecr = -1
                    # the numbers before anything moves: one over 32 bits (_number raises)
                    # ends the run here, with no clock or sequence bookkeeping done for it
                    seq = None
                    if seq_s:
                        seq = numbers.get(seq_s)
                        if seq is None:
                            seq = self._number(seq_s)
                    ack = None
                    if ack_s:
                        ack = numbers.get(ack_s)
                        if ack is None:
                            ack = self._number(ack_s)
                    got = numbers.get(len_s)
                    payload = got if got is not None else self._number(len_s)
                    if payload > MOST_PAYLOAD:
                        break
                    win = -1
                    if win_s:
                        got = numbers.get(win_s)
                        win = got if got is not None else self._number(win_s)
                else:
                    got = udp_lens.get(udp)
                    if got is None and len(udp) > DIGITS_LIMIT:
                        break
                    payload = got if got is not None else self._udp(udp, iphdr)
                # the record's time: Clock.time_of_day's common case inline
                if sec < DAY_NS:
                    tod = sec + int(frac) * 1000
                    if mode == "tod" and last_tod - HALF_DAY_NS <= tod <= last_tod + HALF_DAY_NS:
                        ts = day + tod
                        last_tod = tod
                    else:
                        clock.last_tod = last_tod
                        if built:
                            clock.last_ns, clock.started = ts, True
                        ts = clock.time_of_day(tod)
                        mode, last_tod, day = clock.mode, clock.last_tod, clock.day_ns
                else:
                    ts = sec + int(frac) * 1000
                    if mode is None or mode == "none":
                        clock.mode = mode = "epoch" if len(stamp) == 10 else "date"
                if not flags_s:
                    add_flags(-1)
                    add_seq(-1)
                    add_ack(-1)
                    add_win(-1)
                    add_tsv(-1)
                    add_ecr(-1)
                    add_plen(payload)
                    add_wire(ETH_LEN + iphdr + 8 + payload)
                else:
                    flags = flag_bits.get(flags_s)
                    if flags is None:
                        flags = flag_bits[flags_s] = tcp_flags(flags_s.decode())
                    relative = 0
                    if ack is not None and flags & ACK and seqs.relative is not False:
                        if settle is not None:
                            settle(key)
                        base = bases.get(key) if seqs.relative else None
                        if base is not None and not flags & SYN:
                            seq_base, ack_base = base
                        else:
                            seq_base = ack_base = None
                        if ack_base is not None and (seq is None or seq_base is not None):
                            # SeqTracker.numbers' common case, inline: relative numbers of a known
                            # conversation back to absolute ones
                            ack = (ack + ack_base) & 0xFFFFFFFF
                            if seq is not None and seq_base is not None:
                                seq = (seq + seq_base) & 0xFFFFFFFF
                        else:
                            seq, ack, rel = seqs.numbers(key[0], sp, key[2], dp, flags, seq,
                                                         ack)
                            relative = RELATIVE if rel else 0
                    if flags & SYN and not flags & ACK and seq is not None:
                        seqs.syn(key[0], sp, key[2], dp, seq)
                    add_win(win)
                    add_flags(flags | relative)
                    add_seq(-1 if seq is None else seq)
                    add_ack(-1 if ack is None else ack)
                    add_tsv(tsv)
                    add_ecr(ecr)
                    add_plen(payload)
                    add_wire(ETH_LEN + iphdr + hdr + payload)
                    if options is not None:
                        opts_of[base_n + built] = options
                built += 1
                add_ts(ts)
                add_line(lineno + built)
                add_pair(pid)
                if column:
                    cid = columns.get(column)
                    add_col(cid if cid is not None else self._column(column))
                else:
                    add_col(-1)
        except _OverU32:
            pass  # the line parser names the line
        clock.last_tod = last_tod
        if built:
            clock.last_ns, clock.started = ts, True
        return built

    def make(self, ts: int, line: int, pid: int, col: int, flags: int, seq: int, ack: int,
             win: int, plen: int, wire: int, tsv: int, ecr: int, options: TCPOptions | None,
             time_ok: bool = True) -> PacketRecord:
        """The record of one common line from its fields as ``fill`` keeps them (see
        ``records``)."""
        return self.records([(ts, line, pid, col, flags, seq, ack, win, plen, wire, tsv, ecr)],
                            {} if options is None else {0: options}, 0, time_ok)[0]

    def records(self, rows: Iterable[tuple[int, ...]], opts: dict[int, TCPOptions], start: int,
                time_ok: bool = True) -> list[PacketRecord]:
        """The records of common lines from their fields as ``fill`` keeps them: time, line,
        address pair, ``-i any`` column, flags (-1 for UDP, with RELATIVE for numbers left
        relative), seq, ack, window, payload and wire lengths, TS value and echo (-1: absent);
        ``opts``: the options other than the usual timestamps, by index (the first row's is
        ``start``). One loop for all rows: no call per record."""
        pairs, column_list, point, path = self.pairs, self.column_list, self.point, self.path
        ips, ip_header = self.ips, self.ip_header
        out: list[PacketRecord] = []
        add = out.append
        i = start - 1
        for ts, line, pid, col, flags, seq, ack, win, plen, wire, tsv, ecr in rows:
            i += 1
            _proto, sp, dp, _key, _iphdr = pairs[pid]
            ip = ips[pid] or ip_header(pid)
            ifname, direction = column_list[col] if col >= 0 else _NO_COLUMN
            if flags < 0:
                l4: Any = _new(UDPHeader, (sp, dp, plen))
            else:
                options = opts.get(i) if opts else None
                if options is None:
                    options = NO_OPTIONS if tsv < 0 else _new(TCPOptions, (
                        None, None, False, (), tsv, ecr, _NOP_NOP_TS))
                l4 = _new(TCPHeader, (sp, dp, flags & 0xFFFF, None if seq < 0 else seq,
                                      None if ack < 0 else ack, None if win < 0 else win, plen,
                                      options, flags > 0xFFFF))
            add(_new(PacketRecord, (
                point, ts, path, line, ifname, direction, wire,
                _new(Headers, (None, ip, l4, None, None)), None, None, None, -1, None, None,
                time_ok, None)))
        return out

    def _number(self, text: bytes) -> int:
        """A number as an int; small ones (lengths, windows, relative seq and ack) repeat
        and are cached: a lookup is cheaper than int()."""
        n = int(text)
        if n > _U32:
            raise _OverU32
        if n < _SMALL:
            if len(self.numbers) >= CACHE_LIMIT:
                self.numbers.clear()
                self.numbers[b""] = -1
            self.numbers[text] = n
        return n

    def _udp(self, text: bytes, iphdr: int) -> int:
        """The payload length of a UDP datagram, cached for the plain ``UDP, length N``."""
        n = udp_text_len(text, iphdr)
        if text[:12] == b"UDP, length " and len(self.udp_lens) < CACHE_LIMIT:
            self.udp_lens[text] = n
        return n

    def _second(self, stamp: bytes) -> int:
        """ns of a stamp's whole seconds: since midnight (time of day, below DAY_NS) or the
        epoch (date, epoch); -1 if out of range, on the first day or in the last second a
        packet table holds (the general path)."""
        m = TIMESTAMP.match(stamp.decode() + ".000000 ")
        value = -1
        if m is not None:
            s = read_stamp(m)
            if (not s.invalid and (s.kind == "tod") == (s.ns < DAY_NS)
                    and s.ns < LAST_NS - NS):
                value = s.ns
        return remember(self.seconds, stamp, value)

    def _column(self, column: bytes) -> int:
        """The interface and direction of an ``-i any`` column (an index into
        ``column_list``), cached."""
        name, direction = column.decode().split()
        self.columns[column] = found = len(self.column_list)
        self.column_list.append((name, DIRECTIONS[direction]))
        return found

    def _options(self, text: bytes) -> tuple[TCPOptions, int] | None:
        """TCP options other than the usual timestamps, and the header length they make
        (None: not read here, a timestamp over 32 bits included: the line parser names it)."""
        syn = _SYN_OPTS.match(text)
        if syn is not None:
            mss, ts_val, ts_ecr, wscale = syn.groups()
            options = _new(TCPOptions, (int(mss), int(wscale), True, (), int(ts_val),
                                        int(ts_ecr), SYN_ORDER))
            size = 40
        else:
            try:
                options = parse_options(text.decode())
            except TextError:
                return None
            size = tcp_header_len(options)
        if (options.ts_val or 0) > _U32 or (options.ts_ecr or 0) > _U32:
            return None
        return options, size

    def _ends(self, addrs: bytes, proto: int) -> int:
        """``IP a.p > b.q`` as an address pair (an index into ``pairs``; -1 if one is
        not an address), cached."""
        self.make_pairs(((addrs, proto),))
        return self.ends[proto == PROTO_UDP][addrs]

    def make_pairs(self, items: Iterable[tuple[bytes, int]]) -> None:
        """The address pairs of ``IP a.p > b.q`` texts of a protocol not cached yet (or ``a.p >
        b.q``, an IPv4 one as ``text_link`` cuts an ``-e`` or ``-v`` line), each with the other
        direction (it mostly follows: one parse for both); -1 cached for a text where one is
        not an address. One loop for all: no call per pair but for a new host that is not a
        dotted quad. The pairs' rows of ``per_pair`` are made on the way; by the compiled
        scanner's loop when there is one, but for what it leaves to this one (IPv6, names)."""
        if COMPILED is None:
            self._pair_loop(items)
        else:
            todo = list(items)
            v4 = self.v4_hosts if self.by_fields else None
            i = 0
            while i < len(todo):
                i = COMPILED.pairs(todo, i, self.pairs, self.addrs, v4, self.v4_host_list,
                                   self.conn_ids, self.conv_keys, *self.ends, self._rows,
                                   CACHE_LIMIT, PROTO_UDP)
                if i < len(todo):
                    self._pair_loop(todo[i : i + 1])
                    i += 1
        # the new pairs' keys, and their IP headers not made yet, all at once
        pairs = self.pairs
        self._keys.extend(map(_KEY, pairs[len(self._keys):]))
        self.ips.extend(repeat(None, len(pairs) - len(self.ips)))

    def _pair_loop(self, items: Iterable[tuple[bytes, int]]) -> None:
        """``make_pairs``' loop, for all its items."""
        pairs, known, (tcp_cache, udp_cache) = self.pairs, self.addrs, self.ends
        v4 = self.v4_hosts if self.by_fields else None  # for the table's columns only
        v4_list = self.v4_host_list
        conn_ids, conv_keys = self.conn_ids, self.conv_keys
        add, add_row = pairs.append, self._rows.extend
        known_get, conn_get, quad = known.get, conn_ids.get, V4_HOST.match
        ports = self.ports
        port_get = ports.get
        for text, proto in items:
            cache = udp_cache if proto == PROTO_UDP else tcp_cache
            if text in cache:  # made as the other direction of one before
                continue
            if text[2] == 32:  # b"IP "
                version, keyword, pair = 4, b"IP ", text[3:]
            elif text[:4] == b"IP6 ":
                version, keyword, pair = 6, b"IP6 ", text[4:]
            else:  # an IPv4 -e or -v line's, printed without "IP " (text_link)
                version, keyword, pair = 4, b"", text
            src_t, _, dst_t = pair.partition(b" > ")
            src_h, _, sport = src_t.rpartition(b".")
            dst_h, _, dport = dst_t.rpartition(b".")
            src = known_get(src_h, "")
            if src == "":
                host = src_h.decode()
                if version == 4 and quad(host) is not None:  # a dotted quad: itself
                    if len(known) >= CACHE_LIMIT:  # remember(known, src_h, host), inline
                        known.clear()
                    known[src_h] = src = host
                    if v4 is not None:  # numbered for the table's columns
                        if len(v4) >= CACHE_LIMIT:
                            v4.clear()
                        v4[host] = len(v4_list)
                        v4_list.append(host)
                else:
                    src = self._addr(src_h, version)
            dst = known_get(dst_h, "")
            if dst == "":
                host = dst_h.decode()
                if version == 4 and quad(host) is not None:
                    if len(known) >= CACHE_LIMIT:
                        known.clear()
                    known[dst_h] = dst = host
                    if v4 is not None:
                        if len(v4) >= CACHE_LIMIT:
                            v4.clear()
                        v4[host] = len(v4_list)
                        v4_list.append(host)
                else:
                    dst = self._addr(dst_h, version)
            sp = port_get(sport)
            if sp is None:
                sp = _port(ports, sport)
            dp = port_get(dport)
            if dp is None:
                dp = _port(ports, dport)
            if len(cache) >= CACHE_LIMIT:
                cache.clear()
            if src is None or dst is None or not (0 <= sp <= 0xFFFF and 0 <= dp <= 0xFFFF):
                cache[text] = -1
                continue
            hdr = 20 if version == 4 else 40
            src_v = v4.get(src, -1) if v4 is not None and version == 4 else -1
            dst_v = v4.get(dst, -1) if src_v >= 0 and v4 is not None else -1
            key, back = (src, sp, dst, dp), (dst, dp, src, sp)
            first = key <= back  # key is the conversation's first key (both, when equal)
            both = key if first else back
            conn = conn_get(both)
            if conn is None:
                conn = conn_ids[both] = len(conv_keys)
                conv_keys.append(both)
            last = both == back
            cache[text] = len(pairs)
            add((proto, sp, dp, key, hdr))
            back_t = b"".join((keyword, dst_t, b" > ", src_t))
            if back_t not in cache:
                cache[back_t] = len(pairs)
                add((proto, dp, sp, back, hdr))
                add_row((hdr, conn, first, last, proto, sp, dp, src_v, dst_v, 1))
            else:
                add_row((hdr, conn, first, last, proto, sp, dp, src_v, dst_v, 0))

    def ip_header(self, pid: int) -> IPHeader:
        """The IP header of address pair ``pid`` (made once, when first asked for)."""
        ip = self.ips[pid]
        if ip is None:
            proto, _sp, _dp, (src, _, dst, _), hdr = self.pairs[pid]
            ip = self.ips[pid] = _new(IPHeader, (4 if hdr == 20 else 6, src, dst, proto, None,
                                                 None, None, False, 0, False, None))
        return ip

    def _addr(self, text: bytes, version: int) -> str | None:
        """The address of a host printed without its port (None if it is not one), cached
        (by its bytes)."""
        addr = self.addrs.get(text, "")
        if addr == "":
            host = text.decode()
            if version == 4 and V4_HOST.match(host) is not None:
                addr = host  # a dotted quad: what split_endpoint gives, without its work
                if self.by_fields:  # numbered for the table's columns
                    remember(self.v4_hosts, host, len(self.v4_host_list))
                    self.v4_host_list.append(host)
            else:
                try:
                    addr, port = split_endpoint(host, version)
                except TextError:
                    addr = None
                else:
                    addr = None if port is not None else addr
            remember(self.addrs, text, addr)
        return addr

