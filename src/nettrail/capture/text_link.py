"""``-e`` and ``-v`` tcpdump lines brought to the common form, a block at a time.

tcpdump ``-e`` prints the link header before the IP part (``02:00:00:00:00:50 >
02:00:00:01:00:01, ethertype IPv4 (0x0800), length 74: 198.18.0.80.45700 > ...``, VLAN tags
after the length, ``eth0  In  ifindex 4 02:00:00:00:00:50 ethertype IPv4 (0x0800), length
80: ...`` for ``-i any``); ``-v`` prints the IPv4 header in parentheses and the transport on an
indented second line, with the TCP checksum (``IP (tos 0x0, ttl 64, id 19921, offset 0, flags
[DF], proto TCP (6), length 60)`` / ``    198.18.0.80.45700 > ...: Flags [S], cksum 0x0000
(incorrect -> 0x4d42), seq ...``). ``LinkLine.prepare`` rewrites such lines of a block as the
common one-line form the fast path reads (``STAMP [column ]IP a.p > b.q: ...``) and keeps what
the rewriting took out (link header, frame length, the ``-v`` fields) by line; the records the
fast path builds get them back (``LinkLine.records``), and so do a table's columns
(``link_columns``). A line whose prefix or header is not of the usual form is left as it is;
a rewritten line the fast path does not take goes to the general path as its original lines.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import partial
from itertools import chain, compress, repeat
from operator import is_
from typing import Any, NamedTuple

import numpy as np
import numpy.typing as npt

from nettrail.capture.text_fast import FastLine
from nettrail.capture.text_fields import ETH_LEN, OtherProtocol, TextError
from nettrail.capture.text_parse import parse_frame
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

Arr = npt.NDArray[Any]
_MAC = rb"[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2}){5}"
_ETYPE = rb"ethertype (?:IPv4 \(0x0800\)|IPv6 \(0x86dd\)), length "
_PRE = re.compile(
    rb"((?:\d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\d{10})\.\d{6} "
    rb"(?:[^\s>]+ +(?:In|Out|M|B|P) +|))"  # 1: stamp and -i any column, kept
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


def _quick(verbose: bool) -> re.Pattern[bytes]:
    """Every line (a ``-v`` pair as one) as the quick reading cuts it: an IPv4 ``-e`` line
    (or, when ``verbose``, a ``-v`` or ``-e -v`` one) in parts (the stamp and ``-i any``
    column; link header, frame length and VLAN tags; with ``verbose`` the ``-v`` fields:
    tos, TTL, ID, offset, IP flags, protocol, length; addresses and TCP flags up to the
    checksum, which goes; TCP flags alone), then the rest of the line (any other line: only
    the rest)."""
    v_fields = (
        rb"(?:\(tos 0x([0-9a-f]+)(?:,ECT\([01]\)|,CE|), ttl (\d{1,3}), id (\d{1,5}), "
        rb"offset (\d{1,5}), flags \[([^\]\n]*)\], proto (TCP \(6\)|UDP \(17\)), "
        rb"length (\d{1,5})(?:, bad cksum [0-9a-f]+ \(->[0-9a-f]+\)!|)\)\n    |)"
    )
    return re.compile(
        rb"(?:((?:\d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\d{10})\.\d{6} "
        rb"(?:[^\s>:]+ +(?:In|Out|M|B|P) +|))"
        rb"(?:((?:(?<=[A-Za-z ] )ifindex \d+ |)" + _MAC + rb"(?: > " + _MAC + rb",|) "
        rb"(?:ethertype 802\.1Q[^(,\n]* \(0x[0-9a-f]{4}\)|ethertype IPv4 \(0x0800\)), length )"
        rb"(\d{1,5}): "
        rb"((?:vlan \d+, p \d+, (?:DEI, |)ethertype 802\.1Q[^,\n]*, )*"
        rb"(?:vlan \d+, p \d+, (?:DEI, |)ethertype IPv4(?: \(0x0800\)|), |))"
        + (rb"|IP (?=\(tos ))" + v_fields if verbose else rb")")
        + rb"([^\s>]+ > [^\s>]+: (?:(Flags) \[[^\]\n]*\]|))"
        rb"(?:, cksum 0x[0-9a-f]+ \((?:correct|incorrect -> 0x[0-9a-f]+)\)|)"
        rb"|)([^\n]*\n)"
    )


_QUICK_E = _quick(False)
_QUICK_EV = _quick(True)
_IS_NONE = partial(is_, None)
_EVERY_E = re.compile(
    rb"\n((?:\d\d:\d\d:\d\d|\d{4}-\d\d-\d\d \d\d:\d\d:\d\d|\d{10})\.\d{6} "
    rb"(?:[^\s>:]+ +(?:In  |Out |M   |B   |P   )|))"
    rb"((?:(?<=[A-Za-z ] )ifindex \d+ |)" + _MAC + rb"(?: > " + _MAC + rb",|) "
    rb"(?:ethertype 802\.1Q[^(,\n]* \(0x[0-9a-f]{4}\)|ethertype IPv4 \(0x0800\)), length )"
    rb"(\d{1,5}): "
    rb"((?:vlan \d+, p \d+, (?:DEI, |)ethertype 802\.1Q[^,\n]*, )*"
    rb"(?:vlan \d+, p \d+, (?:DEI, |)ethertype IPv4(?: \(0x0800\)|), |))"
    rb"([^\n]*)"
)
"""An IPv4 ``-e`` line after a line end, as ``_QUICK_E`` cuts it (stamp and column; link
header, frame length, VLAN tags; the rest): one search over a block whose every line is one."""
_REPAIRED = (b"<", b"&", b"`", b"*", b"=", b"\r", b"(0x86dd)")
"""What sends a block to the careful reading."""
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
_MACS = re.compile(rb"(?:ifindex \d+ |)(" + _MAC + rb")(?: > (" + _MAC + rb"),|) ")
"""The MACs at the start of a link key."""


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
            quick = self._every(block, first) if b"(tos " not in block else None
            if quick is None:
                quick = self._quick(block, first)
            if quick is not None:
                return quick
        return self._careful(block, first)

    def _every(self, block: bytes, first: int) -> Prepared | None:
        """``prepare`` of a block whose every line is an IPv4 ``-e`` line (else None)."""
        cut = _EVERY_E.findall(b"\n" + block)
        n = len(cut)
        if not n or n != block.count(b"\n"):
            return None
        head, link, flen, vlan, rest = zip(*cut, strict=True)
        keys = list(map(bytes.__add__, link, vlan))
        ids = self._link_ids(keys)
        if ids is None:
            return None
        vals = np.full((n, _FIELDS), -1, np.int64)
        vals[:, 6] = 0
        vals[:, 0] = ids
        vals[:, 1] = list(map(int, flen))
        text = b"".join(chain.from_iterable(zip(head, repeat(b"IP "), rest, repeat(b"\n"))))
        self._store(np.arange(first + 1, first + n + 1, dtype=np.int64), vals)
        return Prepared(self.scan(text), None, dict.fromkeys(range(n), 1), n, len(text))

    def _link_ids(self, keys: list[bytes]) -> list[int] | None:
        """The link of each key (None if one is not an IPv4 link header)."""
        got = list(map(self.v4_ids.get, keys))
        if None in got:  # new keys: read once each, then looked up again
            for key in dict.fromkeys(compress(keys, map(_IS_NONE, got))):
                if key not in self.link_ids:
                    self._link(key)
            got = list(map(self.v4_ids.get, keys))
            if None in got:
                return None
        return got  # type: ignore[return-value]  # no None left

    def _quick(self, block: bytes, first: int) -> Prepared | None:
        """``prepare`` with one pattern over the whole block (None: a line needs the careful
        reading)."""
        verbose = b"(tos " in block
        cut = (_QUICK_EV if verbose else _QUICK_E).findall(block)
        if verbose:
            (head, link, flen, vlan, tos, ttl, ip_id, off, fl, proto, length, addrs, flags,
             rest) = zip(*cut, strict=True)
        else:
            head, link, flen, vlan, addrs, flags, rest = zip(*cut, strict=True)
            tos = ()
        sel = [i for i, h in enumerate(head) if h]
        if not sel:
            return None
        n = len(sel)
        vals = np.full((n, _FIELDS), -1, np.int64)
        vals[:, 6] = 0
        linked = [k for k, i in enumerate(sel) if link[i]]
        if linked:
            ids = self._link_ids([link[sel[k]] + vlan[sel[k]] for k in linked])
            if ids is None:
                return None
            at = np.fromiter(linked, np.int64, len(linked))
            vals[at, 0] = np.fromiter(ids, np.int64, len(ids))
            vals[at, 1] = np.fromiter(map(int, (flen[sel[k]] for k in linked)), np.int64,
                                      len(linked))
        v = [k for k, i in enumerate(sel) if tos[i]] if verbose else []
        if v:
            vi = [sel[k] for k in v]
            ttls = np.array(list(map(int, (ttl[i] for i in vi))), np.int64)
            ip_ids = np.array(list(map(int, (ip_id[i] for i in vi))), np.int64)
            tcp = np.array([proto[i] == b"TCP (6)" for i in vi])
            has_flags = np.array([bool(flags[i]) for i in vi])
            if (ttls.max() > 255 or ip_ids.max() > 0xFFFF or any(len(tos[i]) > 2 for i in vi)
                    or (tcp != has_flags).any()):
                return None
            ip_len = np.array(list(map(int, (length[i] for i in vi))), np.int64)
            frag = np.array(list(map(int, (off[i] for i in vi))), np.int64)
            frag |= np.array([(_DF if b"DF" in fl[i] else 0) | (_MF if b"+" in fl[i] else 0)
                              for i in vi], np.int64)
            vals[v, 2] = ttls
            vals[v, 3] = [int(tos[i], 16) for i in vi]
            vals[v, 4] = ip_ids
            vals[v, 5] = np.where(ip_len > 0, ip_len, -1)
            vals[v, 6] = frag
            vals[v, 7] = np.where(~tcp & (ip_len >= 28), ip_len - 28, -1)
            w = vals[v, 1]
            vals[v, 1] = np.where((w < 0) & (ip_len > 0), ETH_LEN + ip_len, w)
        text = b"".join([h + b"IP " + a + r if h else r
                         for h, a, r in zip(head, addrs, rest, strict=True)])
        rows = self.scan(text)
        if len(rows) != len(cut):  # pragma: no cover - one row per line or -v pair
            return None
        if v:
            size = np.ones(len(cut), np.int64)
            size[[sel[k] for k in v]] = 2
            at = np.zeros(len(cut), np.int64)
            np.cumsum(size[:-1], out=at[1:])
            self._store((first + 1 + at[sel]).tolist(), vals)
            orig = dict(zip(sel, size[sel].tolist(), strict=True))
            return Prepared(rows, at.tolist(), orig, int(at[-1] + size[-1]), len(text))
        self._store([first + 1 + i for i in sel], vals)
        return Prepared(rows, None, dict.fromkeys(sel, 1), len(rows), len(text))

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
                    got = self._link(key)
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

    def _link(self, key: bytes) -> tuple[int, bytes] | None:
        """The link header of a new key (the header up to ``length ``, then the VLAN tags),
        with the keyword of its IP version (None if it does not read as one): the MACs as
        they are printed, the rest as the general path reads it (once per form)."""
        m = _MACS.match(key)
        found: tuple[int, bytes] | None = None
        if m is not None:
            src, dst = m.group(1), m.group(2)
            form = (dst is not None, key[m.end() :])
            got = self.link_forms.get(form)
            if got is None and form not in self.link_forms:
                got = self.link_forms[form] = _form(*form)
            if got is not None:
                eth, keyword = got
                self.links.append(EthHeader(src.decode().lower(),
                                            dst.decode().lower() if dst else None,
                                            eth.vlans, eth.ethertype))
                found = len(self.links) - 1, keyword
                if keyword == b"IP ":
                    self.v4_ids[key] = found[0]
        self.link_ids[key] = found
        return found

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
            eth = links[link] if link >= 0 else None
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
