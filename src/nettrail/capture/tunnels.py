"""Tunnel headers: Geneve, GRE (with ERSPAN, WCCP and PPTP's enhanced GRE) and MPLS.

Each parser takes the bytes and the offset of the tunnel header and returns what the tunnel
carries: its identifier, the ethertype of the payload (``links.ETH_TEB`` for an Ethernet frame,
``links.ETH_PPP`` for a PPP frame) and the payload's offset; or the ``stats.skipped`` reason
when there is nothing nettrail reads inside (``other-protocol:gre-0x880b``, ``truncated:mpls``).
``decode`` decodes the payload and nests tunnels.
"""

from __future__ import annotations

import struct

from nettrail.capture.links import ETH_IPV4, ETH_IPV6, ETH_PPP, ETH_TEB

_GRE = struct.Struct("!HH")
_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
GRE_CSUM = 0x8000
GRE_ROUTING = 0x4000
GRE_KEY = 0x2000
GRE_SEQ = 0x1000
GRE_ACK = 0x0080
ETH_ERSPAN2 = 0x88BE
ETH_ERSPAN3 = 0x22EB
ETH_WCCP = 0x883E
_GRE_PAYLOADS = frozenset({ETH_IPV4, ETH_IPV6, ETH_TEB, 0x8847, 0x8848})
_GENEVE_PAYLOADS = frozenset({ETH_IPV4, ETH_IPV6, ETH_TEB})


def geneve(data: bytes, off: int) -> tuple[int, int, int] | None:
    """A Geneve header at ``off``: (VNI, payload ethertype, payload offset); None if not one."""
    if len(data) < off + 8 or data[off] >> 6 != 0:
        return None
    proto = _U16.unpack_from(data, off + 2)[0]
    if proto not in _GENEVE_PAYLOADS:
        return None
    vni = int.from_bytes(data[off + 4 : off + 7], "big")
    return vni, proto, off + 8 + (data[off] & 0x3F) * 4


def gre(data: bytes, off: int) -> tuple[str, int | None, int, int] | str:
    """A GRE header at ``off``: (kind, id, payload ethertype, payload offset), or why not.

    Version 0: checksum, key (the id) and sequence number as its flags say; ERSPAN type I
    (no header), II (8 bytes) and III (12, or 20 with the platform sub-header) give kind
    ``erspan`` with the session ID; WCCP's 4-byte redirect header is skipped unless an IPv4
    header follows at once. Version 1 (PPTP): the call ID, a PPP frame inside.
    """
    if len(data) < off + 4:
        return "truncated:gre"
    flags, proto = _GRE.unpack_from(data, off)
    version = flags & 7
    pos = off + 4
    if version == 1:
        if not flags & GRE_KEY or proto != ETH_PPP:
            return "malformed:gre"
        if len(data) < pos + 4:
            return "truncated:gre"
        call_id = _U16.unpack_from(data, pos + 2)[0]
        pos += 4 + (4 if flags & GRE_SEQ else 0) + (4 if flags & GRE_ACK else 0)
        return "pptp", call_id, ETH_PPP, pos
    if version != 0 or flags & GRE_ROUTING:
        return f"other-protocol:gre-v{version}" if version else "other-protocol:gre-routing"
    if flags & GRE_CSUM:
        pos += 4
    key = None
    if flags & GRE_KEY:
        if len(data) < pos + 4:
            return "truncated:gre"
        key = _U32.unpack_from(data, pos)[0]
        pos += 4
    if flags & GRE_SEQ:
        pos += 4
    if proto == ETH_ERSPAN2:
        if not flags & GRE_SEQ:  # type I: no ERSPAN header at all
            return "erspan", None, ETH_TEB, pos
        return _erspan(data, pos, 8)
    if proto == ETH_ERSPAN3:
        if len(data) < pos + 12:
            return "truncated:erspan"
        return _erspan(data, pos, 20 if data[pos + 11] & 1 else 12)
    if proto == ETH_WCCP:
        if len(data) < pos + 1:
            return "truncated:gre"
        return "gre", key, ETH_IPV4, pos if data[pos] >> 4 == 4 else pos + 4
    if proto not in _GRE_PAYLOADS:
        return f"other-protocol:gre-0x{proto:04x}"
    return "gre", key, proto, pos


def _erspan(data: bytes, pos: int, size: int) -> tuple[str, int | None, int, int] | str:
    """An ERSPAN type II/III header of ``size`` bytes: its session ID, an Ethernet frame after."""
    if len(data) < pos + size:
        return "truncated:erspan"
    session = _U16.unpack_from(data, pos + 2)[0] & 0x3FF
    return "erspan", session, ETH_TEB, pos + size


def mpls(data: bytes, off: int) -> tuple[int, int, int] | str:
    """An MPLS label stack at ``off``: (top label, payload ethertype, payload offset), or why not.

    What follows the bottom label is IPv4 or IPv6 by its version nibble; anything else (a
    pseudowire control word, an OAM packet) is skipped as ``other-protocol:mpls-payload``.
    """
    top = None
    pos = off
    while True:
        if len(data) < pos + 4:
            return "truncated:mpls"
        entry = _U32.unpack_from(data, pos)[0]
        if top is None:
            top = entry >> 12
        pos += 4
        if entry & 0x100:
            break
    version = data[pos] >> 4 if len(data) > pos else 0
    if version == 4:
        return top, ETH_IPV4, pos
    if version == 6:
        return top, ETH_IPV6, pos
    return "other-protocol:mpls-payload"
