"""The live trace as pcapng: one interface per (netns, device, link type), its comment
``netns INODE NAME``, and a comment per packet with nettrail's view of it (kind, packet id,
NAT rewrites, drop, reset and conntrack sections).

``nettrail trace --output-pcapng`` writes it to a file; the remote agent of ``nettrail collect
--tracer ebpf`` streams it (transmits and receives only, interfaces named by their device)
and the collector splits it into one file per namespace by the interface comments.
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from typing import BinaryIO

from nettrail.model.event import TraceEvent
from nettrail.model.event_table import EventTable
from nettrail.model.linktype import LINKTYPE_ETHERNET, LINKTYPE_RAW
from nettrail.report.pcapng import PcapngWriter, interface_name
from nettrail.report.trace_text import Hop, hop_of, rewrite_notes


class PcapngOut:
    """Writes the events that carry packet bytes into a pcapng stream, flushed per batch.

    ``kinds`` limits them to those event kinds (all by default). Interfaces are named
    ``HOST/NETNS/DEVICE`` (``host`` defaults to this machine's name), or by the device alone
    with ``by_device``; ``comment`` is the section's comment; ``packets`` counts what was
    written.
    """

    def __init__(self, out: BinaryIO, host: str | None = None, *,
                 kinds: Collection[str] | None = None, by_device: bool = False,
                 comment: str = "nettrail trace") -> None:
        self.out = out
        self.host = host if host is not None else os.uname().nodename
        self.kinds = None if kinds is None else frozenset(kinds)
        self.by_device = by_device
        self.writer = PcapngWriter(out, comment=comment)
        self.packets = 0
        self._ifaces: dict[tuple[int, str, str], int] = {}
        self._last: dict[int, Hop] = {}

    def write(self, table: EventTable) -> None:
        """Append the events of ``table`` that carry packet bytes (of ``kinds``); flush."""
        kinds = self.kinds
        rows = (range(len(table)) if kinds is None
                else [i for i, kind in enumerate(table.kind) if kind in kinds])
        for i in rows:
            self.write_event(table.event(i))
        self.out.flush()

    def write_event(self, ev: TraceEvent) -> None:
        """Append one event, if it carries packet bytes."""
        pkt = ev.packet
        if pkt is None:
            return
        key = (ev.netns_inode, ev.ifname or "", pkt.link)
        if_id = self._ifaces.get(key)
        if if_id is None:
            linktype = LINKTYPE_ETHERNET if pkt.link == "eth" else LINKTYPE_RAW
            name = ((ev.ifname or "?") if self.by_device
                    else interface_name(self.host, ev.netns, ev.ifname))
            if_id = self.writer.add_interface(name, linktype,
                                              comment=f"netns {ev.netns_inode} {ev.netns}")
            self._ifaces[key] = if_id
        self.writer.write_packet(if_id, ev.time_ns, pkt.data, pkt.wire_len,
                                 _comment(ev, self._nat(ev)))
        self.packets += 1

    def _nat(self, ev: TraceEvent) -> list[str]:
        cur = hop_of(ev)
        if cur is None or not ev.packet_id:
            return []
        prev = self._last.get(ev.packet_id)
        if len(self._last) >= 1 << 16:
            self._last.clear()
        self._last[ev.packet_id] = cur
        return rewrite_notes(prev, cur) if prev is not None else []


def _comment(ev: TraceEvent, nat: Sequence[str] = ()) -> str:
    parts = [f"nettrail {ev.kind} packet {ev.packet_id}" + (" (followed)" if ev.followed else "")]
    parts.extend(nat)
    for section in (ev.drop, ev.reset, ev.conntrack):
        if section is not None:
            parts.append(section.text())
    return "; ".join(parts)
