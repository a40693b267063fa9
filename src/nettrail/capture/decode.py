"""Headers from captured bytes, for every link type nettrail reads.

``decode_frame(linktype, data)`` is the decoder both binary readers use: a fast path for the
common Ethernet or Linux cooked v2 + IPv4 + TCP frame, else ``decode_frame_general``; the pcap
reader inlines the Ethernet fast path. All paths must give the same result (unit tests check
them on the same frames). Single headers (IP, TCP, ICMP) are parsed in ``headers``.

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
* A packet ends where its IP length says, or where the frame ended on the wire (its original
  length, passed as ``wire``) when that is sooner: a datagram cut short before it was captured
  carries only what the frame held (tshark's ``tcp.len``); where only the snap length cut the
  capture, the IP length stands. A tunnel's inner packet ends with the outer one at the latest.
* ``Headers.payload_hash`` is ``zlib.crc32`` of the first 64 captured bytes of the L4 payload
  (TCP/UDP data, ICMP body after its 8-byte header), None when there is no payload.
* A UDP packet to port 4789 whose VXLAN header has the I flag is decoded once more: the inner
  Ethernet frame goes to ``inner`` and the network identifier to ``vni``.
"""

from __future__ import annotations

import struct
from typing import NamedTuple

from nettrail.capture import links, tunnels
from nettrail.capture.headers import (
    _new,
    addr4,
    fast_ipv4_tcp,
    mac,
    parse_icmp,
    parse_ipv4,
    parse_ipv6,
    parse_tcp,
    payload_hash,
    wire_end,
)
from nettrail.model.cache import remember
from nettrail.model.linktype import LINKTYPE_ETHERNET as LINKTYPE_ETHERNET
from nettrail.model.linktype import LINKTYPE_IPV4 as LINKTYPE_IPV4
from nettrail.model.linktype import LINKTYPE_IPV6 as LINKTYPE_IPV6
from nettrail.model.linktype import LINKTYPE_LINUX_SLL as LINKTYPE_LINUX_SLL
from nettrail.model.linktype import LINKTYPE_LINUX_SLL2 as LINKTYPE_LINUX_SLL2
from nettrail.model.linktype import LINKTYPE_LOOP as LINKTYPE_LOOP
from nettrail.model.linktype import LINKTYPE_NULL as LINKTYPE_NULL
from nettrail.model.linktype import LINKTYPE_RAW as LINKTYPE_RAW
from nettrail.model.linktype import RAW_LINKTYPES as RAW_LINKTYPES
from nettrail.model.packet import (
    L4,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    ARPHeader,
    EthHeader,
    Headers,
    IPHeader,
    Tunnel,
    UDPHeader,
)

SUPPORTED_LINKTYPES = frozenset(
    {LINKTYPE_NULL, LINKTYPE_ETHERNET, LINKTYPE_LOOP, LINKTYPE_LINUX_SLL, LINKTYPE_IPV4,
     LINKTYPE_IPV6, LINKTYPE_LINUX_SLL2} | RAW_LINKTYPES | links.OTHER_LINKTYPES
)

ETH_IPV4 = 0x0800
ETH_ARP = 0x0806
ETH_IPV6 = 0x86DD
ETH_MPLS = frozenset({0x8847, 0x8848})
ETH_TEB = links.ETH_TEB
ETH_PPPOE_SESSION = 0x8864
VLAN_TPIDS = frozenset({0x8100, 0x88A8, 0x9100})
VXLAN_PORT = 4789
GENEVE_PORT = 6081
MAX_DEPTH = 4  # tunnels inside tunnels decoded at most this deep
_PROTO_IPIP = 4
_PROTO_IPV6 = 41
_PROTO_GRE = 47

_OTHER_ETHERTYPES = {
    0x88CC: "lldp", 0x8035: "rarp", 0x888E: "eapol", 0x8863: "pppoe-discovery", 0x88F7: "ptp",
    0x8809: "slow-protocols", 0x0842: "wol",
    0x9000: "loopback", 0x22F0: "avtp", 0x893A: "ieee1905",
}
_SLL_DIRECTION = {0: "in", 1: "in", 2: "in", 3: "in", 4: "out"}

ETH = struct.Struct("!6s6sH")
UDP = struct.Struct("!HHHH")
ARP = struct.Struct("!HHBBH6s4s6s4s")
SLL = struct.Struct("!HHH8sH")
SLL2 = struct.Struct("!HHiHBB8s")
VLAN = struct.Struct("!HH")
U32 = struct.Struct("!I")
U32LE = struct.Struct("<I")

# Ethernet + IPv4 (no options) + TCP fixed header: 54 bytes in one unpack; the second
# variant also takes the first TCP option bytes and a timestamp option's values.
FAST = struct.Struct("!12sHBBHHHBBH4s4sHHIIBBH4x")
FAST_TS = struct.Struct("!12sHBBHHHBBH4s4sHHIIBBH4x4sII")
_eth4: dict[bytes, EthHeader] = {}


class Frame(NamedTuple):
    """One decoded frame: outer and inner headers, what the link layer told, what went wrong.

    ``ifindex`` and ``direction`` come from Linux cooked (or PPP, Juniper) headers; ``problem``
    is the ``stats.skipped`` reason for a frame that could not be fully decoded, else None;
    ``tunnel`` the encapsulation ``inner`` came out of (``vni`` is set for VXLAN only).
    """

    headers: Headers
    inner: Headers | None
    vni: int | None
    ifindex: int | None
    direction: str | None
    problem: str | None
    tunnel: Tunnel | None = None


class _L3(NamedTuple):
    ip: IPHeader | None
    l4: L4 | None
    arp: ARPHeader | None
    payload_hash: int | None
    inner: Headers | None
    vni: int | None
    problem: str | None
    tunnel: Tunnel | None = None


_NO_L3 = _L3(None, None, None, None, None, None, None)


def decode_frame(linktype: int, data: bytes, wire: int | None = None) -> Frame:
    """Decode one captured frame of ``linktype``, ``wire`` bytes long on the wire (its
    original length; None: unknown); never raises on malformed bytes."""
    if linktype == LINKTYPE_ETHERNET:
        headers = fast_eth_ipv4_tcp(data, wire)
        if headers is not None:
            return Frame(headers, None, None, None, None, None)
    elif linktype == LINKTYPE_LINUX_SLL2:
        frame = fast_sll2_ipv4_tcp(data, wire)
        if frame is not None:
            return frame
    return decode_frame_general(linktype, data, wire)


def eth_ipv4(macs: bytes) -> EthHeader:
    """The EthHeader of an untagged IPv4 frame from its 12 address bytes (cached)."""
    eth = _eth4.get(macs)
    if eth is None:
        eth = remember(_eth4, macs, EthHeader(mac(macs[6:]), mac(macs[:6]), (), ETH_IPV4))
    return eth


def fast_eth_ipv4_tcp(data: bytes, wire: int | None = None) -> Headers | None:
    """Headers of an Ethernet + IPv4 (no options) + TCP frame in one go; None for others.

    The same result as the general decoder, only quicker; the pcap reader inlines this.
    """
    if data[12:14] != b"\x08\x00":
        return None
    fast = fast_ipv4_tcp(data, 14, wire)
    if fast is None:
        return None
    return Headers(eth_ipv4(data[:12]), fast[0], fast[1], None, fast[2])


def fast_sll2_ipv4_tcp(data: bytes, wire: int | None = None) -> Frame | None:
    """The frame of a Linux cooked v2 + IPv4 (no options) + TCP packet; None for others."""
    if data[:2] != b"\x08\x00" or len(data) < 60:
        return None
    fast = fast_ipv4_tcp(data, 20, wire)
    if fast is None:
        return None
    _proto, _res, ifindex, _hatype, pkttype, addrlen, addr = SLL2.unpack_from(data, 0)
    eth = EthHeader(mac(addr[:6]) if addrlen == 6 else None, None, (), ETH_IPV4)
    headers = _new(Headers, (eth, fast[0], fast[1], None, fast[2]))
    return _new(Frame, (headers, None, None, ifindex, _SLL_DIRECTION.get(pkttype), None, None))


def decode_frame_general(linktype: int, data: bytes, wire: int | None = None) -> Frame:
    """Decode one captured frame of ``linktype`` (``wire``: as for ``decode_frame``) without
    shortcuts; never raises."""
    try:
        return _decode_frame(linktype, data, wire_end(data, wire))
    except (struct.error, IndexError, ValueError):  # defensive: every path checks lengths
        return Frame(Headers(None, None, None), None, None, None, None, "malformed:frame")


def _decode_frame(linktype: int, data: bytes, wire: int | None) -> Frame:
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
    elif linktype in links.OTHER_LINKTYPES:
        ethertype, off, direction, problem = links.other_link(linktype, data)
        eth = None
        if problem is None and ethertype == ETH_TEB:
            eth, ethertype, off, problem = decode_ethernet(data, off)
    else:
        raise ValueError(f"unsupported link type {linktype}")
    if problem is not None:
        return Frame(Headers(eth, None, None), None, None, ifindex, direction, problem)
    l3 = decode_l3(ethertype, data, off, 0, wire)
    headers = Headers(eth, l3.ip, l3.l4, l3.arp, l3.payload_hash)
    return Frame(headers, l3.inner, l3.vni, ifindex, direction, l3.problem, l3.tunnel)


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
        tci, ethertype = VLAN.unpack_from(data, pos)
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
        tci, proto = VLAN.unpack_from(data, off)
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


def decode_l3(ethertype: int, data: bytes, off: int, depth: int,
              wire: int | None = None) -> _L3:
    """Network layer and above at ``off``, chosen by ``ethertype`` (-1: unknown), ``depth``
    tunnels deep (tunnels are decoded while it is below ``MAX_DEPTH``), in a frame that ended
    at ``wire`` on the wire (``headers.wire_end``; None: unknown): an IP packet whose length
    field says more was cut short on the wire and its payload ends there."""
    if ethertype == ETH_IPV4:
        return _decode_ip(parse_ipv4(data, off, wire), data, depth)
    if ethertype == ETH_IPV6:
        return _decode_ip(parse_ipv6(data, off, wire), data, depth)
    if ethertype == ETH_ARP:
        return _decode_arp(data, off)
    if ethertype in ETH_MPLS and depth < MAX_DEPTH:
        return _decode_mpls(data, off, depth, wire)
    if ethertype == ETH_PPPOE_SESSION:
        link = links.ppp_protocol(data, off + 6)
        if link.problem is not None:
            return _NO_L3._replace(problem=link.problem)
        return decode_l3(link.ethertype, data, link.offset, depth, wire)
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


def _decode_ip(parsed: tuple[IPHeader | None, int, int, str | None], data: bytes,
               depth: int) -> _L3:
    """The layers of an IPv4 or IPv6 packet from its parsed header (``parse_ipv4/6``)."""
    ip, l4off, end, problem = parsed
    if ip is None or problem is not None:
        return _NO_L3._replace(ip=ip, problem=problem)
    if ip.frag_offset:
        return _L3(ip, None, None, None, None, None, None)
    return _decode_l4(ip, data, l4off, end, depth)


def _decode_l4(ip: IPHeader, data: bytes, off: int, end: int, depth: int) -> _L3:
    """What an IP packet ending at ``end`` carries from ``off`` (a tunnel's inner packet ends
    there too, at the latest)."""
    proto = ip.proto
    if proto == PROTO_TCP:
        tcp, problem = parse_tcp(data, off, end)
        phash = payload_hash(data, end - tcp.payload_len, tcp.payload_len) if tcp else None
        return _L3(ip, tcp, None, phash, None, None, problem)
    if proto == PROTO_UDP:
        return _decode_udp(ip, data, off, end, depth)
    if proto in (PROTO_ICMP, PROTO_ICMPV6):
        icmp, problem = parse_icmp(data, off, end, 4 if proto == PROTO_ICMP else 6)
        phash = payload_hash(data, off + 8, end - off - 8) if icmp else None
        return _L3(ip, icmp, None, phash, None, None, problem)
    if depth < MAX_DEPTH and proto in (_PROTO_IPIP, _PROTO_IPV6):
        kind = ("ip" if proto == _PROTO_IPIP else "ip6") + ("ip" if ip.version == 4 else "ip6")
        inner = ETH_IPV4 if proto == _PROTO_IPIP else ETH_IPV6
        return _tunnel(ip, None, kind, None, inner, data, off, depth, end)
    if depth < MAX_DEPTH and proto == _PROTO_GRE:
        gre = tunnels.gre(data, off)
        if isinstance(gre, str):
            return _L3(ip, None, None, None, None, None, gre)
        kind, tid, inner, pos = gre
        return _tunnel(ip, None, kind, tid, inner, data, pos, depth, end)
    return _L3(ip, None, None, None, None, None, None)


def _decode_udp(ip: IPHeader, data: bytes, off: int, end: int, depth: int) -> _L3:
    if len(data) < off + 8:
        return _L3(ip, None, None, None, None, None, "truncated:udp")
    sport, dport, length, _csum = UDP.unpack_from(data, off)
    payload_len = length - 8 if 8 <= length <= end - off else max(end - off - 8, 0)
    udp = UDPHeader(sport, dport, payload_len)
    phash = payload_hash(data, off + 8, payload_len)
    if depth >= MAX_DEPTH:
        return _L3(ip, udp, None, phash, None, None, None)
    if (dport == VXLAN_PORT and payload_len >= 22 and len(data) >= off + 30
            and data[off + 8] & 0x08):
        vni = int.from_bytes(data[off + 12 : off + 15], "big")
        return _tunnel(ip, udp, "vxlan", vni, ETH_TEB, data, off + 16, depth, end, phash)
    if dport == GENEVE_PORT:
        geneve = tunnels.geneve(data, off + 8)
        if geneve is not None:
            vni, inner, pos = geneve
            return _tunnel(ip, udp, "geneve", vni, inner, data, pos, depth, end, phash)
    return _L3(ip, udp, None, phash, None, None, None)


def _decode_mpls(data: bytes, off: int, depth: int, wire: int | None) -> _L3:
    """An MPLS label stack: what it carries is the inner packet, the top label its id."""
    mpls = tunnels.mpls(data, off)
    if isinstance(mpls, str):
        return _NO_L3._replace(problem=mpls)
    label, inner, pos = mpls
    return _tunnel(None, None, "mpls", label, inner, data, pos, depth, wire)


def _tunnel(
    ip: IPHeader | None, l4: L4 | None, kind: str, tid: int | None, ethertype: int,
    data: bytes, off: int, depth: int, wire: int | None, phash: int | None = None,
) -> _L3:
    """The outer ``ip``/``l4`` with the innermost packet a tunnel of ``kind`` carries, which
    ends at ``wire`` at the latest (where the carrying packet or frame ends; None: unknown)."""
    eth = None
    problem = None
    if ethertype == links.ETH_PPP:
        skip = 2 if data[off : off + 2] == b"\xff\x03" else 0
        ethertype, off, _dir, problem = links.ppp_protocol(data, off + skip)
    elif ethertype == ETH_TEB:
        eth, ethertype, off, problem = decode_ethernet(data, off)
    tunnel = Tunnel(kind, tid)
    if problem is not None:
        inner = Headers(eth, None, None)
    else:
        l3 = decode_l3(ethertype, data, off, depth + 1, wire)
        problem = l3.problem
        if l3.inner is not None and l3.tunnel is not None:  # a tunnel in the tunnel
            inner = l3.inner
            tunnel = Tunnel(f"{kind}/{l3.tunnel.kind}", l3.tunnel.id)
        else:
            inner = Headers(eth, l3.ip, l3.l4, l3.arp, l3.payload_hash)
    vni = tunnel.id if tunnel.kind == "vxlan" else None
    return _L3(ip, l4, None, phash, inner, vni, problem, tunnel)

