"""A batch of live trace events as columns: the tracer's ring buffer decoded all at once.

One row per hook hit, oldest first. The columns hold what every event has (times, kind,
namespace, device, packet id) and, for a *plain* event, every field its packet line and its
JSON record need: a transmit or receive of an IPv4 TCP or UDP packet that is no tunnel, with
no conntrack, socket, reset or stack section. ``event(i)`` builds the full ``TraceEvent`` of
row ``i`` on demand, for what is printed, written or matched beyond the columns.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from nettrail.model.arrays import I64, U8, U16, U32
from nettrail.model.event import TraceEvent

Flags = npt.NDArray[np.bool_]

_ADDR4: dict[int, str] = {}


def addr4_texts(column: U32) -> list[str]:
    """Dotted-quad text of every IPv4 address in ``column`` (host-order integers)."""
    cache = _ADDR4
    values = column.tolist()
    out: list[str | None] = list(map(cache.get, values))
    if None in out:
        if len(cache) >= 1 << 16:
            cache.clear()
        for i, text in enumerate(out):
            if text is None:
                a = values[i]
                out[i] = cache[a] = f"{a >> 24}.{(a >> 16) & 255}.{(a >> 8) & 255}.{a & 255}"
    return out  # type: ignore[return-value]  # no None left


@dataclass(frozen=True, slots=True)
class PacketColumns:
    """The flow fields of every row's packet, valid where ``EventTable.plain`` is True.

    ``proto`` is 6 (TCP) or 17 (UDP); ``src``/``dst`` IPv4 addresses as host-order integers;
    ``tcp_flags`` TCP flag bits (AE included), ``seq``/``ack``/``window`` TCP fields;
    ``payload_len`` the L4 payload's length; ``wire_len`` the packet's length on the wire;
    ``frame`` every row's captured bytes (a row's first ``cap_len`` bytes, Ethernet where
    ``link_eth``, else raw IP; ``cap_len`` 0 when the row has none), valid on every row.
    """

    proto: U8
    src: U32
    dst: U32
    sport: U16
    dport: U16
    tcp_flags: U16
    seq: U32
    ack: U32
    window: U16
    payload_len: I64
    ip_id: U16
    wire_len: U32
    frame: U8
    cap_len: U16
    link_eth: Flags


@dataclass(frozen=True, slots=True)
class EventTable:
    """Trace events as columns, with their full records built on demand.

    ``mono_ns`` is the kernel's CLOCK_MONOTONIC and ``anchor_ns`` what turns it into wall
    time; ``kind`` the event kind names (``model.event.KINDS``), ``kind_code`` a number per
kind name (equal codes, equal kinds); ``netns_names`` the name of
    every namespace inode in the batch; ``ifname`` the device name (empty without a device,
    see ``has_device``); ``packet_id`` groups the events of one packet (0: none); ``plain``
    marks the rows ``packet`` describes completely (see the module docstring).
    """

    anchor_ns: int
    mono_ns: npt.NDArray[np.uint64]
    kind: list[str]
    kind_code: U8
    cpu: U16
    netns_inode: U32
    netns_names: Mapping[int, str]
    has_device: Flags
    ifindex: U32
    ifname: npt.NDArray[np.bytes_]
    packet_id: I64
    followed: Flags
    plain: Flags
    packet: PacketColumns
    build: Callable[[int], TraceEvent]
    _built: dict[int, TraceEvent] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.kind)

    def event(self, i: int) -> TraceEvent:
        """The full event of row ``i`` (built once)."""
        ev = self._built.get(i)
        if ev is None:
            ev = self._built[i] = self.build(i)
        return ev

    def events(self) -> list[TraceEvent]:
        """Every row as a full event, in order."""
        return [self.event(i) for i in range(len(self))]

    def rows_of_kind(self, kind: str) -> Iterator[int]:
        """Indices of the rows of one kind, in order."""
        return (i for i, k in enumerate(self.kind) if k == kind)

    def netns(self) -> list[str]:
        """The namespace name of every row."""
        names = self.netns_names
        return [names[i] for i in self.netns_inode.tolist()]

    def time_ns(self) -> list[int]:
        """Wall-clock ns since the epoch of every row."""
        wall: list[int] = (self.mono_ns.astype(np.int64) + self.anchor_ns).tolist()
        return wall
