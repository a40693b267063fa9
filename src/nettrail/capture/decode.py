"""Headers from captured bytes, for every link type nettrail reads.

``decode_frame(linktype, data)`` is the general decoder both binary readers use; the pcap
reader also has an inline fast path for Ethernet + IPv4 + TCP that must give the same result
(a unit test checks both on the same frames).

Decisions, so readers and analysis agree:

* Every frame becomes a record, also frames that are not IP or ARP (LLDP, STP...): they keep
  ``headers.ip is None`` and their reason is counted in ``stats.skipped`` as
  ``other-protocol:<name>`` (``lldp``, ``stp``, ``llc``, ``ethertype-0x88b5``...).
* A malformed or cut-short packet inside a good record is not fatal: it is yielded with the
  headers that could be decoded and counted as ``malformed:<layer>`` (``malformed:ipv4``,
  ``malformed:tcp-options``...) or ``truncated:<layer>`` when the snap length cut it.
* ``IPHeader.frag_offset`` is in bytes; ``IPHeader.length`` is the whole IP packet (IPv6: 40
  plus the payload length); TCP option names follow tcpdump (``mss``, ``nop``, ``eol``,
  ``wscale``, ``sackOK``, ``sack``, ``TS``, ``opt-<kind>``).
* ``Headers.payload_hash`` is ``zlib.crc32`` of the first 64 captured bytes of the L4 payload
  (TCP/UDP data, ICMP body after its 8-byte header), None when there is no payload.
* A UDP packet to port 4789 whose VXLAN header has the I flag is decoded once more: the inner
  Ethernet frame goes to ``inner`` and the network identifier to ``vni``.
"""

from __future__ import annotations

import ipaddress
import struct
import zlib
from typing import NamedTuple

from nettrail.model.packet import (
    NO_OPTIONS,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    ARPHeader,
    EthHeader,
    Headers,
    ICMPHeader,
    IPHeader,
    QuotedHeader,
    TCPHeader,
    TCPOptions,
    UDPHeader,
)

# pcap link types (LINKTYPE_* values as stored in files; 12 and 14 are DLT_RAW on some systems).
LINKTYPE_NULL = 0
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101
LINKTYPE_LOOP = 108
LINKTYPE_LINUX_SLL = 113
LINKTYPE_IPV4 = 228
LINKTYPE_IPV6 = 229
LINKTYPE_LINUX_SLL2 = 276
RAW_LINKTYPES = frozenset({12, 14, LINKTYPE_RAW})
SUPPORTED_LINKTYPES = frozenset(
    {LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4,
     LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2} | RAW_LINKTYPES
)

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_IPV6 = 0x86DD
VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100})
VXLAN_PORT = 4789
HASH_BYTES = 64

_OTHER_ETHERTYPES = {
    0x88CC: "lldp", 0x8035: "rarp", 0x888E: "eapol", 0x8847: "mpls", 0x8848: "mpls",
    0x8863: "pppoe", 0x8864: "pppoe", 0x88F7: "ptp", 0x8809: "slow-protocols", 0x0842: "wol",
    0x9000: "loopback", 0x22F0: "avtp", 0x893A: "ieee1905",
}
_IPV6_EXT = frozenset({0, 43, 60, 135, 139, 140})  # hop-by-hop, routing, dest opts, mobility...
_ICMP4_ERRORS = frozenset({3, 4, 5, 11, 12})
_ICMP6_ERRORS = frozenset({1, 2, 3, 4})
_SLL_DIRECTION = {0: "in", 1: "in", 2: "in", 3: "in", 4: "out"}

ETH = struct.Struct("!6s6sH")
IPV4 = struct.Struct("!BBHHHBBH4s4s")
IPV6 = struct.Struct("!IHBB16s16s")
TCP = struct.Struct("!HHIIBBHHH")
UDP = struct.Struct("!HHHH")
ICMP = struct.Struct("!BBHHH")
ARP = struct.Struct("!HHBBH6s4s6s4s")
SLL = struct.Struct("!HHH8sH")
SLL2 = struct.Struct("!HHiHBB8s")
U16 = struct.Struct("!H")
U32 = struct.Struct("!I")
U32LE = struct.Struct("<I")
TS_OPT = struct.Struct("!II")

# Ethernet + IPv4 (no options) + TCP fixed header: 54 bytes in one unpack; the second
# variant also takes the first TCP option bytes and a timestamp option's values.
FAST = struct.Struct("!12sHBBHHHBBH4s4sHHIIBBH4x")
FAST_TS = struct.Struct("!12sHBBHHHBBH4s4sHHIIBBH4x4sII")
_IP4_TCP = struct.Struct("!BBHHHBBH4s4sHHIIBBH4x").unpack_from
_IP4_TCP_TS = struct.Struct("!BBHHHBBH4s4sHHIIBBH4x4sII").unpack_from
NOP_NOP_TS = b"\x01\x01\x08\x0a"
ORDER_NOP_NOP_TS = ("nop", "nop", "TS")
_CACHE_LIMIT = 65536
_new = tuple.__new__  # builds a NamedTuple without its Python-level __new__ (all fields given)
_eth4: dict[bytes, EthHeader] = {}
_addr4: dict[bytes, str] = {}
_addr6: dict[bytes, str] = {}
_macs: dict[bytes, str] = {}


class Frame(NamedTuple):
    """One decoded frame: outer and inner headers, what the link layer told, what went wrong.

    ``ifindex`` and ``direction`` come from Linux cooked headers; ``problem`` is the
    ``stats.skipped`` reason for a frame that could not be fully decoded, else None.
    """

    headers: Headers
    inner: Headers | None
    vni: int | None
    ifindex: int | None
    direction: str | None
    problem: str | None


class _L3(NamedTuple):
    ip: IPHeader | None
    l4: TCPHeader | UDPHeader | ICMPHeader | None
    arp: ARPHeader | None
    payload_hash: int | None
    inner: Headers | None
    vni: int | None
    problem: str | None


_NO_L3 = _L3(None, None, None, None, None, None, None)


def addr4(raw: bytes) -> str:
    """Dotted-quad text of a 4-byte IPv4 address (cached)."""
    text = _addr4.get(raw)
    if text is None:
        if len(_addr4) >= _CACHE_LIMIT:
            _addr4.clear()
        text = _addr4[raw] = "%d.%d.%d.%d" % tuple(raw)  # noqa: UP031 - fastest here
    return text


def addr6(raw: bytes) -> str:
    """RFC 5952 text of a 16-byte IPv6 address (cached)."""
    text = _addr6.get(raw)
    if text is None:
        if len(_addr6) >= _CACHE_LIMIT:
            _addr6.clear()
        text = _addr6[raw] = ipaddress.IPv6Address(raw).compressed
    return text


def mac(raw: bytes) -> str:
    """``aa:bb:cc:dd:ee:ff`` text of a 6-byte MAC address (cached)."""
    text = _macs.get(raw)
    if text is None:
        if len(_macs) >= _CACHE_LIMIT:
            _macs.clear()
        text = _macs[raw] = raw.hex(":")
    return text


def payload_hash(data: bytes, start: int, length: int) -> int | None:
    """crc32 of the first captured bytes (at most 64) of a payload of ``length`` bytes."""
    if length <= 0 or start >= len(data):
        return None
    return zlib.crc32(data[start : start + min(length, HASH_BYTES)])


def decode_frame(linktype: int, data: bytes) -> Frame:
    """Decode one captured frame of ``linktype``; never raises on malformed bytes."""
    if linktype == LINKTYPE_ETHERNET:
        headers = fast_eth_ipv4_tcp(data)
        if headers is not None:
            return Frame(headers, None, None, None, None, None)
    elif linktype == LINKTYPE_LINUX_SLL2:
        frame = fast_sll2_ipv4_tcp(data)
        if frame is not None:
            return frame
    return decode_frame_general(linktype, data)


def eth_ipv4(macs: bytes) -> EthHeader:
    """The EthHeader of an untagged IPv4 frame from its 12 address bytes (cached)."""
    eth = _eth4.get(macs)
    if eth is None:
        if len(_eth4) >= _CACHE_LIMIT:
            _eth4.clear()
        eth = _eth4[macs] = EthHeader(mac(macs[6:]), mac(macs[:6]), (), ETH_IPV4)
    return eth


def fast_eth_ipv4_tcp(data: bytes) -> Headers | None:
    """Headers of an Ethernet + IPv4 (no options) + TCP frame in one go; None for others.

    The same result as the general decoder, only quicker; the pcap reader inlines this.
    """
    if data[12:14] != b"\x08\x00":
        return None
    fast = fast_ipv4_tcp(data, 14)
    if fast is None:
        return None
    return Headers(eth_ipv4(data[:12]), fast[0], fast[1], None, fast[2])


def fast_sll2_ipv4_tcp(data: bytes) -> Frame | None:
    """The frame of a Linux cooked v2 + IPv4 (no options) + TCP packet; None for others."""
    if data[:2] != b"\x08\x00" or len(data) < 60:
        return None
    fast = fast_ipv4_tcp(data, 20)
    if fast is None:
        return None
    _proto, _res, ifindex, _hatype, pkttype, addrlen, addr = SLL2.unpack_from(data, 0)
    eth = EthHeader(mac(addr[:6]) if addrlen == 6 else None, None, (), ETH_IPV4)
    headers = _new(Headers, (eth, fast[0], fast[1], None, fast[2]))
    return _new(Frame, (headers, None, None, ifindex, _SLL_DIRECTION.get(pkttype), None))


def fast_ipv4_tcp(data: bytes, off: int) -> tuple[IPHeader, TCPHeader, int | None] | None:
    """(ip, tcp, payload hash) of an IPv4 (no options) + TCP packet at ``off``; else None."""
    caplen = len(data)
    if caplen >= off + 52:
        (vihl, _tos, total, ip_id, frag, ttl, proto, _csum, saddr, daddr, sport, dport, seq,
         ack, doff, flags, window, opt4, ts_val, ts_ecr) = _IP4_TCP_TS(data, off)
    elif caplen >= off + 40:
        (vihl, _tos, total, ip_id, frag, ttl, proto, _csum, saddr, daddr, sport, dport, seq,
         ack, doff, flags, window) = _IP4_TCP(data, off)
        opt4 = ts_val = ts_ecr = None
    else:
        return None
    if vihl != 0x45 or proto != PROTO_TCP or total < 40 or frag & 0x1FFF:
        return None
    hlen = (doff >> 4) << 2
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
    phash = None
    if plen > 0:
        pstart = tcp_off + hlen
        if pstart < caplen:
            phash = zlib.crc32(data[pstart : pstart + (plen if plen < HASH_BYTES else HASH_BYTES)])
    else:
        plen = 0
    ip = _new(IPHeader, (4, addr4(saddr), addr4(daddr), PROTO_TCP, ttl, ip_id, total,
                         frag & 0x4000 != 0, 0, frag & 0x2000 != 0))
    tcp = _new(TCPHeader, (sport, dport, flags, seq, ack, window, plen, options, False))
    return ip, tcp, phash


def decode_frame_general(linktype: int, data: bytes) -> Frame:
    """Decode one captured frame of ``linktype`` without shortcuts; never raises."""
    try:
        return _decode_frame(linktype, data)
    except (struct.error, IndexError, ValueError):  # defensive: every path checks lengths
        return Frame(Headers(None, None, None), None, None, None, None, "malformed:frame")


def _decode_frame(linktype: int, data: bytes) -> Frame:
    ifindex: int | None = None
    direction: str | None = None
    if linktype == LINKTYPE_ETHERNET:
        eth, ethertype, off, problem = decode_ethernet(data, 0)
    elif linktype == LINKTYPE_LINUX_SLL2:
        eth, ethertype, off, ifindex, direction, problem = _decode_sll2(data)
    elif linktype == LINKTYPE_LINUX_SLL:
        eth, ethertype, off, direction, problem = _decode_sll(data)
    elif linktype in RAW_LINKTYPES or linktype in (LINKTYPE_IPV4, LINKTYPE_IPV6):
        eth, off, problem = None, 0, None
        ethertype = _raw_ethertype(linktype, data)
    elif linktype in (LINKTYPE_NULL, LINKTYPE_LOOP):
        eth, ethertype, off, problem = _decode_loopback(data)
    else:
        raise ValueError(f"unsupported link type {linktype}")
    if problem is not None:
        return Frame(Headers(eth, None, None), None, None, ifindex, direction, problem)
    l3 = decode_l3(ethertype, data, off, True)
    headers = Headers(eth, l3.ip, l3.l4, l3.arp, l3.payload_hash)
    return Frame(headers, l3.inner, l3.vni, ifindex, direction, l3.problem)


def decode_ethernet(data: bytes, off: int) -> tuple[EthHeader | None, int, int, str | None]:
    """Ethernet header at ``off`` with its VLAN/QinQ tags: (eth, ethertype, l3 offset, problem)."""
    if len(data) < off + 14:
        return None, 0, off, "truncated:ethernet"
    dst, src, ethertype = ETH.unpack_from(data, off)
    pos = off + 14
    vlans: list[int] = []
    while ethertype in VLAN_TPIDS:
        if len(data) < pos + 4:
            return EthHeader(mac(src), mac(dst), tuple(vlans), ethertype), 0, pos, "truncated:vlan"
        tci, ethertype = struct.unpack_from("!HH", data, pos)
        vlans.append(tci & 0x0FFF)
        pos += 4
    return EthHeader(mac(src), mac(dst), tuple(vlans), ethertype), ethertype, pos, None


def _decode_sll(
    data: bytes,
) -> tuple[EthHeader | None, int, int, str | None, str | None]:
    if len(data) < 16:
        return None, 0, 0, None, "truncated:sll"
    pkttype, _hatype, addrlen, addr, proto = SLL.unpack_from(data, 0)
    src = mac(addr[:6]) if addrlen == 6 else None
    direction = _SLL_DIRECTION.get(pkttype)
    ethertype, off, vlans, problem = _after_cooked(data, 16, proto)
    return EthHeader(src, None, vlans, ethertype), ethertype, off, direction, problem


def _decode_sll2(
    data: bytes,
) -> tuple[EthHeader | None, int, int, int | None, str | None, str | None]:
    if len(data) < 20:
        return None, 0, 0, None, None, "truncated:sll2"
    proto, _res, ifindex, _hatype, pkttype, addrlen, addr = SLL2.unpack_from(data, 0)
    src = mac(addr[:6]) if addrlen == 6 else None
    direction = _SLL_DIRECTION.get(pkttype)
    ethertype, off, vlans, problem = _after_cooked(data, 20, proto)
    return EthHeader(src, None, vlans, ethertype), ethertype, off, ifindex, direction, problem


def _after_cooked(
    data: bytes, off: int, proto: int
) -> tuple[int, int, tuple[int, ...], str | None]:
    """VLAN tags libpcap re-inserts after a cooked header: (ethertype, offset, vlans, problem)."""
    vlans: list[int] = []
    while proto in VLAN_TPIDS:
        if len(data) < off + 4:
            return proto, off, tuple(vlans), "truncated:vlan"
        tci, proto = struct.unpack_from("!HH", data, off)
        vlans.append(tci & 0x0FFF)
        off += 4
    return proto, off, tuple(vlans), None


def _raw_ethertype(linktype: int, data: bytes) -> int:
    if linktype == LINKTYPE_IPV4:
        return ETH_IPV4
    if linktype == LINKTYPE_IPV6:
        return ETH_IPV6
    version = data[0] >> 4 if data else 0
    return ETH_IPV4 if version == 4 else ETH_IPV6 if version == 6 else -1


def _decode_loopback(data: bytes) -> tuple[None, int, int, str | None]:
    """BSD loopback: a 4-byte address family in the writer's byte order (or network order)."""
    if len(data) < 4:
        return None, 0, 0, "truncated:loopback"
    family = U32LE.unpack_from(data, 0)[0]
    if family > 0xFFFF:
        family = U32.unpack_from(data, 0)[0]
    if family == 2:
        return None, ETH_IPV4, 4, None
    if family in (10, 24, 28, 30):
        return None, ETH_IPV6, 4, None
    return None, -1, 4, None


def decode_l3(ethertype: int, data: bytes, off: int, allow_vxlan: bool) -> _L3:
    """Network layer and above at ``off``, chosen by ``ethertype`` (-1: unknown)."""
    if ethertype == ETH_IPV4:
        return _decode_ipv4(data, off, allow_vxlan)
    if ethertype == ETH_IPV6:
        return _decode_ipv6(data, off, allow_vxlan)
    if ethertype == ETH_ARP:
        return _decode_arp(data, off)
    return _NO_L3._replace(problem="other-protocol:" + _other_name(ethertype, data, off))


def _other_name(ethertype: int, data: bytes, off: int) -> str:
    if ethertype < 0:
        return "unknown"
    if ethertype < 0x0600:  # 802.3 length field: an LLC frame follows
        if len(data) > off + 1 and data[off] == 0x42 and data[off + 1] == 0x42:
            return "stp"
        return "llc"
    name = _OTHER_ETHERTYPES.get(ethertype)
    return name if name is not None else f"ethertype-0x{ethertype:04x}"


def _decode_arp(data: bytes, off: int) -> _L3:
    if len(data) < off + 28:
        return _NO_L3._replace(problem="truncated:arp")
    _htype, ptype, hlen, plen, op, sha, spa, tha, tpa = ARP.unpack_from(data, off)
    if ptype != ETH_IPV4 or hlen != 6 or plen != 4:
        return _NO_L3._replace(problem="other-protocol:arp-non-ipv4")
    arp = ARPHeader(op, mac(sha), addr4(spa), mac(tha), addr4(tpa))
    return _L3(None, None, arp, None, None, None, None)


def _decode_ipv4(data: bytes, off: int, allow_vxlan: bool) -> _L3:
    ip, l4off, end, problem = parse_ipv4(data, off)
    if ip is None or problem is not None:
        return _NO_L3._replace(ip=ip, problem=problem)
    if ip.frag_offset:
        return _L3(ip, None, None, None, None, None, None)
    return _decode_l4(ip, data, l4off, end, allow_vxlan)


def parse_ipv4(data: bytes, off: int) -> tuple[IPHeader | None, int, int, str | None]:
    """IPv4 header at ``off``: (header, L4 offset, end of the IP packet, problem)."""
    if len(data) < off + 20:
        return None, off, off, "truncated:ipv4"
    vihl, _tos, total, ip_id, frag, ttl, proto, _csum, src, dst = IPV4.unpack_from(data, off)
    ihl = (vihl & 0x0F) * 4
    if vihl >> 4 != 4 or ihl < 20:
        return None, off, off, "malformed:ipv4"
    if total == 0:  # segmentation offload: the kernel leaves the length to be filled in
        total = len(data) - off
    ip = IPHeader(4, addr4(src), addr4(dst), proto, ttl, ip_id, total, bool(frag & 0x4000),
                  (frag & 0x1FFF) * 8, bool(frag & 0x2000))
    if total < ihl:
        return ip, off + ihl, off + ihl, "malformed:ipv4-length"
    if len(data) < off + ihl:
        return ip, off + ihl, off + ihl, "truncated:ipv4-options"
    return ip, off + ihl, off + total, None


def _decode_ipv6(data: bytes, off: int, allow_vxlan: bool) -> _L3:
    ip, l4off, end, problem = parse_ipv6(data, off)
    if ip is None or problem is not None:
        return _NO_L3._replace(ip=ip, problem=problem)
    if ip.frag_offset:
        return _L3(ip, None, None, None, None, None, None)
    return _decode_l4(ip, data, l4off, end, allow_vxlan)


def parse_ipv6(data: bytes, off: int) -> tuple[IPHeader | None, int, int, str | None]:
    """IPv6 header and extension headers at ``off``: (header, L4 offset, end, problem)."""
    if len(data) < off + 40:
        return None, off, off, "truncated:ipv6"
    vtcfl, plen, nxt, hlim, src, dst = IPV6.unpack_from(data, off)
    if vtcfl >> 28 != 6:
        return None, off, off, "malformed:ipv6"
    end = off + 40 + plen if plen else len(data)  # 0: jumbogram or offload
    pos = off + 40
    frag_off, more, problem = 0, False, None
    while nxt in _IPV6_EXT or nxt == 44 or nxt == 51:
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
    ip = IPHeader(6, addr6(src), addr6(dst), nxt, hlim, None, 40 + plen, False, frag_off, more)
    return ip, pos, end, problem


def _decode_l4(ip: IPHeader, data: bytes, off: int, end: int, allow_vxlan: bool) -> _L3:
    proto = ip.proto
    if proto == PROTO_TCP:
        tcp, problem = parse_tcp(data, off, end)
        phash = payload_hash(data, end - tcp.payload_len, tcp.payload_len) if tcp else None
        return _L3(ip, tcp, None, phash, None, None, problem)
    if proto == PROTO_UDP:
        return _decode_udp(ip, data, off, end, allow_vxlan)
    if proto in (PROTO_ICMP, PROTO_ICMPV6):
        icmp, problem = _parse_icmp(data, off, end, 4 if proto == PROTO_ICMP else 6)
        phash = payload_hash(data, off + 8, end - off - 8) if icmp else None
        return _L3(ip, icmp, None, phash, None, None, problem)
    return _L3(ip, None, None, None, None, None, None)


def parse_tcp(data: bytes, off: int, end: int) -> tuple[TCPHeader | None, str | None]:
    """TCP header at ``off`` of an IP packet ending at ``end``: (header, problem)."""
    if len(data) < off + 20:
        return None, "truncated:tcp"
    sport, dport, seq, ack, doff, flags, window, _csum, _urg = TCP.unpack_from(data, off)
    hlen = (doff >> 4) * 4
    if hlen < 20:
        return None, "malformed:tcp"
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


def _decode_udp(ip: IPHeader, data: bytes, off: int, end: int, allow_vxlan: bool) -> _L3:
    if len(data) < off + 8:
        return _L3(ip, None, None, None, None, None, "truncated:udp")
    sport, dport, length, _csum = UDP.unpack_from(data, off)
    payload_len = length - 8 if 8 <= length <= end - off else max(end - off - 8, 0)
    udp = UDPHeader(sport, dport, payload_len)
    phash = payload_hash(data, off + 8, payload_len)
    if (allow_vxlan and dport == VXLAN_PORT and payload_len >= 22 and len(data) >= off + 30
            and data[off + 8] & 0x08):
        vni = int.from_bytes(data[off + 12 : off + 15], "big")
        inner, problem = _decode_inner(data, off + 16)
        return _L3(ip, udp, None, phash, inner, vni, problem)
    return _L3(ip, udp, None, phash, None, None, None)


def _decode_inner(data: bytes, off: int) -> tuple[Headers, str | None]:
    eth, ethertype, l3off, problem = decode_ethernet(data, off)
    if problem is not None:
        return Headers(eth, None, None), problem
    l3 = decode_l3(ethertype, data, l3off, False)
    return Headers(eth, l3.ip, l3.l4, l3.arp, l3.payload_hash), l3.problem


def _parse_icmp(
    data: bytes, off: int, end: int, version: int
) -> tuple[ICMPHeader | None, str | None]:
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
        sport, dport = struct.unpack_from("!HH", data, l4off)
    return QuotedHeader(ip, sport, dport), None
