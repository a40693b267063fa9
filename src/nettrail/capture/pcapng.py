"""pcapng files to PacketRecords: sections, interfaces, EPB/SPB/PB, options and comments.

Each section (SHB) sets the byte order and starts a new interface list. An interface (IDB)
gives the link type, its name (``if_name``), the timestamp resolution (``if_tsresol``, powers
of 10 or 2) and offset (``if_tsoffset``). Packets come from enhanced (EPB), simple (SPB, no
timestamp: the previous packet's time is used, with one warning) and obsolete (PB) blocks; an
EPB's comment goes to ``PacketRecord.comment`` and its ``epb_flags`` direction to
``direction``. Name resolution, statistics and decryption-secrets blocks are read past;
blocks of unknown type are skipped and counted in ``stats.skipped["unknown-block"]``.
``stats.interfaces`` maps the running interface number (over all sections) to ``if_name``.
An interface of a link type nettrail cannot read is named in one warning; its packets are
records without headers, counted in ``stats.skipped["unsupported-link-type:N"]``, and a file
with no packet on any other interface ends with the CaptureError ``unsupported link type N``.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator, Mapping
from typing import NamedTuple

from nettrail.capture import decode, linktypes
from nettrail.capture.base import CaptureStats, refill
from nettrail.capture.pcap import MAX_CAPLEN
from nettrail.errors import CaptureError
from nettrail.model.packet import Headers, PacketRecord

SHB = 0x0A0D0D0A
IDB = 0x00000001
PB = 0x00000002
SPB = 0x00000003
NRB = 0x00000004
ISB = 0x00000005
EPB = 0x00000006
DSB = 0x0000000A
KNOWN_UNUSED = frozenset({NRB, DSB})
ISB_DROPS = (5, 7)
"""``isb_ifdrop`` and ``isb_osdrop``: packets the interface, and the OS, dropped."""
BOM = 0x1A2B3C4D
MAX_BLOCK = 4 << 20
TS_MIN, TS_MAX = -(1 << 63), (1 << 63) - 1
"""The times (ns) a packet table holds: a timestamp outside them is a fault."""

OPT_COMMENT = 1
IF_NAME = 2
IF_TSRESOL = 9
IF_TSOFFSET = 14
EPB_FLAGS = 2
_FLAG_DIRECTION = {1: "in", 2: "out"}


class Interface(NamedTuple):
    """One IDB: link type, name, snap length and how to turn its timestamps into ns."""

    linktype: int
    name: str | None
    snaplen: int
    mul: int
    div: int
    shift: int
    offset_ns: int

    def ts_ns(self, ts: int) -> int:
        """Nanoseconds since the epoch of a raw timestamp in this interface's units."""
        return ((ts * self.mul // self.div) >> self.shift) + self.offset_ns


def max_ticks(mul: int, div: int, shift: int, offset_ns: int) -> int:
    """The largest raw timestamp t with ``TS_MIN <= ((t*mul)//div >> shift) + offset_ns <=
    TS_MAX`` (the time of t = 0 is the offset, and it grows with t); -1 when there is none."""
    room = TS_MAX - offset_ns
    if room < 0 or offset_ns < TS_MIN:
        return -1
    return (((room + 1) << shift) * div - 1) // mul


class _Section:
    """What the current section has told so far."""

    def __init__(self, order: str) -> None:
        self.order = order
        self.u32 = struct.Struct(order + "I").unpack_from
        self.head = struct.Struct(order + "II").unpack_from
        self.epb = struct.Struct(order + "5I").unpack_from
        self.interfaces: list[Interface] = []
        self.hi_below: list[int] = []
        """By interface: a raw time whose high 32 bits are below it is in range (the fast
        paths take it; the reader checks the others one by one)."""


def read_pcapng(
    path: str, point: str, stats: CaptureStats, ifnames: Mapping[int, str] | None = None
) -> Iterator[PacketRecord]:
    """Stream the records of pcapng file ``path`` as capture point ``point``, faults and
    ``ifnames`` as in :func:`~nettrail.capture.pcap.read_pcap`."""
    stats.format = "pcapng"
    return _Reader(path, point, stats, ifnames or {}).records()


def parse_options(body: bytes, off: int, order: str) -> tuple[list[tuple[int, bytes]], bool]:
    """(code, value) options from ``off`` to the end of a block body; False when malformed."""
    head = struct.Struct(order + "HH")
    options: list[tuple[int, bytes]] = []
    end = len(body)
    while off + 4 <= end:
        code, size = head.unpack_from(body, off)
        if code == 0:
            return options, True
        if off + 4 + size > end:
            return options, False
        options.append((code, body[off + 4 : off + 4 + size]))
        off += 4 + ((size + 3) & ~3)
    return options, off == end


def _text(value: bytes) -> str:
    return value.rstrip(b"\x00").decode("utf-8", errors="replace")


def ts_units(resol: int) -> tuple[int, int, int]:
    """(mul, div, shift) turning raw units of ``if_tsresol`` into ns: ((t*mul)//div)>>shift."""
    exp = resol & 0x7F
    if resol & 0x80:
        return 1_000_000_000, 1, exp
    if exp <= 9:
        return 10 ** (9 - exp), 1, 0
    return 1, 10 ** (exp - 9), 0


class _Reader:
    """One pass over one pcapng file."""

    def __init__(
        self, path: str, point: str, stats: CaptureStats, ifnames: Mapping[int, str]
    ) -> None:
        self.path = path
        self.point = point
        self.stats = stats
        self.ifnames = ifnames
        self.section: _Section | None = None
        self.frame = 0
        self.n_interfaces = 0
        self.last_ts = 0
        self.warned_spb = False
        self.unsupported: tuple[int, int] | None = None  # first (link type, offset) we cannot read
        self.unread = 0  # packets on interfaces of such link types
        self.isb_drops: dict[tuple[int, int], int] = {}  # (section, interface): its drops

    def error(self, message: str, offset: int) -> CaptureError:
        """A CaptureError at ``offset``, counting the records so far, stored in the stats."""
        err = CaptureError(message, path=self.path, offset=offset, records=self.frame)
        self.stats.error = err
        return err

    def records(self) -> Iterator[PacketRecord]:
        """Yield the records of every packet block in file order."""
        try:
            f = open(self.path, "rb")  # noqa: SIM115 - closed in the finally below
        except OSError as exc:
            raise self.error(f"cannot read: {exc.strerror or exc}", 0) from exc
        try:
            buf = b""
            base = pos = 0
            new = tuple.__new__
            fast = decode.fast_eth_ipv4_tcp
            point, path = self.point, self.path
            while (got := refill(f, buf, pos, base)) is not None:
                buf, base = got
                pos = 0
                end = len(buf)
                while pos + 12 <= end:
                    plain = self.plain_epb(buf, pos, end)
                    if plain is not None:  # fast path: a plain EPB of a plain TCP packet
                        _if_id, iface, size, raw_ts, caplen, wire_len = plain
                        data = buf[pos + 28 : pos + 28 + caplen]
                        headers = fast(data, wire_len) if iface.linktype == 1 else None
                        if headers is not None:
                            pos += size
                            self.frame += 1
                            ts = self.last_ts = iface.ts_ns(raw_ts)
                            yield new(PacketRecord, (
                                point, ts, path, self.frame, iface.name, None, wire_len,
                                headers, None, None, data, 1, None, None, True, None))
                            continue
                    block_size = self._block_size(buf, pos, base)
                    if block_size is None or pos + block_size > end:
                        break
                    rec = self._block(buf[pos + 8 : pos + block_size - 4], buf, pos, base)
                    pos += block_size
                    if rec is not None:
                        yield rec
            if base + pos == 0 and not buf:
                raise self.error("empty file", 0)
            if pos < len(buf):
                raise self.error(f"truncated block ({self._cut(buf, pos)})", base + pos)
            if self.unsupported is not None and self.unread == self.frame:
                linktype, at = self.unsupported
                raise self.error(linktypes.unsupported(linktype), at)
        except OSError as exc:
            raise self.error(f"cannot read: {exc.strerror or exc}", 0) from exc
        finally:
            f.close()
            self.stats.packets = self.frame

    def plain_epb(self, buf: bytes | memoryview, pos: int,
                  end: int) -> tuple[int, Interface, int, int, int, int] | None:
        """(interface number and description, block size, raw time, captured and wire
        length) of the enhanced packet
        block at ``pos`` when it is whole, has no options, names a known interface and its
        time is in range; else None (the general block reader handles it)."""
        section = self.section
        if section is None:
            return None
        btype, size = section.head(buf, pos)
        if btype != EPB or size < 32 or pos + size > end:
            return None
        if_id, ts_hi, ts_lo, caplen, wire_len = section.epb(buf, pos + 8)
        if (if_id < len(section.interfaces) and caplen <= MAX_CAPLEN
                and 32 + ((caplen + 3) & ~3) == size
                and section.u32(buf, pos + size - 4)[0] == size
                and ts_hi < section.hi_below[if_id]):
            iface = section.interfaces[if_id]
            return if_id, iface, size, ts_hi << 32 | ts_lo, caplen, wire_len
        return None

    def _cut(self, buf: bytes, pos: int) -> str:
        """``N of M bytes`` of the cut-off block at ``pos`` (``N bytes`` when M is unknown)."""
        left = len(buf) - pos
        if self.section is None or left < 8:
            return f"{left} of at least 12 bytes"
        return f"{left} of {self.section.u32(buf, pos + 4)[0]} bytes"

    def _block_size(self, buf: bytes, pos: int, base: int) -> int | None:
        """Total length of the block at ``pos`` once its head is in ``buf`` (validated)."""
        if pos + 12 > len(buf):
            return None
        section = self.section
        btype = struct.unpack_from("<I", buf, pos)[0]
        if btype == SHB:
            bom = struct.unpack_from("<I", buf, pos + 8)[0]
            if bom == BOM:
                section = _Section("<")
            elif bom == 0x4D3C2B1A:
                section = _Section(">")
            else:
                raise self.error(f"bad byte-order magic 0x{bom:08x}", base + pos + 8)
            self.section = section
        elif section is None:
            raise self.error(f"not a pcapng file (starts 0x{buf[pos:pos + 4].hex()})",
                             base + pos)
        assert section is not None
        size: int = section.u32(buf, pos + 4)[0]
        if size < 12 or size % 4:
            raise self.error(f"bad block length {size}", base + pos + 4)
        if size > MAX_BLOCK:
            raise self.error(f"absurd block length {size} (> {MAX_BLOCK})", base + pos + 4)
        if pos + size <= len(buf):
            trailer = section.u32(buf, pos + size - 4)[0]
            if trailer != size:
                raise self.error(f"block length {size} does not match its trailer {trailer}",
                                 base + pos + size - 4)
        return size

    def _block(self, body: bytes, buf: bytes, pos: int, base: int) -> PacketRecord | None:
        section = self.section
        assert section is not None
        btype = section.u32(buf, pos)[0]
        offset = base + pos
        try:
            if btype == EPB:
                return self._epb(body, section, offset)
            if btype == SPB:
                return self._spb(body, section, offset)
            if btype == PB:
                return self._pb(body, section, offset)
            if btype == IDB:
                self._idb(body, section, offset)
            elif btype == SHB:
                self._shb(body, section, offset)
            elif btype == ISB:
                self._isb(body, section)
            elif btype not in KNOWN_UNUSED:
                self.stats.skipped["unknown-block"] += 1
        except struct.error as exc:
            raise self.error(f"block of type 0x{btype:x} too short", offset) from exc
        return None

    def _isb(self, body: bytes, section: _Section) -> None:
        """An interface's statistics: its drop counts so far (the last block of each
        interface holds its totals) into ``stats.dropped``."""
        iface = section.u32(body, 0)[0]
        options, _ok = parse_options(body, 12, section.order)
        drops = sum(struct.unpack(section.order + "Q", value)[0] for code, value in options
                    if code in ISB_DROPS and len(value) == 8)
        self.isb_drops[(id(section), iface)] = drops
        self.stats.dropped = sum(self.isb_drops.values())

    def _shb(self, body: bytes, section: _Section, offset: int) -> None:
        major = struct.unpack_from(section.order + "H", body, 4)[0]
        if major != 1:
            raise self.error(f"unsupported pcapng version {major}", offset + 12)

    def _idb(self, body: bytes, section: _Section, offset: int) -> None:
        linktype, _res, snaplen = struct.unpack_from(section.order + "HHI", body, 0)
        if linktype not in decode.SUPPORTED_LINKTYPES:
            self.unsupported = self.unsupported or (linktype, offset + 8)
            self.stats.warnings.append(
                f"{self.path} at byte {offset + 8}: interface {self.n_interfaces}: "
                f"{linktypes.unsupported(linktype)}: its packets are not read")
        options, ok = parse_options(body, 8, section.order)
        if not ok:
            self.stats.skipped["malformed:options"] += 1
        name = None
        mul, div, shift = ts_units(6)
        offset_ns = 0
        for code, value in options:
            if code == IF_NAME:
                name = _text(value)
            elif code == IF_TSRESOL and value:
                mul, div, shift = ts_units(value[0])
            elif code == IF_TSOFFSET and len(value) == 8:
                offset_ns = struct.unpack(section.order + "q", value)[0] * 1_000_000_000
        section.interfaces.append(Interface(linktype, name, snaplen, mul, div, shift, offset_ns))
        section.hi_below.append(min((max_ticks(mul, div, shift, offset_ns) + 1) >> 32, 1 << 32))
        if name:
            self.stats.interfaces[self.n_interfaces] = name
        self.n_interfaces += 1

    def _interface(self, section: _Section, if_id: int, offset: int) -> Interface:
        if if_id >= len(section.interfaces):
            raise self.error(f"packet on undefined interface {if_id}", offset + 8)
        return section.interfaces[if_id]

    def _epb(self, body: bytes, section: _Section, offset: int) -> PacketRecord:
        if_id, ts_hi, ts_lo, caplen, wire_len = struct.unpack_from(section.order + "5I", body)
        return self._packet(body, section, offset, if_id, ts_hi << 32 | ts_lo, caplen, wire_len)

    def _pb(self, body: bytes, section: _Section, offset: int) -> PacketRecord:
        if_id, _drops, ts_hi, ts_lo, caplen, wire_len = struct.unpack_from(
            section.order + "HH4I", body)
        return self._packet(body, section, offset, if_id, ts_hi << 32 | ts_lo, caplen, wire_len)

    def _packet(self, body: bytes, section: _Section, offset: int, if_id: int, ts: int,
                caplen: int, wire_len: int) -> PacketRecord:
        """The record of an enhanced or obsolete packet block, its fixed fields read."""
        iface = self._interface(section, if_id, offset)
        data = self._data(body, 20, caplen, offset)
        options, ok = parse_options(body, 20 + ((caplen + 3) & ~3), section.order)
        ts_ns = iface.ts_ns(ts)
        if not TS_MIN <= ts_ns <= TS_MAX:
            raise self.error(f"timestamp out of range ({ts} in the units of interface {if_id})",
                             offset + 12)
        return self._record(iface, ts_ns, data, wire_len, options, ok, section.order)

    def _spb(self, body: bytes, section: _Section, offset: int) -> PacketRecord:
        iface = self._interface(section, 0, offset)
        wire_len = section.u32(body, 0)[0]
        caplen = min(wire_len, len(body) - 4)
        if iface.snaplen:
            caplen = min(caplen, iface.snaplen)
        if not self.warned_spb:
            self.warned_spb = True
            self.stats.warnings.append(
                f"{self.path} at byte {offset}: simple packet blocks carry no timestamp; "
                "using the time of the packet before")
        return self._record(iface, self.last_ts, self._data(body, 4, caplen, offset), wire_len,
                            [], True, section.order)

    def _data(self, body: bytes, start: int, caplen: int, offset: int) -> bytes:
        if caplen > MAX_CAPLEN:
            raise self.error(f"absurd packet length {caplen} (> {MAX_CAPLEN})", offset)
        if start + caplen > len(body):
            raise self.error(f"packet length {caplen} runs past its block", offset)
        return body[start : start + caplen]

    def _record(
        self,
        iface: Interface,
        ts: int,
        data: bytes,
        wire_len: int,
        options: list[tuple[int, bytes]],
        options_ok: bool,
        order: str,
    ) -> PacketRecord:
        self.frame += 1
        self.last_ts = ts
        skipped = self.stats.skipped
        if not options_ok:
            skipped["malformed:options"] += 1
        if iface.linktype not in decode.SUPPORTED_LINKTYPES:
            self.unread += 1
            skipped[f"unsupported-link-type:{iface.linktype}"] += 1
            return PacketRecord(self.point, ts, self.path, self.frame, iface.name, None,
                                wire_len, Headers(None, None, None), data=data,
                                linktype=iface.linktype)
        fr = decode.decode_frame(iface.linktype, data, wire_len)
        if fr.problem is not None:
            skipped[fr.problem] += 1
        direction, comment = fr.direction, None
        for code, value in options:
            if code == OPT_COMMENT:
                comment = _text(value)
            elif code == EPB_FLAGS and len(value) == 4:
                flag_dir = _FLAG_DIRECTION.get(struct.unpack(order + "I", value)[0] & 3)
                direction = flag_dir or direction
        ifname = iface.name
        if fr.ifindex is not None:
            known = self.ifnames.get(fr.ifindex)
            if known is not None or ifname in (None, "any"):
                ifname = known or f"if{fr.ifindex}"
        return PacketRecord(self.point, ts, self.path, self.frame, ifname, direction, wire_len,
                            fr.headers, fr.inner, fr.vni, data, iface.linktype, None, comment,
                            tunnel=fr.tunnel)
