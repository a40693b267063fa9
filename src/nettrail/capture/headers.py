"""Single headers from bytes: IPv4, IPv6 (extension headers skipped), TCP and its options,
ICMP/ICMPv6 with the quoted header of errors, the one-unpack IPv4 + TCP fast path, and the
cached text of MAC addresses (IP addresses' is in ``model.addr``, which analysis shares).
Link layers and the assembly of a whole frame are in
``decode``; every function here checks lengths itself and never raises on short input.
"""

from __future__ import annotations

import functools
import struct
import zlib

from nettrail.model.addr import addr4 as addr4
from nettrail.model.addr import addr6 as addr6
from nettrail.model.cache import CACHE_LIMIT
from nettrail.model.packet import (
    AE,
    NO_OPTIONS,
    PROTO_TCP,
    PROTO_UDP,
    ICMPHeader,
    IPHeader,
    QuotedHeader,
    TCPHeader,
    TCPOptions,
)

HASH_BYTES = 64
IPV6_EXT = frozenset({0, 43, 60, 135, 139, 140})  # hop-by-hop, routing, dest opts, mobility...
_ICMP4_ERRORS = frozenset({3, 4, 5, 11, 12})
_ICMP6_ERRORS = frozenset({1, 2, 3, 4})

IPV4 = struct.Struct("!BBHHHBBH4s4s")
IPV6 = struct.Struct("!IHBB16s16s")
TCP = struct.Struct("!HHIIBBHHH")
ICMP = struct.Struct("!BBHHH")
U16 = struct.Struct("!H")
U32 = struct.Struct("!I")
TS_OPT = struct.Struct("!II")
PORTS = struct.Struct("!HH")
_IP4_TCP = struct.Struct("!BBHHHBBH4s4sHHIIBBH4x").unpack_from
_IP4_TCP_TS = struct.Struct("!BBHHHBBH4s4sHHIIBBH4x4sII").unpack_from
NOP_NOP_TS = b"\x01\x01\x08\x0a"
ORDER_NOP_NOP_TS = ("nop", "nop", "TS")
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (all fields given)


@functools.lru_cache(maxsize=CACHE_LIMIT)
def mac(raw: bytes) -> str:
    """``aa:bb:cc:dd:ee:ff`` text of a 6-byte MAC address (cached)."""
    return raw.hex(":")


def payload_hash(data: bytes, start: int, length: int) -> int | None:
    """crc32 of the first captured bytes (at most 64) of a payload of ``length`` bytes."""
    if length <= 0 or start >= len(data):
        return None
    return zlib.crc32(data[start : start + min(length, HASH_BYTES)])


def fast_ipv4_tcp(data: bytes, off: int,
                  wire: int | None = None) -> tuple[IPHeader, TCPHeader, int | None] | None:
    """(ip, tcp, payload hash) of an IPv4 (no options) + TCP packet at ``off`` of a frame
    ``wire`` bytes long on the wire (None: unknown); else None."""
    caplen = len(data)
    if caplen >= off + 52:
        (vihl, tos, total, ip_id, frag, ttl, proto, _csum, saddr, daddr, sport, dport, seq,
         ack, doff, flags, window, opt4, ts_val, ts_ecr) = _IP4_TCP_TS(data, off)
    elif caplen >= off + 40:
        (vihl, tos, total, ip_id, frag, ttl, proto, _csum, saddr, daddr, sport, dport, seq,
         ack, doff, flags, window) = _IP4_TCP(data, off)
        opt4 = ts_val = ts_ecr = None
    else:
        return None
    if vihl != 0x45 or proto != PROTO_TCP or total < 40 or frag & 0x1FFF:
        return None
    hlen = (doff >> 4) << 2
    if doff & 1:
        flags |= AE
    tcp_off = off + 20
    if hlen == 20:
        options = NO_OPTIONS
    elif caplen < tcp_off + hlen or hlen < 20:
        return None
    elif hlen == 32 and opt4 == NOP_NOP_TS:
        options = _new(TCPOptions, (None, None, False, (), ts_val, ts_ecr, ORDER_NOP_NOP_TS))
    else:
        options, problem = parse_tcp_options(data, tcp_off + 20, tcp_off + hlen)
        if problem is not None:
            return None
    plen = total - 20 - hlen
    if wire is not None and off + total > wire and off + total > caplen:  # cut on the wire
        plen = (wire if wire > caplen else caplen) - tcp_off - hlen
    phash = None
    if plen > 0:
        pstart = tcp_off + hlen
        if pstart < caplen:
            phash = zlib.crc32(data[pstart : pstart + (plen if plen < HASH_BYTES else HASH_BYTES)])
    else:
        plen = 0
    ip = _new(IPHeader, (4, addr4(saddr), addr4(daddr), PROTO_TCP, ttl, ip_id, total,
                         frag & 0x4000 != 0, 0, frag & 0x2000 != 0, tos))
    tcp = _new(TCPHeader, (sport, dport, flags, seq, ack, window, plen, options, False))
    return ip, tcp, phash


def wire_end(data: bytes, wire: int | None) -> int | None:
    """Where a frame of ``data`` captured of ``wire`` bytes on the wire ends: ``wire``, or the
    captured length where a broken record gives less; None when the wire length is unknown."""
    if wire is None:
        return None
    return wire if wire > len(data) else len(data)


def parse_ipv4(data: bytes, off: int,
               wire: int | None = None) -> tuple[IPHeader | None, int, int, str | None]:
    """IPv4 header at ``off``: (header, L4 offset, end of the IP packet, problem).

    ``wire``: where the frame ended on the wire (``wire_end``), or the packet carrying this
    one; None: unknown. The packet ends there when its total length says more (a datagram
    cut short before it was captured, as tshark and tcpdump read it), not where the snap
    length cut the capture (the total length stands); a total length of 0 (offload) is
    taken to reach there."""
    if len(data) < off + 20:
        return None, off, off, "truncated:ipv4"
    vihl, tos, total, ip_id, frag, ttl, proto, _csum, src, dst = IPV4.unpack_from(data, off)
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20:
        return None, off, off, "malformed:ipv4"
    if total == 0:  # segmentation offload: the kernel leaves the length to be filled in
        total = (len(data) if wire is None else wire) - off
    ip = IPHeader(4, addr4(src), addr4(dst), proto, ttl, ip_id, total, bool(frag & 0x4000),
                  (frag & 0x1FFF) * 8, bool(frag & 0x2000), tos)
    if total < ihl:
        return ip, off + ihl, off + ihl, "malformed:ipv4-length"
    if len(data) < off + ihl:
        return ip, off + ihl, off + ihl, "truncated:ipv4-options"
    end = off + total
    if wire is not None and end > wire:
        end = max(wire, off + ihl)
    return ip, off + ihl, end, None


def parse_ipv6(data: bytes, off: int,
               wire: int | None = None) -> tuple[IPHeader | None, int, int, str | None]:
    """IPv6 header and extension headers at ``off``: (header, L4 offset, end, problem);
    ``wire`` as for ``parse_ipv4``."""
    if len(data) < off + 40:
        return None, off, off, "truncated:ipv6"
    vtcfl, plen, nxt, hlim, src, dst = IPV6.unpack_from(data, off)
    if vtcfl >> 28 != 6:
        return None, off, off, "malformed:ipv6"
    whole = len(data) if wire is None else wire
    end = off + 40 + plen if plen else whole  # 0: jumbogram or offload (BIG TCP)
    pos = off + 40
    frag_off, more, problem = 0, False, None
    if not plen and nxt == 0:
        jumbo = _jumbo(data, pos)
        if jumbo is not None:
            end = off + 40 + jumbo
    while nxt in IPV6_EXT or nxt == 44 or nxt == 51:
        if len(data) < pos + 8:
            problem = "truncated:ipv6-ext"
            break
        if nxt == 44:  # fragment header
            fo = U16.unpack_from(data, pos + 2)[0]
            frag_off, more = fo & 0xFFF8, bool(fo & 1)
            size = 8
        elif nxt == 51:  # AH counts 4-byte units
            size = (data[pos + 1] + 2) * 4
        else:
            size = (data[pos + 1] + 1) * 8
        nxt = data[pos]
        pos += size
    length = 40 + plen if plen else end - off
    if wire is not None and end > wire:
        end = wire
    ip = IPHeader(6, addr6(src), addr6(dst), nxt, hlim, None, length, False, frag_off, more,
                  (vtcfl >> 20) & 0xFF)
    return ip, pos, end, problem


def _jumbo(data: bytes, pos: int) -> int | None:
    """The payload length of a hop-by-hop header's jumbo payload option (RFC 2675), if any."""
    if len(data) < pos + 2:
        return None
    end = min(pos + (data[pos + 1] + 1) * 8, len(data))
    opt = pos + 2
    while opt + 1 < end:
        kind = data[opt]
        if kind == 0:  # Pad1
            opt += 1
            continue
        if kind == 0xC2 and data[opt + 1] == 4 and opt + 6 <= end:
            return int(U32.unpack_from(data, opt + 2)[0])
        opt += 2 + data[opt + 1]
    return None


def parse_tcp(data: bytes, off: int, end: int) -> tuple[TCPHeader | None, str | None]:
    """TCP header at ``off`` of an IP packet ending at ``end``: (header, problem)."""
    if len(data) < off + 20:
        return None, "truncated:tcp"
    sport, dport, seq, ack, doff, flags, window, _csum, _urg = TCP.unpack_from(data, off)
    hlen = (doff >> 4) * 4
    if hlen < 20:
        return None, "malformed:tcp"
    flags |= (doff & 1) << 8  # AE
    problem = None
    if hlen == 20:
        options = NO_OPTIONS
    elif len(data) < off + hlen:
        options, problem = NO_OPTIONS, "truncated:tcp-options"
    else:
        options, problem = parse_tcp_options(data, off + 20, off + hlen)
    payload_len = max(end - off - hlen, 0)
    tcp = TCPHeader(sport, dport, flags, seq, ack, window, payload_len, options)
    return tcp, problem


def parse_tcp_options(data: bytes, pos: int, end: int) -> tuple[TCPOptions, str | None]:
    """TCP options between ``pos`` and ``end``: (options, problem)."""
    if end - pos == 12 and data[pos : pos + 4] == b"\x01\x01\x08\x0a":
        ts_val, ts_ecr = TS_OPT.unpack_from(data, pos + 4)
        return TCPOptions(None, None, False, (), ts_val, ts_ecr, ORDER_NOP_NOP_TS), None
    mss = wscale = ts_val = ts_ecr = None
    sack_ok = False
    sack: list[tuple[int, int]] = []
    order: list[str] = []
    problem = None
    while pos < end:
        kind = data[pos]
        if kind == 0:
            order.append("eol")
            break
        if kind == 1:
            order.append("nop")
            pos += 1
            continue
        size = data[pos + 1] if pos + 1 < end else 0
        if size < 2 or pos + size > end:
            problem = "malformed:tcp-options"
            break
        if kind == 2 and size == 4:
            mss = U16.unpack_from(data, pos + 2)[0]
            order.append("mss")
        elif kind == 3 and size == 3:
            wscale = data[pos + 2]
            order.append("wscale")
        elif kind == 4 and size == 2:
            sack_ok = True
            order.append("sackOK")
        elif kind == 5 and (size - 2) % 8 == 0:
            sack.extend(struct.unpack_from("!II", data, p) for p in range(pos + 2, pos + size, 8))
            order.append("sack")
        elif kind == 8 and size == 10:
            ts_val, ts_ecr = TS_OPT.unpack_from(data, pos + 2)
            order.append("TS")
        else:
            order.append(f"opt-{kind}")
        pos += size
    return TCPOptions(mss, wscale, sack_ok, tuple(sack), ts_val, ts_ecr, tuple(order)), problem


def parse_icmp(
    data: bytes, off: int, end: int, version: int
) -> tuple[ICMPHeader | None, str | None]:
    """ICMP (``version`` 4) or ICMPv6 (6) message at ``off``: (header, problem)."""
    if len(data) < off + 8:
        return None, "truncated:icmp"
    itype, code, _csum, word1, word2 = ICMP.unpack_from(data, off)
    mtu = ident = seq = None
    quoted: QuotedHeader | None = None
    problem = None
    if version == 4:
        echo, errors = itype in (0, 8), _ICMP4_ERRORS
        if itype == 3 and code == 4:
            mtu = word2
    else:
        echo, errors = itype in (128, 129), _ICMP6_ERRORS
        if itype == 2:
            mtu = word1 << 16 | word2
    if echo:
        ident, seq = word1, word2
    elif itype in errors:
        quoted, problem = _parse_quoted(data, off + 8, version)
    return ICMPHeader(version, itype, code, mtu, quoted, ident, seq), problem


def _parse_quoted(data: bytes, off: int, version: int) -> tuple[QuotedHeader | None, str | None]:
    """The IP header and ports an ICMP error quotes (its length fields may exceed the quote)."""
    if version == 4:
        ip, l4off, _end, problem = parse_ipv4(data, off)
    else:
        ip, l4off, _end, problem = parse_ipv6(data, off)
    if ip is None:
        return None, problem and problem.replace(":", ":quoted-")
    sport = dport = None
    if ip.proto in (PROTO_TCP, PROTO_UDP) and not ip.frag_offset and len(data) >= l4off + 4:
        sport, dport = PORTS.unpack_from(data, l4off)
    return QuotedHeader(ip, sport, dport), None
