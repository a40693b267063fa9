"""The live trace as text: one block per packet, its hops across namespaces, NAT rewrites
where they happen.

Renderers take events and a stream and compute nothing but presentation (NAT rewrites are
read off consecutive hops of one packet). A plain row of an ``EventTable`` is written from
its columns, any other from its full event; both print the packet with the same describer
(``analyze.describe``) the analyzer's evidence uses.
"""

from __future__ import annotations

import io
import operator
import time
from collections.abc import Sequence
from itertools import repeat
from typing import TextIO

import numpy as np
import numpy.typing as npt

from nettrail.analyze.describe import describe_packet, tcp_line, udp_line
from nettrail.model.arrays import I64
from nettrail.model.event import TraceEvent
from nettrail.model.event_table import EventTable, addr4_texts
from nettrail.model.flow import Endpoint
from nettrail.report.columns import texts

Hop = tuple[str, int, str, int, str]
"""(source address, port, destination address, port, netns) of one hop of a packet."""


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
    """The hop an event is (None for events that are not hops of a packet)."""
    eps = endpoints(ev) if ev.kind in ("xmit", "recv", "drop", "handed") else None
    return None if eps is None else (*eps[0], *eps[1], ev.netns)


def rewrite_notes(prev: Hop, cur: Hop) -> list[str]:
    """The NAT rewrites between two consecutive hops of one packet, and where they happened."""
    where = cur[4] if cur[4] == prev[4] else f"{prev[4]} -> {cur[4]}"
    notes = []
    if cur[2:4] != prev[2:4]:
        notes.append(f"DNAT {Endpoint(*prev[2:4])} -> {Endpoint(*cur[2:4])} in {where}")
    if cur[:2] != prev[:2]:
        notes.append(f"SNAT {Endpoint(*prev[:2])} -> {Endpoint(*cur[:2])} in {where}")
    return notes


def rewrites(hops: Sequence[Hop | None]) -> list[tuple[int, str]]:
    """NAT rewrites along one packet's hops: (index of the first hop after it, description)."""
    out: list[tuple[int, str]] = []
    prev: Hop | None = None
    for i, cur in enumerate(hops):
        if cur is None:
            continue
        if prev is not None and cur[:4] != prev[:4]:
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


Line = tuple[int, int, str, str, "Hop | None", tuple[str, ...]]
"""What the timeline writes about one event: (monotonic ns, wall ns, the hop's text after its
time, what the packet (or socket) is, its hop, its stack frames or the line saying the stack
was not recorded)."""


def event_line(ev: TraceEvent) -> Line:
    """The timeline's view of a full event."""
    what = packet_text(ev) if ev.packet is not None else (
        ev.socket.text() if ev.socket is not None else "")
    where = ev.netns + (f"/{ev.ifname}" if ev.ifname else "")
    text = f"{ev.kind:<17} {where}" + (f"  {what}" if what else "")
    text += "".join(f"  [{s.text()}]" for s in (ev.drop, ev.reset, ev.conntrack)
                    if s is not None)
    return (ev.mono_ns, ev.time_ns, text, what, hop_of(ev),
            ev.stack.lines() if ev.stack is not None else ())


def plain_texts(table: EventTable) -> tuple[list[str], list[Hop]]:
    """The packet line and the hop of every plain row of ``table``, in row order (each made
    once per distinct packet or hop: the hops of one packet mostly print the same line)."""
    pk = table.packet
    rows = np.flatnonzero(table.plain)
    proto, src, dst, sport, dport = (pk.proto[rows], pk.src[rows], pk.dst[rows],
                                     pk.sport[rows], pk.dport[rows])
    flags, seq, ack, win, plen = (pk.tcp_flags[rows], pk.seq[rows], pk.ack[rows],
                                  pk.window[rows], pk.payload_len[rows])

    def lines(k: npt.NDArray[np.intp]) -> list[str]:
        src_k, dst_k = addr4_texts(src[k]), addr4_texts(dst[k])
        return [tcp_line(s, sp, d, dp, fl, q, ak, w, n) if p == 6 else udp_line(s, sp, d, dp, n)
                for p, s, d, sp, dp, fl, q, ak, w, n in zip(
                    proto[k].tolist(), src_k, dst_k, sport[k].tolist(), dport[k].tolist(),
                    flags[k].tolist(), seq[k].tolist(), ack[k].tolist(), win[k].tolist(),
                    plen[k].tolist(), strict=True)]

    return (texts((proto, src, dst, sport, dport, flags, seq, ack, win, plen), lines),
            plain_hops(table, rows))


def plain_hops(table: EventTable, rows: npt.NDArray[np.intp]) -> list[Hop]:
    """The hop of every row of ``rows`` (plain rows), each made once per distinct hop."""
    pk = table.packet
    src, dst, sport, dport = pk.src[rows], pk.dst[rows], pk.sport[rows], pk.dport[rows]
    ino = table.netns_inode[rows]

    def hops(k: npt.NDArray[np.intp]) -> list[Hop]:
        netns = [table.netns_names[i] for i in ino[k].tolist()]
        return list(zip(addr4_texts(src[k]), sport[k].tolist(), addr4_texts(dst[k]),
                        dport[k].tolist(), netns, strict=True))

    return texts((src, dst, sport, dport, ino), hops)


def table_lines(table: EventTable) -> list[Line]:
    """The timeline's view of every row: plain rows from the columns, others from events."""
    whats, hops = plain_texts(table)
    heads = _heads(table)
    mono, wall = table.mono_ns.tolist(), table.time_ns()
    if len(whats) == len(table):
        return list(zip(mono, wall, map(operator.add, heads, whats), whats, hops,
                        repeat(()), strict=False))
    out: list[Line] = []
    k = 0
    for i, plain in enumerate(table.plain.tolist()):
        if plain:
            what = whats[k]
            out.append((mono[i], wall[i], heads[i] + what, what, hops[k], ()))
            k += 1
        else:
            out.append(event_line(table.event(i)))
    return out


def _heads(table: EventTable) -> list[str]:
    """``kind where  `` of every row (where: netns/device), made once per distinct value."""
    if not len(table):
        return []
    names = table.netns_names
    ino, kind_code = table.netns_inode, table.kind_code
    ifname = np.ascontiguousarray(np.where(table.has_device, table.ifname, b"").astype("S16"))
    name_key = ifname.view(np.uint64).reshape(-1, 2)

    def heads(k: npt.NDArray[np.intp]) -> list[str]:
        out = []
        for i in k.tolist():
            dev = ifname[i].split(b"\0", 1)[0].decode(errors="replace")
            out.append(f"{table.kind[i]:<17} {names[int(ino[i])]}" + (f"/{dev}" if dev else "")
                       + "  ")
        return out

    return texts((kind_code, ino, name_key[:, 0], name_key[:, 1]), heads)


_SECONDS: dict[int, str] = {}


def _clock(ns: int) -> str:
    sec, frac = divmod(ns, 1_000_000_000)
    text = _SECONDS.get(sec)
    if text is None:
        if len(_SECONDS) > 4096:
            _SECONDS.clear()
        text = _SECONDS[sec] = time.strftime("%H:%M:%S", time.localtime(sec))
    return f"{text}.{frac:09d}"


def render_packet(packet_id: int, lines: Sequence[Line], out: TextIO,
                  stacks: bool = False, moved: bool = True) -> None:
    """One packet as a hop list across namespaces, NAT rewrites where they happen (only
    looked for when ``moved``: its hops do not all have the same addresses)."""
    if not lines:
        return
    t0, wall = lines[0][0], lines[0][1]
    text = [f"{_clock(wall)} packet {packet_id}: {lines[0][3]}\n"]
    notes: dict[int, list[str]] = {}
    for i, note in rewrites([line[4] for line in lines]) if moved else ():
        notes.setdefault(i, []).append(note)
    if not notes and not stacks:
        text += [f"  +{(line[0] - t0) / 1000:10.3f}us  {line[2]}\n" for line in lines]
    for i, (mono, _wall, hop, _what, _hop, stack) in enumerate(lines if notes or stacks else ()):
        for note in notes.get(i, ()):
            text.append(f"  {'':>12}  {note}\n")
        text.append(f"  +{(mono - t0) / 1000:10.3f}us  {hop}\n")
        if stacks:
            text.extend(f"  {'':>12}    {frame}\n" for frame in stack)
    out.write("".join(text))


_SPACE, _DOT, _ZERO = ord(" "), ord("."), ord("0")
_LEAD = "  +"
_WIDTH = 10  # of the offset, µs with three decimals
_ROOM = 10 ** (_WIDTH - 4) * 1000  # offsets (ns) that fill the width at most


def offset_texts(ns: I64) -> list[str]:
    """``f"  +{ns / 1000:10.3f}us  "`` of every value of ``ns``."""
    n = len(ns)
    chars = np.full((n, len(_LEAD) + _WIDTH + 4), _SPACE, np.uint32)
    chars[:, 2] = ord("+")
    chars[:, -4] = ord("u")
    chars[:, -3] = ord("s")
    whole, frac = np.divmod(np.clip(ns, 0, _ROOM - 1), 1000)
    point = len(_LEAD) + _WIDTH - 4
    chars[:, point] = _DOT
    for k in range(3):
        chars[:, point + 3 - k] = frac % 10 + _ZERO
        frac //= 10
    for k in range(_WIDTH - 4):
        digit = whole % 10 + _ZERO
        chars[:, point - 1 - k] = np.where((whole > 0) | (k == 0), digit, _SPACE)
        whole //= 10
    out: list[str] = chars.view(f"<U{chars.shape[1]}").reshape(n).tolist()
    for i in np.flatnonzero((ns < 0) | (ns >= _ROOM)).tolist():
        out[i] = f"  +{int(ns[i]) / 1000:10.3f}us  "
    return out


def packets_text(packets: Sequence[tuple[int, Sequence[Line], bool]]) -> str:
    """``render_packet`` (no stacks) of every (packet id, lines, moved), in order, in one text.

    Packets with NAT rewrites go through ``render_packet``; the lines of the others get
    their offsets all at once.
    """
    heads: list[str] = []
    counts: list[int] = []
    lines: list[Line] = []
    for pid, group, moved in packets:
        if moved and rewrites([line[4] for line in group]):
            text = io.StringIO()
            render_packet(pid, group, text, False, True)
            heads.append(text.getvalue())
            counts.append(0)
        elif group:
            heads.append(f"{_clock(group[0][1])} packet {pid}: {group[0][3]}\n")
            counts.append(len(group))
            lines.extend(group)
    count = np.array(counts, np.int64)
    starts = np.cumsum(count) - count
    offsets = np.array([line[0] for line in lines], np.int64)
    offsets -= np.repeat(offsets[starts[count > 0]], count[count > 0])
    flat = np.empty(len(heads) + 3 * len(lines), dtype=object)
    at = 3 * np.arange(len(lines)) + np.repeat(np.arange(len(heads)), count) + 1
    flat[at] = offset_texts(offsets)
    flat[at + 1] = [line[2] for line in lines]
    flat[at + 2] = "\n"
    flat[3 * starts + np.arange(len(heads))] = heads
    return "".join(flat.tolist())


def _moved(table: EventTable, order: npt.NDArray[np.intp]) -> npt.NDArray[np.bool_]:
    """For rows in ``order``: whether a row's addresses may differ from the row before it
    (always for rows the columns do not describe)."""
    pk = table.packet
    out = ~table.plain[order]
    for col in (pk.src, pk.dst, pk.sport, pk.dport):
        c = col[order]
        out[1:] |= c[1:] != c[:-1]
    return out


def _differ(a: Line, b: Line) -> bool:
    """Whether two lines' hops have different addresses (or either is not a hop)."""
    return a[4] is None or b[4] is None or a[4][:4] != b[4][:4]


class Timeline:
    """Groups live events per packet and writes each group once it has been quiet a while."""

    def __init__(self, out: TextIO, quiet_ns: int = 300_000_000, stacks: bool = False) -> None:
        self.out = out
        self.quiet_ns = quiet_ns
        self.stacks = stacks
        self._open: dict[int, list[Line]] = {}
        self._ids: dict[int, int] = {}
        self._moved: set[int] = set()
        self._alone = 0

    def add(self, table: EventTable) -> None:
        """Take new events (oldest first)."""
        lines = table_lines(table)
        pids = table.packet_id
        order = np.argsort(pids, kind="stable")  # each packet's rows together, in order
        ordered = [lines[i] for i in order.tolist()]
        sorted_ids = pids[order]
        moved = _moved(table, order)
        if not len(lines):
            return
        starts = np.concatenate(([0], np.flatnonzero(np.diff(sorted_ids)) + 1))
        any_moved = np.logical_or.reduceat(moved, starts).tolist()
        bounds = starts.tolist()
        groups = self._open
        for start, end, pid, group_moved in zip(bounds, [*bounds[1:], len(lines)],
                                                sorted_ids[starts].tolist(), any_moved,
                                                strict=True):
            if not pid:  # events of no packet stand alone
                for line in ordered[start:end]:
                    self._alone -= 1
                    groups[self._alone] = [line]
                    self._ids[self._alone] = 0
                continue
            group = groups.pop(pid, None)  # re-inserted: groups stay in order of activity
            if group_moved or (group is not None and _differ(group[-1], ordered[start])):
                self._moved.add(pid)
            if group is None:
                groups[pid] = ordered[start:end]
                self._ids[pid] = pid
            else:
                group.extend(ordered[start:end])
                groups[pid] = group

    def write(self, table: EventTable) -> None:
        """Take new events and write the packets that have gone quiet."""
        self.add(table)
        self.flush(time.clock_gettime_ns(time.CLOCK_MONOTONIC))

    def flush(self, now_mono_ns: int | None = None) -> None:
        """Write groups quiet for ``quiet_ns`` (every group when ``now_mono_ns`` is None)."""
        if now_mono_ns is None:
            done = list(self._open)
        else:  # the groups are in order of their last activity: the quiet ones come first
            edge = now_mono_ns - self.quiet_ns
            done = []
            for key, lines in self._open.items():
                if lines[-1][0] > edge:
                    break
                done.append(key)
        done.sort(key=lambda k: self._open[k][0][0])
        if self.stacks:
            for key in done:
                moved = key in self._moved
                self._moved.discard(key)
                render_packet(self._ids.pop(key), self._open.pop(key), self.out, True, moved)
        elif done:
            moved_set, ids, open_ = self._moved, self._ids, self._open
            packets = [(ids.pop(key), open_.pop(key), key in moved_set) for key in done]
            moved_set.difference_update(done)
            self.out.write(packets_text(packets))
        if done:
            self.out.flush()
