"""Header decoding from hand-built bytes: every link type and protocol nettrail reads."""

from __future__ import annotations

import struct
import zlib

import pytest

from capkit import (
    MAC_A,
    MAC_B,
    arp,
    eth,
    icmp,
    ipv4,
    ipv6,
    sll,
    sll2,
    tcp,
    udp,
    vxlan,
)
from nettrail.capture.decode import decode_frame
from nettrail.model.packet import ACK, PSH, SYN, ICMPHeader, TCPHeader, UDPHeader

C4, S4 = "198.51.100.2", "203.0.113.10"
C6, S6 = "2001:db8::2", "2001:db8::10"
SYN_OPTS = (struct.pack("!BBH", 2, 4, 1460) + b"\x04\x02" + struct.pack("!BBII", 8, 10, 7, 0)
            + b"\x01\x03\x03\x07")


def test_ethernet_ipv4_tcp_syn_with_options() -> None:
    fr = decode_frame(1, eth(ipv4(C4, S4, 6, tcp(40000, 22, SYN, seq=5, options=SYN_OPTS),
                                  ip_id=77, ttl=63)))
    h = fr.headers
    assert h.eth is not None and (h.eth.src, h.eth.dst, h.eth.vlans) == (MAC_A, MAC_B, ())
    assert h.ip is not None
    assert (h.ip.version, h.ip.src, h.ip.dst, h.ip.ttl, h.ip.ip_id, h.ip.df) == (
        4, C4, S4, 63, 77, True)
    assert isinstance(h.l4, TCPHeader)
    assert (h.l4.sport, h.l4.dport, h.l4.flags, h.l4.seq, h.l4.payload_len) == (
        40000, 22, SYN, 5, 0)
    o = h.l4.options
    assert (o.mss, o.sack_ok, o.ts_val, o.ts_ecr, o.wscale) == (1460, True, 7, 0, 7)
    assert o.order == ("mss", "sackOK", "TS", "nop", "wscale")
    assert h.payload_hash is None and fr.problem is None


def test_tcp_payload_length_ignores_ethernet_padding_and_hashes_payload() -> None:
    payload = b"hello world" * 10
    frame = eth(ipv4(C4, S4, 6, tcp(1, 2, PSH | ACK, payload=payload)))
    fr = decode_frame(1, frame + b"\0" * 6)
    assert isinstance(fr.headers.l4, TCPHeader)
    assert fr.headers.l4.payload_len == len(payload)
    assert fr.headers.payload_hash == zlib.crc32(payload[:64])
    short = decode_frame(1, eth(ipv4(C4, S4, 6, tcp(1, 2, ACK))) + b"\0" * 6)
    assert short.headers.payload_hash is None
    assert isinstance(short.headers.l4, TCPHeader) and short.headers.l4.payload_len == 0


def test_sack_blocks_and_unknown_option() -> None:
    opts = b"\x01\x01" + struct.pack("!BBIIII", 5, 18, 100, 200, 300, 400) + b"\x1e\x04ab"
    fr = decode_frame(1, eth(ipv4(C4, S4, 6, tcp(1, 2, ACK, options=opts))))
    assert isinstance(fr.headers.l4, TCPHeader)
    o = fr.headers.l4.options
    assert o.sack == ((100, 200), (300, 400))
    assert o.order == ("nop", "nop", "sack", "opt-30")


def test_malformed_tcp_option_keeps_what_was_read() -> None:
    opts = struct.pack("!BBH", 2, 4, 1400) + b"\x08\x0c\x00\x00"  # TS length runs past the end
    fr = decode_frame(1, eth(ipv4(C4, S4, 6, tcp(1, 2, SYN, options=opts))))
    assert fr.problem == "malformed:tcp-options"
    assert isinstance(fr.headers.l4, TCPHeader) and fr.headers.l4.options.mss == 1400


def test_vlan_and_qinq() -> None:
    fr = decode_frame(1, eth(ipv4(C4, S4, 17, udp(53, 5353, b"x")), vlans=(100, 7)))
    assert fr.headers.eth is not None and fr.headers.eth.vlans == (100, 7)
    assert isinstance(fr.headers.l4, UDPHeader) and fr.headers.l4.payload_len == 1


def test_linux_cooked_v1_direction_and_source() -> None:
    out = decode_frame(113, sll(ipv4(C4, S4, 6, tcp(1, 2, SYN)), pkttype=4))
    assert out.direction == "out"
    assert out.headers.eth is not None and out.headers.eth.src == MAC_A
    bcast = decode_frame(113, sll(ipv4(C4, S4, 17, udp(1, 2, b"")), pkttype=1))
    assert bcast.direction == "in" and bcast.headers.ip is not None


def test_linux_cooked_v2_ifindex_direction_vlan() -> None:
    inner = struct.pack("!HH", 42, 0x0800) + ipv4(C4, S4, 6, tcp(1, 2, SYN))
    fr = decode_frame(276, sll2(inner, proto=0x8100, ifindex=9, pkttype=0))
    assert (fr.ifindex, fr.direction) == (9, "in")
    assert fr.headers.eth is not None and fr.headers.eth.vlans == (42,)
    assert fr.headers.ip is not None and fr.headers.ip.src == C4


@pytest.mark.parametrize("linktype", [12, 14, 101])
def test_raw_ip_both_versions(linktype: int) -> None:
    v4 = decode_frame(linktype, ipv4(C4, S4, 6, tcp(1, 2, SYN)))
    v6 = decode_frame(linktype, ipv6(C6, S6, 6, tcp(1, 2, SYN)))
    assert v4.headers.ip is not None and v4.headers.ip.version == 4
    assert v6.headers.ip is not None and (v6.headers.ip.version, v6.headers.ip.src) == (6, C6)
    assert v4.headers.eth is None


def test_raw_ipv4_ipv6_linktypes() -> None:
    assert decode_frame(228, ipv4(C4, S4, 6, tcp(1, 2, SYN))).headers.ip is not None
    fr = decode_frame(229, ipv6(C6, S6, 17, udp(1, 2, b"abc")))
    assert isinstance(fr.headers.l4, UDPHeader)


@pytest.mark.parametrize(("linktype", "head"), [
    (0, struct.pack("<I", 2)), (0, struct.pack(">I", 2)), (108, struct.pack(">I", 2)),
])
def test_bsd_loopback_ipv4(linktype: int, head: bytes) -> None:
    fr = decode_frame(linktype, head + ipv4(C4, S4, 6, tcp(1, 2, SYN)))
    assert fr.headers.ip is not None and fr.headers.ip.dst == S4


@pytest.mark.parametrize("family", [24, 28, 30])
def test_bsd_loopback_ipv6(family: int) -> None:
    fr = decode_frame(0, struct.pack("<I", family) + ipv6(C6, S6, 6, tcp(1, 2, SYN)))
    assert fr.headers.ip is not None and fr.headers.ip.version == 6


def test_ipv6_extension_headers_are_skipped() -> None:
    hop = bytes([0, 0]) + b"\x01\x04\0\0\0\0"
    dest = bytes([0, 0]) + b"\x01\x04\0\0\0\0"
    fr = decode_frame(1, eth(ipv6(C6, S6, 6, tcp(1, 443, SYN), ext=[(0, hop), (60, dest)]),
                             etype=0x86DD))
    assert fr.headers.ip is not None and fr.headers.ip.proto == 6
    assert isinstance(fr.headers.l4, TCPHeader) and fr.headers.l4.dport == 443


def test_ipv6_fragment_header() -> None:
    frag_first = bytes([0, 0]) + struct.pack("!HI", 0 | 1, 99)
    first = decode_frame(1, eth(ipv6(C6, S6, 17, udp(1, 2, b"x" * 8), ext=[(44, frag_first)]),
                                etype=0x86DD))
    assert first.headers.ip is not None and first.headers.ip.more_fragments
    assert isinstance(first.headers.l4, UDPHeader)
    frag_later = bytes([0, 0]) + struct.pack("!HI", 1448, 99)
    later = decode_frame(1, eth(ipv6(C6, S6, 17, b"y" * 16, ext=[(44, frag_later)]),
                                etype=0x86DD))
    assert later.headers.ip is not None and later.headers.ip.frag_offset == 1448
    assert later.headers.l4 is None


def test_ipv4_fragments() -> None:
    later = decode_frame(1, eth(ipv4(C4, S4, 17, b"z" * 40, frag=1480, df=False)))
    assert later.headers.ip is not None and later.headers.ip.frag_offset == 1480
    assert later.headers.l4 is None and later.problem is None


def test_icmp_frag_needed_quotes_inner_header_and_ports() -> None:
    quoted = ipv4(C4, S4, 6, tcp(40000, 443, ACK, payload=b"d" * 1400))[:28]
    fr = decode_frame(1, eth(ipv4("198.51.100.1", C4, 1, icmp(3, 4, 0, 1400, quoted))))
    m = fr.headers.l4
    assert isinstance(m, ICMPHeader) and m.is_frag_needed and m.mtu == 1400
    assert m.quoted is not None and (m.quoted.ip.src, m.quoted.ip.dst) == (C4, S4)
    assert (m.quoted.sport, m.quoted.dport) == (40000, 443)
    assert fr.problem is None


def test_icmpv6_packet_too_big() -> None:
    quoted = ipv6(C6, S6, 6, tcp(40000, 443, ACK, payload=b"d" * 1300))[:48]
    fr = decode_frame(1, eth(ipv6("2001:db8::1", C6, 58, icmp(2, 0, 0, 1280, quoted)),
                             etype=0x86DD))
    m = fr.headers.l4
    assert isinstance(m, ICMPHeader) and m.is_frag_needed and m.mtu == 1280
    assert m.quoted is not None and m.quoted.ip.dst == S6 and m.quoted.dport == 443


def test_icmp_echo_ident_sequence() -> None:
    fr = decode_frame(1, eth(ipv4(C4, S4, 1, icmp(8, 0, 0x1234, 7, b"ping!"))))
    m = fr.headers.l4
    assert isinstance(m, ICMPHeader) and (m.type, m.ident, m.sequence) == (8, 0x1234, 7)
    assert fr.headers.payload_hash == zlib.crc32(b"ping!")


def test_arp_request() -> None:
    fr = decode_frame(1, eth(arp(1, MAC_A, C4, "00:00:00:00:00:00", S4), etype=0x0806))
    assert fr.headers.arp is not None
    assert (fr.headers.arp.op, fr.headers.arp.sender_ip, fr.headers.arp.target_ip) == (1, C4, S4)
    assert fr.headers.ip is None and fr.problem is None


def test_vxlan_decodes_inner_frame() -> None:
    inner = eth(ipv4("198.18.0.1", "198.18.0.2", 6, tcp(5555, 80, SYN)), src=MAC_B, dst=MAC_A)
    fr = decode_frame(1, eth(ipv4(C4, S4, 17, udp(49152, 4789, vxlan(4242, inner)))))
    assert fr.vni == 4242 and fr.inner is not None
    assert fr.inner.ip is not None and fr.inner.ip.src == "198.18.0.1"
    assert isinstance(fr.inner.l4, TCPHeader) and fr.inner.l4.dport == 80
    assert fr.headers.ip is not None and fr.headers.ip.src == C4


@pytest.mark.parametrize(("frame", "reason"), [
    (eth(b"\x02\x07\x04" + b"\0" * 40, etype=0x88CC), "other-protocol:lldp"),
    (eth(b"\x42\x42\x03" + b"\0" * 40, etype=46), "other-protocol:stp"),
    (eth(b"\0" * 40, etype=0x88B5), "other-protocol:ethertype-0x88b5"),
    (eth(b"\x45\x00"), "truncated:ipv4"),
    (eth(b"\x65" + b"\0" * 30), "malformed:ipv4"),
    (eth(ipv4(C4, S4, 6, b"\0" * 8)), "truncated:tcp"),
    (b"\x01\x02", "truncated:ethernet"),
])
def test_other_protocols_and_damage_are_named(frame: bytes, reason: str) -> None:
    fr = decode_frame(1, frame)
    assert fr.problem == reason
    assert fr.headers.l4 is None


def test_snaplen_cut_keeps_wire_lengths() -> None:
    frame = eth(ipv4(C4, S4, 6, tcp(1, 2, ACK, payload=b"p" * 1000)))
    fr = decode_frame(1, frame[:96])
    assert fr.headers.ip is not None and fr.headers.ip.length == 1040
    assert isinstance(fr.headers.l4, TCPHeader) and fr.headers.l4.payload_len == 1000
    assert fr.headers.payload_hash == zlib.crc32(b"p" * 42)


def test_offloaded_ipv4_total_length_zero() -> None:
    frame = eth(ipv4(C4, S4, 6, tcp(1, 2, ACK, payload=b"q" * 3000), total=0))
    fr = decode_frame(1, frame)
    assert isinstance(fr.headers.l4, TCPHeader) and fr.headers.l4.payload_len == 3000
