"""Trace events as capture records for the analyzer, and the exact origin of resets.

A live trace is a capture taken at every namespace at once: each namespace is a capture
point (its name), each device an interface, ``xmit`` is ``out`` and ``recv`` is ``in``.
"""

from __future__ import annotations

from collections.abc import Iterable

from nettrail.capture.decode import LINKTYPE_ETHERNET, LINKTYPE_RAW
from nettrail.model.event import TraceEvent
from nettrail.model.packet import PacketRecord

DIRECTIONS = {"xmit": "out", "recv": "in"}
TRACE_FILE = "live-trace"


def to_packet_records(events: Iterable[TraceEvent], file: str = TRACE_FILE) -> list[PacketRecord]:
    """Records of every transmit and receive event with packet bytes, in event order.

    ``frame`` is the 1-based index of the event in ``events`` so evidence points back to it.
    """
    out: list[PacketRecord] = []
    for i, ev in enumerate(events, 1):
        pkt = ev.packet
        direction = DIRECTIONS.get(ev.kind)
        if pkt is None or direction is None:
            continue
        out.append(PacketRecord(
            point=ev.netns, ts_ns=ev.time_ns, file=file, frame=i, ifname=ev.ifname,
            direction=direction, wire_len=pkt.wire_len, headers=pkt.headers, inner=pkt.inner,
            vni=pkt.vni, data=pkt.data, tunnel=pkt.tunnel,
            linktype=LINKTYPE_ETHERNET if pkt.link == "eth" else LINKTYPE_RAW, netns=ev.netns,
        ))
    return out


def by_point(records: Iterable[PacketRecord]) -> dict[str, list[PacketRecord]]:
    """Records grouped by capture point (namespace), in order of first appearance."""
    points: dict[str, list[PacketRecord]] = {}
    for rec in records:
        points.setdefault(rec.point, []).append(rec)
    return points


def reset_origin(ev: TraceEvent) -> str | None:
    """"RST made by the TCP stack of namespace X (no socket)" for a reset event, else None."""
    if ev.reset is None:
        return None
    owner = "no socket" if not ev.reset.socket else f"socket in {ev.reset.sk_state or 'a state'}"
    text = f"RST made by the TCP stack of namespace {ev.netns} ({owner})"
    ip, l4 = ev.ip, ev.l4
    if ip is not None and l4 is not None:
        text += f" in answer to {ip.src}:{l4.sport} > {ip.dst}:{l4.dport}"
    elif ev.socket is not None:
        text += f" for {ev.socket.local} <-> {ev.socket.remote}"
    return text + f", reason {ev.reset.name}"


def reset_origins(events: Iterable[TraceEvent]) -> list[str]:
    """The origin of every RST the traced TCP stacks made, in order."""
    return [text for ev in events if (text := reset_origin(ev)) is not None]
