"""The live trace as text: one block per packet, its hops across namespaces, NAT rewrites
where they happen.

Renderers take events and a stream and compute nothing but presentation (NAT rewrites are
read off consecutive hops of one packet). A plain row of an ``EventTable`` is written from
its columns, any other from its full event; both print the packet with the same describer
(``analyze.describe``) the analyzer's evidence uses.
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from typing import NamedTuple, TextIO

from nettrail.analyze.describe import describe_packet, tcp_line, udp_line
from nettrail.model.event import TraceEvent
from nettrail.model.event_table import EventTable, addr4_texts
from nettrail.model.flow import Endpoint

Hop = tuple[Endpoint, Endpoint, str]
"""(source, destination, netns) of one hop of a packet."""


def endpoints(ev: TraceEvent) -> tuple[Endpoint, Endpoint] | None:
    """(source, destination) of the event's packet, or of its socket when it has no packet."""
    ip, l4 = ev.ip, ev.l4
    if ip is not None:
        sport = l4.sport if l4 is not None else 0
        dport = l4.dport if l4 is not None else 0
        return Endpoint(ip.src, sport), Endpoint(ip.dst, dport)
    if ev.socket is not None:
        return ev.socket.local, ev.socket.remote
    return None


def hop_of(ev: TraceEvent) -> Hop | None:
    """(source, destination, netns) of a packet hop; None for events that are not hops."""
    eps = endpoints(ev) if ev.kind in ("xmit", "recv", "drop", "handed") else None
    return None if eps is None else (eps[0], eps[1], ev.netns)


def rewrite_notes(prev: Hop, cur: Hop) -> list[str]:
    """The NAT rewrites between two consecutive hops of one packet, and where they happened."""
    where = cur[2] if cur[2] == prev[2] else f"{prev[2]} -> {cur[2]}"
    notes = []
    if cur[1] != prev[1]:
        notes.append(f"DNAT {prev[1]} -> {cur[1]} in {where}")
    if cur[0] != prev[0]:
        notes.append(f"SNAT {prev[0]} -> {cur[0]} in {where}")
    return notes


def rewrites(hops: Sequence[Hop | None]) -> list[tuple[int, str]]:
    """NAT rewrites along one packet's hops: (index of the first hop after it, description)."""
    out: list[tuple[int, str]] = []
    prev: Hop | None = None
    for i, cur in enumerate(hops):
        if cur is None:
            continue
        if prev is not None:
            out.extend((i, note) for note in rewrite_notes(prev, cur))
        prev = cur
    return out


def packet_rewrites(events: Sequence[TraceEvent]) -> list[tuple[int, str]]:
    """``rewrites`` along the hops of one packet's events."""
    return rewrites([hop_of(ev) for ev in events])


def packet_text(ev: TraceEvent) -> str:
    """The event's packet printed as the analyzer's evidence prints one (tcpdump -n style)."""
    p = ev.packet
    return "" if p is None else describe_packet(p.headers, p.inner, p.vni, p.tunnel)


class Line(NamedTuple):
    """What the timeline writes about one event: times, kind, where, what, sections, hop."""

    mono_ns: int
    time_ns: int
    kind: str
    where: str
    what: str
    sections: str
    hop: Hop | None
    stack: tuple[str, ...]


def event_line(ev: TraceEvent) -> Line:
    """The timeline's view of a full event."""
    what = packet_text(ev) if ev.packet is not None else (
        ev.socket.text() if ev.socket is not None else "")
    sections = "".join(f"  [{s.text()}]" for s in (ev.drop, ev.reset, ev.conntrack)
                       if s is not None)
    where = ev.netns + (f"/{ev.ifname}" if ev.ifname else "")
    return Line(ev.mono_ns, ev.time_ns, ev.kind, where, what, sections, hop_of(ev),
                ev.stack.frames if ev.stack is not None else ())


def table_lines(table: EventTable) -> Iterator[Line]:
    """The timeline's view of every row: plain rows from the columns, others from events."""
    pk = table.packet
    src, dst = addr4_texts(pk.src), addr4_texts(pk.dst)
    netns = table.netns()
    ifnames = table.ifname.tolist()
    columns = zip(table.mono_ns.tolist(), table.time_ns(), table.kind, netns,
                  table.has_device.tolist(), ifnames, pk.proto.tolist(), src,
                  pk.sport.tolist(), dst, pk.dport.tolist(), pk.tcp_flags.tolist(),
                  pk.seq.tolist(), pk.ack.tolist(), pk.window.tolist(),
                  pk.payload_len.tolist(), strict=True)
    wheres: dict[tuple[str, bytes], str] = {}
    for i, (plain, row) in enumerate(zip(table.plain.tolist(), columns, strict=True)):
        if not plain:
            yield event_line(table.event(i))
            continue
        mono, wall, kind, ns, dev, ifname, proto, s, sport, d, dport, flags, seq, ack, win, \
            plen = row
        where = wheres.get((ns, ifname))
        if where is None:
            name = ifname.split(b"\0", 1)[0].decode(errors="replace") if dev else ""
            where = wheres[(ns, ifname)] = ns + (f"/{name}" if name else "")
        what = (tcp_line(s, sport, d, dport, flags, seq, ack, win, plen) if proto == 6
                else udp_line(s, sport, d, dport, plen))
        yield Line(mono, wall, kind, where, what, "",
                   (Endpoint(s, sport), Endpoint(d, dport), ns), ())


def _clock(ns: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ns // 1_000_000_000)) + \
        f".{ns % 1_000_000_000:09d}"


def hop_text(line: Line, t0: int) -> str:
    """One hop of a packet: offset from the first hop, kind, where, and what happened."""
    text = f"  +{(line.mono_ns - t0) / 1000:10.3f}us  {line.kind:<17} {line.where}"
    if line.what:
        text += f"  {line.what}"
    return text + line.sections


def render_packet(packet_id: int, lines: Sequence[Line], out: TextIO,
                  stacks: bool = False) -> None:
    """One packet as a hop list across namespaces, NAT rewrites where they happen."""
    if not lines:
        return
    first = lines[0]
    out.write(f"{_clock(first.time_ns)} packet {packet_id}: {first.what}\n")
    notes: dict[int, list[str]] = {}
    for i, note in rewrites([line.hop for line in lines]):
        notes.setdefault(i, []).append(note)
    t0 = first.mono_ns
    for i, line in enumerate(lines):
        for note in notes.get(i, ()):
            out.write(f"  {'':>12}  {note}\n")
        out.write(hop_text(line, t0) + "\n")
        if stacks:
            for frame in line.stack:
                out.write(f"  {'':>12}    {frame}\n")


class Timeline:
    """Groups live events per packet and writes each group once it has been quiet a while."""

    def __init__(self, out: TextIO, quiet_ns: int = 300_000_000, stacks: bool = False) -> None:
        self.out = out
        self.quiet_ns = quiet_ns
        self.stacks = stacks
        self._open: dict[int, list[Line]] = {}
        self._ids: dict[int, int] = {}
        self._alone = 0

    def add(self, table: EventTable) -> None:
        """Take new events (oldest first)."""
        groups = self._open
        for pid, line in zip(table.packet_id.tolist(), table_lines(table), strict=True):
            key = pid
            if not pid:  # an event of no packet stands alone
                self._alone -= 1
                key = self._alone
            group = groups.get(key)
            if group is None:
                groups[key] = [line]
                self._ids[key] = pid
            else:
                group.append(line)

    def write(self, table: EventTable) -> None:
        """Take new events and write the packets that have gone quiet."""
        self.add(table)
        self.flush(time.clock_gettime_ns(time.CLOCK_MONOTONIC))

    def flush(self, now_mono_ns: int | None = None) -> None:
        """Write groups quiet for ``quiet_ns`` (every group when ``now_mono_ns`` is None)."""
        if now_mono_ns is None:
            done = list(self._open)
        else:
            edge = now_mono_ns - self.quiet_ns
            done = [k for k, lines in self._open.items() if lines[-1].mono_ns <= edge]
        done.sort(key=lambda k: self._open[k][0].mono_ns)
        for key in done:
            render_packet(self._ids.pop(key), self._open.pop(key), self.out, self.stacks)
        if done:
            self.out.flush()
