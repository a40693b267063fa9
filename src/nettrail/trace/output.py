"""Renderers of trace events: a per-packet hop timeline, JSON lines, and pcapng.

Renderers take events and a stream and compute nothing but presentation (NAT rewrites are
read off consecutive hops of one packet).
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Iterable, Sequence
from typing import Any, BinaryIO, TextIO

from nettrail.analyze.describe import describe_packet
from nettrail.capture.decode import LINKTYPE_ETHERNET, LINKTYPE_RAW
from nettrail.model.event import PROTO_NAMES, TraceEvent
from nettrail.model.flow import Endpoint
from nettrail.model.packet import TCPHeader, tcp_flags_text
from nettrail.report.pcapng import PcapngWriter, interface_name

FORMAT = "nettrail-trace"
FORMAT_VERSION = 1


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


Hop = tuple[Endpoint, Endpoint, str]


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


def rewrites(events: Sequence[TraceEvent]) -> list[tuple[int, str]]:
    """NAT rewrites along one packet's hops: (index of the first hop after it, description)."""
    out: list[tuple[int, str]] = []
    prev: Hop | None = None
    for i, ev in enumerate(events):
        cur = hop_of(ev)
        if cur is None:
            continue
        if prev is not None:
            out.extend((i, note) for note in rewrite_notes(prev, cur))
        prev = cur
    return out


def _clock(ns: int) -> str:
    return time.strftime("%H:%M:%S", time.localtime(ns // 1_000_000_000)) + \
        f".{ns % 1_000_000_000:09d}"


def packet_text(ev: TraceEvent) -> str:
    """The event's packet printed as the analyzer's evidence prints one (tcpdump -n style)."""
    p = ev.packet
    return "" if p is None else describe_packet(p.headers, p.inner, p.vni, p.tunnel)


def hop_line(ev: TraceEvent, t0: int) -> str:
    """One hop of a packet: offset from the first hop, kind, where, and what happened."""
    where = ev.netns + (f"/{ev.ifname}" if ev.ifname else "")
    line = f"  +{(ev.mono_ns - t0) / 1000:10.3f}us  {ev.kind:<17} {where}"
    if ev.packet is not None:
        line += f"  {packet_text(ev)}"
    elif ev.socket is not None:
        line += f"  {ev.socket.text()}"
    for section in (ev.drop, ev.reset, ev.conntrack):
        if section is not None:
            line += f"  [{section.text()}]"
    return line


def render_packet(events: Sequence[TraceEvent], out: TextIO, stacks: bool = False) -> None:
    """One packet as a hop list across namespaces, NAT rewrites where they happen."""
    if not events:
        return
    first = events[0]
    what = packet_text(first) if first.packet is not None else (
        first.socket.text() if first.socket is not None else "")
    out.write(f"{_clock(first.time_ns)} packet {first.packet_id}: {what}\n")
    notes = dict(rewrites(events))
    for i, ev in enumerate(events):
        if i in notes:
            out.write(f"  {'':>12}  {notes[i]}\n")
        out.write(hop_line(ev, first.mono_ns) + "\n")
        if stacks and ev.stack is not None:
            for frame in ev.stack.frames:
                out.write(f"  {'':>12}    {frame}\n")


class Timeline:
    """Groups live events per packet and writes each group once it has been quiet a while."""

    def __init__(self, out: TextIO, quiet_ns: int = 300_000_000, stacks: bool = False) -> None:
        self.out = out
        self.quiet_ns = quiet_ns
        self.stacks = stacks
        self._open: dict[int, list[TraceEvent]] = {}

    def add(self, events: Iterable[TraceEvent]) -> None:
        """Take new events (oldest first)."""
        for ev in events:
            self._open.setdefault(ev.packet_id or -id(ev), []).append(ev)

    def write(self, events: Sequence[TraceEvent]) -> None:
        """Take new events and write the packets that have gone quiet."""
        self.add(events)
        self.flush(time.clock_gettime_ns(time.CLOCK_MONOTONIC))

    def flush(self, now_mono_ns: int | None = None) -> None:
        """Write groups quiet for ``quiet_ns`` (every group when ``now_mono_ns`` is None)."""
        done = [k for k, evs in self._open.items()
                if now_mono_ns is None or now_mono_ns - evs[-1].mono_ns >= self.quiet_ns]
        done.sort(key=lambda k: self._open[k][0].mono_ns)
        for key in done:
            render_packet(self._open.pop(key), self.out, self.stacks)
        if done:
            self.out.flush()


def header_record(anchor_ns: int, filter_text: str) -> dict[str, Any]:
    """The first JSON line: format, version, host, kernel, clock anchor."""
    uts = os.uname()
    return {
        "type": "header",
        "format": FORMAT,
        "version": FORMAT_VERSION,
        "host": uts.nodename,
        "kernel": uts.release,
        "clock": {"source": "CLOCK_MONOTONIC", "realtime_minus_monotonic_ns": anchor_ns},
        "filter": filter_text,
    }


def _iso(ns: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + \
        f".{ns % 1_000_000_000:09d}Z"


def event_record(ev: TraceEvent) -> dict[str, Any]:
    """One event as a JSON object (fields documented in docs/trace.md)."""
    rec: dict[str, Any] = {
        "type": "event", "time": _iso(ev.time_ns), "time_ns": ev.time_ns, "kind": ev.kind,
        "netns": ev.netns, "netns_inode": ev.netns_inode, "ifname": ev.ifname,
        "ifindex": ev.device.ifindex if ev.device else None, "cpu": ev.cpu,
        "packet_id": ev.packet_id, "followed": ev.followed,
    }
    eps = endpoints(ev)
    ip = ev.ip
    if eps is not None:
        rec.update(src=eps[0].addr, dst=eps[1].addr, sport=eps[0].port, dport=eps[1].port)
        rec["proto"] = PROTO_NAMES.get(ip.proto, str(ip.proto)) if ip else "tcp"
    l4 = ev.l4
    if isinstance(l4, TCPHeader):
        rec.update(tcp_flags=tcp_flags_text(l4.flags), seq=l4.seq, ack=l4.ack,
                   payload_len=l4.payload_len)
    if ip is not None:
        rec["ip_id"] = ip.ip_id
    if ev.packet is not None:
        rec["len"] = ev.packet.wire_len
        if ev.packet.vni is not None and ev.packet.headers.ip is not None:
            outer = ev.packet.headers.ip
            rec["vxlan"] = {"vni": ev.packet.vni, "outer_src": outer.src, "outer_dst": outer.dst}
    if ev.conntrack is not None:
        ct = ev.conntrack
        rec["conntrack"] = {"info": ct.info, "status": list(ct.status),
                            "original": ct.original.text(), "reply": ct.reply.text()}
    if ev.drop is not None:
        rec["drop_reason"] = ev.drop.name
        if ev.drop.handed_to:
            rec["handed_to"] = ev.drop.handed_to
    if ev.reset is not None:
        rec["reset"] = {"reason": ev.reset.name, "socket": ev.reset.socket,
                        "sk_state": ev.reset.sk_state, "origin": ev.reset.text()}
    if ev.socket is not None:
        rec["socket"] = {"local": str(ev.socket.local), "remote": str(ev.socket.remote),
                         "state": ev.socket.state}
    if ev.stack is not None:
        rec["stack"] = list(ev.stack.frames)
    return rec


class JsonLines:
    """Writes the header, then one line per event."""

    def __init__(self, out: TextIO, anchor_ns: int, filter_text: str) -> None:
        self.out = out
        out.write(json.dumps(header_record(anchor_ns, filter_text)) + "\n")

    def write(self, events: Iterable[TraceEvent]) -> None:
        """Append events."""
        self.out.write("".join(json.dumps(event_record(ev)) + "\n" for ev in events))

    def summary(self, emitted: int, lost: int, events: int) -> None:
        """The last line: what the kernel emitted, lost, and what was written."""
        self.out.write(json.dumps({"type": "summary", "emitted": emitted, "lost": lost,
                                   "events": events}) + "\n")


class PcapngOut:
    """One pcapng interface per (netns, device); a comment per packet with nettrail's view."""

    def __init__(self, out: BinaryIO, host: str | None = None) -> None:
        self.host = host if host is not None else os.uname().nodename
        self.writer = PcapngWriter(out, comment="nettrail trace")
        self._ifaces: dict[tuple[str, str, str], int] = {}
        self._last: dict[int, Hop] = {}

    def write(self, events: Iterable[TraceEvent]) -> None:
        """Append every event that carries packet bytes."""
        for ev in events:
            pkt = ev.packet
            if pkt is None:
                continue
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
