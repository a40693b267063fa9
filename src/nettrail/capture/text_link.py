"""``-e`` and ``-v`` tcpdump lines brought to the common form, a block at a time.

tcpdump ``-e`` prints the link header before the IP part (``02:00:00:00:00:50 >
02:00:00:01:00:01, ethertype IPv4 (0x0800), length 74: 198.18.0.80.45700 > ...``, VLAN tags
after the length, ``eth0  In  ifindex 4 02:00:00:00:00:50 ethertype IPv4 (0x0800), length
80: ...`` for ``-i any``); ``-v`` prints the IPv4 header in parentheses and the transport on an
indented second line, with the TCP checksum (``IP (tos 0x0, ttl 64, id 19921, offset 0, flags
[DF], proto TCP (6), length 60)`` / ``    198.18.0.80.45700 > ...: Flags [S], cksum 0x0000
(incorrect -> 0x4d42), seq ...``). ``LinkLine.prepare`` reads such lines of a block as the
common one-line form the fast path reads (``STAMP [column ]IP a.p > b.q: ...``) they are once
their link header, ``-v`` fields and checksum are cut out: one pattern (``_linked``) gives the
common fields of every line with what the cutting takes out (link header, frame length, the
``-v`` fields), which is kept by line; the records the fast path builds get it back
(``LinkLine.records``), and so do a table's columns (``link_columns``). A block with
characters the paste repairs would touch, or an IPv6 link, is rewritten line by line
(``_careful``). A line whose prefix or header is not of the usual form is left as it is; a
rewritten line the fast path does not take goes to the general path as its original lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from itertools import compress, repeat
from operator import itemgetter
from typing import Any, NamedTuple

import numpy as np

from nettrail.capture.text_block import numbers_of
from nettrail.capture.text_fast import (
    _NAME,
    _WORD,
    DIRECTION,
    LINE_AFTER_FLAGS,
    LINE_START,
    FastLine,
)
from nettrail.capture.text_fields import ETH_LEN, OtherProtocol, TextError
from nettrail.capture.text_parse import parse_frame
from nettrail.model.arrays import Arr
from nettrail.model.packet import (
    PROTO_UDP,
    EthHeader,
    Headers,
    IPHeader,
    PacketRecord,
    TCPOptions,
    UDPHeader,
)
from nettrail.model.table import K_DF, K_IPID, K_MF, K_TTL

_MAC = rb":".join([rb"[0-9a-fA-F]{1,2}"] * 6)
_LOOSE_MAC = rb"[0-9a-fA-F:]{1,17}"
"""What the fast pattern takes for a MAC: ``_link`` reads the MACs of each new link header."""
_ETYPE = rb"ethertype (?:IPv4 \(0x0800\)|IPv6 \(0x86dd\)), length "
_PRE = re.compile(
    rb"((?:\d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\d{10})\.\d{6} "
    rb"(?:[^\s>]+" + DIRECTION + rb" +|))"  # 1: stamp and -i any column, kept
    rb"(?:(" + _MAC + rb" > " + _MAC + rb", (?:ethertype 802\.1Q[^(,\n]* \(0x[0-9a-f]{4}\), "
    rb"length |" + _ETYPE + rb"))(\d{1,5}): "  # 2: Ethernet header, 3: frame length
    rb"((?:vlan \d+, p \d+, (?:DEI, |)ethertype [^,\n]*, )*)"  # 4: VLAN tags
    rb"|(?:(?<=[A-Za-z ] )ifindex \d+ |)"
    rb"(" + _MAC + rb" " + _ETYPE + rb")(\d{1,5}): "  # 5, 6: cooked
    rb"|(IP6? ))"  # 7: no link header
    rb"(?:\(tos 0x([0-9a-f]+)(?:,ECT\([01]\)|,CE|), ttl (\d{1,3}), id (\d{1,5}), "
    rb"offset (\d{1,5}), flags \[([^\]\n]*)\], proto (TCP \(6\)|UDP \(17\)), length (\d{1,5})"
    rb"(?:, bad cksum [0-9a-f]+ \(->[0-9a-f]+\)!|)\)\n    |)"  # 8-14: the -v header
    rb"([^\s>]+ > [^\s>]+: (Flags \[[^\]\n]*\]|))"  # 15: addresses and flags, 16: flags
    rb"(, cksum 0x[0-9a-f]+ \((?:correct|incorrect -> 0x[0-9a-f]+)\)|)"  # 17: checksum
    rb"([^\n<&`*=\r]*\n)"  # 18: the rest, nothing the paste repairs would touch
    rb"|([^\n]*\n)"  # 19: any other line
)
"""A line the rewriting may take (its parts) or any other line (19): the careful reading,
line by line, of a block with characters the paste repairs would touch or IPv6 links."""


def _linked(verbose: bool) -> re.Pattern[bytes]:
    """``_LINE`` that also takes an IPv4 ``-e`` line (or, when ``verbose``, a ``-v`` or ``-e
    -v`` one) as the common line it is once its link header, ``-v`` fields and TCP checksum
    are cut out (its addresses without ``IP `` before them), as ``_PRE`` reads it but for an
    ``-i any`` column with a ``:``, a checksum other than after the TCP flags of a ``-v`` line
    and an IPv6 link. Named: the link header up to ``length `` (its MACs as ``_LOOSE_MAC``
    takes them), frame length, VLAN tags; the ``-v`` fields (the tos, TTL, ID, offset, IP
    flags, protocol and length in the groups after) and the checksum. Repeats are possessive
    where nothing after them could take what they give back, as in ``_LINE``; the ethertype
    name and the destination give back what follows them, and stay greedy."""
    v_line = rb"|IP (?=\(tos )" if verbose else b""
    v_fields = (
        rb"(?:(?P<v>\(tos 0x([0-9a-f]++)(?:,ECT\([01]\)|,CE|), ttl (\d{1,3}+), id (\d{1,5}+), "
        rb"offset (\d{1,5}+), flags \[([^\]\n]*+)\], proto (TCP \(6\)|UDP \(17\)), "
        rb"length (\d{1,5}+)(?:, bad cksum [0-9a-f]++ \(->[0-9a-f]++\)!|)\)\n    )|)"
        if verbose else b"")
    cksum = (rb"(?(m)(?P<cksum>, cksum 0x[0-9a-f]++ \((?:correct|incorrect -> 0x[0-9a-f]++)\)|))"
             if verbose else b"")
    return re.compile(
        LINE_START + rb"(?:(?=IP)|(?=[0-9a-fA-F]{1,2}:)|(?![!-~]*:[!-~]*" + DIRECTION
        + rb" +(?:ifindex |[0-9a-fA-F]{1,2}:|IP \(tos ))(" + _NAME + DIRECTION + rb") +)"
        rb"(?:(?:(?P<link>(?:(?<=[A-Za-z ] )ifindex \d++ |)" + _LOOSE_MAC + rb"+(?: > " + _LOOSE_MAC
        + rb"+,|) (?:ethertype 802\.1Q[^(,\n]* \(0x[0-9a-f]{4}\)|ethertype IPv4 \(0x0800\)), "
        rb"length )(?P<flen>\d{1,5}+): (?P<vlan>(?:vlan \d++, p \d++, (?:DEI, |)ethertype "
        rb"802\.1Q[^,\n]*, )*(?:vlan \d+, p \d+, (?:DEI, |)ethertype IPv4(?: \(0x0800\)|), |))"
        + v_line + rb")(?P<m>)" + v_fields + rb"|)(?P<addrs>(?(m)" + _NAME + rb"+ > " + _NAME
        + rb"|IP6?+ " + _WORD + rb"+ > " + _WORD + rb")): (?:Flags \[(?P<flags>[SFRPU.EWe]++)\]"
        + cksum + LINE_AFTER_FLAGS)


class _Cut(NamedTuple):
    """What takes each part out of a line as ``_linked`` cuts it: the common fields (a Row),
    any other line, the TCP flags, the link header, frame length and VLAN tags, the ``-v``
    fields (all, then each) and the checksum (the last two: of ``_LINKED_EV``)."""

    row: itemgetter[Any]
    other: itemgetter[Any]
    flags: itemgetter[Any]
    link: itemgetter[Any]
    flen: itemgetter[Any]
    vlan: itemgetter[Any]
    v: itemgetter[Any]
    v_each: tuple[itemgetter[Any], ...]
    cksum: itemgetter[Any]


def _cut(pattern: re.Pattern[bytes]) -> _Cut:
    at = {name: i - 1 for name, i in pattern.groupindex.items()}
    last, v = pattern.groups, at.get("v", 0)
    return _Cut(itemgetter(0, 1, 2, at["addrs"], at["flags"], *range(last - 9, last)),
                itemgetter(last - 1), itemgetter(at["flags"]), itemgetter(at["link"]),
                itemgetter(at["flen"]), itemgetter(at["vlan"]), itemgetter(v),
                tuple(itemgetter(v + k) for k in range(1, 8)), itemgetter(at.get("cksum", 0)))


_LINKED_E = _linked(False)
_LINKED_EV = _linked(True)
_CUT_E = _cut(_LINKED_E)
_CUT_EV = _cut(_LINKED_EV)
_REPAIRED = (b"<", b"&", b"`", b"*", b"=", b"\r")
"""What sends a block to the careful reading (so does an IPv6 link header, ``(0x86dd)``)."""
_KEYWORD = {4: b"IP ", 6: b"IP6 "}
_PROBE = {4: "192.0.2.1.1 > 192.0.2.2.2: UDP, length 0",
          6: "2001:db8::1.1 > 2001:db8::2.2: UDP, length 0"}
_FIELDS = 8
"""Per line kept: link (index into ``links``, -1 none), wire length (-1: as the fast path
says), TTL, tos, IP ID, IP length (-1 absent), fragment bits (offset, DF << 16, MF << 17), UDP
payload length from the IP length (-1: as the text says)."""
_DF, _MF = 1 << 16, 1 << 17
_LOOK = 1 << 14
"""A block is rewritten when its first _LOOK bytes have an ``-e`` or ``-v`` line (a cheap
look: a block that turns to them later is read as it is, by the general path)."""
_MACS = re.compile(rb"(?:(?:ifindex \d+ |)(" + _MAC + rb")(?: > (" + _MAC + rb"),|) |)(.*)\n")
"""The MACs at the start of each link key (a line each; none: not one), and the rest."""


def _form(two: bool, rest: bytes) -> tuple[EthHeader, bytes] | None:
    """How the general path reads a link header with placeholder MACs (``two``: source and
    destination) and ``rest`` (from the ethertype on, the VLAN tags after ``length ``): its
    header and the keyword of its IP version (None if it does not read as one)."""
    head, _, vlan = rest.partition(b"length ")
    macs = "00:00:00:00:00:01 > 00:00:00:00:00:02, " if two else "00:00:00:00:00:01 "
    text = macs + (head + b"length 0: " + vlan).decode()
    for version in (4, 6):
        try:
            headers = parse_frame(text + _PROBE[version], allow_vxlan=False)[0]
        except (TextError, OtherProtocol):
            continue
        if headers.ip is not None and headers.ip.version == version and headers.eth:
            return headers.eth, _KEYWORD[version]
    return None


_TOS = {b"%x" % i: i for i in range(256)} | {b"%02x" % i: i for i in range(256)}
_TCP6 = b"TCP (6)"


def _v_fields(cut: list[tuple[bytes, ...]], get: _Cut, has: Arr) -> Arr | None:
    """The ``-v`` fields of the lines ``has`` marks, by line: IP length, then what is kept of
    them (TTL, tos, IP ID, IP length or -1, fragment bits, UDP payload length or -1); None if
    one is out of range or its protocol is not the transport line's."""
    mask = has.tolist()
    tos_t, ttl_t, id_t, off_t, fl_t, proto_t, len_t = (
        list(compress(map(g, cut), mask)) for g in get.v_each)
    n = len(tos_t)
    ttl, ip_id, off, ip_len = map(numbers_of, (ttl_t, id_t, off_t, len_t))
    tos = np.fromiter(map(_TOS.get, tos_t, repeat(-1)), np.int64, n)
    tcp = np.fromiter(map(_TCP6.__eq__, proto_t), bool, n)
    flagged = np.fromiter(map(bool, compress(map(get.flags, cut), mask)), bool, n)
    if tos.min() < 0 or ttl.max() > 255 or ip_id.max() > 0xFFFF or (tcp != flagged).any():
        return None
    bits = {f: (_DF if b"DF" in f else 0) | (_MF if b"+" in f else 0) for f in set(fl_t)}
    out = np.empty((n, 7), np.int64)
    out[:, 0] = ip_len
    out[:, 1] = ttl
    out[:, 2] = tos
    out[:, 3] = ip_id
    out[:, 4] = np.where(ip_len > 0, ip_len, -1)
    out[:, 5] = off | np.fromiter(map(bits.__getitem__, fl_t), np.int64, n)
    out[:, 6] = np.where(~tcp & (ip_len >= 28), ip_len - 28, -1)
    return out


class Prepared(NamedTuple):
    """A block with its ``-e``/``-v`` lines rewritten: its rows (``FastLine.scan``), the line
    (0-based in the block) each row starts on (None: row i is line i), how many lines each
    rewritten row was, how many lines the block has, and how many bytes once rewritten."""

    rows: list[tuple[bytes, ...]]
    at: list[int] | None
    orig: dict[int, int]
    lines: int
    size: int


class LinkLine(FastLine):
    """FastLine that also reads ``-e`` and ``-v`` lines (``prepare``), with what their link
    and IP headers say kept by line."""

    def __init__(self, *args: Any) -> None:
        super().__init__(*args)
        self.links: list[EthHeader | None] = []
        """The link header of each link (None until a record asks for it, ``_eth``)."""
        self.link_macs: list[tuple[bytes, bytes | None, EthHeader]] = []
        """The MACs of each link as printed, and the header of its form."""
        self.link_ids: dict[bytes, tuple[int, bytes] | None] = {}
        self.v4_ids: dict[bytes, int] = {}
        self.link_forms: dict[tuple[bool, bytes], tuple[EthHeader, bytes] | None] = {}
        self.ex_lines = np.zeros(0, np.int64)
        self.ex_vals = np.zeros((0, _FIELDS), np.int32)
        self.ex_n = 0
        self._split: tuple[bytes, list[bytes]] = (b"", [])

    def prepare(self, block: bytes, first: int) -> Prepared | None:
        """The rows of ``block`` (whole lines, the first one after line ``first``) with its
        ``-e`` and ``-v`` lines rewritten; None when it has none."""
        head = block[:_LOOK]
        if b"ethertype " not in head and b"(tos " not in head:
            return None
        if not any(c in block for c in _REPAIRED):
            quick = self._quick(block, first)
            if quick is not None:
                return quick
        return self._careful(block, first)

    def _link_ids(self, keys: list[bytes]) -> Arr | None:
        """The link of each key (None if one is not an IPv4 link header)."""
        v4 = self.v4_ids
        got = np.fromiter(map(v4.get, keys, repeat(-1)), np.int64, len(keys))
        if got.min() < 0:  # new keys: read once each, then looked up
            miss = np.flatnonzero(got < 0).tolist()
            new = dict.fromkeys(map(keys.__getitem__, miss))
            self._links([key for key in new if key not in self.link_ids])
            got[miss] = [v4.get(keys[i], -1) for i in miss]
            if got.min() < 0:
                return None
        return got

    def _quick(self, block: bytes, first: int) -> Prepared | None:
        """``prepare`` with one pattern over the whole block that gives the common fields of
        its ``-e`` and ``-v`` lines as they are (None: a line needs the careful reading)."""
        verbose = b"(tos " in block[:_LOOK]
        while True:
            cut = (_LINKED_EV if verbose else _LINKED_E).findall(block)
            get = _CUT_EV if verbose else _CUT_E
            links = list(map(get.link, cut))
            every = b"" not in links  # then no other line
            others = b"" if every else b"".join(map(get.other, cut))
            if b"(0x86dd)" in others:  # an IPv6 link
                return None
            if verbose or b"(tos " not in others:
                break
            verbose = True  # -v lines after the first ones
        n = len(cut)
        rows = list(map(get.row, cut))
        has_link = np.ones(n, bool) if every else np.fromiter(map(len, links), np.int64, n) > 0
        has_v = np.fromiter(map(len, map(get.v, cut)), np.int64, n) > 0 if verbose else None
        sel = np.flatnonzero(has_link if has_v is None else has_link | has_v)
        if not len(sel):
            return None
        vals = np.full((len(sel), _FIELDS), -1, np.int64)
        vals[:, 6] = 0
        cut_out = 0  # the bytes the rewriting into the common form would have cut
        if has_link.any():
            flens: Iterable[bytes] = map(get.flen, cut)
            vlans: Iterable[bytes] = map(get.vlan, cut)
            if not every:
                linked = has_link.tolist()
                links = list(compress(links, linked))
                flens, vlans = compress(flens, linked), compress(vlans, linked)
            flen = list(flens)
            tags = list(vlans)
            keys = list(map(bytes.__add__, links, tags)) if b"".join(tags) else links
            ids = self._link_ids(keys)
            if ids is None:
                return None
            at = np.flatnonzero(has_link[sel])
            vals[at, 0] = ids
            vals[at, 1] = numbers_of(flen)
            # each key and length and its ": " go, "IP " comes
            cut_out = len(b"".join(keys)) + len(b"".join(flen)) - len(keys)
        sizes = None
        if has_v is not None and has_v.any():
            fields = _v_fields(cut, get, has_v)
            if fields is None:
                return None
            at = np.flatnonzero(has_v[sel])
            vals[at, 2:] = fields[:, 1:]
            w = vals[at, 1]
            vals[at, 1] = np.where((w < 0) & (fields[:, 0] > 0), ETH_LEN + fields[:, 0], w)
            cut_out += len(b"".join(map(get.v, cut))) + len(b"".join(map(get.cksum, cut)))
            sizes = has_v.astype(np.int64) + 1
        if sizes is None:
            self._store(first + 1 + sel, vals)
            return Prepared(rows, None, dict.fromkeys(sel.tolist(), 1), n,
                            len(block) - cut_out)
        line = np.zeros(n, np.int64)
        np.cumsum(sizes[:-1], out=line[1:])
        self._store(first + 1 + line[sel], vals)
        orig = dict(zip(sel.tolist(), sizes[sel].tolist(), strict=True))
        return Prepared(rows, line.tolist(), orig, int(line[-1] + sizes[-1]),
                        len(block) - cut_out)

    def _careful(self, block: bytes, first: int) -> Prepared | None:
        """``prepare`` line by line: a line whose rest the paste repairs would touch, or
        whose link header or ``-v`` fields do not read as expected, is left as it is."""
        parts: list[bytes] = []
        at: list[int] = []
        orig: dict[int, int] = {}
        lines: list[int] = []
        vals: list[tuple[int, ...]] = []
        line = 0
        add, add_at = parts.append, at.append
        links = self.link_ids
        for (head, eth, flen, vlan, cooked, flen2, keyword, tos, ttl, ip_id, off, fl, proto,
             length, addrs, flags, cksum, rest, other) in _PRE.findall(block):
            if other:
                add(other)
                add_at(line)
                line += 1
                continue
            key = eth + vlan or cooked
            if key:
                got = links.get(key)
                if got is None and key not in links:
                    self._links([key])
                    got = links[key]
                if got is None or (tos and got[1] != b"IP "):
                    n = 2 if tos else 1
                    self._keep(block, parts, at, line, n)
                    line += n
                    continue
                link, keyword = got
                wire = int(flen or flen2)
            elif not tos:  # the common form already
                add(head + keyword + addrs + cksum + rest)
                add_at(line)
                line += 1
                continue
            else:
                link, wire = -1, -1
            if tos and (int(ttl) > 255 or int(ip_id) > 0xFFFF or len(tos) > 2
                        or (proto == b"TCP (6)") != bool(flags)):
                self._keep(block, parts, at, line, 2)
                line += 2
                continue
            row = len(at)
            add(head + keyword + addrs + rest)
            add_at(line)
            if tos:
                ip_len = int(length)
                if wire < 0 and ip_len:
                    wire = ETH_LEN + ip_len
                frag = int(off) | (_DF if b"DF" in fl else 0) | (_MF if b"+" in fl else 0)
                udp = ip_len - 28 if not flags and ip_len >= 28 else -1
                vals.append((link, wire, int(ttl), int(tos, 16), int(ip_id), ip_len or -1,
                             frag, udp))
                orig[row] = 2
                lines.append(first + line + 1)
                line += 2
            else:
                vals.append((link, wire, -1, -1, -1, -1, 0, -1))
                orig[row] = 1
                lines.append(first + line + 1)
                line += 1
        if not lines:
            return None
        self._store(lines, np.array(vals, np.int64).reshape(-1, _FIELDS))
        text = b"".join(parts)
        return Prepared(self.scan(text), at, orig, line, len(text))

    def _keep(self, block: bytes, parts: list[bytes], at: list[int], line: int, n: int) -> None:
        """Lines ``line`` to ``line + n`` of ``block`` as they are."""
        for i, text in enumerate(self._original(block, line, n)):
            parts.append(text.encode() + b"\n")
            at.append(line + i)

    def _original(self, block: bytes, line: int, n: int) -> list[str]:
        """Lines ``line`` to ``line + n`` of ``block`` (no line ends)."""
        if self._split[0] is not block:
            self._split = (block, block.split(b"\n"))
        return [t.decode() for t in self._split[1][line : line + n]]

    def _links(self, keys: list[bytes]) -> None:
        """Read new keys (each a link header up to ``length ``, then the VLAN tags) into
        ``link_ids``: the link of each, with the keyword of its IP version (None if it does
        not read as one), the MACs as they are printed, the rest as the general path reads it
        (once per form); those of an IPv4 link into ``v4_ids`` too."""
        if not keys:
            return
        src, dst, rest = zip(*_MACS.findall(b"\n".join(keys) + b"\n"), strict=True)
        forms = list(zip(map(bool, dst), rest, strict=True))
        for form in set(compress(forms, src)).difference(self.link_forms):
            self.link_forms[form] = _form(*form)
        got = [self.link_forms[f] if s else None for f, s in zip(forms, src, strict=True)]
        if len(set(map(id, got))) == 1:  # one form (or none a link)
            self._links_of(keys, src, dst, got[0])
            return
        for k in range(len(keys)):
            self._links_of([keys[k]], src[k : k + 1], dst[k : k + 1], got[k])

    def _links_of(self, keys: list[bytes], src: tuple[bytes, ...], dst: tuple[bytes, ...],
                  form: tuple[EthHeader, bytes] | None) -> None:
        """Keys of the one ``form`` read into the links (MACs ``src``, ``dst``, empty if
        none); not links if it is None."""
        if form is None:
            self.link_ids.update(zip(keys, repeat(None), strict=False))
            return
        start = len(self.links)
        self.links.extend(repeat(None, len(keys)))
        self.link_macs.extend(zip(src, [d or None for d in dst], repeat(form[0]), strict=False))
        numbers = range(start, start + len(keys))
        self.link_ids.update(zip(keys, zip(numbers, repeat(form[1])), strict=True))
        if form[1] == b"IP ":
            self.v4_ids.update(zip(keys, numbers, strict=True))

    def _eth(self, link: int) -> EthHeader:
        """The link header of a link (made once)."""
        src, dst, form = self.link_macs[link]
        eth = self.links[link] = EthHeader(src.decode().lower(),
                                           dst.decode().lower() if dst else None,
                                           form.vlans, form.ethertype)
        return eth

    def _store(self, lines: list[int] | Arr, vals: Arr) -> None:
        n, add = self.ex_n, len(lines)
        if n + add > len(self.ex_lines):
            size = max(2 * len(self.ex_lines), n + add, 1024)
            grown_l = np.zeros(size, np.int64)
            grown_v = np.zeros((size, _FIELDS), np.int32)
            grown_l[:n], grown_v[:n] = self.ex_lines[:n], self.ex_vals[:n]
            self.ex_lines, self.ex_vals = grown_l, grown_v
        self.ex_lines[n : n + add] = lines
        self.ex_vals[n : n + add] = vals
        self.ex_n = n + add

    def renumber(self, since: int, first: int, at: list[int]) -> None:
        """The kept fields stored since entry ``since``, of lines of a block of lines chosen
        from the file's (after line ``first``; its line k is the file's ``first + at[k] +
        1``), under the file's line numbers."""
        if self.ex_n > since:
            lines = self.ex_lines[since : self.ex_n]
            lines[:] = np.asarray(at, np.int64)[lines - first - 1] + first + 1

    def kept(self, frames: Arr) -> tuple[Arr, Arr]:
        """Which of ``frames`` (line numbers) have kept fields, and those fields."""
        lines = self.ex_lines[: self.ex_n]
        if not len(lines) or not len(frames):
            return np.zeros(len(frames), bool), np.zeros((0, _FIELDS), np.int64)
        idx = np.minimum(np.searchsorted(lines, frames), len(lines) - 1)
        hit = lines[idx] == frames
        return hit, self.ex_vals[idx[hit]]

    def records(self, rows: Iterable[tuple[int, ...]], opts: dict[int, TCPOptions], start: int,
                time_ok: bool = True) -> list[PacketRecord]:
        out = super().records(rows, opts, start, time_ok)
        if not self.ex_n or not out:
            return out
        hit, vals = self.kept(np.fromiter((r[3] for r in out), np.int64, len(out)))
        if not len(vals):
            return out
        links = self.links
        for i, v in zip(np.flatnonzero(hit).tolist(), vals.tolist(), strict=True):
            rec = out[i]
            link, wire, ttl, tos, ip_id, ip_len, frag, udp = v
            headers = rec.headers
            ip, l4 = headers.ip, headers.l4
            if ttl >= 0 and ip is not None:
                ip = IPHeader(ip.version, ip.src, ip.dst, ip.proto, ttl, ip_id,
                              ip_len if ip_len >= 0 else None, bool(frag & _DF),
                              frag & 0xFFFF, bool(frag & _MF), tos)
            if udp >= 0 and isinstance(l4, UDPHeader):
                l4 = UDPHeader(l4.sport, l4.dport, udp)
            eth = (links[link] or self._eth(link)) if link >= 0 else None
            out[i] = rec._replace(wire_len=wire if wire >= 0 else rec.wire_len,
                                  headers=Headers(eth, ip, l4, headers.arp,
                                                  headers.payload_hash))
        return out


def link_columns(fast: FastLine, cols: dict[str, Arr], good: Arr) -> None:
    """The kept fields of the ``good`` rows of a batch's columns (filled from the fast
    path's fields) as ``fill_row`` would set them from the records."""
    if not isinstance(fast, LinkLine) or not fast.ex_n:
        return
    rows = np.flatnonzero(good)
    hit, vals = fast.kept(cols["frame"][rows].astype(np.int64))
    if not len(vals):
        return
    r = rows[hit]
    _link, wire, ttl, tos, ip_id, ip_len, frag, udp = vals.T
    w = wire >= 0
    cols["wire_len"][r[w]] = wire[w]
    v = ttl >= 0
    rv = r[v]
    cols["ttl"][rv] = ttl[v]
    cols["tos"][rv] = tos[v]
    cols["ip_id"][rv] = ip_id[v]
    cols["ip_len"][rv] = np.maximum(ip_len[v], 0)
    known = K_TTL | K_IPID | np.where(frag[v] & _DF, K_DF, 0) | np.where(frag[v] & _MF, K_MF, 0)
    cols["known"][rv] |= known.astype(np.uint16)
    u = (udp >= 0) & (cols["proto"][r] == PROTO_UDP)
    cols["payload_len"][r[u]] = udp[u]
