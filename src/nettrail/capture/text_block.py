"""The common lines of a block filled field by field (numpy), not line by line.

``fill_block`` does what ``FastLine.fill`` does for a run of common lines, a field at a time:
the fields of all lines are looked up in FastLine's caches with ``map`` (stamps, address pairs,
flags, small numbers), times and lengths are added as arrays, and only the lines that move the
relative-sequence bookkeeping (a SYN, the first ACK of a conversation, any line while the file
is not yet known to print relative numbers) go through ``SeqTracker`` one by one, in order; the
others get their bases added in bulk. A run it does not take as a whole (a time that needs the
clock's judgement, a field out of range, too few lines) is left to ``FastLine.fill`` untouched:
nothing is changed before the run is known to be taken.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from itertools import chain, compress, repeat
from operator import countOf, itemgetter, not_
from typing import TYPE_CHECKING, Any

import numpy as np

from nettrail.capture.scanner import COMPILED
from nettrail.capture.text_fields import DIGITS_LIMIT, ETH_LEN, MOST_PAYLOAD, tcp_flags
from nettrail.capture.text_parse import UDP_MAX
from nettrail.capture.text_replay import fits, replay
from nettrail.capture.text_time import DAY_NS, HALF_DAY_NS
from nettrail.model.arrays import Arr
from nettrail.model.cache import CACHE_LIMIT
from nettrail.model.packet import ACK, PROTO_TCP, PROTO_UDP, SYN, TCPOptions

if TYPE_CHECKING:
    from nettrail.capture.text_fast import Chunk, FastLine, Row

MIN_LINES = 128
"""Runs shorter than this are filled line by line: a block costs a few hundred numpy calls
whatever its length, which a run of fewer lines does not pay back (a text with another line
every 100 lines reads a third faster line by line; bench/RESULTS.md)."""
CLOCK_LINES = 16
"""The lines of a file's first run that set the clock, line by line, before the rest."""
_MASK = 0xFFFFFFFF
_ZERO = b"0"  # before a number's digits: an absent one reads as 0 (then marked absent)
RELATIVE = 1 << 16
"""Added to a TCP line's flags in a Chunk: its seq/ack stay relative (``seq_relative``)."""
_DIGIT0 = np.int64(ord("0"))
_FRAC_NS = 10 ** np.arange(8, 2, -1, dtype=np.int64)
"""ns of each of the six digits of the microseconds, read a block at a time (the pattern
gives exactly six ASCII digits)."""


def numbers_of(texts: Sequence[bytes]) -> Arr:
    """The numbers of one field of every line (-1 where absent), read by numpy's parser all at
    once. The patterns let a number have only 1 to 10 ASCII digits: every one fits in 64 bits."""
    n = len(texts)
    if COMPILED is not None:
        out = np.empty(n, np.int64)
        if COMPILED.numbers(texts, out):
            return out
    joined = b" ".join(texts)
    parsed = np.fromstring(joined, np.int64, sep=" ")
    if len(parsed) == n:  # every line has the field
        return parsed
    # digits only: the spaces are the separators, and the lengths lie between them
    ends = np.empty(n + 1, np.int64)  # the separators, one before the first and after the last
    ends[0], ends[n] = -1, len(joined)
    ends[1:n] = np.flatnonzero(np.frombuffer(joined, np.uint8) == 32)
    lens = ends[1:] - ends[:-1] - 1
    present = lens > 0
    if len(parsed) == np.count_nonzero(present):
        out = np.full(n, -1, np.int64)
        out[present] = parsed
        return out
    out = np.fromiter(map(int, map(_ZERO.__add__, texts)), np.int64, n)
    out[lens == 0] = -1
    return out


def fill_block(fast: FastLine, rows: Sequence[Row], lineno: int, chunk: Chunk) -> bool:
    """Add all of ``rows`` (common lines, the first one after line ``lineno``) to ``chunk``,
    as ``FastLine.fill`` would; False (nothing changed but caches) when the run is not
    taken as a whole."""
    n = len(rows)
    if n < MIN_LINES:
        return False
    (stamps, fracs, columns, addrs, flags_t, seq_t, ack_t, win_t, tsv_t, ecr_t, opts_t,
     len_t, udp_t, _other) = zip(*rows, strict=True)
    looked = _looked_up(fast, rows)
    if looked is None:
        sec = np.fromiter(map(fast.seconds.get, stamps, repeat(_UNSEEN)), np.int64, n)
    else:
        sec, frac, pid, fl = looked[0], looked[1], looked[2], looked[3]
    if sec.min() == _UNSEEN:  # new seconds: read once each, then looked up again
        for stamp in dict.fromkeys(compress(stamps, (sec == _UNSEEN).tolist())):
            seconds_of(fast, stamp)
        sec = np.fromiter(map(fast.seconds.get, stamps, repeat(_UNSEEN)), np.int64, n)
        if sec.min() == _UNSEEN:  # the cache emptied on the way
            sec = np.array(list(map(seconds_of, repeat(fast), stamps)), np.int64)
    if looked is None:
        udp_rows = list(compress(range(n), map(not_, flags_t))) if b"" in flags_t else []
    else:  # the lines without flags
        udp_rows = np.flatnonzero(fl == -1).tolist()
    udp_texts = list(map(udp_t.__getitem__, udp_rows))
    if looked is None:
        pid = _pids(fast, addrs, udp_rows)
    unmade = pid == _UNMADE
    new = np.flatnonzero(unmade)
    if len(new):  # new pairs: made once each, in line order, then their lines looked up again
        texts = list(compress(addrs, unmade.tolist()))
        if udp_rows:
            udp = np.zeros(n, bool)
            udp[udp_rows] = True
            is_udp = udp[new]
            fast.make_pairs(_new_pairs(texts, is_udp))
        else:
            fast.make_pairs(zip(dict.fromkeys(texts), repeat(PROTO_TCP)))
        pid[new] = np.fromiter(map(fast.ends[0].get, texts, repeat(_UNMADE)), np.int64,
                               len(texts))
        if udp_rows:
            pid[new[is_udp]] = np.fromiter(map(fast.ends[1].get, compress(
                texts, is_udp.tolist()), repeat(_UNMADE)), np.int64, int(is_udp.sum()))
        still = np.flatnonzero(pid == _UNMADE).tolist()  # a cache emptied on the way
        pid[still] = [_pair(fast, addrs[i], flags_t[i]) for i in still]
    if sec.min() < 0 or pid.min() < 0:
        return False
    options: _Found = ([], [], [])
    if any(opts_t):
        found = _options(fast, opts_t)
        if found is None:
            return False
        options = found
    if looked is None:
        seq, ack, win = numbers_of(seq_t), numbers_of(ack_t), numbers_of(win_t)
        tsv, ecr, plen = numbers_of(tsv_t), numbers_of(ecr_t), numbers_of(len_t)
        frac = _fractions(fracs)
    else:
        seq, ack, win, tsv, ecr, plen = looked[4:]
    if (max(seq.max(), ack.max(), win.max(), tsv.max(), ecr.max()) > _MASK
            or plen.max() > MOST_PAYLOAD
            or (udp_rows and max(map(len, udp_texts)) > DIGITS_LIMIT)):
        return False  # over 32 bits (or a frame past them): the line parser names the line
    ts = _times(fast, sec, frac)
    if ts is None:
        return False
    # taken: from here on the clock and sequence bookkeeping move
    if looked is None or fl.min() == _UNSEEN:
        fl = _flag_array(fast, flags_t)
    rel = _sequences(fast, pid, fl, seq, ack)
    hdr = np.where(tsv >= 0, 32, 20)
    base_n = len(chunk)
    opt_lines, opt_values, opt_sizes = options
    if opt_lines:
        hdr[opt_lines] = opt_sizes
        chunk.opts.update(zip(map(base_n.__add__, opt_lines), opt_values, strict=True))
    iphdr = fast.per_pair()[pid, 0]
    if udp_rows:
        # the payload lengths: looked up, and those the lookup misses read in line order (the
        # plain form is cached on the way: a text read twice in a block reads the same)
        lengths = np.fromiter(map(fast.udp_lens.get, udp_texts, repeat(-1)), np.int64,
                              len(udp_rows))
        miss = np.flatnonzero(lengths < 0)
        if len(miss):
            lengths[miss] = _udp_lengths(fast, list(map(udp_texts.__getitem__, miss.tolist())),
                                         iphdr[udp_rows][miss])
        plen[udp_rows] = lengths
        hdr[udp_rows] = 8
    clock = fast.clock
    clock.last_ns, clock.started = int(ts[-1]), True
    if any(columns):  # ``-i any``: looked up, the new ones made in line order
        col = np.fromiter(map(fast.columns.get, columns, repeat(_UNSEEN)), np.int64, n)
        if col.min() == _UNSEEN:
            new_cols = np.flatnonzero(col == _UNSEEN).tolist()
            col[new_cols] = [_column(fast, columns[i]) for i in new_cols]
    else:
        col = np.full(n, -1, np.int64)
    tcp = fl >= 0
    block = (ts, np.arange(lineno + 1, lineno + n + 1, dtype=np.int64), pid,
             col, np.where(tcp, fl | np.where(rel, RELATIVE, 0), -1),
             seq, ack, win, plen, ETH_LEN + iphdr + hdr + plen, tsv, ecr)
    if len(chunk) == 0:
        chunk.block = block
        return True
    for part, values in zip(chunk.lists(), block, strict=True):
        part += values.tolist()
    return True


def _looked_up(fast: FastLine, rows: Sequence[Row]) -> Arr | None:
    """The compiled scanner's first lookups and numbers of ``rows`` (``_scan.columns``), a
    field a row: seconds, microseconds in ns, address pair, flag bits (``_UNSEEN``,
    ``_UNMADE``: not cached yet), seq, ack, win, TS value and echo, length (-1: absent); None
    without the scanner (the lookups and parsers below do it, to the same values)."""
    if COMPILED is None:
        return None
    out = np.empty((10, len(rows)), np.int64)
    tcp_ends, udp_ends = fast.ends
    if not COMPILED.columns(rows, fast.seconds, tcp_ends, udp_ends, fast.flags, out):
        return None  # not digits where digits stand: rows not of the pattern's
    return out


def _fractions(fracs: tuple[bytes, ...]) -> Arr:
    """ns of the microseconds of every line (the pattern gives exactly six ASCII digits)."""
    n = len(fracs)
    out: Arr = (np.frombuffer(b"".join(fracs), np.uint8).reshape(n, 6) - _DIGIT0) @ _FRAC_NS
    return out


def _new_pairs(texts: list[bytes], is_udp: Arr) -> Iterable[tuple[bytes, int]]:
    """Each address pair text of ``texts`` with its protocol (UDP where ``is_udp``), once,
    in the order first seen: without a tuple a line when no text is of both protocols."""
    udp = dict.fromkeys(compress(texts, is_udp.tolist()), PROTO_UDP)
    if countOf(map(udp.__contains__, texts), True) != np.count_nonzero(is_udp):
        # a text of both protocols: each (text, protocol) its own
        return dict.fromkeys(zip(texts, map(_PROTOS.__getitem__, is_udp.tolist()),
                                 strict=True))
    first = dict.fromkeys(texts)
    return zip(first, map(udp.get, first, repeat(PROTO_TCP)), strict=True)


def _pids(fast: FastLine, addrs: tuple[bytes, ...], udp_rows: list[int]) -> Arr:
    """The address pair of every line (_UNMADE: not made yet)."""
    pid = np.fromiter(map(fast.ends[0].get, addrs, repeat(_UNMADE)), np.int64, len(addrs))
    if udp_rows:
        udp = fast.ends[1].get
        pid[udp_rows] = np.fromiter(map(udp, map(addrs.__getitem__, udp_rows),
                                        repeat(_UNMADE)), np.int64, len(udp_rows))
    return pid


_UNMADE = -2
"""An address pair not made yet (-1: made, not an address)."""
_PROTOS = (PROTO_TCP, PROTO_UDP)
"""The protocol of a line by whether it has no flags (UDP)."""
_UNSEEN = -2
"""Seconds or flags not read yet (-1: seconds out of range, or no flags: UDP)."""


_Found = tuple[list[int], list[TCPOptions], list[int]]
"""The lines that print options other than the usual timestamps, their options and the TCP
header lengths they make."""


def _options(fast: FastLine, texts: tuple[bytes, ...]) -> _Found | None:
    """The options other than the usual timestamps of the lines that print them, and the TCP
    header length they make, by line (None: one the line parser reads, see
    ``FastLine._options``). The Linux SYN's, the most common, read in one pass for all."""
    lines = list(compress(range(len(texts)), texts))
    given = list(compress(texts, texts))
    joined = b"\n".join(given) + b"\n"
    if joined.count(b"\n") != len(given):  # a text of more than one line
        found = list(map(fast._options, given))
    elif (syn_opts := _compiled_syns(given)) is not None \
            or (syn_opts := _linux_syns(joined, len(given))) is not None:
        if syn_opts is _OVER:
            return None
        return lines, syn_opts, [40] * len(lines)
    else:
        syns = _SYN_ALL.findall(joined)
        at_once = _syn_options(syns)
        if at_once is not None:
            found = at_once
        else:
            found = []
            add = found.append
            for text, (mss, ts_val, ts_ecr, wscale) in zip(given, syns, strict=True):
                if mss:
                    val, ecr = int(ts_val), int(ts_ecr)
                    if val > _MASK or ecr > _MASK:
                        return None
                    add((_new(TCPOptions, (int(mss), int(wscale), True, (), val, ecr,
                                           SYN_ORDER)), 40))
                else:
                    add(fast._options(text))
    if None in found:
        return None
    return (lines, list(map(_OPTS, found)),  # type: ignore[arg-type]  # no None left
            list(map(_SIZE, found)))  # type: ignore[arg-type]


def _compiled_syns(texts: list[bytes]) -> list[TCPOptions] | None:
    """``_linux_syns`` by the compiled scanner (``_scan.syns``); None without it, or where a
    text is of another form (``_linux_syns`` says the same of it)."""
    if COMPILED is None:
        return None
    n = len(texts)
    out = np.empty((4, n), np.int64)
    if not COMPILED.syns(texts, out):
        return None
    return _syn_list(*out.tolist())


def _syn_options(syns: list[tuple[bytes, bytes, bytes, bytes]]
                 ) -> list[tuple[TCPOptions, int] | None] | None:
    """The options of texts that are all the Linux SYN's, their numbers read at once (None:
    another form among them, or a number of more digits than int64 surely holds)."""
    mss_t, val_t, ecr_t, wscale_t = zip(*syns, strict=True)
    if b"" in mss_t or max(map(len, chain(mss_t, val_t, ecr_t, wscale_t))) > _DIGITS:
        return None
    mss, val, ecr, wscale = (np.fromstring(b" ".join(t), np.int64, sep=" ").tolist()
                             for t in (mss_t, val_t, ecr_t, wscale_t))
    if max(val) > _MASK or max(ecr) > _MASK:
        return [None]
    return [(_new(TCPOptions, (m, w, True, (), v, e, SYN_ORDER)), 40)
            for m, w, v, e in zip(mss, wscale, val, ecr, strict=True)]


def _linux_syns(joined: bytes, n: int) -> list[TCPOptions] | None:
    """The options of ``n`` texts (each ended by a line end) that are all the Linux SYN's,
    found by their text without digits and their numbers read at once (None: another form
    among them, or a number of more than 10 digits, which the pattern does not take; _OVER:
    a timestamp over 32 bits, which the line parser names)."""
    if joined.translate(None, _DIGIT_BYTES) != _SYN_SKELETON * n or not _in_slots(joined, n):
        return None
    spaced = joined.translate(_ONLY_DIGITS)
    values = np.fromstring(spaced, np.int64, sep=" ")
    # four numbers a text, none of more than 10 digits: when no number has a leading zero,
    # each has as many digits as its value needs, and the digits add up to the text's
    if (len(values) != 4 * n or values.max() >= _TEN_DIGITS
            or int(np.searchsorted(_TENS, values, "right").sum()) + 4 * n
            != len(joined) - n * len(_SYN_SKELETON)):
        numbers = spaced.split()  # as many digits as it has, leading zeros and all
        if len(numbers) != 4 * n or max(map(len, numbers)) > 10:
            return None
    return _syn_list(*values.reshape(n, 4).T.tolist())


def _syn_list(mss: list[int], val: list[int], ecr: list[int], wscale: list[int]
              ) -> list[TCPOptions]:
    """The options of Linux SYNs from their numbers (_OVER: a timestamp over 32 bits, which
    the line parser names)."""
    if max(val) > _MASK or max(ecr) > _MASK:
        return _OVER
    return list(map(_new, repeat(TCPOptions), zip(  # TCPOptions' fields, in order
        mss, wscale, repeat(True), repeat(()), val, ecr, repeat(SYN_ORDER), strict=False)))


def _in_slots(joined: bytes, n: int) -> bool:
    """Whether the digits of ``n`` texts whose other characters are the Linux SYN's skeleton
    stand as four numbers a text, each in its place (``mss ,sa1460ckOK`` has every character
    of ``mss 1460,sackOK``, its number out of place)."""
    digit = (np.frombuffer(joined, np.uint8) - np.uint8(48) < 10).view(np.int8)
    # the texts start with a letter and end with a line end: every edge is inside
    edges = np.flatnonzero(digit[1:] != digit[:-1])
    if len(edges) != 8 * n:
        return False
    lens = edges[1::2] - edges[0::2]
    non_digits_before = edges[0::2] + 1 - (np.cumsum(lens) - lens)
    return bool(np.array_equal(non_digits_before, _syn_places(n)))


def _syn_places(n: int) -> Arr:
    """Where the numbers of ``n`` texts of the Linux SYN's skeleton stand in the skeletons
    one after the other."""
    global _PLACES_MADE
    if len(_PLACES_MADE) < 4 * n:
        _PLACES_MADE = (np.arange(2 * n, dtype=np.int64)[:, None] * len(_SYN_SKELETON)
                        + _SYN_PLACES).ravel()
    return _PLACES_MADE[: 4 * n]


_OVER: list[TCPOptions] = []
"""``_linux_syns``' answer for a timestamp over 32 bits."""
_TEN_DIGITS = 10**10
_TENS = 10 ** np.arange(1, 19, dtype=np.int64)
"""10 to 10**18: a number's digits are one more than how many of these it reaches."""


_DIGIT_BYTES = b"0123456789"
_SYN_SKELETON = b"mss ,sackOK,TS val  ecr ,nop,wscale \n"
"""A Linux SYN's options text (and its line end) without its digits."""
_SYN_PLACES = np.array([_SYN_SKELETON.index(word) + len(word)
                        for word in (b"mss ", b"val ", b"ecr ", b"wscale ")], np.int64)
"""Where each of the four numbers stands in the skeleton (the characters before it)."""
_PLACES_MADE = np.zeros(0, np.int64)
"""``_syn_places`` as made so far, for the most texts asked for."""
_ONLY_DIGITS = bytes(c if c in _DIGIT_BYTES else 32 for c in range(256))
"""Every byte but a digit made a space."""
_DIGITS = 18
"""The most digits of a number read by numpy's parser: any such fits in int64."""


SYN_ORDER = ("mss", "sackOK", "TS", "nop", "wscale")
"""The options of a Linux SYN, in order."""
_SYN_ALL = re.compile(
    rb"(?:mss (\d{1,10}),sackOK,TS val (\d{1,10}) ecr (\d{1,10}),nop,wscale (\d{1,10})|[^\n]*)\n")
"""Each line of options texts: the Linux SYN's numbers, or none (another form)."""
_new: Any = tuple.__new__
_OPTS, _SIZE = itemgetter(0), itemgetter(1)


def _udp_lengths(fast: FastLine, texts: list[bytes], iphdr: Arr) -> Arr:
    """The payload lengths of UDP lines whose text the lookup missed, in line order, as
    ``FastLine._udp`` reads them (the plain ``UDP, length N`` cached on the way)."""
    quick = quick_udp_lens(texts)
    if quick is None:
        return np.fromiter(map(fast._udp, texts, iphdr.tolist()), np.int64, len(texts))
    values, plain = quick
    cache = fast.udp_lens
    if plain and len(cache) + len(plain) < CACHE_LIMIT:
        cache.update(zip(map(texts.__getitem__, plain), values[plain].tolist(), strict=True))
    else:
        for i in plain:
            if len(cache) < CACHE_LIMIT:
                cache[texts[i]] = int(values[i])
    return values


def quick_udp_lens(texts: list[bytes]) -> tuple[Arr, list[int]] | None:
    """``udp_len`` of datagram texts without ``-v`` (each without a line end), all read at
    once when every one is in one of its two common forms (``udp_text_len``): exactly
    ``UDP, length N``, or an ASCII decode ending in ``(N)`` without ``length`` or a
    ``udp `` start; and which texts are of the first form. None: a text of another form."""
    joined = b"\n".join(texts) + b"\n"
    found = _UDP_TAILS.findall(joined)
    if len(found) != len(texts) or not joined.isascii() or b"\nudp " in b"\n" + joined:
        return None
    plain_t, tail_t = zip(*found, strict=True)
    plain = list(compress(range(len(texts)), plain_t))
    if joined.count(b"length") != len(plain):  # a "length" in a text of the second form
        return None
    digits = list(map(bytes.__add__, plain_t, tail_t))
    if not all(digits):  # a text of neither form
        return None
    values = np.fromstring(b" ".join(digits), np.int64, sep=" ")
    values[values > UDP_MAX] = 0
    return values, plain


_UDP_TAILS = re.compile(rb"(?:UDP, length (\d{1,18})|[^\n]*\((\d{1,18})\)|[^\n]*)\n")
"""Each line of datagram texts: the plain form's number, or the number of a last ``(N)``, or
neither. At most 18 digits: every one fits in int64 (a longer one is left to ``udp_len``)."""


def seconds_of(fast: FastLine, stamp: bytes) -> int:
    """ns of a stamp's whole seconds (-1: the general path's, ``FastLine._second``), looked up,
    else read once."""
    got = fast.seconds.get(stamp)
    return got if got is not None else fast._second(stamp)


def _pair(fast: FastLine, addrs: bytes, flags: bytes) -> int:
    """The address pair of a line the lookup missed (made once, if not already made since)."""
    got = fast.ends[0 if flags else 1].get(addrs)
    return got if got is not None else fast._ends(addrs, PROTO_TCP if flags else PROTO_UDP)


def _column(fast: FastLine, text: bytes) -> int:
    """The ``-i any`` column of a line the lookup missed (made once)."""
    got = fast.columns.get(text)
    return got if got is not None else fast._column(text)


def _flags(fast: FastLine, text: bytes) -> int:
    """The flag bits of a line's ``Flags [...]`` text (-1: none, UDP), cached."""
    value = fast.flags[text] = tcp_flags(text.decode()) if text else -1
    return value


def _flag_array(fast: FastLine, texts: tuple[bytes, ...]) -> Arr:
    """The flag bits of every line."""
    out = np.fromiter(map(fast.flags.get, texts, repeat(_UNSEEN)), np.int64, len(texts))
    if out.min() == _UNSEEN:  # new flags: read once each
        for text in dict.fromkeys(compress(texts, (out == _UNSEEN).tolist())):
            _flags(fast, text)
        out = np.fromiter(map(fast.flags.__getitem__, texts), np.int64, len(texts))
    return out


def _times(fast: FastLine, sec: Arr, frac: Arr) -> Arr | None:
    """The lines' times (``frac``: ns of their microseconds) when the clock needs no
    judgement for any of them (else None): times of day on the current day, within 12 hours
    of each other in turn, or dates/epoch times once the file is known to print them."""
    clock = fast.clock
    if sec.max() < DAY_NS:
        if clock.mode != "tod" or clock.last_tod < 0:
            return None
        tod = sec + frac
        step = np.diff(tod, prepend=clock.last_tod)
        if np.abs(step).max() > HALF_DAY_NS:
            return None
        clock.last_tod = int(tod[-1])
        out: Arr = tod + clock.day_ns
        return out
    if sec.min() < DAY_NS or clock.mode not in ("epoch", "date"):
        return None
    out = sec + frac
    return out


def _sequences(fast: FastLine, pid: Arr, fl: Arr, seq: Arr, ack: Arr) -> Arr:
    """Turn relative seq/ack back into absolute ones in place (``SeqTracker``'s replay); which
    lines keep them relative. Once the file is known to print relative numbers, the block at
    once (``text_replay``); before that (or when SYN notes would fill SeqTracker's cache),
    every line that may move the bookkeeping goes through SeqTracker one by one, in order."""
    seqs = fast.seqs
    rel = np.zeros(len(pid), bool)
    if seqs.relative is True and fits(fast, fl, seq):
        replay(fast, pid, fl, seq, ack, rel)
        return rel
    tcp = fl >= 0
    syn = tcp & (fl & SYN != 0)
    conv = tcp & (fl & ACK != 0) & (ack >= 0)
    _one_by_one(fast, np.flatnonzero(syn | conv if seqs.relative is not False else syn),
                pid, fl, seq, ack, conv, rel)
    return rel


def _one_by_one(fast: FastLine, lines: Arr, pid: Arr, fl: Arr, seq: Arr, ack: Arr, conv: Arr,
                rel: Arr) -> None:
    """SeqTracker on ``lines``, in order, as ``FastLine.fill`` calls it."""
    seqs, pairs = fast.seqs, fast.pairs
    moved: list[int] = []
    moved_seq: list[int] = []
    moved_ack: list[int] = []
    moved_rel: list[bool] = []
    for i, f, s_i, a_i, c, p in zip(lines.tolist(), fl[lines].tolist(), seq[lines].tolist(),
                                    ack[lines].tolist(), conv[lines].tolist(),
                                    pid[lines].tolist(), strict=True):
        s_v: int | None = None if s_i < 0 else s_i
        _proto, sp, dp, key, _hdr = pairs[p]
        if c and seqs.relative is not False:
            s_v, a_v, r = seqs.numbers(key[0], sp, key[2], dp, f, s_v, a_i)
            moved.append(i)
            moved_ack.append(a_v)
            moved_seq.append(-1 if s_v is None else s_v)
            moved_rel.append(r)
        if f & SYN and not f & ACK and s_v is not None:
            seqs.syn(key[0], sp, key[2], dp, s_v)
    if moved:
        ack[moved] = moved_ack
        seq[moved] = moved_seq
        rel[moved] = moved_rel
