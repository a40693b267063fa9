"""Fixed-offset header fields of many frames at once (numpy), for the packet table.

``decode_columns(buf, starts, caplens, linktype, table, wire_lens)`` reads the common
frame: Ethernet (one VLAN tag at most), Linux cooked v1 or v2 (one re-inserted VLAN tag at
most) carrying IPv4 without options or IPv6 without extension headers, carrying TCP (no
options, the timestamp option alone, the Linux SYN options or MSS alone) or UDP (not VXLAN
or Geneve). Each frame's header bytes are copied out of the buffer as one row (a strided
window), then every field is a column operation. A payload ends where the IP length says,
or where the frame ended on the wire when that is sooner (``headers.parse_ipv4``). Rows it
cannot take are marked not ``ok``: the reader gives those to the general decoder
(``decode``), whose records are the reference; the values read here are the same as the
decoder's for every row marked ``ok``.

``buf`` must extend at least :data:`PAD` bytes past the last frame start read.
"""

from __future__ import annotations

import numpy as np

from nettrail.capture import decode
from nettrail.model.addr import addr6
from nettrail.model.arrays import Arr
from nettrail.model.table import K_DF, K_IPID, K_MF, K_SEQ, K_TS, K_TTL, K_WIN, PacketTable

W_LINK = 24  # link header bytes read: up to SLL2 + one VLAN tag
W_IP4 = 60  # IPv4 header + TCP header with 20 option bytes
W_IP6 = 80  # IPv6 header + the same
PAD = W_LINK + 24 + W_IP6
"""Bytes past the last frame start that ``buf`` must hold (any values)."""

FAST_LINKTYPES = frozenset({decode.LINKTYPE_ETHERNET, decode.LINKTYPE_LINUX_SLL,
                            decode.LINKTYPE_LINUX_SLL2})
_TPIDS = np.array(sorted(decode.VLAN_TPIDS), np.uint32)
_TUNNEL_PORTS = np.array([decode.VXLAN_PORT, decode.GENEVE_PORT], np.uint32)

Cols = dict[str, Arr]


def rows_at(buf: Arr, starts: Arr, width: int) -> Arr:
    """``width`` bytes from each start, one row each (copied as one ``width``-byte item
    each: quicker than indexing a sliding window of bytes)."""
    items = np.ndarray(shape=(len(buf) - width + 1,), dtype=np.dtype((np.void, width)),
                       buffer=buf, strides=(1,))
    out: Arr = items[starts].view(np.uint8).reshape(-1, width)
    return out


def _u16(a: Arr, i: int) -> Arr:
    """Big-endian 16-bit field at column ``i`` of each row, as uint32 (read in place: a
    view of the rows' bytes, converted in one pass)."""
    out: Arr = a[:, i : i + 2].view(">u2")[:, 0].astype(np.uint32)
    return out


def _u32(a: Arr, i: int) -> Arr:
    """Big-endian 32-bit field at column ``i`` of each row, as uint32 (read in place)."""
    out: Arr = a[:, i : i + 4].view(">u4")[:, 0].astype(np.uint32)
    return out


def _link(linktype: int, h: Arr, caplen: Arr) -> tuple[Arr, Arr, Arr, Arr, Arr]:
    """(ethertype, L3 offset, interface index or -1, direction code, ok) per row."""
    n = len(h)
    ifindex = np.full(n, -1, np.int64)
    direction = np.zeros(n, np.uint8)
    if linktype == decode.LINKTYPE_ETHERNET:
        etype, l3, tag_at = _u16(h, 12), np.full(n, 14, np.int64), 14
    elif linktype == decode.LINKTYPE_LINUX_SLL:
        etype, l3, tag_at = _u16(h, 14), np.full(n, 16, np.int64), 16
        direction = _direction(_u16(h, 0))
    else:
        etype, l3, tag_at = _u16(h, 0), np.full(n, 20, np.int64), 20
        ifindex = _u32(h, 4).view(np.int32).astype(np.int64)
        direction = _direction(h[:, 10].astype(np.uint32))
    ok = caplen >= l3
    tagged = np.isin(etype, _TPIDS)
    if tagged.any():
        inner = _u16(h, tag_at + 2)
        etype = np.where(tagged, inner, etype)
        l3 = np.where(tagged, l3 + 4, l3)
        ok &= ~(tagged & np.isin(inner, _TPIDS)) & (caplen >= l3)
    return etype, l3, ifindex, direction, ok


def _direction(pkttype: Arr) -> Arr:
    """Linux cooked packet type -> direction code (1 in, 2 out, 0 unknown)."""
    return np.where(pkttype <= 3, 1, np.where(pkttype == 4, 2, 0)).astype(np.uint8)


def _tcp(t: Arr, base: int, room: Arr, cols: Cols, sel: Arr) -> Arr:
    """TCP fields of rows ``sel`` whose TCP header starts at column ``base`` of ``t``
    (``room``: captured bytes from there); returns the header lengths, 0 where not taken."""
    doff = t[:, base + 12]
    hlen = (doff >> 4).astype(np.int64) * 4
    o = base + 20
    plain = hlen == 20
    nop_ts = ((hlen == 32) & (t[:, o] == 1) & (t[:, o + 1] == 1) & (t[:, o + 2] == 8)
              & (t[:, o + 3] == 10))
    syn = ((hlen == 40) & (t[:, o] == 2) & (t[:, o + 1] == 4) & (t[:, o + 4] == 4)
           & (t[:, o + 5] == 2) & (t[:, o + 6] == 8) & (t[:, o + 7] == 10)
           & (t[:, o + 16] == 1) & (t[:, o + 17] == 3) & (t[:, o + 18] == 3))
    mss = (hlen == 24) & (t[:, o] == 2) & (t[:, o + 1] == 4)
    good = (room >= 20) & (plain | ((nop_ts | syn | mss) & (room >= hlen)))
    ts_val = np.where(nop_ts, _u32(t, o + 4), _u32(t, o + 8))
    has_ts = nop_ts | syn
    cols["sport"][sel] = _u16(t, base)
    cols["dport"][sel] = _u16(t, base + 2)
    cols["seq"][sel] = _u32(t, base + 4)
    cols["ack"][sel] = _u32(t, base + 8)
    cols["flags"][sel] = t[:, base + 13].astype(np.uint16) | ((doff & 1).astype(np.uint16) << 8)
    cols["window"][sel] = _u16(t, base + 14)
    cols["ts_val"][sel] = np.where(has_ts, ts_val, 0)
    cols["known"][sel] |= (K_SEQ | K_WIN | np.where(has_ts, K_TS, 0)).astype(np.uint8)
    return np.where(good, hlen, 0)


def _udp(t: Arr, base: int, room: Arr, ip_payload: Arr, cols: Cols, sel: Arr) -> Arr:
    """UDP fields of rows ``sel`` (header at column ``base``); returns which are taken."""
    dport = _u16(t, base + 2)
    length = _u16(t, base + 4).astype(np.int64)
    cols["sport"][sel] = _u16(t, base)
    cols["dport"][sel] = dport
    fits = (length >= 8) & (length <= ip_payload)
    cols["payload_len"][sel] = np.where(fits, length - 8, np.maximum(ip_payload - 8, 0))
    return (room >= 8) & ~np.isin(dport, _TUNNEL_PORTS)


def _ipv4(buf: Arr, starts: Arr, caplen: Arr, wire: Arr, sel: Arr, cols: Cols) -> Arr:
    """Columns of the IPv4 rows ``sel`` (indexes; ``caplen`` and ``wire``: the frames' bytes
    captured and on the wire from the IP header on); returns which of them are taken."""
    t = rows_at(buf, starts[sel], W_IP4)
    room = caplen[sel]
    total = _u16(t, 2).astype(np.int64)
    frag = _u16(t, 6)
    proto = t[:, 9]
    ok = (room >= 20) & (t[:, 0] == 0x45) & (total >= 20) & ((frag & 0x1FFF) == 0)
    cols["family"][sel] = 4
    cols["src"][sel] = _u32(t, 12)
    cols["dst"][sel] = _u32(t, 16)
    cols["proto"][sel] = proto
    cols["ip_len"][sel] = total
    cols["ip_id"][sel] = _u16(t, 4)
    cols["ttl"][sel] = t[:, 8]
    cols["tos"][sel] = t[:, 1]
    cols["known"][sel] = (K_IPID | K_TTL | np.where(frag & 0x4000, K_DF, 0)
                          | np.where(frag & 0x2000, K_MF, 0)).astype(np.uint8)
    taken: Arr = ok & _l4(t, 20, room - 20, np.minimum(total, wire[sel]) - 20, proto, cols,
                          sel)
    return taken


def _ipv6(buf: Arr, starts: Arr, caplen: Arr, wire: Arr, sel: Arr, cols: Cols,
          table: PacketTable) -> Arr:
    """Columns of the IPv6 rows ``sel`` (``caplen``, ``wire``: as for ``_ipv4``); returns
    which of them are taken."""
    t = rows_at(buf, starts[sel], W_IP6)
    room = caplen[sel]
    plen = _u16(t, 4).astype(np.int64)
    proto = t[:, 6]
    ok = (room >= 40) & ((t[:, 0] >> 4) == 6) & (plen > 0)
    cols["family"][sel] = 6
    for col, at in (("src", 8), ("dst", 24)):
        raw = np.ascontiguousarray(t[:, at : at + 16]).view("V16")[:, 0]
        uniq, inverse = np.unique(raw, return_inverse=True)
        ids = np.array([table.addr_id(addr6(u.tobytes())) for u in uniq], np.uint32)
        cols[col][sel] = ids[inverse]
    cols["proto"][sel] = proto
    cols["ip_len"][sel] = 40 + plen
    cols["ttl"][sel] = t[:, 7]
    cols["tos"][sel] = ((_u16(t, 0) >> 4) & 0xFF)
    cols["known"][sel] = K_TTL
    taken: Arr = ok & _l4(t, 40, room - 40, np.minimum(plen, wire[sel] - 40), proto, cols, sel)
    return taken


def _l4(t: Arr, base: int, room: Arr, ip_payload: Arr, proto: Arr, cols: Cols,
        sel: Arr) -> Arr:
    """TCP or UDP columns after an IP header at column ``base``; which rows are taken."""
    ok = np.zeros(len(t), bool)
    tcp = proto == 6
    if tcp.any():
        idx = np.flatnonzero(tcp)
        hlen = _tcp(t[idx], base, room[idx], cols, sel[idx])
        ok[idx] = hlen > 0
        cols["payload_len"][sel[idx]] = np.maximum(ip_payload[idx] - hlen, 0)
    udp = proto == 17
    if udp.any():
        idx = np.flatnonzero(udp)
        ok[idx] = _udp(t[idx], base, room[idx], ip_payload[idx], cols, sel[idx])
    return ok


def decode_columns(buf: Arr, starts: Arr, caplen: Arr, linktype: int, cols: Cols,
                   table: PacketTable, wire_len: Arr | None = None) -> tuple[Arr, Arr]:
    """Fill the header columns of rows 0..n-1 of ``cols`` from the frames at ``starts`` of
    link type ``linktype``, ``caplen`` bytes captured of ``wire_len`` on the wire (None:
    unknown): (ok mask, interface index per row, -1 where none)."""
    n = len(starts)
    if linktype not in FAST_LINKTYPES or n == 0:
        return np.zeros(n, bool), np.full(n, -1, np.int64)
    etype, l3, ifindex, direction, ok = _link(linktype, rows_at(buf, starts, W_LINK), caplen)
    cols["direction"][:n] = direction
    taken = np.zeros(n, bool)
    at = starts + l3
    room = caplen - l3
    # where the frame ended on the wire (no sooner than its captured bytes: a broken record)
    wire = np.full(n, 1 << 40, np.int64) if wire_len is None else np.maximum(wire_len, caplen)
    wroom = wire - l3
    v4 = np.flatnonzero(ok & (etype == decode.ETH_IPV4))
    if len(v4):
        taken[v4] = _ipv4(buf, at, room, wroom, v4, cols)
    v6 = np.flatnonzero(ok & (etype == decode.ETH_IPV6))
    if len(v6):
        taken[v6] = _ipv6(buf, at, room, wroom, v6, cols, table)
    return taken, ifindex
