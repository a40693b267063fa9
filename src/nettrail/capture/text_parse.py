"""One packet of ``tcpdump -n`` text (its lines joined, timestamp removed) to headers.

The body of a packet line is read left to right: the ``-i any`` interface/direction column
(tcpdump 4.99+), the ``-e`` link header (MACs, ethertype, VLAN tags), the network layer (``IP``,
``IP6`` with the optional ``-v`` header in parentheses, ``ARP``), the addresses and ports, then
the transport (``Flags [..]`` for TCP, ``ICMP``/``ICMP6`` messages, VXLAN with its inner frame,
UDP otherwise, but TCP's fields with no flags before them are unreadable, not UDP). What the
text does not say is ``None`` (no IP ID without ``-v``, no seq on a pure ACK, no MACs without
``-e``).

``wire_len`` is the ``-e`` frame length when printed; else the ``-v`` IP length plus a 14-byte
Ethernet header; else an estimate: 14 (Ethernet) + 20 or 40 (IP header, no options) + the
transport header (TCP 20 plus its printed options padded to 4 bytes, UDP 8, VXLAN 8 + the inner
frame) + the printed payload length.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from nettrail.capture.text_fields import (
    ADDRS,
    DIGITS_LIMIT,
    ETH_LEN,
    OtherProtocol,
    TextError,
    VerboseHeader,
    check_tcp_numbers,
    ip_protocol,
    parse_options,
    port_number,
    split_endpoint,
    tcp_flags,
    verbose_header,
)
from nettrail.capture.text_icmp import parse_arp, parse_icmp4, parse_icmp6
from nettrail.capture.text_old import is_old_tcp, old_ip_details, old_tcp, old_tcp_len
from nettrail.capture.text_tunnel import (
    BARE_V,
    DIRECTION_WORDS,
    DIRECTIONS,
    ETHERTYPE,
    MAC,
    Tunnel,
    find_tunnel,
    link_without_macs,
    skip_mpls,
    tunnel_proto,
)
from nettrail.model.packet import (
    NO_OPTIONS,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    EthHeader,
    Headers,
    ICMPHeader,
    IPHeader,
    TCPHeader,
    UDPHeader,
    tcp_header_len,
)

VXLAN_PORT = 4789


class Body(NamedTuple):
    """What one packet's text says: headers, VXLAN inner headers, interface, wire length."""

    headers: Headers
    inner: Headers | None
    vni: int | None
    ifname: str | None
    direction: str | None
    wire_len: int


_IFCOL = re.compile(rf"(?:([^\s>]+) +)?({DIRECTION_WORDS}) +(?:ifindex \d+ )?")
_ETH = re.compile(
    rf"({MAC})(?: > ({MAC}))?,? (?:{ETHERTYPE}|(802\.3|llc)[^,]*)"
    r", length (\d+): "
)

_VLAN = re.compile(r"vlan (\d+), p \d+(?:, DEI)?, ethertype (\S+?)(?: \((0x[0-9a-fA-F]+)\))?, ")
_PREFIX = re.compile(r"(?:HBH(?: \([^)]*\))* |\[[^\]]*\] *)+")
_TCP = re.compile(
    r"Flags \[([^\]]*)\],?(?: cksum 0x[0-9a-f]+ \([^)]*\),?)?"
    r"(?: seq (\d+)(?::(\d+))?,?)?(?: ack (\d+),?)?"
    r"(?: \[ack \d+ != \d+ while ACK flag not set\],?)?(?: win (\d+),?)?"
    r"(?: urg \d+,?| \[urg \d+ != \d+ while URG flag not set\],?)?"
    r"(?: options \[((?:[^\[\]]++|\[[^\[\]]*+\])*+|[^\]]*)\],?)?(?: length (\d+))?"
)
"""A TCP segment's fields, each optional (tcpdump leaves out what the segment does not have);
options may hold a bracketed part (MPTCP ``flags [H]``, ``dss[bad opt]``) or be cut short
(``[|tcp]``). After ``length N`` comes an application's decode, in any form (``: HTTP``,
`` 17177+ A? ...``, ``32LDP, ...``); without it, only ``_TCP_NOTE``, else a field was left
unread (``Flags [S] , seq 1``: a line wrapped before its comma, joined with a space)."""
_TCP_NOTE = re.compile(r"\s*(?:\[.*)?", re.DOTALL)
"""What may end a segment without ``length N``: nothing, or a bracketed note (``[|tcp]``,
``[bad hdr length 40 - too long, > 20]``)."""

_LENGTH = re.compile(r"length:? (\d+)")
_TRAILING_LEN = re.compile(r"\((\d+)\)\s*$")
_VXLAN = re.compile(r"VXLAN(?:-GPE)?, flags \[[^\]]*\] \(0x[0-9a-f]+\), vni (\d+)\s*")
_TOO_MANY_DIGITS = re.compile(rf"\d{{{DIGITS_LIMIT}}}\d+")


def parse_body(text: str) -> Body:
    """Headers of one packet's text (timestamp removed); TextError or OtherProtocol if not."""
    ifname = direction = None
    m = _IFCOL.match(text)
    if m is not None and m.end() < len(text):
        ifname, direction = m.group(1), DIRECTIONS[m.group(2)]
        text = text[m.end() :]
    headers, inner, vni, wire_len = parse_frame(text, allow_vxlan=True)
    for h in (headers, inner):
        ip_len = h.ip.length if h is not None and h.ip is not None else None
        if (ip_len or 0) > 0xFFFFFFFF:  # tcpdump prints 32-bit lengths
            raise TextError(f"an IP length over 32 bits ({ip_len})")
    if wire_len > 0xFFFFFFFF:
        raise TextError(f"a frame length over 32 bits ({wire_len})")
    return Body(headers, inner, vni, ifname, direction, wire_len)


def parse_frame(text: str, allow_vxlan: bool) -> tuple[Headers, Headers | None, int | None, int]:
    """A frame printed with or without ``-e``: (headers, inner headers, vni, wire length)."""
    if len(text) > DIGITS_LIMIT and (big := _TOO_MANY_DIGITS.search(text)) is not None:
        raise TextError(f"a number of {big.end() - big.start()} digits")
    m = _ETH.match(text)
    if m is None:
        link = link_without_macs(text)
        if link is not None:
            name, link_len, text = link
            return _network(text, None, link_len or None, allow_vxlan,
                            _ETHERTYPE_NAMES.get(name))
        return _network(text, None, None, allow_vxlan)
    src, dst, etype_name, etype_hex, llc, frame_len = m.groups()
    if llc is not None:
        raise OtherProtocol("802.3/LLC")
    pos = m.end()
    ethertype = int(etype_hex, 16)
    vlans: list[int] = []
    while etype_name.startswith("802.1Q"):
        v = _VLAN.match(text, pos)
        if v is None:
            raise TextError("a VLAN tag that cannot be read")
        vlans.append(int(v.group(1)))
        etype_name = v.group(2)
        ethertype = int(v.group(3), 16) if v.group(3) else _ETHERTYPES.get(etype_name, 0)
        pos = v.end()
    eth = EthHeader(src.lower(), dst.lower() if dst else None, tuple(vlans), ethertype)
    return _network(text[pos:], eth, int(frame_len), allow_vxlan, etype_name)


_ETHERTYPES = {"IPv4": 0x0800, "IPv6": 0x86DD, "ARP": 0x0806}
_ETHERTYPE_NAMES = {"IPv4": "IPv4", "IPv6": "IPv6", "ARP": "ARP", "MPLS": "MPLS"}
_MAC_TOKEN = re.compile(rf"{MAC},?\Z")
_INVALID_LEN = re.compile(
    r"\[[^\]]*length \d+ > length \d+\] \(invalid\) |truncated-ip - \d+ bytes missing! ")
_BIG_TCP_LEN = re.compile(r"\[real length \d+, presumed BIG TCP\] ")
UDP_MAX = 0xFFFF - 8
"""The most payload a datagram's text is read as (a larger number is not its length)."""
_QUIET_TCP = re.compile(r"tcp (\d+)(?:\s|$)")
_TCP_WITHOUT_FLAGS = re.compile(
    r"(?:cksum 0x[0-9a-f]+ \([^)]*\),? )?(?:(?:seq|ack|win|urg) \d+|options \[)"
    r"|\d+:\d+\(\d+\) (?:ack|win) \d+"
)
"""TCP's fields (``seq 1895673170, win 14600``; 3.x ``1:369(368) ack 1``) with the flags
before them missing: no UDP decode starts so, and what the segment was cannot be told."""
_BIG_TCP_PORTS = re.compile(r"\s*(\d+) > (\d+): ")
_KEYWORDS = {"IP": "IPv4", "IP6": "IPv6", "ARP,": "ARP"}


def _network(
    text: str, eth: EthHeader | None, frame_len: int | None, allow_vxlan: bool,
    etype: str | None = None,
) -> tuple[Headers, Headers | None, int | None, int]:
    if etype is None:
        word, _, rest = text.partition(" ")
        etype = _KEYWORDS.get(word)
        if etype is None:
            if word == "MPLS" and (after := skip_mpls(text)) is not None:
                return _network(after, eth, frame_len, allow_vxlan)
            if text[:1] == "(" and (family := BARE_V.match(text)) is not None:
                version = 4 if family.group(1) == "tos" else 6  # -v header, no keyword
                return _ip(text, version, eth, frame_len, allow_vxlan)
            a = ADDRS.match(text)
            if a is None or _MAC_TOKEN.match(a.group(1)):
                raise OtherProtocol(_proto_word(word))
            # no IP keyword: tcpdump 3.x, ARCnet, under MPLS: the family is the address's
            version = 6 if ":" in a.group(1) and ":" in a.group(2) else 4
            return _ip(text, version, eth, frame_len, allow_vxlan)
        text = rest
    if etype.startswith("MPLS") and (after := skip_mpls(text)) is not None:
        return _network(after, eth, frame_len, allow_vxlan)
    if etype == "ARP":
        arp = parse_arp(text, eth)
        return Headers(eth, None, None, arp), None, None, frame_len or ETH_LEN + 28
    if etype not in ("IPv4", "IPv6"):
        raise OtherProtocol(etype)
    return _ip(text, 4 if etype == "IPv4" else 6, eth, frame_len, allow_vxlan)


def _proto_word(word: str) -> str:
    name = word.rstrip(",:")
    if not name or not name[0].isalpha():
        raise TextError("no IP, IP6 or ARP packet in this line")
    return name


def _ip(
    text: str, version: int, eth: EthHeader | None, frame_len: int | None, allow_vxlan: bool
) -> tuple[Headers, Headers | None, int | None, int]:
    invalid = _INVALID_LEN.match(text)
    if invalid is not None:  # "[total length 820 > length 52] (invalid)": cut short
        text = text[invalid.end() :]
    vh, text = verbose_header(text, version)
    if text[:1] == "[" and (big := _BIG_TCP_LEN.match(text)) is not None:
        text = text[big.end() :]  # IPv6 payload length 0: BIG TCP
    m = ADDRS.match(text)
    if m is None:
        raise TextError("no 'source > destination:' in this IP packet")
    src, sport = split_endpoint(m.group(1), version)
    dst, dport = split_endpoint(m.group(2), version)
    rest = text[m.end() :]
    p = _PREFIX.match(rest)
    if p is not None:
        rest = rest[p.end() :]
        if sport is None and (big := _BIG_TCP_PORTS.match(rest)) is not None:
            # BIG TCP: "HBH (jumbo: 80040)  41851 > 43913: Flags [P.], ..."
            sport, dport = port_number(big.group(1)), port_number(big.group(2))
            rest = rest[big.end() :]
    iphdr = 20 if version == 4 else 40
    if allow_vxlan:
        tunnel = find_tunnel(rest, sport is not None and dport is not None)
        if tunnel is not None:
            found = _tunneled(tunnel, version, src, dst, sport, dport, vh, eth, frame_len, rest)
            if found is not None:
                return found
    if sport is not None and dport is not None and is_old_tcp(rest):
        vh = old_ip_details(rest, vh)
        tcp = old_tcp(rest, sport, dport)
        ip = _ip_header(version, src, dst, PROTO_TCP, vh)
        wire = frame_len or ETH_LEN + (vh.length or iphdr + old_tcp_len(tcp))
        return Headers(eth, ip, tcp), None, None, wire
    if rest.startswith("icmp: "):  # tcpdump 3.x
        rest = "ICMP " + rest[6:]
    inner: Headers | None = None
    vni: int | None = None
    inner_len = 0
    l4: TCPHeader | UDPHeader | ICMPHeader | None
    if sport is not None and dport is not None:
        if rest.startswith("Flags ["):
            proto, l4 = PROTO_TCP, _tcp(rest, sport, dport, vh.length, iphdr)
            est = iphdr + l4.payload_len + tcp_header_len(l4.options)
        elif (quiet := _QUIET_TCP.match(rest)) is not None:  # tcpdump -q
            proto = PROTO_TCP
            l4 = TCPHeader(sport, dport, 0, None, None, None, int(quiet.group(1)), NO_OPTIONS)
            est = iphdr + 20 + l4.payload_len
        elif _TCP_WITHOUT_FLAGS.match(rest) is not None:  # not a datagram: unreadable
            raise TextError("TCP fields (seq, ack, win, options) without 'Flags [...]': flags "
                            "lost, not read as UDP")
        elif vh.proto == PROTO_TCP and rest.strip() in ("", "[|tcp]"):  # header cut short
            proto = PROTO_TCP
            l4 = TCPHeader(sport, dport, 0, None, None, None, 0, NO_OPTIONS)
            est = iphdr + 20
        elif vh.proto not in (None, PROTO_UDP) or rest.startswith("sctp"):
            raise OtherProtocol("SCTP" if vh.proto in (None, 132) else f"ip-proto-{vh.proto}")
        else:
            proto = PROTO_UDP
            v = _VXLAN.match(rest) if allow_vxlan else None
            if v is not None:
                vni = int(v.group(1))
                inner_text = rest[v.end() :]
                if inner_text:
                    inner, _, _, inner_len = parse_frame(inner_text, allow_vxlan=False)
                if inner is not None and vh.length is None:
                    payload = 8 + inner_len
                else:
                    payload = udp_len(rest, vh.length, iphdr)
            else:
                payload = udp_len(rest, vh.length, iphdr)
            l4 = UDPHeader(sport, dport, payload)
            est = iphdr + 8 + payload
    elif rest.startswith("Flags [") or is_old_tcp(rest):
        raise TextError("a TCP segment without ports")
    elif rest.startswith("ICMP6"):
        proto, l4 = PROTO_ICMPV6, parse_icmp6(rest, dst)
        est = iphdr + _last_length(rest, 8)
    elif rest.startswith("ICMP "):
        proto, l4 = PROTO_ICMP, parse_icmp4(rest[5:], dst)
        est = iphdr + _last_length(rest, 8)
    elif rest.startswith("ip-proto-"):
        proto, l4 = _proto_number(rest), None
        est = iphdr + _last_length(rest, 0)
    elif vh.frag_offset and vh.proto is not None:
        proto, l4 = vh.proto, None
        est = iphdr
    else:
        raise OtherProtocol(_other_ip(rest))
    length = vh.length
    ip = _ip_header(version, src, dst, proto, vh)
    if frame_len is not None:
        wire = frame_len
    elif length is not None:
        wire = ETH_LEN + length
    else:
        wire = ETH_LEN + est
    return Headers(eth, ip, l4), inner, vni, wire


def _ip_header(version: int, src: str, dst: str, proto: int, vh: VerboseHeader) -> IPHeader:
    """The IP header of a packet: its addresses and protocol, the rest as ``-v`` said it."""
    return IPHeader(version, src, dst, proto, vh.ttl, vh.ip_id, vh.length, vh.df, vh.frag_offset,
                    vh.more, vh.tos)


def _other_ip(rest: str) -> str:
    word = rest.split(" ", 1)[0].rstrip(",:")
    return word.upper() if word else "IP"


def _proto_number(rest: str) -> int:
    digits = rest[9:].split(" ", 1)[0].rstrip(",:")
    if not (digits.isascii() and digits.isdigit()):
        raise TextError("ip-proto-N without a number")
    return ip_protocol(int(digits))


def _last_length(rest: str, default: int) -> int:
    m = _LENGTH.search(rest)
    return int(m.group(1)) if m is not None else default


def udp_len(rest: str, ip_len: int | None, iphdr: int) -> int:
    """The payload length of a UDP datagram: from the ``-v`` IP length, else as its text
    (``rest``, after the addresses) says: ``udp N`` (``-q``), ``length N``, a last ``(N)``."""
    if ip_len is not None and ip_len >= iphdr + 8:
        return ip_len - iphdr - 8
    quiet = rest[4:].strip()
    if rest.startswith("udp ") and quiet.isascii() and quiet.isdigit() and len(quiet) <= 20:
        return int(quiet)  # tcpdump -q
    m = _LENGTH.search(rest)
    if m is None:
        m = _TRAILING_LEN.search(rest)
    n = int(m.group(1)) if m is not None and len(m.group(1)) <= 20 else 0
    return n if n <= UDP_MAX else 0  # "credentials length 4294967295": not the datagram's


def udp_text_len(text: bytes, iphdr: int) -> int:
    """``udp_len`` of a datagram's text without ``-v`` (bytes), its two common forms read
    without decoding or a pattern: exactly ``UDP, length N``, and an ASCII application decode
    that ends in ``(N)`` and has no ``length`` (DNS: ``4242+ A? example.com. (29)``)."""
    if text[:12] == b"UDP, length ":
        digits = text[12:]
    elif text[-1:] == b")" and b"length" not in text and text[:4] != b"udp ":
        at = text.rfind(b"(")
        digits = text[at + 1 : -1] if at >= 0 else b""
    else:
        digits = b""
    if not (digits.isdigit() and text.isascii()):  # bytes.isdigit: ASCII digits, not empty
        return udp_len(text.decode(), None, iphdr)
    n = int(digits) if len(digits) <= 20 else 0
    return n if n <= UDP_MAX else 0


def _tcp(rest: str, sport: int, dport: int, ip_len: int | None, iphdr: int) -> TCPHeader:
    m = _TCP.match(rest)
    if m is None:  # pragma: no cover - the pattern matches any "Flags [" prefix
        raise TextError("TCP flags that cannot be read")
    flags_s, seq_s, seqend_s, ack_s, win_s, opts_s, len_s = m.groups()
    if len_s is None and m.end() < len(rest) and _TCP_NOTE.fullmatch(rest, m.end()) is None:
        raise TextError(f"TCP fields that cannot be read: {rest[m.end() : m.end() + 40]!r}")
    flags = tcp_flags(flags_s)
    seq = int(seq_s) if seq_s is not None else None
    options = parse_options(opts_s) if opts_s else NO_OPTIONS
    if len_s is not None:
        payload = int(len_s)
    elif seqend_s is not None and seq is not None:
        payload = (int(seqend_s) - seq) & 0xFFFFFFFF
    elif ip_len is not None:
        payload = max(ip_len - iphdr - tcp_header_len(options), 0)
    else:
        payload = 0
    ack = int(ack_s) if ack_s is not None else None
    win = int(win_s) if win_s is not None else None
    return check_tcp_numbers(TCPHeader(sport, dport, flags, seq, ack, win, payload, options))


def _tunneled(
    tunnel: Tunnel, version: int, src: str, dst: str, sport: int | None, dport: int | None,
    vh: VerboseHeader, eth: EthHeader | None, frame_len: int | None, rest: str,
) -> tuple[Headers, Headers | None, int | None, int] | None:
    """The headers of a tunnel packet with its inner frame (None when the inner frame cannot
    be read: the outer packet is then read alone)."""
    try:
        inner, _, _, inner_len = parse_frame(tunnel.inner, allow_vxlan=False)
    except (TextError, OtherProtocol):
        return None
    iphdr = 20 if version == 4 else 40
    inner_ip = inner_len - ETH_LEN if inner.eth is None else inner_len
    l4: UDPHeader | None
    if sport is not None and dport is not None:
        proto = PROTO_UDP
        payload = udp_len(rest, vh.length, iphdr) if vh.length else 8 + inner_ip
        l4 = UDPHeader(sport, dport, payload)
        est = iphdr + 8 + payload
    else:
        proto = vh.proto if vh.proto is not None else tunnel_proto(tunnel.kind)
        l4 = None
        est = iphdr + (4 if tunnel.kind == "gre" else 0) + inner_ip
    ip = _ip_header(version, src, dst, proto, vh)
    wire = frame_len or ETH_LEN + (vh.length or est)
    return Headers(eth, ip, l4), inner, tunnel.vni, wire
