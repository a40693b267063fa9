"""Link layers other than Ethernet and Linux cooked: PPP and HDLC, ARCnet, IPoIB, Juniper,
SLIP and Linux NFLOG.

Each ``*_link(data)`` returns a ``Link``: the ethertype of what follows (``ETH_TEB`` when an
Ethernet frame follows, -1 when nothing nettrail reads does), its offset, the direction when
the link layer tells it, and the ``stats.skipped`` reason of a frame that carries no IP
(``other-protocol:ppp-lcp``, ``other-protocol:arcnet-0xf1``, ``truncated:ppp``...). Layouts
follow tcpdump's printers (print-ppp.c, print-arcnet.c, print-ipoib.c, print-juniper.c,
print-sl.c, print-nflog.c); a unit
test checks each against tshark on hand-built frames.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import NamedTuple

ETH_IPV4 = 0x0800
ETH_IPV6 = 0x86DD
ETH_ARP = 0x0806
ETH_MPLS = 0x8847
ETH_TEB = 0x6558  # transparent Ethernet bridging: an Ethernet frame follows
ETH_PPP = 0x880B  # a PPP frame follows (PPTP's GRE)

LINKTYPE_ARCNET_BSD = 7
LINKTYPE_SLIP = 8
LINKTYPE_PPP = 9
LINKTYPE_PPP_HDLC = 50
LINKTYPE_PPP_ETHER = 51
LINKTYPE_C_HDLC = 104
LINKTYPE_ARCNET_LINUX = 129
LINKTYPE_JUNIPER_ATM1 = 137
LINKTYPE_PPP_PPPD = 166
LINKTYPE_JUNIPER_PPPOE = 167
LINKTYPE_JUNIPER_ETHER = 178
LINKTYPE_JUNIPER_PPP = 179
LINKTYPE_JUNIPER_CHDLC = 181
LINKTYPE_PPP_WITH_DIR = 204
LINKTYPE_NFLOG = 239
LINKTYPE_IPOIB = 242

PPP_PROTOCOLS = {0x0021: ETH_IPV4, 0x0057: ETH_IPV6, 0x0281: ETH_MPLS, 0x0283: ETH_MPLS}
_PPP_NAMES = {
    0xC021: "lcp", 0xC023: "pap", 0xC223: "chap", 0x8021: "ipcp", 0x8057: "ipv6cp",
    0x80FD: "ccp", 0x00FD: "ccp-data", 0x8281: "mplscp", 0x002B: "ipx", 0x0031: "bridged",
}
# ARCnet protocol IDs (RFC 1201 types have a split flag and sequence number; RFC 1051 ones not)
_ARC_IP, _ARC_ARP, _ARC_IP6 = 0xD4, 0xD5, 0xC4
_ARC_IP_OLD, _ARC_ARP_OLD = 0xF0, 0xF1
_ARC_NEW = frozenset({_ARC_IP, _ARC_ARP, 0xD6, 0xDD, 0xF7, 0xFA, _ARC_IP6, 0x80})
_ARC_ETHERTYPES = {_ARC_IP: ETH_IPV4, _ARC_IP_OLD: ETH_IPV4, _ARC_ARP: ETH_ARP,
                   _ARC_ARP_OLD: ETH_ARP, _ARC_IP6: ETH_IPV6}
JUNIPER_MAGIC = b"MGC"
_JUNIPER_EXT = 0x80
_JUNIPER_NO_L2 = 0x02
_JUNIPER_IN = 0x01


class Link(NamedTuple):
    """What a link-layer header says: next ethertype, its offset, direction, skip reason."""

    ethertype: int
    offset: int
    direction: str | None
    problem: str | None


def _none(problem: str, direction: str | None = None) -> Link:
    return Link(-1, 0, direction, problem)


def ppp_protocol(data: bytes, off: int, direction: str | None = None) -> Link:
    """The PPP protocol field at ``off`` (one byte when compressed) and what follows it."""
    if len(data) < off + 1:
        return _none("truncated:ppp", direction)
    if data[off] & 1:  # protocol field compression: one odd byte
        proto, off = data[off], off + 1
    elif len(data) < off + 2:
        return _none("truncated:ppp", direction)
    else:
        proto, off = data[off] << 8 | data[off + 1], off + 2
    ethertype = PPP_PROTOCOLS.get(proto)
    if ethertype is None:
        return _none("other-protocol:ppp-" + _PPP_NAMES.get(proto, f"0x{proto:04x}"), direction)
    return Link(ethertype, off, direction, None)


def ppp_link(data: bytes) -> Link:
    """LINKTYPE_PPP (9): the protocol, after the HDLC address and control bytes when present."""
    off = 2 if data[:2] == b"\xff\x03" else 0
    return ppp_protocol(data, off)


def ppp_hdlc_link(data: bytes) -> Link:
    """LINKTYPE_PPP_HDLC (50): PPP in HDLC-like framing, or Cisco HDLC (address 0x0f/0x8f)."""
    if len(data) >= 4 and data[0] in (0x0F, 0x8F):
        return chdlc_link(data)
    return ppp_protocol(data, 2 if data[:2] == b"\xff\x03" else 0)


def chdlc_link(data: bytes, off: int = 0, direction: str | None = None) -> Link:
    """Cisco HDLC (104): address, control and an ethertype."""
    if len(data) < off + 4:
        return _none("truncated:chdlc", direction)
    return Link(data[off + 2] << 8 | data[off + 3], off + 4, direction, None)


def ppp_ether_link(data: bytes) -> Link:
    """LINKTYPE_PPP_ETHER (51): a PPPoE session header (6 bytes), then PPP."""
    if len(data) < 8:
        return _none("truncated:pppoe")
    if data[1] != 0:  # a discovery packet (PADI, PADO...), not session data
        return _none("other-protocol:pppoe-discovery")
    return ppp_protocol(data, 6)


def ppp_dir_link(data: bytes) -> Link:
    """PPP with a direction byte (166: it replaces the 0xff address; 204: it comes first)."""
    if not data:
        return _none("truncated:ppp")
    direction = "out" if data[0] else "in"
    off = 1
    if data[1:3] == b"\xff\x03":
        off = 3
    elif data[1:2] == b"\x03":
        off = 2
    return ppp_protocol(data, off, direction)


def arcnet_link(data: bytes, linux: bool) -> Link:
    """ARCnet (7: src, dst, protocol; 129, Linux: src, dst, 2-byte offset, protocol).

    RFC 1201 protocols add a split flag and a sequence number (a flag of 0xff: an exception
    packet with 4 more bytes); a later fragment of a split packet carries no header to read.
    """
    base = 4 if linux else 2
    if len(data) < base + 1:
        return _none("truncated:arcnet")
    proto = data[base]
    if proto not in _ARC_NEW:
        off = base + 1
    else:
        if len(data) < base + 4:
            return _none("truncated:arcnet")
        flag, off = data[base + 1], base + 4
        if flag == 0xFF and not linux:
            if len(data) < base + 8:
                return _none("truncated:arcnet")
            flag, off = data[base + 5], base + 8
        if flag and not flag & 1:
            return _none("other-protocol:arcnet-fragment")
    ethertype = _ARC_ETHERTYPES.get(proto)
    if ethertype is None:
        return _none(f"other-protocol:arcnet-0x{proto:02x}")
    return Link(ethertype, off, None, None)


def slip_link(data: bytes) -> Link:
    """LINKTYPE_SLIP (8): direction, packet type, 14 bytes of compressed header, then IP.

    Only plain IP packets (type 0x40) are read; Van Jacobson compressed or uncompressed-TCP
    packets hold no IP header nettrail can use.
    """
    if len(data) < 17:
        return _none("truncated:slip")
    direction = "out" if data[0] else "in"
    if data[1] & 0xF0 != 0x40:
        return _none("other-protocol:slip-compressed", direction)
    version = data[16] >> 4
    if version not in (4, 6):
        return _none("other-protocol:slip", direction)
    return Link(ETH_IPV4 if version == 4 else ETH_IPV6, 16, direction, None)


def nflog_link(data: bytes) -> Link:
    """LINKTYPE_NFLOG (239): family, version, group, then TLVs (host order); the payload TLV
    (type 9) holds the logged IP packet."""
    if len(data) < 4:
        return _none("truncated:nflog")
    family = data[0]
    off = 4
    while off + 4 <= len(data):
        size = data[off] | data[off + 1] << 8
        kind = (data[off + 2] | data[off + 3] << 8) & 0x7FFF
        if size < 4:
            return _none("malformed:nflog")
        if kind == 9:
            if family == 2:
                return Link(ETH_IPV4, off + 4, None, None)
            if family == 10:
                return Link(ETH_IPV6, off + 4, None, None)
            return _none(f"other-protocol:nflog-family-{family}")
        off += (size + 3) & ~3
    return _none("other-protocol:nflog-no-payload")


def ipoib_link(data: bytes) -> Link:
    """LINKTYPE_IPOIB (242): a 40-byte pseudo-header, then the 4-byte IPoIB header."""
    if len(data) < 44:
        return _none("truncated:ipoib")
    return Link(data[40] << 8 | data[41], 44, None, None)


def juniper_link(linktype: int, data: bytes) -> Link:
    """Juniper's capture header ("MGC", flags, extensions), then the link layer of the PIC.

    Ethernet (178), PPP (179), Cisco HDLC (181) and PPPoE (167) follow the header; with the
    no-L2 flag, 4 more bytes then an IP packet when one is there; the other PICs (ATM, MLPPP,
    services...) are skipped as ``other-protocol:juniper-<link type>``.
    """
    if len(data) < 4 or data[:3] != JUNIPER_MAGIC:
        return _none("malformed:juniper")
    flags = data[3]
    direction = "in" if flags & _JUNIPER_IN else "out"
    off = 4
    if flags & _JUNIPER_EXT:
        if len(data) < 6:
            return _none("truncated:juniper", direction)
        off = 6 + (data[4] << 8 | data[5])
    if flags & _JUNIPER_NO_L2:
        off += 4
        version = data[off] >> 4 if len(data) > off else 0
        if version in (4, 6):
            return Link(ETH_IPV4 if version == 4 else ETH_IPV6, off, direction, None)
        return _none("other-protocol:juniper-no-ip", direction)
    if linktype not in _JUNIPER_L2:
        return _none(f"other-protocol:juniper-{linktype}", direction)
    if len(data) < off:
        return _none("truncated:juniper", direction)
    if linktype == LINKTYPE_JUNIPER_ETHER:
        return Link(ETH_TEB, off, direction, None)
    if linktype == LINKTYPE_JUNIPER_CHDLC:
        return chdlc_link(data, off, direction)
    if linktype == LINKTYPE_JUNIPER_PPPOE:
        return Link(ETH_TEB, off, direction, None)
    return ppp_protocol(data, off + (2 if data[off : off + 2] == b"\xff\x03" else 0), direction)


_JUNIPER_L2 = frozenset({LINKTYPE_JUNIPER_ETHER, LINKTYPE_JUNIPER_PPP, LINKTYPE_JUNIPER_CHDLC,
                         LINKTYPE_JUNIPER_PPPOE})
JUNIPER_LINKTYPES = frozenset({130, 131, 132, 133, 134, 135, 136, 137, 164, 167, 168, 178, 179,
                               180, 181, 183, 194, 197, 198, 200})
PPP_LINKTYPES = frozenset({LINKTYPE_PPP, LINKTYPE_PPP_HDLC, LINKTYPE_PPP_ETHER, LINKTYPE_C_HDLC,
                           LINKTYPE_PPP_PPPD, LINKTYPE_PPP_WITH_DIR})
OTHER_LINKTYPES = (PPP_LINKTYPES | JUNIPER_LINKTYPES
                   | {LINKTYPE_ARCNET_BSD, LINKTYPE_ARCNET_LINUX, LINKTYPE_IPOIB, LINKTYPE_SLIP,
                      LINKTYPE_NFLOG})


def other_link(linktype: int, data: bytes) -> Link:
    """The link layer of a frame of one of ``OTHER_LINKTYPES``."""
    walk = _WALKS.get(linktype)
    return walk(data) if walk is not None else juniper_link(linktype, data)


_WALKS: dict[int, Callable[[bytes], Link]] = {
    LINKTYPE_PPP: ppp_link, LINKTYPE_PPP_HDLC: ppp_hdlc_link, LINKTYPE_PPP_ETHER: ppp_ether_link,
    LINKTYPE_C_HDLC: chdlc_link, LINKTYPE_PPP_PPPD: ppp_dir_link,
    LINKTYPE_PPP_WITH_DIR: ppp_dir_link, LINKTYPE_IPOIB: ipoib_link, LINKTYPE_SLIP: slip_link,
    LINKTYPE_NFLOG: nflog_link,
    LINKTYPE_ARCNET_BSD: functools.partial(arcnet_link, linux=False),
    LINKTYPE_ARCNET_LINUX: functools.partial(arcnet_link, linux=True),
}
"""The link walker of each of ``OTHER_LINKTYPES`` but Juniper's."""
