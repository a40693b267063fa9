"""The live trace as JSON lines: a header record, one record per event, a summary record.

A plain row of an ``EventTable`` is written straight from its columns, any other from its
full event (``event_record``); the two give the same text for the same event (a test checks).
"""

from __future__ import annotations

import json
import os
import time
from typing import Any, TextIO

import numpy as np
import numpy.typing as npt

from nettrail.model.event import PROTO_NAMES, TraceEvent
from nettrail.model.event_table import EventTable, addr4_texts
from nettrail.model.packet import TCPHeader, tcp_flags_text
from nettrail.report.columns import groups, texts
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
        if ev.stack.missing:
            rec["stack_missing"] = ev.stack.missing
    return rec


Parts = list[list[str]]
"""Six lists of texts, one text per row in each: a row's line is its six texts joined."""
_SECOND_TEXTS: dict[int, tuple[str, str]] = {}


def _second_texts(sec: int) -> tuple[str, str]:
    """What a line says around the nanoseconds of a time in second ``sec``."""
    texts_ = _SECOND_TEXTS.get(sec)
    if texts_ is None:
        if len(_SECOND_TEXTS) > 4096:
            _SECOND_TEXTS.clear()
        texts_ = _SECOND_TEXTS[sec] = (f'{{"type": "event", "time": "{_seconds(sec)}.',
                                       f'Z", "time_ns": {sec}' if sec > 0 else 'Z", "time_ns": ')
    return texts_


def nine_digits(values: npt.NDArray[np.int64]) -> list[str]:
    """Every value (0 to 999,999,999) as nine decimal digits, zeros first."""
    n = len(values)
    digits = np.empty((n, 9), np.uint32)
    rest = values.copy()
    for k in range(8, -1, -1):
        rest, digit = np.divmod(rest, 10)
        digits[:, k] = digit + ord("0")
    out: list[str] = digits.view("<U9").reshape(n).tolist()
    return out


def _plain_parts(table: EventTable, rows: npt.NDArray[np.intp]) -> Parts:
    """The JSON lines of plain rows ``rows`` as ``Parts``, straight from the columns.

    What rows repeat (the second, the device part, the packet part) is made once per
    distinct value; the texts keep the key order and spacing of ``json.dumps(event_record(ev))``.
    A time's nanoseconds are written twice (``time`` and ``time_ns``), its seconds once each
    way per distinct second.
    """
    pk = table.packet
    t = table.mono_ns[rows].astype(np.int64) + table.anchor_ns
    sec, frac = np.divmod(t, 1_000_000_000)
    ino, dev, ifx, cpu = (table.netns_inode[rows], table.has_device[rows],
                          table.ifindex[rows], table.cpu[rows])
    ifname = np.ascontiguousarray(np.where(dev, table.ifname[rows], b"").astype("S16"))
    name_key = ifname.view(np.uint64).reshape(-1, 2)
    kinds, names = np.array(table.kind, dtype=object)[rows], table.netns_names

    def devices(k: npt.NDArray[np.intp]) -> list[str]:
        return [f', "kind": "{kind}", "netns": {json.dumps(names[i])}, "netns_inode": {i}, '
                + (f'"ifname": {_ifname(raw)}, "ifindex": {x}' if d
                   else '"ifname": null, "ifindex": null') + f', "cpu": {c}, '
                for kind, i, d, raw, x, c in zip(kinds[k].tolist(), ino[k].tolist(),
                                                 dev[k].tolist(), ifname[k].tolist(),
                                                 ifx[k].tolist(), cpu[k].tolist(), strict=True)]

    cols = (table.packet_id[rows], table.followed[rows], pk.src[rows], pk.dst[rows],
            pk.sport[rows], pk.dport[rows], pk.proto[rows], pk.tcp_flags[rows], pk.seq[rows],
            pk.ack[rows], pk.payload_len[rows], pk.ip_id[rows], pk.wire_len[rows])

    def packets(k: npt.NDArray[np.intp]) -> list[str]:
        pid, fol, _, _, sport, dport, proto, flags, seq, ack, plen, ip_id, wire = (
            c[k].tolist() for c in cols)
        return [f'"packet_id": {p}, "followed": {"true" if f else "false"}, "src": "{a}", '
                f'"dst": "{b}", "sport": {sp}, "dport": {dp}, '
                + (f'"proto": "tcp", "tcp_flags": "{tcp_flags_text(fl)}", "seq": {q}, '
                   f'"ack": {ak}, "payload_len": {pl}, ' if pr == 6 else '"proto": "udp", ')
                + f'"ip_id": {ii}, "len": {wl}}}\n'
                for p, f, a, b, sp, dp, pr, fl, q, ak, pl, ii, wl in zip(
                    pid, fol, addr4_texts(cols[2][k]), addr4_texts(cols[3][k]), sport, dport,
                    proto, flags, seq, ack, plen, ip_id, wire, strict=True)]

    group, first = groups(sec)
    around = [_second_texts(s) for s in sec[first].tolist()]
    before = np.array([a for a, _ in around], dtype=object)[group].tolist()
    after = np.array([b for _, b in around], dtype=object)[group].tolist()
    nanos = nine_digits(frac)
    time_ns = nanos
    if len(sec) and int(sec.min()) <= 0:  # no seconds to write before the nanoseconds
        time_ns = nanos.copy()
        for i in np.flatnonzero(sec <= 0).tolist():
            time_ns[i] = str(int(t[i]))
    return [before, nanos, after, time_ns,
            texts((table.kind_code[rows], ino, dev, ifx, cpu, name_key[:, 0], name_key[:, 1]),
                  devices),
            texts(cols, packets)]


def _ifname(raw: bytes) -> str:
    return json.dumps(raw.split(b"\0", 1)[0].decode(errors="replace"))


def _parts(table: EventTable) -> tuple[Parts, npt.NDArray[np.intp]]:
    """(``Parts`` of the plain rows, which rows those are)."""
    rows = np.flatnonzero(table.plain)
    return _plain_parts(table, rows), rows


def table_lines(table: EventTable) -> list[str]:
    """The JSON line of every row, in order."""
    parts, rows = _parts(table)
    out = [""] * len(table)
    for i, line in zip(rows.tolist(), map("".join, zip(*parts, strict=True)), strict=True):
        out[i] = line
    for i in np.flatnonzero(~table.plain).tolist():
        out[i] = json.dumps(event_record(table.event(i))) + "\n"
    return out


def table_text(table: EventTable) -> str:
    """``table_lines`` joined (without making each line on its own)."""
    parts, rows = _parts(table)
    n = len(table)
    width = len(parts)
    if len(rows) == n:
        flat: list[str] = [""] * (width * n)
        for j, part in enumerate(parts):
            flat[j::width] = part
        return "".join(flat)
    grid = np.full((n, width), "", dtype=object)
    for j, part in enumerate(parts):
        column = np.empty(len(part), dtype=object)
        column[:] = part
        grid[rows, j] = column
    for i in np.flatnonzero(~table.plain).tolist():
        grid[i, 0] = json.dumps(event_record(table.event(i))) + "\n"
    return "".join(grid.reshape(-1).tolist())


class JsonLines:
    """Writes the header, then one line per event."""

    def __init__(self, out: TextIO, anchor_ns: int, filter_text: str) -> None:
        self.out = out
        out.write(json.dumps(header_record(anchor_ns, filter_text)) + "\n")

    def write(self, table: EventTable) -> None:
        """Append events."""
        self.out.write(table_text(table))

    def summary(self, emitted: int, lost: int, events: int,
                stacks_lost: int | None = None) -> None:
        """The last line: what the kernel emitted, lost, and what was written; with stacks, how
        many events the kernel could not record the stack of."""
        rec: dict[str, object] = {"type": "summary", "emitted": emitted, "lost": lost,
                                  "events": events}
        if stacks_lost is not None:
            rec["stacks_lost"] = stacks_lost
        self.out.write(json.dumps(rec) + "\n")
