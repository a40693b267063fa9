"""One packet of ``tcpdump -n`` text (its lines joined, timestamp removed) to headers.

The body of a packet line is read left to right: the ``-i any`` interface/direction column
(tcpdump 4.99+), the ``-e`` link header (MACs, ethertype, VLAN tags), the network layer (``IP``,
``IP6`` with the optional ``-v`` header in parentheses, ``ARP``), the addresses and ports, then
the transport (``Flags [..]`` for TCP, ``ICMP``/``ICMP6`` messages, VXLAN with its inner frame,
UDP otherwise). What the text does not say is ``None`` (no IP ID without ``-v``, no seq/ack on
a pure ACK, no MACs without ``-e``).

``wire_len`` is the ``-e`` frame length when printed; else the ``-v`` IP length plus a 14-byte
Ethernet header; else an estimate: 14 (Ethernet) + 20 or 40 (IP header, no options) + the
transport header (TCP 20 plus its printed options padded to 4 bytes, UDP 8, VXLAN 8 + the inner
frame) + the printed payload length.
"""

from __future__ import annotations

import re
from typing import NamedTuple

from nettrail.capture.text_names import (
    ICMP4_TYPES,
    ICMP4_UNREACH,
    ICMP6_TYPES,
    ICMP6_UNREACH,
    PORTS,
)
from nettrail.model.packet import (
    ACK,
    CWR,
    ECE,
    FIN,
    NO_OPTIONS,
    PROTO_ICMP,
    PROTO_ICMPV6,
    PROTO_TCP,
    PROTO_UDP,
    PSH,
    RST,
    SYN,
    URG,
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

ETH_LEN = 14
VXLAN_PORT = 4789


class TextError(ValueError):
    """A packet line nettrail cannot read; the message says what is wrong with it."""


class OtherProtocol(Exception):
    """A packet of a protocol nettrail does not model (LLDP, STP, IGMP...): counted, skipped."""

    def __init__(self, name: str) -> None:
        self.name = name
        super().__init__(name)


class Body(NamedTuple):
    """What one packet's text says: headers, VXLAN inner headers, interface, wire length."""

    headers: Headers
    inner: Headers | None
    vni: int | None
    ifname: str | None
    direction: str | None
    wire_len: int


_DIRECTIONS = {"In": "in", "Out": "out", "M": "in", "B": "in", "P": "in"}
_IFCOL = re.compile(r"(?:([^\s>]+) +)?(In|Out|M|B|P) +(?:ifindex \d+ )?")
_MAC = r"[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2}){5}"
_ETH = re.compile(
    rf"({_MAC})(?: > ({_MAC}))?,? (?:ethertype (\S+) \((0x[0-9a-fA-F]+)\)|(802\.3|llc)[^,]*)"
    r", length (\d+): "
)
_VLAN = re.compile(r"vlan (\d+), p \d+(?:, DEI)?, ethertype (\S+?)(?: \((0x[0-9a-fA-F]+)\))?, ")
_ADDRS = re.compile(r"(\S+) > (\S+?):(?: |$)")
_V4 = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\Z")
_V6 = re.compile(r"[0-9a-fA-F:]*:[0-9a-fA-F:]*(?:\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3})?\Z")
_PREFIX = re.compile(r"(?:HBH(?: \([^)]*\))* |\[[^\]]*\] *)+")
_TCP = re.compile(
    r"Flags \[([^\]]*)\],?(?: cksum 0x[0-9a-f]+ \([^)]*\),?)?"
    r"(?: seq (\d+)(?::(\d+))?,?)?(?: ack (\d+),?)?(?: win (\d+),?)?(?: urg \d+,?)?"
    r"(?: options \[([^\]]*)\],?)?(?: length (\d+))?"
)
_LENGTH = re.compile(r"length:? (\d+)")
_TRAILING_LEN = re.compile(r"\((\d+)\)\s*$")
_VXLAN = re.compile(r"VXLAN(?:-GPE)?, flags \[[^\]]*\] \(0x[0-9a-f]+\), vni (\d+)\s*")
_ECHO = re.compile(r"echo (request|reply), id (\d+), seq (\d+)")
_UNREACH_PORT = re.compile(r"(\S+) (udp|tcp) port (\S+) unreachable")
_UNREACH_PROTO = re.compile(r"(\S+) protocol (\d+) unreachable")
_NEED_FRAG = re.compile(r"(\S+) unreachable - need to frag(?: \(mtu (\d+)\))?")
_UNREACH_HOST = re.compile(r"(?:(host|net) )?(\S+) unreachable(?: - (admin prohibited|\w+))?")
_MTU = re.compile(r"mtu (\d+)")
_QUOTED = re.compile(r" (?:IP6? )?\((?=(?:tos|hlim|flowlabel|class) )")
_ARP_REQ = re.compile(r"Request who-has (\S+)(?: \(([0-9a-f:]+)\))? tell ([^\s,]+)")
_ARP_REP = re.compile(r"Reply (\S+) is-at ([0-9a-f:]+)")
_FLAG_BITS = {
    "S": SYN, "F": FIN, "R": RST, "P": PSH, "U": URG, ".": ACK, "E": ECE, "W": CWR, "e": 0,
}
_OPT_SIZES = {"mss": 4, "wscale": 3, "sackOK": 2, "TS": 10, "nop": 1, "eol": 1}
_ICMP6_NAMES = sorted(ICMP6_TYPES, key=len, reverse=True)
_ICMP4_NAMES = sorted(ICMP4_TYPES, key=len, reverse=True)


def parse_body(text: str) -> Body:
    """Headers of one packet's text (timestamp removed); TextError or OtherProtocol if not."""
    ifname = direction = None
    m = _IFCOL.match(text)
    if m is not None and m.end() < len(text):
        ifname, direction = m.group(1), _DIRECTIONS[m.group(2)]
        text = text[m.end() :]
    headers, inner, vni, wire_len = parse_frame(text, allow_vxlan=True)
    return Body(headers, inner, vni, ifname, direction, wire_len)


def parse_frame(text: str, allow_vxlan: bool) -> tuple[Headers, Headers | None, int | None, int]:
    """A frame printed with or without ``-e``: (headers, inner headers, vni, wire length)."""
    m = _ETH.match(text)
    if m is None:
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
_KEYWORDS = {"IP": "IPv4", "IP6": "IPv6", "ARP,": "ARP"}


def _network(
    text: str, eth: EthHeader | None, frame_len: int | None, allow_vxlan: bool,
    etype: str | None = None,
) -> tuple[Headers, Headers | None, int | None, int]:
    if etype is None:
        word, _, rest = text.partition(" ")
        etype = _KEYWORDS.get(word)
        if etype is None:
            raise OtherProtocol(_proto_word(word))
        text = rest
    if etype == "ARP":
        arp = _arp(text, eth)
        return Headers(eth, None, None, arp), None, None, frame_len or ETH_LEN + 28
    if etype not in ("IPv4", "IPv6"):
        raise OtherProtocol(etype)
    return _ip(text, 4 if etype == "IPv4" else 6, eth, frame_len, allow_vxlan)


def _proto_word(word: str) -> str:
    name = word.rstrip(",:")
    if not name or not name[0].isalpha():
        raise TextError("no IP, IP6 or ARP packet in this line")
    return name


def _paren_end(text: str, start: int) -> int:
    """Index just past the parenthesis group opening at ``text[start]``."""
    depth = 0
    for i in range(start, len(text)):
        c = text[i]
        if c == "(":
            depth += 1
        elif c == ")":
            depth -= 1
            if depth == 0:
                return i + 1
    raise TextError("an IP header in parentheses that does not end")


class _VHeader(NamedTuple):
    ttl: int | None
    ip_id: int | None
    length: int | None
    df: bool
    frag_offset: int
    more: bool
    proto: int | None


_NO_V = _VHeader(None, None, None, False, 0, False, None)
_V_FIELDS = re.compile(
    r"(ttl|hlim|id|offset|length|payload length:) (\d+)|flags \[([^\]]*)\]"
    r"|(?:proto|next-header) (\S+) \((\d+)\)"
)


def _verbose(text: str, version: int) -> tuple[_VHeader, str]:
    """The ``-v`` IP header in parentheses at the start of ``text``, and the text after it."""
    if not text.startswith("("):
        return _NO_V, text
    end = _paren_end(text, 0)
    ttl = ip_id = length = proto = None
    df = more = False
    frag = 0
    for name, num, flags, _pname, pnum in _V_FIELDS.findall(text, 1, end - 1):
        if name in ("ttl", "hlim"):
            ttl = int(num)
        elif name == "id":
            ip_id = int(num)
        elif name == "offset":
            frag = int(num)
        elif name == "length":
            length = int(num)
        elif name == "payload length:":
            length = 40 + int(num)
        elif pnum:
            proto = int(pnum)
        else:
            df, more = "DF" in flags, "+" in flags
    if version == 6:
        ip_id = None
    return _VHeader(ttl, ip_id, length, df, frag, more, proto), text[end:].lstrip()


def split_endpoint(token: str, version: int) -> tuple[str, int | None]:
    """``198.51.100.1.22`` or ``2001:db8::1.ssh`` to (address, port or None)."""
    if version == 4:
        parts = token.split(".")
        if len(parts) == 5:
            addr = ".".join(parts[:4])
            port: int | None = _port(parts[4])
        elif len(parts) == 4:
            addr, port = token, None
        else:
            raise TextError(f"{token!r} is not an IPv4 address (was the text printed with -n?)")
        if _V4.match(addr) is None:
            raise TextError(f"{token!r} is not an IPv4 address (was the text printed with -n?)")
        return addr, port
    head, _, last = token.rpartition(":")
    port = None
    dots = last.count(".")
    if dots == 1 or dots == 4:
        last, _, pname = last.rpartition(".")
        port = _port(pname)
        token = f"{head}:{last}"
    if _V6.match(token) is None:
        raise TextError(f"{token!r} is not an IPv6 address (was the text printed with -n?)")
    return token.lower(), port


def _port(text: str) -> int:
    if text.isdigit():
        port = int(text)
        if port <= 0xFFFF:
            return port
        raise TextError(f"port {text} is out of range")
    port_n = PORTS.get(text)
    if port_n is None:
        raise TextError(f"unknown service name {text!r} (print with -nn for numbers)")
    return port_n


def _ip(
    text: str, version: int, eth: EthHeader | None, frame_len: int | None, allow_vxlan: bool
) -> tuple[Headers, Headers | None, int | None, int]:
    vh, text = _verbose(text, version)
    m = _ADDRS.match(text)
    if m is None:
        raise TextError("no 'source > destination:' in this IP packet")
    src, sport = split_endpoint(m.group(1), version)
    dst, dport = split_endpoint(m.group(2), version)
    rest = text[m.end() :]
    p = _PREFIX.match(rest)
    if p is not None:
        rest = rest[p.end() :]
    iphdr = 20 if version == 4 else 40
    inner: Headers | None = None
    vni: int | None = None
    inner_len = 0
    l4: TCPHeader | UDPHeader | ICMPHeader | None
    if sport is not None and dport is not None:
        if rest.startswith("Flags ["):
            proto, l4 = PROTO_TCP, _tcp(rest, sport, dport, vh.length, iphdr)
            est = iphdr + l4.payload_len + tcp_header_len(l4.options)
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
                    payload = _udp_len(rest, vh.length, iphdr)
            else:
                payload = _udp_len(rest, vh.length, iphdr)
            l4 = UDPHeader(sport, dport, payload)
            est = iphdr + 8 + payload
    elif rest.startswith("ICMP6"):
        proto, l4 = PROTO_ICMPV6, _icmp6(rest)
        est = iphdr + _last_length(rest, 8)
    elif rest.startswith("ICMP "):
        proto, l4 = PROTO_ICMP, _icmp4(rest[5:], dst)
        est = iphdr + _last_length(rest, 8)
    elif rest.startswith("ip-proto-"):
        proto, l4 = _proto_number(rest), None
        est = iphdr + _last_length(rest, 0)
    elif vh.frag_offset and vh.proto is not None:
        proto, l4 = vh.proto, None
        est = iphdr
    else:
        raise OtherProtocol(_other_ip(rest))
    if vh.proto is not None and version == 4:
        proto = vh.proto if l4 is None else proto
    length = vh.length if vh.length is not None else None
    ip = IPHeader(version, src, dst, proto, vh.ttl, vh.ip_id, length, vh.df, vh.frag_offset,
                  vh.more)
    if frame_len is not None:
        wire = frame_len
    elif length is not None:
        wire = ETH_LEN + length
    else:
        wire = ETH_LEN + est
    return Headers(eth, ip, l4), inner, vni, wire


def _other_ip(rest: str) -> str:
    word = rest.split(" ", 1)[0].rstrip(",:")
    return word.upper() if word else "IP"


def _proto_number(rest: str) -> int:
    digits = rest[9:].split(" ", 1)[0].rstrip(",:")
    if not digits.isdigit():
        raise TextError("ip-proto-N without a number")
    return int(digits)


def _last_length(rest: str, default: int) -> int:
    m = _LENGTH.search(rest)
    return int(m.group(1)) if m is not None else default


def _udp_len(rest: str, ip_len: int | None, iphdr: int) -> int:
    if ip_len is not None and ip_len >= iphdr + 8:
        return ip_len - iphdr - 8
    m = _LENGTH.search(rest)
    if m is not None:
        return int(m.group(1))
    m = _TRAILING_LEN.search(rest)
    return int(m.group(1)) if m is not None else 0


def tcp_flags(text: str) -> int:
    """Flag bits of tcpdump's ``[S.]`` text; TextError on a letter tcpdump never prints."""
    if text == "none":
        return 0
    bits = 0
    for ch in text:
        bit = _FLAG_BITS.get(ch)
        if bit is None:
            raise TextError(f"unknown TCP flag {ch!r}")
        bits |= bit
    return bits


def _tcp(rest: str, sport: int, dport: int, ip_len: int | None, iphdr: int) -> TCPHeader:
    m = _TCP.match(rest)
    if m is None:  # pragma: no cover - the pattern matches any "Flags [" prefix
        raise TextError("TCP flags that cannot be read")
    flags_s, seq_s, seqend_s, ack_s, win_s, opts_s, len_s = m.groups()
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
    return TCPHeader(
        sport, dport, flags, seq, int(ack_s) if ack_s is not None else None,
        int(win_s) if win_s is not None else None, payload, options,
    )


def parse_options(text: str) -> TCPOptions:
    """TCP options as tcpdump prints them: ``mss 1460,sackOK,TS val 1 ecr 0,nop,wscale 7``."""
    mss = wscale = ts_val = ts_ecr = None
    sack_ok = False
    sack: list[tuple[int, int]] = []
    order: list[str] = []
    for item in text.split(","):
        words = item.split()
        if not words:
            continue
        name = words[0]
        try:
            if name == "mss":
                mss = int(words[1])
            elif name == "wscale":
                wscale = int(words[1])
            elif name == "sackOK":
                sack_ok = True
            elif name == "TS":
                ts_val, ts_ecr = int(words[2]), int(words[4])
            elif name == "sack":
                sack = [_sack_block(b) for b in item.split("{")[1:]]
            elif name not in ("nop", "eol"):
                name = "opt-" + name
        except (IndexError, ValueError) as exc:
            raise TextError(f"TCP option {item.strip()!r} cannot be read") from exc
        order.append(name)
    return TCPOptions(mss, wscale, sack_ok, tuple(sack), ts_val, ts_ecr, tuple(order))


def _sack_block(text: str) -> tuple[int, int]:
    left, _, right = text.rstrip("} ").partition(":")
    return int(left), int(right)


def tcp_header_len(options: TCPOptions) -> int:
    """TCP header length with these options (padded to 4 bytes), as an estimate."""
    size = 0
    for name in options.order:
        size += _OPT_SIZES.get(name, 2 + 8 * len(options.sack) if name == "sack" else 4)
    return 20 + (size + 3) // 4 * 4


def _icmp4(rest: str, outer_dst: str) -> ICMPHeader:
    m = _ECHO.match(rest)
    if m is not None:
        itype = 8 if m.group(1) == "request" else 0
        return ICMPHeader(4, itype, 0, None, None, int(m.group(2)), int(m.group(3)))
    quoted = _quoted(rest, 4)
    m = _UNREACH_PORT.match(rest)
    if m is not None:
        proto = PROTO_UDP if m.group(2) == "udp" else PROTO_TCP
        q = quoted or _guess_quote(4, outer_dst, m.group(1), proto, _port(m.group(3)))
        return ICMPHeader(4, 3, 3, None, q)
    m = _NEED_FRAG.match(rest)
    if m is not None:
        mtu = int(m.group(2)) if m.group(2) else None
        return ICMPHeader(4, 3, 4, mtu, quoted or _guess_quote(4, outer_dst, m.group(1), 0, None))
    m = _UNREACH_PROTO.match(rest)
    if m is not None:
        q = quoted or _guess_quote(4, outer_dst, m.group(1), int(m.group(2)), None)
        return ICMPHeader(4, 3, 2, None, q)
    m = _UNREACH_HOST.match(rest)
    if m is not None and m.group(2)[0].isdigit():
        code = ICMP4_UNREACH.get(m.group(1) or "host", 1)
        if m.group(3) == "admin prohibited":
            code = 13
        q = quoted or _guess_quote(4, outer_dst, m.group(2), 0, None)
        return ICMPHeader(4, 3, code, None, q)
    for name in _ICMP4_NAMES:
        if rest.startswith(name):
            itype, code = ICMP4_TYPES[name]
            return ICMPHeader(4, itype, code, None, quoted)
    raise OtherProtocol("ICMP " + " ".join(rest.split()[:2]).rstrip(","))


def _icmp6(rest: str) -> ICMPHeader:
    body = rest[6:].lstrip(", ")
    m = _ECHO.match(body)
    if m is not None:
        itype = 128 if m.group(1) == "request" else 129
        return ICMPHeader(6, itype, 0, None, None, int(m.group(2)), int(m.group(3)))
    quoted = _quoted(body, 6)
    for name in _ICMP6_NAMES:
        if body.startswith(name):
            itype, code = ICMP6_TYPES[name]
            break
    else:
        raise OtherProtocol("ICMP6 " + " ".join(body.split()[:2]).rstrip(","))
    mtu = None
    if itype == 2:
        mm = _MTU.search(body)
        mtu = int(mm.group(1)) if mm is not None else None
    elif itype == 1:
        for kind, c in ICMP6_UNREACH.items():
            if kind in body:
                code = c
    return ICMPHeader(6, itype, code, mtu, quoted)


def _quoted(rest: str, version: int) -> QuotedHeader | None:
    """The offending packet an ICMP error quotes, as ``-v`` prints it after the message."""
    m = _QUOTED.search(rest)
    if m is None:
        return None
    try:
        vh, text = _verbose(rest[m.end() - 1 :], version)
        a = _ADDRS.match(text)
        if a is None:
            return None
        src, sport = split_endpoint(a.group(1), version)
        dst, dport = split_endpoint(a.group(2), version)
    except TextError:
        return None
    proto = vh.proto if vh.proto is not None else 0
    ip = IPHeader(version, src, dst, proto, vh.ttl, vh.ip_id, vh.length, vh.df, vh.frag_offset,
                  vh.more)
    return QuotedHeader(ip, sport, dport)


def _guess_quote(
    version: int, outer_dst: str, quoted_dst: str, proto: int, dport: int | None
) -> QuotedHeader:
    """What the short ICMP text tells of the quoted packet: its destination, protocol and port;
    its source is taken to be the ICMP message's destination (who sent the offending packet)."""
    ip = IPHeader(version, outer_dst, quoted_dst, proto, None, None, None, False, 0, False)
    return QuotedHeader(ip, None, dport)


def _arp(text: str, eth: EthHeader | None) -> ARPHeader:
    at = text.find("Request who-has ")
    if at < 0:
        at = text.find("Reply ")
    if at < 0:
        raise OtherProtocol("ARP " + text.split(" ", 1)[0].rstrip(","))
    text = text[at:]
    src_mac = eth.src if eth is not None and eth.src is not None else ""
    m = _ARP_REQ.match(text)
    if m is not None:
        target_mac = m.group(2) or "00:00:00:00:00:00"
        return ARPHeader(1, src_mac, m.group(3), target_mac, m.group(1))
    m = _ARP_REP.match(text)
    if m is not None:
        dst_mac = eth.dst if eth is not None and eth.dst is not None else ""
        return ARPHeader(2, m.group(2), m.group(1), dst_mac, "")
    raise TextError("an ARP message that cannot be read")
