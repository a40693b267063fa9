"""The live trace as pcapng: one interface per (netns, device), a comment per packet with
nettrail's view of it (kind, packet id, NAT rewrites, drop, reset and conntrack sections).

A plain row of an ``EventTable`` is written from its columns and captured bytes, any other
from its full event; both give the same block (a test checks).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import BinaryIO

import numpy as np

from nettrail.capture.decode import LINKTYPE_ETHERNET, LINKTYPE_RAW
from nettrail.model.event import TraceEvent
from nettrail.model.event_table import EventTable
from nettrail.report.pcapng import PcapngWriter, interface_name
from nettrail.report.trace_text import Hop, hop_of, plain_hops, rewrite_notes

_LAST_MAX = 1 << 16


class PcapngOut:
    """Writes every event that carries packet bytes into a pcapng file."""

    def __init__(self, out: BinaryIO, host: str | None = None) -> None:
        self.host = host if host is not None else os.uname().nodename
        self.writer = PcapngWriter(out, comment="nettrail trace")
        self._ifaces: dict[tuple[str, str, str], int] = {}
        self._last: dict[int, Hop] = {}

    def write(self, table: EventTable) -> None:
        """Append every event of ``table`` that carries packet bytes."""
        plain = table.plain
        rows = np.flatnonzero(plain)
        hops = iter(plain_hops(table, rows))
        pk = table.packet
        names, kinds = table.netns_names, table.kind
        ino, pids, followed = (table.netns_inode.tolist(), table.packet_id.tolist(),
                               table.followed.tolist())
        ifnames = [raw.split(b"\0", 1)[0].decode(errors="replace") if dev else None
                   for raw, dev in zip(table.ifname.tolist(), table.has_device.tolist(),
                                       strict=True)]
        cap, eth, wire = pk.cap_len.tolist(), pk.link_eth.tolist(), pk.wire_len.tolist()
        frame, iface, last = pk.frame, self._iface, self._last
        done: list[tuple[int, int, bytes, int, str | None]] = []
        for i, (wall, is_plain) in enumerate(zip(table.time_ns(), plain.tolist(), strict=True)):
            if not is_plain:
                self.writer.write_packets(done)
                done = []
                self.write_event(table.event(i))
                continue
            cur = next(hops)
            pid = pids[i]
            head = f"nettrail {kinds[i]} packet {pid}" + (" (followed)" if followed[i] else "")
            if pid:
                prev = last.get(pid)
                if len(last) >= _LAST_MAX:
                    last.clear()
                last[pid] = cur
                if prev is not None and prev[:4] != cur[:4]:
                    head = "; ".join([head, *rewrite_notes(prev, cur)])
            done.append((iface(names[ino[i]], ifnames[i], "eth" if eth[i] else "raw"), wall,
                         frame[i, : cap[i]].tobytes(), wire[i], head))
        self.writer.write_packets(done)

    def _iface(self, netns: str, ifname: str | None, link: str) -> int:
        key = (netns, ifname or "-", link)
        if_id = self._ifaces.get(key)
        if if_id is None:
            linktype = LINKTYPE_ETHERNET if link == "eth" else LINKTYPE_RAW
            if_id = self.writer.add_interface(interface_name(self.host, netns, ifname),
                                              linktype)
            self._ifaces[key] = if_id
        return if_id

    def write_event(self, ev: TraceEvent) -> None:
        """Append one event, if it carries packet bytes."""
        pkt = ev.packet
        if pkt is None:
            return
        self.writer.write_packet(self._iface(ev.netns, ev.ifname, pkt.link), ev.time_ns,
                                 pkt.data, pkt.wire_len, _comment(ev, self._nat(ev)))

    def _nat(self, ev: TraceEvent) -> list[str]:
        cur = hop_of(ev)
        if cur is None or not ev.packet_id:
            return []
        prev = self._last.get(ev.packet_id)
        if len(self._last) >= _LAST_MAX:
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
