"""pcapng for Wireshark: original packets, an interface per point, nettrail's view in comments.

``PcapngWriter`` writes the blocks (section header, interface descriptions with nanosecond
timestamps, enhanced packets with comments); ``export`` writes every packet record it is
given (the analysed captures, read again by the caller) with a comment saying what nettrail
concluded about it. Nothing here opens a capture.
"""

from __future__ import annotations

import struct
from collections.abc import Iterable, Sequence
from typing import BinaryIO

from nettrail.errors import NettrailError
from nettrail.model.analysis import Analysis, Hop, PacketPath
from nettrail.model.linktype import LINKTYPE_ETHERNET
from nettrail.model.packet import PacketRecord
from nettrail.report.frames import synthesize
from nettrail.report.hops import Where, evidence_kinds, hop_label, rewrites

BLOCK_SHB = 0x0A0D0D0A
BLOCK_IDB = 0x00000001
BLOCK_EPB = 0x00000006
BYTE_ORDER_MAGIC = 0x1A2B3C4D
OPT_ENDOFOPT = 0
OPT_COMMENT = 1
SHB_USERAPPL = 4
IF_NAME = 2
IF_TSRESOL = 9
TSRESOL_NS = 9
_EPB_HEAD = struct.Struct("<7I")  # type, length, interface, ts high, ts low, caplen, origlen
_OPT_HEAD = struct.Struct("<HH")
_U32 = struct.Struct("<I")
_END = b"\x00\x00\x00\x00"  # opt_endofopt


def _option(code: int, value: bytes) -> bytes:
    pad = -len(value) % 4
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * pad


def _options(opts: Sequence[tuple[int, bytes]]) -> bytes:
    if not opts:
        return b""
    return b"".join(_option(code, value) for code, value in opts) + _option(OPT_ENDOFOPT, b"")


def _block(kind: int, body: bytes) -> bytes:
    length = 12 + len(body)
    return struct.pack("<II", kind, length) + body + struct.pack("<I", length)


class PcapngWriter:
    """Writes one pcapng section (little-endian) to a binary stream, block by block."""

    def __init__(self, out: BinaryIO, comment: str | None = None) -> None:
        self._out = out
        self._snaplens: list[int] = []
        opts = [(SHB_USERAPPL, b"nettrail")]
        if comment:
            opts.append((OPT_COMMENT, comment.encode()))
        body = struct.pack("<IHHq", BYTE_ORDER_MAGIC, 1, 0, -1) + _options(opts)
        self._write(_block(BLOCK_SHB, body))

    def add_interface(
        self,
        name: str,
        linktype: int = LINKTYPE_ETHERNET,
        snaplen: int = 262144,
        comment: str | None = None,
    ) -> int:
        """Describe an interface (nanosecond timestamps) and return its id for ``write_packet``."""
        opts = [(IF_NAME, name.encode()), (IF_TSRESOL, bytes([TSRESOL_NS]))]
        if comment:
            opts.append((OPT_COMMENT, comment.encode()))
        body = struct.pack("<HHI", linktype & 0xFFFF, 0, snaplen) + _options(opts)
        self._write(_block(BLOCK_IDB, body))
        self._snaplens.append(snaplen)
        return len(self._snaplens) - 1

    def write_packet(
        self, if_id: int, ts_ns: int, data: bytes, orig_len: int, comment: str | None = None
    ) -> None:
        """Write one packet seen on interface ``if_id`` at ``ts_ns`` (ns since the epoch)."""
        self._write(self._packet_block(if_id, ts_ns, data, orig_len, comment))

    def write_packets(self, packets: Iterable[tuple[int, int, bytes, int, str | None]]) -> None:
        """``write_packet`` of many (if_id, ts_ns, data, orig_len, comment), in one write."""
        block = self._packet_block
        self._write(b"".join([block(*p) for p in packets]))

    def _packet_block(
        self, if_id: int, ts_ns: int, data: bytes, orig_len: int, comment: str | None
    ) -> bytes:
        if not 0 <= if_id < len(self._snaplens):
            raise ValueError(f"unknown pcapng interface id {if_id}")
        snaplen = self._snaplens[if_id]
        if snaplen and len(data) > snaplen:
            data = data[:snaplen]
        caplen = len(data)
        ts = max(ts_ns, 0)
        opts = b""
        if comment:
            text = comment.encode()
            opts = _OPT_HEAD.pack(OPT_COMMENT, len(text)) + text + bytes(-len(text) % 4) + _END
        pad = bytes(-caplen % 4)
        length = 32 + caplen + len(pad) + len(opts)
        head = _EPB_HEAD.pack(BLOCK_EPB, length, if_id, ts >> 32, ts & 0xFFFFFFFF, caplen,
                              max(orig_len, caplen))
        return b"".join((head, data, pad, opts, _U32.pack(length)))

    def write_blocks(self, blocks: bytes) -> None:
        """Write enhanced packet blocks already built (``pcapng_blocks.packet_blocks``) of
        interfaces added here, whose snapshot length none of their packets exceeds."""
        self._write(blocks)

    def copy_packet(self, if_id: int, body: bytes) -> None:
        """Write an enhanced packet block read from another little-endian section (``body``:
        the block without its type and lengths) as a packet of interface ``if_id`` here."""
        if not 0 <= if_id < len(self._snaplens):
            raise ValueError(f"unknown pcapng interface id {if_id}")
        self._write(_block(BLOCK_EPB, _U32.pack(if_id) + body[4:]))

    def _write(self, block: bytes) -> None:
        try:
            self._out.write(block)
        except OSError as exc:
            raise NettrailError(f"cannot write pcapng output: {exc.strerror or exc}") from exc


def interface_name(point: str, netns: str | None, ifname: str | None) -> str:
    """``point/netns/ifname``, ``point/ifname`` without a namespace, ``point`` when unknown."""
    return "/".join(part for part in (point, netns, ifname) if part)


class _View:
    """What nettrail concluded about each (file, frame), as pcapng comments."""

    def __init__(self, analysis: Analysis) -> None:
        self.analysis = analysis
        self.hops: dict[Where, tuple[PacketPath, int]] = {}
        self.ordered: dict[int, tuple[Hop, ...]] = {}
        for path in analysis.paths:
            hops = tuple(sorted(path.hops, key=lambda h: h.time_ns))
            self.ordered[path.id] = hops
            for i, hop in enumerate(hops):
                self.hops.setdefault((hop.file, hop.frame), (path, i))
        self.kinds = evidence_kinds(analysis)
        self.routes: dict[int, str] = {}

    def comment(self, rec: PacketRecord, synthesized: bool) -> str:
        """One line: the matched packet, its rewrite, the findings naming it, how bytes came."""
        where = (rec.file, rec.frame)
        parts = [self._path_part(where)]
        kinds = self.kinds.get(where)
        if kinds:
            parts.append("finding: " + ", ".join(kinds))
        if synthesized:
            parts.append(f"bytes synthesized from text headers ({rec.where}), no payload")
        return "nettrail: " + "; ".join(parts)

    def _path_part(self, where: Where) -> str:
        found = self.hops.get(where)
        if found is None:
            return "not matched at another point"
        path, i = found
        hops = self.ordered[path.id]
        route = self.routes.get(path.id)
        if route is None:
            route = self.routes[path.id] = _route(hops)
        text = f"packet #{path.id} sighting {i + 1}/{len(hops)} ({route})"
        if i > 0:
            changes = rewrites(hops[i - 1], hops[i], self.analysis.nat)
            if changes:
                since = hop_label(hops[i - 1])
                text += "; NAT since " + since + ": " + ", ".join(c.long() for c in changes)
        return text


def _route(hops: Sequence[Hop]) -> str:
    """The points a packet crossed in time order, each once per visit: ``a > b > c``."""
    points: list[str] = []
    for hop in hops:
        if not points or points[-1] != hop.point:
            points.append(hop.point)
    return " > ".join(points)


_MEASURED = {"probes": ", by SSH clock probes", "both": ", by SSH clock probes too",
             "host": ", the reference's host"}
"""What measured a clock besides the packets (``ClockOffset.source``)."""


def _clock_comment(analysis: Analysis) -> str | None:
    lines = [
        f"{c.point} clock {c.offset_ns / 1e6:+.3f} ms vs {c.reference} "
        f"(±{c.uncertainty_ns / 1e6:.3f} ms, {c.samples} samples{_MEASURED.get(c.source, '')})"
        for c in analysis.clock
    ]
    if not lines:
        return None
    return "nettrail: timestamps are each point's own clock; " + "; ".join(lines)


def export(analysis: Analysis, records: Iterable[PacketRecord], out: BinaryIO) -> None:
    """Write ``records`` (every packet of the analysed captures, in time order) to ``out``
    with nettrail's view of each as its comment.

    Original bytes and link types are kept; packets read from text get a synthesized frame.
    One interface per (point, namespace, interface name, link type) of the records.
    """
    view = _View(analysis)
    writer = PcapngWriter(out, comment=_clock_comment(analysis))
    interfaces: dict[tuple[str, str | None, str | None, int], int] = {}
    for rec in records:
        synthesized = rec.data is None or rec.linktype < 0
        if synthesized:
            data, orig_len = synthesize(rec.headers, rec.inner, rec.vni)
            linktype = LINKTYPE_ETHERNET
        else:
            data, orig_len, linktype = rec.data or b"", rec.wire_len, rec.linktype
        key = (rec.point, rec.netns, rec.ifname, linktype)
        if_id = interfaces.get(key)
        if if_id is None:
            name = interface_name(rec.point, rec.netns, rec.ifname)
            if_id = interfaces[key] = writer.add_interface(name, linktype)
        writer.write_packet(if_id, rec.ts_ns, data, orig_len, view.comment(rec, synthesized))
