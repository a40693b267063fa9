"""The rows of one batch for the work done row by row: packet ids and hand-over joins.

``Rows`` gives a row's raw record, its packet (decoded once), and the identity and
fingerprint of that packet, read off the columns when they describe it; ``same_skb`` groups
the rows of a batch by (skb, first-match time).
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from typing import Any

import numpy as np
import numpy.typing as npt

from nettrail.model.event import PacketSection
from nettrail.model.event_table import PacketColumns
from nettrail.model.packet import PROTO_TCP, TCPHeader, UDPHeader
from nettrail.trace import columns
from nettrail.trace import layout as L

Raw = tuple[Any, ...]


def same_skb(skb: npt.NDArray[np.uint64], first: npt.NDArray[np.uint64]) -> tuple[
        npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Rows grouped by (skb, first-match time): (group of every row, first row of every group)."""
    n = len(skb)
    if not n:
        return np.zeros(0, np.intp), np.zeros(0, np.intp)
    order = np.lexsort((first, skb))
    s_skb, s_first = skb[order], first[order]
    starts = np.empty(n, bool)
    starts[0] = True
    starts[1:] = (s_skb[1:] != s_skb[:-1]) | (s_first[1:] != s_first[:-1])
    group = np.empty(n, np.intp)
    group[order] = np.cumsum(starts) - 1
    return group, np.minimum.reduceat(order, np.flatnonzero(starts))


class Rows:
    """One batch's rows for the per-row work: raw records, packets decoded once, the
    identity and fingerprint of a row's packet (from the columns when they describe it)."""

    def __init__(self, buf: bytes, rec: columns.Records,
                 decode: Callable[[Raw], PacketSection | None], simple: np.ndarray[Any, Any],
                 pk: PacketColumns, record: struct.Struct = L.RECORD_STRUCT) -> None:
        self.buf = buf
        self.record = record
        self.rec_skb = rec["skb"]
        self.rec_first = rec["first_ns"]
        self.decode = decode
        self.simple = simple
        self.pk = pk
        self._packets: dict[int, PacketSection | None] = {}

    def raw(self, i: int) -> Raw:
        """Row ``i`` as a raw tuple (``layout.RECORD`` order, then the stack in stack mode)."""
        return self.record.unpack_from(self.buf, i * self.record.size)

    def packet(self, i: int) -> PacketSection | None:
        """Row ``i``'s packet section (decoded once)."""
        if i not in self._packets:
            self._packets[i] = self.decode(self.raw(i))
        return self._packets[i]

    def key(self, i: int) -> tuple[int, ...]:
        """What tells row ``i``'s packet apart: (skb, first-match time) or (skb, identity)."""
        skb, first = int(self.rec_skb[i]), int(self.rec_first[i])
        return (skb, first) if first else (skb, *self.identity(i))

    def keys(self, at: npt.NDArray[np.intp]) -> list[tuple[int, ...]]:
        """``key`` of every row of ``at``, in order."""
        pk = self.pk
        proto = pk.proto[at]
        second = np.where(proto == PROTO_TCP, pk.seq[at], pk.payload_len[at]).tolist()
        return [(skb, first) if first else (skb, ip_id, sec, pr) if simple else self.key(i)
                for i, skb, first, simple, ip_id, sec, pr in zip(
                    at.tolist(), self.rec_skb[at].tolist(), self.rec_first[at].tolist(),
                    self.simple[at].tolist(), pk.ip_id[at].tolist(), second, proto.tolist(),
                    strict=True)]

    def identity(self, i: int) -> tuple[int, ...]:
        """``_identity`` of row ``i``'s packet."""
        if not self.simple[i]:
            return identity(self.packet(i))
        pk = self.pk
        proto = int(pk.proto[i])
        second = int(pk.seq[i]) if proto == PROTO_TCP else int(pk.payload_len[i])
        return (int(pk.ip_id[i]), second, proto)

    def fingerprint(self, i: int) -> tuple[int, ...]:
        """``fingerprint`` of row ``i``'s packet."""
        if not self.simple[i]:
            return fingerprint(self.packet(i))
        pk = self.pk
        ip_id, proto, plen = int(pk.ip_id[i]), int(pk.proto[i]), int(pk.payload_len[i])
        if proto == PROTO_TCP:
            return (ip_id, proto, int(pk.seq[i]), int(pk.ack[i]), int(pk.tcp_flags[i]), plen)
        return (ip_id, proto, plen)


def fingerprint(packet: PacketSection | None) -> tuple[int, ...]:
    """NAT- and encapsulation-invariant fields of the innermost IP packet; () when none."""
    if packet is None:
        return ()
    hdrs = packet.top
    ip = hdrs.ip
    if ip is None:
        return ()
    l4 = hdrs.l4
    if isinstance(l4, TCPHeader):
        return (ip.ip_id or 0, ip.proto, l4.seq or 0, l4.ack or 0, l4.flags, l4.payload_len)
    if isinstance(l4, UDPHeader):
        return (ip.ip_id or 0, ip.proto, l4.payload_len)
    return (ip.ip_id or 0, ip.proto)


def identity(packet: PacketSection | None) -> tuple[int, ...]:
    """NAT-invariant fields that tell two packets on one recycled skb apart."""
    if packet is None or packet.top.ip is None:
        return ()
    ip = packet.top.ip
    l4 = packet.top.l4
    seq = l4.seq or 0 if isinstance(l4, TCPHeader) else (
        l4.payload_len if isinstance(l4, UDPHeader) else 0)
    return (ip.ip_id or 0, seq, ip.proto)
