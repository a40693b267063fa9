"""The live trace as JSON lines: a header record, one record per event, a summary record.

A plain row of an ``EventTable`` is written straight from its columns, any other from its
full event (``event_record``); the two give the same text for the same event (a test checks).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, TextIO

from nettrail.model.event import PROTO_NAMES, TraceEvent
from nettrail.model.event_table import EventTable, addr4_texts
from nettrail.model.packet import TCPHeader, tcp_flags_text
from nettrail.report.trace_text import endpoints

FORMAT = "nettrail-trace"
FORMAT_VERSION = 1


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


def _seconds(s: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(s))


def _iso(ns: int) -> str:
    return f"{_seconds(ns // 1_000_000_000)}.{ns % 1_000_000_000:09d}Z"


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


_HEAD = ('{"type": "event", "time": "%s.%09dZ", "time_ns": %d, "kind": "%s", "netns": %s, '
         '"netns_inode": %d, "ifname": %s, "ifindex": %s, "cpu": %d, "packet_id": %d, '
         '"followed": %s, "src": "%s", "dst": "%s", "sport": %d, "dport": %d, ')
_TCP = _HEAD + ('"proto": "tcp", "tcp_flags": "%s", "seq": %d, "ack": %d, "payload_len": %d, '
                '"ip_id": %d, "len": %d}\n')
_UDP = _HEAD + '"proto": "udp", "ip_id": %d, "len": %d}\n'


class _Texts:
    """JSON text of the strings rows repeat (names, seconds, flags), each made once."""

    def __init__(self) -> None:
        self.seconds: dict[int, str] = {}
        self.names: dict[str, str] = {}
        self.ifnames: dict[bytes, str] = {}
        self.flags: dict[int, str] = {}

    def second(self, s: int) -> str:
        text = self.seconds.get(s)
        if text is None:
            if len(self.seconds) > 4096:
                self.seconds.clear()
            text = self.seconds[s] = _seconds(s)
        return text

    def name(self, name: str) -> str:
        text = self.names.get(name)
        if text is None:
            text = self.names[name] = json.dumps(name)
        return text

    def ifname(self, raw: bytes) -> str:
        text = self.ifnames.get(raw)
        if text is None:
            text = self.ifnames[raw] = json.dumps(raw.split(b"\0", 1)[0].decode(errors="replace"))
        return text

    def flag(self, bits: int) -> str:
        text = self.flags.get(bits)
        if text is None:
            text = self.flags[bits] = tcp_flags_text(bits)
        return text


def table_lines(table: EventTable, texts: _Texts) -> list[str]:
    """The JSON line of every row, in order."""
    pk = table.packet
    src, dst = addr4_texts(pk.src), addr4_texts(pk.dst)
    names = [texts.name(n) for n in table.netns()]
    times = table.time_ns()
    rows = zip(table.plain.tolist(), times, table.kind, names, table.netns_inode.tolist(),
               table.has_device.tolist(), table.ifname.tolist(), table.ifindex.tolist(),
               table.cpu.tolist(), table.packet_id.tolist(), table.followed.tolist(),
               src, dst, pk.sport.tolist(), pk.dport.tolist(), pk.proto.tolist(),
               pk.tcp_flags.tolist(), pk.seq.tolist(), pk.ack.tolist(),
               pk.payload_len.tolist(), pk.ip_id.tolist(), pk.wire_len.tolist(), strict=True)
    out = []
    for i, (plain, t, kind, ns, ino, dev, ifn, ifx, cpu, pid, fol, s, d, sport, dport, proto,
            flags, seq, ack, plen, ip_id, wire) in enumerate(rows):
        if not plain:
            out.append(json.dumps(event_record(table.event(i))) + "\n")
            continue
        sec, frac = divmod(t, 1_000_000_000)
        head = (texts.second(sec), frac, t, kind, ns, ino,
                texts.ifname(ifn) if dev else "null", ifx if dev else "null", cpu, pid,
                "true" if fol else "false", s, d, sport, dport)
        if proto == 6:
            out.append(_TCP % (*head, texts.flag(flags), seq, ack, plen, ip_id, wire))
        else:
            out.append(_UDP % (*head, ip_id, wire))
    return out


class JsonLines:
    """Writes the header, then one line per event."""

    def __init__(self, out: TextIO, anchor_ns: int, filter_text: str) -> None:
        self.out = out
        self._texts = _Texts()
        out.write(json.dumps(header_record(anchor_ns, filter_text)) + "\n")

    def write(self, table: EventTable) -> None:
        """Append events."""
        self.out.write("".join(table_lines(table, self._texts)))

    def summary(self, emitted: int, lost: int, events: int) -> None:
        """The last line: what the kernel emitted, lost, and what was written."""
        self.out.write(json.dumps({"type": "summary", "emitted": emitted, "lost": lost,
                                   "events": events}) + "\n")
