"""The live trace as pcapng: one interface per (netns, device, link type), its comment
``netns INODE NAME``, and a comment per packet with nettrail's view of it (kind, packet id,
NAT rewrites, drop, reset and conntrack sections).

``nettrail trace --output-pcapng`` writes it to a file; the remote agent of ``nettrail collect
--tracer ebpf`` streams it (transmits and receives only, interfaces named by their device)
and the collector splits it into one file per namespace by the interface comments.

A plain row of an ``EventTable`` is written from its columns and captured bytes, any other
from its full event; both give the same block (a test checks).
"""

from __future__ import annotations

import os
from collections.abc import Collection, Sequence
from typing import BinaryIO

import numpy as np

from nettrail.model.event import TraceEvent
from nettrail.model.event_table import EventTable
from nettrail.model.linktype import LINKTYPE_ETHERNET, LINKTYPE_RAW
from nettrail.report.pcapng import PcapngWriter, interface_name
from nettrail.report.trace_text import Hop, hop_of, plain_hops, rewrite_notes

_LAST_MAX = 1 << 16


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
        plain = table.plain
        rows = np.flatnonzero(plain)
        hops = iter(plain_hops(table, rows))
        pk = table.packet
        names, kinds, wanted = table.netns_names, table.kind, self.kinds
        ino, pids, followed = (table.netns_inode.tolist(), table.packet_id.tolist(),
                               table.followed.tolist())
        ifnames = [raw.split(b"\0", 1)[0].decode(errors="replace") if dev else None
                   for raw, dev in zip(table.ifname.tolist(), table.has_device.tolist(),
                                       strict=True)]
        cap, eth, wire = pk.cap_len.tolist(), pk.link_eth.tolist(), pk.wire_len.tolist()
        frame, iface, notes = pk.frame, self._iface, self._notes
        done: list[tuple[int, int, bytes, int, str | None]] = []
        for i, (wall, is_plain) in enumerate(zip(table.time_ns(), plain.tolist(), strict=True)):
            if not is_plain:
                if wanted is None or kinds[i] in wanted:
                    self._flush(done)
                    done = []
                    self.write_event(table.event(i))
                continue
            cur = next(hops)
            if wanted is not None and kinds[i] not in wanted:
                continue
            pid = pids[i]
            head = f"nettrail {kinds[i]} packet {pid}" + (" (followed)" if followed[i] else "")
            if pid:
                nat = notes(pid, cur)
                if nat:
                    head = "; ".join([head, *nat])
            done.append((iface(ino[i], names[ino[i]], ifnames[i], "eth" if eth[i] else "raw"),
                         wall, frame[i, : cap[i]].tobytes(), wire[i], head))
        self._flush(done)
        self.out.flush()

    def _flush(self, done: list[tuple[int, int, bytes, int, str | None]]) -> None:
        self.writer.write_packets(done)
        self.packets += len(done)

    def _iface(self, inode: int, netns: str, ifname: str | None, link: str) -> int:
        key = (inode, ifname or "", link)
        if_id = self._ifaces.get(key)
        if if_id is None:
            linktype = LINKTYPE_ETHERNET if link == "eth" else LINKTYPE_RAW
            name = ((ifname or "?") if self.by_device
                    else interface_name(self.host, netns, ifname))
            if_id = self.writer.add_interface(name, linktype, comment=f"netns {inode} {netns}")
            self._ifaces[key] = if_id
        return if_id

    def write_event(self, ev: TraceEvent) -> None:
        """Append one event, if it carries packet bytes."""
        pkt = ev.packet
        if pkt is None:
            return
        self.writer.write_packet(self._iface(ev.netns_inode, ev.netns, ev.ifname, pkt.link),
                                 ev.time_ns, pkt.data, pkt.wire_len, _comment(ev, self._nat(ev)))
        self.packets += 1

    def _nat(self, ev: TraceEvent) -> list[str]:
        cur = hop_of(ev)
        if cur is None or not ev.packet_id:
            return []
        return self._notes(ev.packet_id, cur)

    def _notes(self, pid: int, cur: Hop) -> list[str]:
        """The NAT rewrites of packet ``pid`` between its last hop written and ``cur``."""
        last = self._last
        prev = last.get(pid)
        if len(last) >= _LAST_MAX:
            last.clear()
        last[pid] = cur
        return rewrite_notes(prev, cur) if prev is not None and prev[:4] != cur[:4] else []


def _comment(ev: TraceEvent, nat: Sequence[str] = ()) -> str:
    parts = [f"nettrail {ev.kind} packet {ev.packet_id}" + (" (followed)" if ev.followed else "")]
    parts.extend(nat)
    for section in (ev.drop, ev.reset, ev.conntrack):
        if section is not None:
            parts.append(section.text())
    return "; ".join(parts)
