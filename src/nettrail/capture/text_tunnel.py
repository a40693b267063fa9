"""Encapsulations and link headers of tcpdump text around the IP packet nettrail reads.

Tunnels (the inner frame becomes the record's ``inner`` headers, as for VXLAN): Geneve
(``Geneve, Flags [C], vni 0xa, options [...]: IP ...``), GRE (``GREv0, length 92: IP ...``,
also with a WCCP or ERSPAN header between), IP in IP and IPv6 in IP (``IP a > b: IP c.1 >
d.2: ...``). In front of the network layer: MPLS labels (``MPLS (label 16, tc 0, [S], ttl
64) IP ...``), and ``-e`` link headers other than Ethernet: IPoIB (``IPOIB, ethertype IPv4
(0x0800), length 104:``), ARCnet (``be 50 c3 65:``), Linux cooked (``Out ethertype IPv4
(0x0800), length 76:``), null/loopback (``AF IPv4 (2), length 52:``), IPNET (``0 >
4294967295, family IPv4 (2), length 108:``), PPP (``IP (0x0021), length 177:``).
"""

from __future__ import annotations

import re
from typing import NamedTuple

_GENEVE = re.compile(r"Geneve, Flags \[[^\]]*\], vni (0x[0-9a-fA-F]+|\d+)")
_GRE = re.compile(r"GREv\d\b")
MAC = r"[0-9a-fA-F]{1,2}(?::[0-9a-fA-F]{1,2}){5}"
"""A MAC address as tcpdump prints it (leading zeros of an octet may be left out)."""
DIRECTIONS = {"In": "in", "Out": "out", "M": "in", "B": "in", "P": "in"}
"""The direction words ``-i any`` prints (also at the start of a Linux cooked ``-e`` header),
each with the direction a record keeps: ``Out`` sent by the host, the others received
(multicast, broadcast, for another host)."""
DIRECTION_WORDS = "|".join(DIRECTIONS)
"""The direction words as a pattern's alternatives."""
ETHERTYPE = r"ethertype ([^(,]+?) \((0x[0-9a-fA-F]+)\)"
"""An ethertype as ``-e`` prints it: its name, then its number in hex (two groups)."""
V_WORDS = "tos|hlim|flowlabel|class"
"""The first words of a ``-v`` IP header in parentheses (``tos`` for IPv4, else IPv6)."""
_INNER = re.compile(
    rf"(?:(?<=[\s:])|^)(?:IP6? (?=\(|[^\s>]+ > )|{MAC} > "
    rf"|\((?=(?:{V_WORDS}) ))"
)
_BARE_INNER = re.compile(r": (?=[0-9a-fA-F.:]+ > [0-9a-fA-F.:]+: )")
_ADDR_PAIR = re.compile(r"([0-9a-fA-F.:]+\.\d+|[0-9.]+|[0-9a-fA-F:]+) > [0-9a-fA-F.:]+: ")
BARE_V = re.compile(rf"\(({V_WORDS}) ")
"""A ``-v`` IP header printed without its ``IP``/``IP6`` keyword; group 1 its first word."""
_MPLS = re.compile(r"MPLS(?: \((?:label )?[^()]*\),?)+\s*(?:\(label [^()]*\),?\s*)*")
_IPOIB = re.compile(r"IPOIB, ethertype ([^(]+?) \((0x[0-9a-fA-F]+)\), length (\d+): ")
_ARCNET = re.compile(r"[0-9a-f]{2} [0-9a-f]{2} (?:[0-9a-f]{2}|\w+) (\d+): ")
_COOKED = re.compile(
    rf"(?:(?:{DIRECTION_WORDS}) +)?(?:hlen \d+, proto 0x[0-9a-fA-F]+, )?(?:{MAC}(?: > {MAC})?,? +)?"
    rf"{ETHERTYPE}, length (\d+): "
)
_NULL = re.compile(r"(?:AF|\d+ > \d+, family) (IPv4|IPv6) \(\d+\), length (\d+): ")
_PPP = re.compile(r"(IP6?|MPLS) \(0x[0-9a-fA-F]{4}\), length (\d+): |ip6?(): ")
_NETWORK = ("IP ", "IP6 ", "ARP,")
"""How the usual network layers start, without a link header before them."""
_PPP_IP = ("IP (", "IP6 (")
"""PPP's link header starts as one (``IP (0x0021), length 177:``)."""
_FAMILY = {"IP": "IPv4", "IP6": "IPv6", "IPv4": "IPv4", "IPv6": "IPv6", "MPLS": "MPLS", "": ""}

GRE_PROTO = 47
IPIP_PROTO = 4
IPV6_IN_IP_PROTO = 41


class Tunnel(NamedTuple):
    """An encapsulation found after the outer addresses: its kind, vni, and the inner text."""

    kind: str
    vni: int | None
    inner: str


def find_tunnel(rest: str, has_ports: bool) -> Tunnel | None:
    """The tunnel whose header starts ``rest`` (the text after the outer ``a > b: ``)."""
    if has_ports:
        g = _GENEVE.match(rest)
        if g is None:
            return None
        inner = _INNER.search(rest, g.end())
        if inner is not None:
            return Tunnel("geneve", int(g.group(1), 0), rest[inner.start() :])
        bare = _BARE_INNER.search(rest, g.end())  # an IP packet printed without "IP"
        if bare is None:
            return None
        return Tunnel("geneve", int(g.group(1), 0), rest[bare.end() :])
    if rest.startswith(("IP ", "IP6 ")) or BARE_V.match(rest):  # -e -v: no "IP" keyword
        v6 = rest.startswith("IP6") or not rest.startswith(("IP ", "(tos "))
        return Tunnel("ip6ip" if v6 else "ipip", None, rest)
    pair = _ADDR_PAIR.match(rest)  # -e: the inner packet's addresses right after the outer
    if pair is not None:
        return Tunnel("ip6ip" if ":" in pair.group(1) else "ipip", None, rest)
    if _GRE.match(rest):
        inner = _INNER.search(rest, 5)
        if inner is not None:
            return Tunnel("gre", None, rest[inner.start() :])
        bare = _BARE_INNER.search(rest, 5)
        if bare is not None:
            return Tunnel("gre", None, rest[bare.end() :])
    return None


def tunnel_proto(kind: str) -> int:
    """The outer IP protocol number of a tunnel without ports."""
    return {"gre": GRE_PROTO, "ipip": IPIP_PROTO}.get(kind, IPV6_IN_IP_PROTO)


def skip_mpls(text: str) -> str | None:
    """``text`` after its MPLS label stack, or None when it does not start with one."""
    m = _MPLS.match(text)
    return text[m.end() :] if m is not None else None


def link_without_macs(text: str) -> tuple[str, int, str] | None:
    """(ethertype name, frame length, text after it) of an ``-e`` link header other than
    Ethernet: IPoIB, ARCnet, Linux cooked (``Out ethertype IPv4 (0x0800), length 76:``),
    null/loopback (``AF IPv4 (2), length 52:``), IPNET (``0 > 4294967295, family IPv4 (2),
    length 108:``), PPP (``IP (0x0021), length 177:``), raw IP
    (``ip:``; length 0: unknown)."""
    if text.startswith(_NETWORK) and not text.startswith(_PPP_IP):
        return None  # "IP a > b", "IP6 a > b", "ARP, ...": no header above starts so
    m = _IPOIB.match(text) or _COOKED.match(text)
    if m is not None:
        return m.group(1), int(m.group(3)), text[m.end() :]
    m = _NULL.match(text) or _PPP.match(text)
    if m is not None:  # raw IP (``ip: ``) has no length: the family is the address's
        name = _FAMILY[m.group(1) or m.group(3) or ""]
        return name, int(m.group(2)) if m.group(2) else 0, text[m.end() :]
    m = _ARCNET.match(text)
    if m is not None:
        return "", int(m.group(1)), text[m.end() :]
    return None
