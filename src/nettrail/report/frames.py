"""Minimal valid frames built from decoded headers, for captures that kept no bytes (text).

tcpdump text gives addresses, ports, flags, seq/ack and lengths but no bytes; Wireshark needs
bytes. These functions write the headers we know into an Ethernet frame: the payload is left
out (the captured length is shorter than the original length, as with a snap length), and
checksums are zero because the payload they cover is unknown.
"""

from __future__ import annotations

import ipaddress
import struct

from nettrail.model.packet import (
    ARPHeader,
    EthHeader,
    Headers,
    ICMPHeader,
    IPHeader,
    TCPHeader,
    TCPOptions,
    UDPHeader,
)

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_ARP = 0x0806
ETH_VLAN = 0x8100
ETH_TEB = 0x6558
_MAX_WIRE_LEN = 0xFFFFFFFF  # what a capture file can say of a packet's length
VXLAN_FLAGS = 0x08
GENEVE_PORT = 6081
PROTO_GRE = 47
PROTO_IPIP = 4
PROTO_IPV6_IN_IP = 41
_SRC_MAC = "02:00:00:00:00:01"
_DST_MAC = "02:00:00:00:00:02"


def synthesize(headers: Headers, inner: Headers | None = None, vni: int | None = None) -> tuple[
    bytes, int
]:
    """An Ethernet frame for ``headers`` (with its tunnel's ``inner`` frame: VXLAN, Geneve,
    GRE, IP in IP) and its length on the wire.

    The bytes hold headers only, exactly those the record has (no TCP options where it has
    none); the returned length counts the payload the headers announce.
    """
    extra, extra_len = (b"", 0) if inner is None else _tunnel(headers, inner, vni)
    body, body_len = _network(headers, extra, extra_len)
    eth = _ethernet(headers.eth, _ethertype(headers))
    return eth + body, min(len(eth) + body_len, _MAX_WIRE_LEN)


def _tunnel(headers: Headers, inner: Headers, vni: int | None) -> tuple[bytes, int]:
    """The tunnel header and inner frame after the outer transport, and their wire length."""
    l4, ip = headers.l4, headers.ip
    if isinstance(l4, UDPHeader) and l4.dport == GENEVE_PORT:
        body, body_len = _inner_frame(inner)
        proto = _ethertype(inner) if inner.eth is None else ETH_TEB
        head = struct.pack("!BBHI", 0, 0, proto, ((vni or 0) & 0xFFFFFF) << 8)
        return head + body, 8 + body_len
    if isinstance(l4, UDPHeader):
        inner_bytes, inner_len = synthesize(inner)
        head = struct.pack("!BxxxI", VXLAN_FLAGS, ((vni or 0) & 0xFFFFFF) << 8)
        return head + inner_bytes, 8 + inner_len
    if ip is not None and ip.proto == PROTO_GRE:
        body, body_len = _inner_frame(inner)
        proto = _ethertype(inner) if inner.eth is None else ETH_TEB
        return struct.pack("!HH", 0, proto) + body, 4 + body_len
    if ip is not None and ip.proto in (PROTO_IPIP, PROTO_IPV6_IN_IP):
        return _inner_frame(inner)
    return b"", 0


def _inner_frame(inner: Headers) -> tuple[bytes, int]:
    """An inner frame as a tunnel carries it: with Ethernet when the text showed one."""
    if inner.eth is not None:
        return synthesize(inner)
    return _network(inner, b"", 0)


def _ethertype(headers: Headers) -> int:
    if headers.ip is not None:
        return ETH_IPV4 if headers.ip.version == 4 else ETH_IPV6
    if headers.arp is not None:
        return ETH_ARP
    return headers.eth.ethertype if headers.eth is not None else ETH_IPV4


def _mac(text: str | None, default: str) -> bytes:
    try:
        raw = bytes.fromhex((text or default).replace(":", ""))
    except ValueError:
        raw = b""
    return raw if len(raw) == 6 else bytes.fromhex(default.replace(":", ""))


def _ethernet(eth: EthHeader | None, ethertype: int) -> bytes:
    src = _mac(eth.src if eth else None, _SRC_MAC)
    dst = _mac(eth.dst if eth else None, _DST_MAC)
    vlans = eth.vlans if eth else ()
    tags = b"".join(struct.pack("!HH", ETH_VLAN, vid & 0x0FFF) for vid in vlans)
    return dst + src + tags + struct.pack("!H", ethertype)


def _network(headers: Headers, extra: bytes, extra_len: int) -> tuple[bytes, int]:
    """The bytes after the Ethernet header and their length on the wire."""
    if headers.arp is not None:
        data = _arp(headers.arp)
        return data, len(data)
    ip = headers.ip
    if ip is None:
        return b"", 0
    l4, l4_len = _transport(headers.l4, ip, extra, extra_len)
    head = _ipv4(ip, l4_len) if ip.version == 4 else _ipv6(ip, l4_len)
    return head + l4, len(head) + l4_len


def _ipv4(ip: IPHeader, l4_len: int) -> bytes:
    flags = (0x4000 if ip.df else 0) | (0x2000 if ip.more_fragments else 0)
    frag = flags | ((ip.frag_offset // 8) & 0x1FFF)
    head = struct.pack(
        "!BBHHHBBH4s4s",
        0x45,
        0,
        min(20 + l4_len, 0xFFFF),
        (ip.ip_id or 0) & 0xFFFF,
        frag,
        ip.ttl if ip.ttl is not None else 64,
        ip.proto,
        0,
        _addr(ip.src, 4),
        _addr(ip.dst, 4),
    )
    return head[:10] + struct.pack("!H", _checksum(head)) + head[12:]


def _ipv6(ip: IPHeader, l4_len: int) -> bytes:
    return struct.pack(
        "!IHBB16s16s",
        6 << 28,
        min(l4_len, 0xFFFF),
        ip.proto,
        ip.ttl if ip.ttl is not None else 64,
        _addr(ip.src, 6),
        _addr(ip.dst, 6),
    )


def _transport(
    l4: TCPHeader | UDPHeader | ICMPHeader | None, ip: IPHeader, extra: bytes, extra_len: int
) -> tuple[bytes, int]:
    """Transport header bytes (plus ``extra``) and the transport length on the wire."""
    if isinstance(l4, TCPHeader):
        head = _tcp(l4)
        return head, len(head) + l4.payload_len
    if isinstance(l4, UDPHeader):
        payload = extra_len if extra else l4.payload_len
        head = struct.pack("!HHHH", l4.sport, l4.dport, min(8 + payload, 0xFFFF), 0)
        return head + extra, 8 + payload
    if extra:  # GRE or IP in IP: the tunnel is the transport
        return extra, extra_len
    announced = _announced_l4_len(ip)
    if isinstance(l4, ICMPHeader):
        head = _icmp(l4)
        return head, max(len(head), announced)
    return b"", announced


def _announced_l4_len(ip: IPHeader) -> int:
    """The transport length the IP header announces (IPv4 total length less its header)."""
    if ip.length is None:
        return 0
    return max(ip.length - 20, 0) if ip.version == 4 else max(ip.length, 0)


def _tcp(tcp: TCPHeader) -> bytes:
    options = _tcp_options(tcp.options)
    offset = (20 + len(options)) // 4
    head = struct.pack(
        "!HHIIBBHHH",
        tcp.sport,
        tcp.dport,
        (tcp.seq or 0) & 0xFFFFFFFF,
        (tcp.ack or 0) & 0xFFFFFFFF,
        offset << 4 | (tcp.flags >> 8) & 1,  # AE, the ninth flag bit
        tcp.flags & 0xFF,
        min(tcp.window or 0, 0xFFFF),
        0,
        0,
    )
    return head + options


def _tcp_options(opts: TCPOptions) -> bytes:
    """The options we know, in their recorded order, padded to a multiple of four bytes;
    none at all when the record has none (a 20-byte header)."""
    order = opts.order
    if not order and (opts.mss is not None or opts.wscale is not None or opts.sack_ok
                      or opts.ts_val is not None or opts.sack):
        order = ("mss", "sackOK", "TS", "nop", "wscale")
    out = bytearray()
    for name in order:
        out += _tcp_option(name, opts)
    while len(out) % 4:
        out.append(1)  # NOP
    return bytes(out[:40])


def _tcp_option(name: str, opts: TCPOptions) -> bytes:
    lowered = name.lower()
    if lowered == "nop":
        return b"\x01"
    if lowered == "mss" and opts.mss is not None:
        return struct.pack("!BBH", 2, 4, opts.mss & 0xFFFF)
    if lowered == "wscale" and opts.wscale is not None:
        return struct.pack("!BBB", 3, 3, opts.wscale & 0xFF)
    if lowered in ("sackok", "sack_ok") and opts.sack_ok:
        return b"\x04\x02"
    if lowered in ("ts", "timestamp", "timestamps") and opts.ts_val is not None:
        ecr = (opts.ts_ecr or 0) & 0xFFFFFFFF
        return struct.pack("!BBII", 8, 10, opts.ts_val & 0xFFFFFFFF, ecr)
    if lowered == "sack" and opts.sack:
        blocks = opts.sack[:4]
        edges = b"".join(struct.pack("!II", a & 0xFFFFFFFF, b & 0xFFFFFFFF) for a, b in blocks)
        return struct.pack("!BB", 5, 2 + len(edges)) + edges
    return b""


def _icmp(icmp: ICMPHeader) -> bytes:
    rest = 0
    if icmp.is_frag_needed and icmp.mtu is not None:
        rest = icmp.mtu & 0xFFFF if icmp.version == 4 else icmp.mtu & 0xFFFFFFFF
    elif icmp.ident is not None:
        rest = ((icmp.ident & 0xFFFF) << 16) | ((icmp.sequence or 0) & 0xFFFF)
    return struct.pack("!BBHI", icmp.type & 0xFF, icmp.code & 0xFF, 0, rest)


def _arp(arp: ARPHeader) -> bytes:
    return struct.pack(
        "!HHBBH6s4s6s4s",
        1,
        ETH_IPV4,
        6,
        4,
        arp.op,
        _mac(arp.sender_mac, _SRC_MAC),
        _addr(arp.sender_ip, 4),
        _mac(arp.target_mac, "00:00:00:00:00:00"),
        _addr(arp.target_ip, 4),
    )


def _addr(text: str, version: int) -> bytes:
    """The packed address, or all zeros when the text is not an address (a resolved name)."""
    try:
        if version == 4:
            return ipaddress.IPv4Address(text).packed
        return ipaddress.IPv6Address(text).packed
    except ValueError:
        return bytes(4 if version == 4 else 16)


def _checksum(data: bytes) -> int:
    """The Internet checksum (RFC 1071) of ``data``."""
    if len(data) % 2:
        data += b"\x00"
    total: int = sum(struct.unpack(f"!{len(data) // 2}H", data))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF
