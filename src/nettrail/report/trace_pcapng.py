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
import numpy.typing as npt

from nettrail.model.arrays import I64
from nettrail.model.event import TraceEvent
from nettrail.model.event_table import EventTable
from nettrail.model.linktype import LINKTYPE_ETHERNET, LINKTYPE_RAW
from nettrail.report.columns import groups
from nettrail.report.pcapng import PcapngWriter, interface_name
from nettrail.report.pcapng_blocks import packet_blocks
from nettrail.report.trace_text import Hop, hop_of, plain_hops, rewrite_notes

_LAST_MAX = 1 << 16
_FEW = 16
"""Runs of fewer plain rows are written a row at a time (less work than setting up arrays)."""


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
        hops = plain_hops(table, rows)
        wanted, kinds = self.kinds, table.kind
        done = 0  # plain rows written
        for i in [*np.flatnonzero(~plain).tolist(), len(table)]:
            upto = int(np.searchsorted(rows, i))  # the plain rows before row i
            if upto > done:
                self._plain(table, rows[done:upto], hops[done:upto])
                done = upto
            if i < len(table) and (wanted is None or kinds[i] in wanted):
                self.write_event(table.event(i))
        self.out.flush()

    def _plain(self, table: EventTable, rows: npt.NDArray[np.intp], hops: list[Hop]) -> None:
        """Append plain rows ``rows`` (in order, no other row between them), ``hops`` theirs."""
        kinds, wanted = table.kind, self.kinds
        if wanted is not None:
            keep = [k for k, i in enumerate(rows.tolist()) if kinds[i] in wanted]
            rows, hops = rows[keep], [hops[k] for k in keep]
        pids = table.packet_id[rows]
        notes = self._batch_notes(table, rows, pids, hops) if len(rows) >= _FEW else None
        if notes is None:
            self._plain_rows(table, rows, hops)
            return
        comments = [f"nettrail {kinds[i]} packet {p}" + (" (followed)" if f else "")
                    for i, p, f in zip(rows.tolist(), pids.tolist(),
                                       table.followed[rows].tolist(), strict=True)]
        for k, nat in notes.items():
            comments[k] = "; ".join([comments[k], *nat])
        pk = table.packet
        wall = table.mono_ns[rows].astype(np.int64) + table.anchor_ns
        self.writer.write_blocks(packet_blocks(self._iface_ids(table, rows), wall,
                                               pk.frame[rows], pk.cap_len[rows],
                                               pk.wire_len[rows], comments))
        self.packets += len(rows)

    def _batch_notes(self, table: EventTable, rows: npt.NDArray[np.intp], pids: I64,
                     hops: list[Hop]) -> dict[int, list[str]] | None:
        """``_notes`` of every row of ``rows`` with a packet id, in order, as {position:
        notes} for the rows that have some; None (nothing done) when the last hops kept
        would be forgotten on the way (then row by row does it)."""
        n = len(rows)
        order = np.argsort(pids, kind="stable")
        ordered = pids[order]
        starts = np.ones(n, bool)
        starts[1:] = ordered[1:] != ordered[:-1]
        ends = np.ones(n, bool)
        ends[:-1] = starts[1:]
        distinct = ordered[starts].tolist()
        last = self._last
        if len(last) + sum(1 for p in distinct if p and p not in last) >= _LAST_MAX:
            return None
        prev = np.full(n, -1, np.int64)  # the row before, of the same packet
        prev[order[1:]] = np.where(starts[1:], -1, order[:-1])
        prev[pids == 0] = -1
        pk = table.packet
        moved = np.zeros(n, bool)
        has = prev >= 0
        for col in (pk.src, pk.dst, pk.sport, pk.dport):
            c = col[rows]
            moved[has] |= c[has] != c[prev[has]]
        notes = {k: rewrite_notes(hops[p], hops[k])
                 for k, p in zip(np.flatnonzero(moved).tolist(),
                                 prev[moved].tolist(), strict=True)}
        for k, pid in zip(order[starts].tolist(), distinct, strict=True):
            before = last.get(pid) if pid else None
            if before is not None and before[:4] != hops[k][:4]:
                notes[k] = rewrite_notes(before, hops[k])
        for k, pid in zip(order[ends].tolist(), distinct, strict=True):
            if pid:
                last[pid] = hops[k]
        return notes

    def _iface_ids(self, table: EventTable, rows: npt.NDArray[np.intp]) -> I64:
        """The interface of every row of ``rows``, interfaces added in order of first use."""
        names, ino = table.netns_names, table.netns_inode[rows]
        dev, eth = table.has_device[rows], table.packet.link_eth[rows]
        ifname = np.ascontiguousarray(np.where(dev, table.ifname[rows], b"").astype("S16"))
        key = ifname.view(np.uint64).reshape(-1, 2)
        inverse, first = groups(ino, key[:, 0], key[:, 1], eth)
        ids = np.zeros(len(first), np.int64)
        for g in sorted(range(len(first)), key=first.__getitem__):
            k = first[g]
            inode = int(ino[k])
            name = ifname[k].split(b"\0", 1)[0].decode(errors="replace")
            ids[g] = self._iface(inode, names[inode], name or None,
                                 "eth" if eth[k] else "raw")
        return ids[inverse]

    def _plain_rows(self, table: EventTable, rows: npt.NDArray[np.intp],
                    hops: list[Hop]) -> None:
        """``_plain`` a row at a time."""
        pk = table.packet
        names, kinds, anchor = table.netns_names, table.kind, table.anchor_ns
        done: list[tuple[int, int, bytes, int, str | None]] = []
        for i, cur, ino, pid, followed, mono, dev, raw, eth, cap, wire in zip(
                rows.tolist(), hops, table.netns_inode[rows].tolist(),
                table.packet_id[rows].tolist(), table.followed[rows].tolist(),
                table.mono_ns[rows].tolist(), table.has_device[rows].tolist(),
                table.ifname[rows].tolist(), pk.link_eth[rows].tolist(),
                pk.cap_len[rows].tolist(), pk.wire_len[rows].tolist(), strict=True):
            head = f"nettrail {kinds[i]} packet {pid}" + (" (followed)" if followed else "")
            if pid:
                nat = self._notes(pid, cur)
                if nat:
                    head = "; ".join([head, *nat])
            ifname = raw.split(b"\0", 1)[0].decode(errors="replace") if dev else None
            done.append((self._iface(ino, names[ino], ifname, "eth" if eth else "raw"),
                         mono + anchor, pk.frame[i, :cap].tobytes(), wire, head))
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
