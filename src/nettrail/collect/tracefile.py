"""A host's eBPF trace stream (pcapng from :mod:`~.agent`) split into one file per point.

The stream has one interface per (namespace, device), its comment ``netns INODE NAME``. Each
namespace becomes a point (``point_of(inode, name)`` names it, or None to leave it out: another
host reports it) with a pcapng of its own: its interfaces renumbered, named by their device.
An unfinished last block (the connection dropped) is left out.
"""

from __future__ import annotations

import re
import struct
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from nettrail.capture.pcapng import parse_options
from nettrail.report.pcapng import BLOCK_EPB, BLOCK_IDB, IF_NAME, OPT_COMMENT, PcapngWriter

_HEAD = struct.Struct("<II")
_NETNS = re.compile(r"^netns (\d+) (.+)$")
_SAFE = re.compile(r"[^A-Za-z0-9_.:()-]+")


@dataclass
class PointFile:
    """One point written from a stream: its name, file, namespace, devices and packet count."""

    name: str
    path: Path
    netns: str
    inode: int
    packets: int = 0
    interfaces: list[str] = field(default_factory=list)
    out: BinaryIO | None = None
    writer: PcapngWriter | None = None


def blocks(data: bytes) -> Iterator[tuple[int, bytes]]:
    """(type, body) of each whole little-endian block; stops at an unfinished one."""
    pos = 0
    while pos + 12 <= len(data):
        kind, length = _HEAD.unpack_from(data, pos)
        if length < 12 or length % 4 or pos + length > len(data):
            return
        yield kind, data[pos + 8:pos + length - 4]
        pos += length


def file_name(host: str, netns: str, own: bool) -> str:
    """``HOST.pcapng`` for the host's own namespace, ``HOST@NETNS.pcapng`` for another."""
    return f"{host}.pcapng" if own else f"{host}@{_SAFE.sub('_', netns)}.pcapng"


def split(stream: Path, host: str, out_dir: Path,
          point_of: Callable[[int, str], str | None]) -> list[PointFile]:
    """Write one pcapng per point from ``stream``; the points in order of first packet."""
    data = stream.read_bytes() if stream.exists() else b""
    points: dict[str, PointFile] = {}
    iface: list[tuple[PointFile | None, int]] = []  # stream interface -> (point, its id)
    try:
        for kind, body in blocks(data):
            if kind == BLOCK_IDB:
                iface.append(_interface(body, host, out_dir, points, point_of))
            elif kind == BLOCK_EPB and len(body) >= 20:
                if_id, = struct.unpack_from("<I", body)
                if if_id >= len(iface) or iface[if_id][0] is None:
                    continue
                pf, new_id = iface[if_id]
                assert pf is not None and pf.writer is not None
                pf.writer.copy_packet(new_id, body)
                pf.packets += 1
    finally:
        for pf in points.values():
            if pf.out is not None:
                pf.out.close()
                pf.out = None
            if not pf.packets:
                pf.path.unlink(missing_ok=True)
    return [pf for pf in points.values() if pf.packets]


def _interface(body: bytes, host: str, out_dir: Path, points: dict[str, PointFile],
               point_of: Callable[[int, str], str | None]) -> tuple[PointFile | None, int]:
    linktype, = struct.unpack_from("<H", body)
    opts = dict(reversed(parse_options(body, 8, "<")[0]))  # the first of each code
    m = _NETNS.match(opts.get(OPT_COMMENT, b"").decode(errors="replace"))
    if m is None:
        return None, 0
    inode, netns = int(m.group(1)), m.group(2)
    name = point_of(inode, netns)
    if name is None:
        return None, 0
    pf = points.get(name)
    if pf is None:
        path = out_dir / file_name(host, netns, name == host)
        out = path.open("wb")
        pf = points[name] = PointFile(name, path, netns, inode, out=out,
                                      writer=PcapngWriter(out, comment=f"nettrail: {name}"))
    assert pf.writer is not None
    ifname = opts.get(IF_NAME, b"?").decode(errors="replace")
    pf.interfaces.append(ifname)
    return pf, pf.writer.add_interface(ifname, linktype)
