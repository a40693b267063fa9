"""pcap files straight to TCP segment tuples for single-point tracking.

``read_pcap_segments`` reads a classic pcap file like ``pcap.read_pcap`` (same chunking, same
faults, same ``stats``) but, for the common frame (Ethernet, Linux cooked v1 or v2; IPv4
without options or IPv6 without extension headers; TCP with well-formed options), yields the
flat tuple ``nettrail.analyze.flows`` tracks, built from the bytes in one step
(``other_frame``): no header records, no option decoding, no address text. Every other frame
is decoded by the general decoder into a PacketRecord and handed to ``general`` (which
returns its tuple, or None when it is not TCP). The tuple, as ``flows.Seg`` documents it:

    (ts_ns, seq, ack, flags, payload_len, window, ip_id, ifname, direction, frame, file,
     key, seq_relative, record)

with ``key`` the packed source and destination addresses and the two ports, the bytes as they
stand in the packet, and ``record`` None. Ethernet + IPv4 + TCP, the most common frame of
all, is read inline by ``nettrail.analyze.fastpath`` (with ``ETH_IP4_TCP``), which fuses
reading and tracking. Unit tests compare the analysis of both with the general path's.
"""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from nettrail.capture import decode
from nettrail.capture.base import CaptureStats
from nettrail.capture.pcap import (
    CHUNK,
    FILE_HEADER_LEN,
    MAX_CAPLEN,
    _check_tail,
    _os_error,
    _record,
    _store,
    parse_file_header,
)
from nettrail.errors import CaptureError
from nettrail.model.packet import PacketRecord

Seg = tuple[Any, ...]
General = Callable[[PacketRecord], "Seg | None"]

# For analyze.fastpath: Ethernet type + IPv4 + TCP up to the flags: ethertype (two bytes),
# ver/ihl, total length, flags/fragment offset (two bytes), protocol, seq, ack, data offset,
# TCP flags (addresses and ports are sliced as the key; bytes are ints Python never has to
# allocate); then, from the IP ID on, the two fields only a remembered segment needs: IP ID
# and window.
ETH_IP4_TCP = struct.Struct("!12xBBBxH2xBBxB2x8x4xIIBB")
ID_WIN = struct.Struct("!H28xH")
_IP4_TCP = struct.Struct("!BxHHHxB2x8x4xIIBBH")  # the same from the IPv4 header on
_IP6_TCP = struct.Struct("!I2HB2x32x4xIIBBH")  # ver/class/flow (as I), payload length...
_IP6 = struct.Struct("!IHB")
_SLL = struct.Struct("!H12xH")  # packet type, protocol
_SLL2 = struct.Struct("!H2xi2xB")  # protocol, interface index, packet type
_SLL_DIRECTION = {0: "in", 1: "in", 2: "in", 3: "in", 4: "out"}
NOP_NOP_TS = b"\x01\x01\x08\x0a"
FAST_LINKTYPES = frozenset({decode.LINKTYPE_ETHERNET, decode.LINKTYPE_LINUX_SLL,
                            decode.LINKTYPE_LINUX_SLL2})


def read_pcap_segments(
    path: str,
    point: str,
    stats: CaptureStats,
    ifnames: Mapping[int, str],
    general: General,
) -> Iterator[Seg | None]:
    """Stream the segments of pcap file ``path`` (None for each frame that is not TCP).

    Faults as ``pcap.read_pcap``: a CaptureError (also in ``stats.error``) after every good
    frame before it. ``general`` turns a record of an unusual frame into its segment.
    """
    stats.format = "pcap"
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise _store(stats, _os_error(exc, path, 0)) from exc
    frame = 0
    try:
        order, unit, _snaplen, linktype = parse_file_header(f.read(FILE_HEADER_LEN), path)
        rec_unpack = struct.Struct(order + "IIII").unpack_from
        other = other_frame(linktype, ifnames) if linktype in FAST_LINKTYPES else None
        skipped = stats.skipped
        slow = decode.decode_frame_general
        buf = b""
        base = FILE_HEADER_LEN  # file offset of buf[0]
        pos = 0
        while True:
            chunk = f.read(CHUNK)
            if not chunk:
                break
            buf = buf[pos:] + chunk if pos < len(buf) else chunk
            base += pos
            pos = 0
            end = len(buf)
            while pos + 16 <= end:
                sec, frac, caplen, wire_len = rec_unpack(buf, pos)
                if caplen > MAX_CAPLEN:
                    raise CaptureError(f"absurd record length {caplen} (> {MAX_CAPLEN})",
                                       path=path, offset=base + pos, records=frame)
                start = pos + 16
                stop = start + caplen
                if stop > end:
                    break
                frame += 1
                pos = stop
                data = buf[start:stop]
                ts = sec * 1_000_000_000 + frac * unit
                if other is not None:
                    seg = other(data, ts, frame, path)
                    if seg is not None:
                        yield seg
                        continue
                yield general(_record(linktype, data, point, ts, path, frame, wire_len,
                                      skipped, ifnames, slow))
        _check_tail(buf, pos, base, path, frame, rec_unpack)
    except OSError as exc:
        raise _store(stats, _os_error(exc, path, frame)) from exc
    except CaptureError as exc:
        raise _store(stats, exc) from None
    finally:
        f.close()
        stats.packets = frame


def options_ok(buf: bytes, pos: int, end: int) -> bool:
    """Whether the TCP options between ``pos`` and ``end`` parse without a problem (the
    general decoder's rule: every option but EOL and NOP has a length that fits)."""
    while pos < end:
        kind = buf[pos]
        if kind == 0:
            return True
        if kind == 1:
            pos += 1
            continue
        size = buf[pos + 1] if pos + 1 < end else 0
        if size < 2 or pos + size > end:
            return False
        pos += size
    return True


def other_frame(
    linktype: int, ifnames: Mapping[int, str]
) -> Callable[[bytes, int, int, str], Seg | None]:
    """The segment builder of one frame of ``linktype`` that the inline Ethernet + IPv4 path
    did not take: cooked headers, IPv6; None for anything the general decoder must see."""
    names: dict[int, str] = {}
    sll_unpack = _SLL.unpack_from
    sll2_unpack = _SLL2.unpack_from

    def segment(data: bytes, ts: int, frame: int, path: str) -> Seg | None:
        ifname = direction = None
        if linktype == decode.LINKTYPE_ETHERNET:
            if len(data) < 14:
                return None
            etype = data[12] << 8 | data[13]
            off = 14
        elif linktype == decode.LINKTYPE_LINUX_SLL2:
            if len(data) < 20:
                return None
            etype, ifindex, pkttype = sll2_unpack(data, 0)
            ifname = names.get(ifindex)
            if ifname is None:
                ifname = names[ifindex] = ifnames.get(ifindex) or f"if{ifindex}"
            direction = _SLL_DIRECTION.get(pkttype)
            off = 20
        else:
            if len(data) < 16:
                return None
            pkttype, etype = sll_unpack(data, 0)
            direction = _SLL_DIRECTION.get(pkttype)
            off = 16
        if etype == 0x0800:
            return _ipv4(data, off, ts, frame, path, ifname, direction)
        if etype == 0x86DD:
            return _ipv6(data, off, ts, frame, path, ifname, direction)
        return None

    return segment


def _ipv4(
    data: bytes, off: int, ts: int, frame: int, path: str, ifname: str | None,
    direction: str | None,
) -> Seg | None:
    """The segment of an IPv4 (no options) + TCP packet at ``off``; None for others."""
    if len(data) < off + 40:
        return None
    vihl, total, ip_id, frag, proto, seq, ack, doff, flags, win = _IP4_TCP.unpack_from(data, off)
    if vihl != 0x45 or proto != 6 or total < 40 or frag & 0x1FFF:
        return None
    hlen = _tcp_header_len(data, off + 20, doff)
    if hlen is None:
        return None
    plen = total - 20 - hlen
    return (ts, seq, ack, flags, plen if plen > 0 else 0, win, ip_id, ifname, direction, frame,
            path, data[off + 12 : off + 24], False, None)


def _ipv6(
    data: bytes, off: int, ts: int, frame: int, path: str, ifname: str | None,
    direction: str | None,
) -> Seg | None:
    """The segment of an IPv6 (no extension headers) + TCP packet at ``off``; else None."""
    if len(data) < off + 60:
        return None
    vtcfl, _hi, plen, nxt, seq, ack, doff, flags, win = _IP6_TCP.unpack_from(data, off)
    if vtcfl >> 28 != 6 or nxt != 6 or plen == 0:
        return None
    hlen = _tcp_header_len(data, off + 40, doff)
    if hlen is None:
        return None
    payload = plen - hlen
    return (ts, seq, ack, flags, payload if payload > 0 else 0, win, None, ifname, direction,
            frame, path, data[off + 8 : off + 44], False, None)


def _tcp_header_len(data: bytes, tcp: int, doff: int) -> int | None:
    """The TCP header length, when the header is whole and its options well-formed."""
    hlen = (doff >> 4) << 2
    if hlen == 20:
        return hlen
    if hlen < 20 or len(data) < tcp + hlen or not options_ok(data, tcp + 20, tcp + hlen):
        return None
    return hlen
