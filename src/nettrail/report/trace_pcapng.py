"""The live trace as pcapng: one interface per (netns, device), a comment per packet with
nettrail's view of it (kind, packet id, NAT rewrites, drop, reset and conntrack sections)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import BinaryIO

from nettrail.capture.decode import LINKTYPE_ETHERNET, LINKTYPE_RAW
from nettrail.model.event import TraceEvent
from nettrail.model.event_table import EventTable
from nettrail.report.pcapng import PcapngWriter, interface_name
from nettrail.report.trace_text import Hop, hop_of, rewrite_notes


class PcapngOut:
    """Writes every event that carries packet bytes into a pcapng file."""

    def __init__(self, out: BinaryIO, host: str | None = None) -> None:
        self.host = host if host is not None else os.uname().nodename
        self.writer = PcapngWriter(out, comment="nettrail trace")
        self._ifaces: dict[tuple[str, str, str], int] = {}
        self._last: dict[int, Hop] = {}

    def write(self, table: EventTable) -> None:
        """Append every event of ``table`` that carries packet bytes."""
        for i in range(len(table)):
            self.write_event(table.event(i))

    def write_event(self, ev: TraceEvent) -> None:
        """Append one event, if it carries packet bytes."""
        pkt = ev.packet
        if pkt is None:
            return
        key = (ev.netns, ev.ifname or "-", pkt.link)
        if_id = self._ifaces.get(key)
        if if_id is None:
            linktype = LINKTYPE_ETHERNET if pkt.link == "eth" else LINKTYPE_RAW
            if_id = self.writer.add_interface(interface_name(self.host, ev.netns, ev.ifname),
                                              linktype)
            self._ifaces[key] = if_id
        self.writer.write_packet(if_id, ev.time_ns, pkt.data, pkt.wire_len,
                                 _comment(ev, self._nat(ev)))

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
