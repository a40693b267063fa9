"""ICMP, ICMPv6 and ARP messages as tcpdump words them, back to headers.

The short forms name only part of the packet an ICMP error quotes (``ICMP 203.0.113.2 udp port
53 unreachable``): its destination, protocol and port; its source is taken to be the ICMP
message's destination. With ``-v`` the quoted IP header and ports are printed and read in full.
"""

from __future__ import annotations

import re

from nettrail.capture.text_fields import (
    ADDRS,
    OtherProtocol,
    TextError,
    port_number,
    split_endpoint,
    verbose_header,
)
from nettrail.capture.text_names import ICMP4_TYPES, ICMP4_UNREACH, ICMP6_TYPES, ICMP6_UNREACH
from nettrail.capture.text_tunnel import V_WORDS
from nettrail.model.packet import (
    PROTO_TCP,
    PROTO_UDP,
    ARPHeader,
    EthHeader,
    ICMPHeader,
    IPHeader,
    QuotedHeader,
)

_ECHO = re.compile(r"echo (request|reply), id (\d+), seq (\d+)")
_UNREACH_PORT = re.compile(r"(\S+) (udp|tcp) port (\S+) unreachable")
_UNREACH_PROTO = re.compile(r"(\S+) protocol (\d+) unreachable")
_NEED_FRAG = re.compile(r"(\S+) unreachable - need to frag(?: \(mtu (\d+)\))?")
_UNREACH_HOST = re.compile(r"(?:(host|net) )?(\S+) unreachable(?: - (admin prohibited|\w+))?")
_MTU = re.compile(r"mtu (\d+)")
_PORT6 = re.compile(r"([0-9a-fA-F:.]+) (udp|tcp) port (\S+?),?(?: |$)")
_QUOTED = re.compile(rf" (?:IP6? )?\((?=(?:{V_WORDS}) )")
_ARP_REQ = re.compile(r"Request who-has (\S+)(?: \(([0-9a-f:]+)\))? tell ([^\s,]+)")
_ARP_REP = re.compile(r"Reply (\S+) is-at ([0-9a-f:]+)")
_ICMP6_NAMES = sorted(ICMP6_TYPES, key=len, reverse=True)
_ICMP4_NAMES = sorted(ICMP4_TYPES, key=len, reverse=True)


def parse_icmp4(rest: str, outer_dst: str) -> ICMPHeader:
    """An ICMPv4 message as tcpdump words it (``rest`` after ``ICMP ``)."""
    m = _ECHO.match(rest)
    if m is not None:
        itype = 8 if m.group(1) == "request" else 0
        return ICMPHeader(4, itype, 0, None, None, int(m.group(2)), int(m.group(3)))
    quoted = _quoted(rest, 4)
    m = _UNREACH_PORT.match(rest)
    if m is not None:
        proto = PROTO_UDP if m.group(2) == "udp" else PROTO_TCP
        q = quoted or _guess_quote(4, outer_dst, m.group(1), proto, port_number(m.group(3)))
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
    if m is not None and m.group(2)[0] in "0123456789":
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


def parse_icmp6(rest: str, outer_dst: str) -> ICMPHeader:
    """An ICMPv6 message as tcpdump words it (``rest`` starts ``ICMP6``)."""
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
        port = _PORT6.search(body)
        if quoted is None and port is not None:
            proto = PROTO_UDP if port.group(2) == "udp" else PROTO_TCP
            quoted = _guess_quote(6, outer_dst, port.group(1), proto, port_number(port.group(3)))
    return ICMPHeader(6, itype, code, mtu, quoted)


def _quoted(rest: str, version: int) -> QuotedHeader | None:
    """The offending packet an ICMP error quotes, as ``-v`` prints it after the message."""
    m = _QUOTED.search(rest)
    if m is None:
        return None
    try:
        vh, text = verbose_header(rest[m.end() - 1 :], version)
        a = ADDRS.match(text)
        if a is None:
            return None
        src, sport = split_endpoint(a.group(1), version)
        dst, dport = split_endpoint(a.group(2), version)
    except TextError:
        return None
    proto = vh.proto if vh.proto is not None else 0
    ip = IPHeader(version, src, dst, proto, vh.ttl, vh.ip_id, vh.length, vh.df, vh.frag_offset,
                  vh.more, vh.tos)
    return QuotedHeader(ip, sport, dport)


def _guess_quote(
    version: int, outer_dst: str, quoted_dst: str, proto: int, dport: int | None
) -> QuotedHeader:
    """What the short ICMP text tells of the quoted packet: its destination, protocol and port;
    its source is taken to be the ICMP message's destination (who sent the offending packet)."""
    ip = IPHeader(version, outer_dst, quoted_dst, proto, None, None, None, False, 0, False)
    return QuotedHeader(ip, None, dport)


def parse_arp(text: str, eth: EthHeader | None) -> ARPHeader:
    """An ARP request or reply as tcpdump words it."""
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
