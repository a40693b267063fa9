"""Hand-built frames and capture files for the capture reader tests (bytes as on the wire)."""

from __future__ import annotations

import ipaddress
import struct
from collections.abc import Iterable, Sequence

MAC_A = "02:00:00:00:00:0a"
MAC_B = "02:00:00:00:00:0b"


def _mac(text: str) -> bytes:
    return bytes.fromhex(text.replace(":", ""))


def _addr(text: str) -> bytes:
    return ipaddress.ip_address(text).packed


def eth(payload: bytes, etype: int = 0x0800, vlans: Sequence[int] = (), src: str = MAC_A,
        dst: str = MAC_B, tpid: int = 0x8100) -> bytes:
    """An Ethernet frame (VLAN tags outermost first)."""
    head = _mac(dst) + _mac(src)
    for i, vid in enumerate(vlans):
        head += struct.pack("!HH", 0x88A8 if i < len(vlans) - 1 else tpid, vid)
    return head + struct.pack("!H", etype) + payload


def ipv4(src: str, dst: str, proto: int, payload: bytes, *, ttl: int = 64, ip_id: int = 1,
         df: bool = True, frag: int = 0, mf: bool = False, options: bytes = b"",
         total: int | None = None, tos: int = 0) -> bytes:
    """An IPv4 packet; ``frag`` in bytes."""
    ihl = (20 + len(options)) // 4
    flags = (0x4000 if df else 0) | (0x2000 if mf else 0) | (frag // 8)
    length = total if total is not None else ihl * 4 + len(payload)
    return struct.pack("!BBHHHBBH4s4s", 0x40 | ihl, tos, length, ip_id, flags, ttl, proto, 0,
                       _addr(src), _addr(dst)) + options + payload


def ipv6(src: str, dst: str, nh: int, payload: bytes, *, hlim: int = 64,
         ext: Sequence[tuple[int, bytes]] = (), tclass: int = 0) -> bytes:
    """An IPv6 packet; ``ext`` is (header type, header bytes) in order, before ``payload``."""
    body = b""
    types = [t for t, _ in ext] + [nh]
    for i, (_t, hdr) in enumerate(ext):
        body += bytes([types[i + 1]]) + hdr[1:]
    first = types[0]
    body += payload
    return struct.pack("!IHBB16s16s", 6 << 28 | tclass << 20, len(body), first, hlim, _addr(src),
                       _addr(dst)) + body


def tcp(sport: int, dport: int, flags: int, seq: int = 1000, ack: int = 0, win: int = 502,
        options: bytes = b"", payload: bytes = b"") -> bytes:
    """A TCP segment (options padded by the caller to 4 bytes)."""
    hlen = 20 + len(options)
    return struct.pack("!HHIIBBHHH", sport, dport, seq, ack, (hlen // 4) << 4, flags, win,
                       0, 0) + options + payload


def udp(sport: int, dport: int, payload: bytes) -> bytes:
    """A UDP datagram."""
    return struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload


def icmp(itype: int, code: int, word1: int = 0, word2: int = 0, body: bytes = b"") -> bytes:
    """An ICMP or ICMPv6 message."""
    return struct.pack("!BBHHH", itype, code, 0, word1, word2) + body


def arp(op: int, smac: str, sip: str, tmac: str, tip: str) -> bytes:
    """An Ethernet/IPv4 ARP message."""
    return struct.pack("!HHBBH6s4s6s4s", 1, 0x0800, 6, 4, op, _mac(smac), _addr(sip),
                       _mac(tmac), _addr(tip))


def vxlan(vni: int, inner: bytes) -> bytes:
    """A VXLAN header (I flag set) and the inner Ethernet frame."""
    return struct.pack("!B3xI", 0x08, vni << 8) + inner


def sll(payload: bytes, proto: int = 0x0800, pkttype: int = 0, addr: str = MAC_A) -> bytes:
    """A Linux cooked v1 header (DLT 113) and payload."""
    return struct.pack("!HHH8sH", pkttype, 1, 6, _mac(addr) + b"\0\0", proto) + payload


def sll2(payload: bytes, proto: int = 0x0800, ifindex: int = 3, pkttype: int = 0,
         addr: str = MAC_A) -> bytes:
    """A Linux cooked v2 header (DLT 276) and payload."""
    return struct.pack("!HHiHBB8s", proto, 0, ifindex, 1, pkttype, 6,
                       _mac(addr) + b"\0\0") + payload


# -- files ---------------------------------------------------------------------------------

def pcap(frames: Iterable[tuple[int, bytes]], linktype: int = 1, *, nano: bool = False,
         big: bool = False, snaplen: int = 262144, wire_extra: int = 0) -> bytes:
    """A pcap file of (ts_ns, frame) records."""
    order = ">" if big else "<"
    magic = 0xA1B23C4D if nano else 0xA1B2C3D4
    out = [struct.pack(order + "IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype)]
    for ts_ns, frame in frames:
        sec, rest = divmod(ts_ns, 1_000_000_000)
        frac = rest if nano else rest // 1000
        out.append(struct.pack(order + "IIII", sec, frac, len(frame), len(frame) + wire_extra))
        out.append(frame)
    return b"".join(out)


def _options(order: str, opts: Sequence[tuple[int, bytes]]) -> bytes:
    if not opts:
        return b""
    out = b""
    for code, value in opts:
        out += struct.pack(order + "HH", code, len(value)) + value + b"\0" * (-len(value) % 4)
    return out + struct.pack(order + "HH", 0, 0)


def block(btype: int, body: bytes, order: str = "<") -> bytes:
    """A pcapng block of ``btype`` around ``body`` (padded to 4 bytes)."""
    body += b"\0" * (-len(body) % 4)
    size = len(body) + 12
    return struct.pack(order + "II", btype, size) + body + struct.pack(order + "I", size)


def shb(order: str = "<", opts: Sequence[tuple[int, bytes]] = ()) -> bytes:
    """A section header block."""
    body = struct.pack(order + "IHHq", 0x1A2B3C4D, 1, 0, -1) + _options(order, opts)
    return block(0x0A0D0D0A, body, order)


def idb(linktype: int = 1, name: str | None = None, tsresol: int | None = None,
        tsoffset: int | None = None, snaplen: int = 262144, order: str = "<") -> bytes:
    """An interface description block."""
    opts: list[tuple[int, bytes]] = []
    if name is not None:
        opts.append((2, name.encode()))
    if tsresol is not None:
        opts.append((9, bytes([tsresol])))
    if tsoffset is not None:
        opts.append((14, struct.pack(order + "q", tsoffset)))
    body = struct.pack(order + "HHI", linktype, 0, snaplen) + _options(order, opts)
    return block(1, body, order)


def epb(data: bytes, ts: int, if_id: int = 0, *, comment: str | None = None,
        flags: int | None = None, order: str = "<", wire_len: int | None = None) -> bytes:
    """An enhanced packet block; ``ts`` in the interface's units."""
    opts: list[tuple[int, bytes]] = []
    if comment is not None:
        opts.append((1, comment.encode()))
    if flags is not None:
        opts.append((2, struct.pack(order + "I", flags)))
    head = struct.pack(order + "5I", if_id, ts >> 32, ts & 0xFFFFFFFF, len(data),
                       len(data) if wire_len is None else wire_len)
    padded = data + b"\0" * (-len(data) % 4)
    return block(6, head + padded + _options(order, opts), order)


def spb(data: bytes, order: str = "<") -> bytes:
    """A simple packet block."""
    return block(3, struct.pack(order + "I", len(data)) + data, order)


# -- payloads that look like lines of text (tcpdump -A) ----------------------------------------

MAC = "02:00:00:00:00:01"
"""A MAC with no byte 0x0a (``-AA`` would break its line inside the link header)."""
REQUEST = b"GET /?q=a HTTP/1.1\r\nHost: example\r\n\r\n"
REPLY = (b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n\r\n<html><body>one<br>two<br/>\n"
         b"\tindented &amp; tabbed\n\nGET / HTTP/1.1\nIP 1.2.3.4.5 > 6.7.8.9.10: Flags [S]\n"
         b"<b>bold</b> *stars* `ticks` =3D\nkey=")
BIG = b"".join(b"line %05d of a large reply=\n" % n for n in range(400))  # 11,200 bytes


def dump_hazards() -> list[bytes]:
    """Ethernet frames of two connections (IPv4, then IPv6) whose payloads look like other
    lines as ``tcpdump -A`` prints them (HTML, a line ending in ``=``, packet lines, tabs),
    one of over 8,192 bytes, an ARP request and a UDP datagram among them."""
    frames = []
    for c, s, proto in (("198.51.100.10", "198.51.100.20", ipv4),
                        ("2001:db8::10", "2001:db8::20", ipv6)):
        rq, rp = 101 + len(REQUEST), 501 + len(REPLY)
        seg = [(c, s, 40000, 80, 0x02, 100, 0, b""), (s, c, 80, 40000, 0x12, 500, 101, b""),
               (c, s, 40000, 80, 0x10, 101, 501, b""),
               (c, s, 40000, 80, 0x18, 101, 501, REQUEST),
               (s, c, 80, 40000, 0x18, 501, rq, REPLY), (c, s, 40000, 80, 0x10, rq, rp, b""),
               (s, c, 80, 40000, 0x10, rp, rq, BIG),
               (c, s, 40000, 80, 0x11, rq, rp + len(BIG), b"")]
        etype = 0x0800 if proto is ipv4 else 0x86DD
        frames += [eth(proto(src, dst, 6, tcp(sp, dp, fl, seq, ack, payload=data)), etype,
                       src=MAC, dst="02:00:00:00:00:02")
                   for src, dst, sp, dp, fl, seq, ack, data in seg]
    frames.insert(3, eth(arp(1, MAC, "198.51.100.10", "00:00:00:00:00:00", "198.51.100.20"),
                         0x0806, src=MAC, dst="02:00:00:00:00:02"))
    frames.insert(5, eth(ipv4("198.51.100.10", "198.51.100.20", 17, udp(5353, 53, b"x=\n\tm=\n")),
                         src=MAC, dst="02:00:00:00:00:02"))
    return frames
