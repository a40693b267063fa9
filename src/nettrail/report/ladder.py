"""The ladder of one connection, laid out as data: lanes, stops and arrows in corrected time.

A lane is a capture point's interface; a packet's path becomes stops (its sightings, copies
of the unchanged packet at one point folded into one stop) joined by arrows. The SVG module
draws this; nothing here draws or decides, it only arranges what analysis put in the paths.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import pairwise

from nettrail.model.analysis import Analysis, Hop, PacketPath
from nettrail.model.flow import Endpoint, FlowKey
from nettrail.report.hops import (
    Rewrite,
    Where,
    evidence_kinds,
    flags_of,
    hop_label,
    place_label,
    rewrites,
)

MAX_PATHS = 80
"""Packets drawn per ladder; longer connections show their first ones and say so."""


@dataclass(frozen=True, slots=True)
class Lane:
    """One vertical lane: a capture point, and its interface when known."""

    point: str
    ifname: str | None

    @property
    def label(self) -> str:
        """``point/ifname`` or ``point``."""
        return place_label(self.point, self.ifname)


@dataclass(frozen=True, slots=True)
class Stop:
    """A packet at one point: its first sighting (the lane) and the copies folded into it.

    ``kinds`` are the kinds of the findings that cite any of these sightings.
    """

    lane: int
    time_ns: int
    hops: tuple[Hop, ...]
    kinds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Arrow:
    """A packet going from one stop to the next (``start is end`` for a single sighting)."""

    path_id: int
    start: Stop
    end: Stop
    flags: str
    rewrites: tuple[Rewrite, ...]
    reply: bool
    highlight: bool

    @property
    def single(self) -> bool:
        """The packet was seen at one place only."""
        return self.start is self.end


@dataclass(frozen=True, slots=True)
class Ladder:
    """Everything the diagram of one connection shows."""

    key: FlowKey | None
    lanes: tuple[Lane, ...]
    arrows: tuple[Arrow, ...]
    times: tuple[int, ...]
    shown: int
    total: int

    @property
    def title(self) -> str:
        """The connection as ``a <-> b``, or a note for packets outside any connection."""
        return str(self.key) if self.key is not None else "packets outside a known connection"

    @property
    def start_ns(self) -> int:
        """Corrected time of the first stop."""
        return self.times[0] if self.times else 0

    def row(self, time_ns: int) -> int:
        """The row (0-based) of a corrected time."""
        lo, hi = 0, len(self.times)
        while lo < hi:
            mid = (lo + hi) // 2
            if self.times[mid] < time_ns:
                lo = mid + 1
            else:
                hi = mid
        return lo


def first_hop(path: PacketPath) -> Hop:
    """The earliest sighting of a packet in corrected time."""
    return min(path.hops, key=lambda h: h.time_ns)


def group_paths(paths: Sequence[PacketPath]) -> dict[FlowKey | None, list[PacketPath]]:
    """Paths by connection, each group and the groups in order of their first sighting."""
    ordered = sorted((p for p in paths if p.hops), key=lambda p: (first_hop(p).time_ns, p.id))
    groups: dict[FlowKey | None, list[PacketPath]] = {}
    for path in ordered:
        groups.setdefault(path.connection, []).append(path)
    return groups


def build_ladders(analysis: Analysis) -> list[Ladder]:
    """One ladder per connection with paths, in order of first sighting."""
    kinds = evidence_kinds(analysis)
    return [
        build_ladder(key, paths, analysis, kinds)
        for key, paths in group_paths(analysis.paths).items()
    ]


def failing_index(analysis: Analysis, ladders: Sequence[Ladder]) -> int:
    """The ladder the diagnosis or root-cause findings name; else one with evidence; else 0."""
    keys = [ladder.key for ladder in ladders]
    ordered = sorted(analysis.findings, key=lambda f: (not f.root_cause, f.severity != "error"))
    for finding in ordered:
        if finding.root_cause and finding.connection in keys:
            return keys.index(finding.connection)
    wanted: list[Where] = []
    if analysis.diagnosis is not None:
        wanted += [(ev.file, ev.frame) for ev in analysis.diagnosis.chain]
    wanted += [(ev.file, ev.frame) for f in ordered for ev in f.evidence]
    for where in wanted:
        for i, ladder in enumerate(ladders):
            if any(where in _wheres(arrow) for arrow in ladder.arrows):
                return i
    for finding in ordered:
        if finding.connection in keys:
            return keys.index(finding.connection)
    return 0


def _wheres(arrow: Arrow) -> set[Where]:
    return {(h.file, h.frame) for stop in (arrow.start, arrow.end) for h in stop.hops}


def build_ladder(
    key: FlowKey | None,
    paths: Sequence[PacketPath],
    analysis: Analysis,
    kinds: dict[Where, tuple[str, ...]],
) -> Ladder:
    """Lay out the first ``MAX_PATHS`` paths of one connection."""
    shown = list(paths[:MAX_PATHS])
    stops_by_path = [_fold(path.hops) for path in shown]
    lanes = _lanes(stops_by_path)
    index = {lane: i for i, lane in enumerate(lanes)}
    initiator = _initiator(shown)
    arrows: list[Arrow] = []
    for path, groups in zip(shown, stops_by_path, strict=True):
        stops = [_stop(group, index, kinds) for group in groups]
        highlight = any(stop.kinds for stop in stops)
        reply = initiator is not None and first_hop(path).src not in (None, initiator)
        arrows += _arrows(path.id, stops, analysis, reply, highlight)
    times = sorted({stop.time_ns for arrow in arrows for stop in (arrow.start, arrow.end)})
    return Ladder(key, tuple(lanes), tuple(arrows), tuple(times), len(shown), len(paths))


def _fold(hops: Sequence[Hop]) -> list[list[Hop]]:
    """Group hops, in corrected time order, into stops: an unchanged copy at a point joins one."""
    groups: list[list[Hop]] = []
    for hop in sorted(hops, key=lambda h: h.time_ns):
        last = groups[-1][-1] if groups else None
        if last is not None and _same_packet_here(last, hop):
            groups[-1].append(hop)
        else:
            groups.append([hop])
    return groups


def _same_packet_here(a: Hop, b: Hop) -> bool:
    """A copy: the same point, the addresses unchanged (another interface or direction)."""
    return a.point == b.point and a.src == b.src and a.dst == b.dst


def _lanes(stops_by_path: Sequence[Sequence[Sequence[Hop]]]) -> list[Lane]:
    """Lanes grouped by point, points and interfaces in order of first sighting.

    Only interfaces where a packet arrives get a lane; copies seen on others fold into it.
    """
    by_point: dict[str, list[Lane]] = {}
    for groups in stops_by_path:
        for group in groups:
            lane = Lane(group[0].point, group[0].ifname)
            lanes = by_point.setdefault(lane.point, [])
            if lane not in lanes:
                lanes.append(lane)
    return [lane for lanes in by_point.values() for lane in lanes]


def _initiator(paths: Sequence[PacketPath]) -> Endpoint | None:
    """The source of the first packet drawn: arrows from it are requests, others replies."""
    for path in paths:
        src = first_hop(path).src
        if src is not None:
            return src
    return None


def _stop(
    group: Sequence[Hop], index: dict[Lane, int], kinds: dict[Where, tuple[str, ...]]
) -> Stop:
    found: list[str] = []
    for hop in group:
        found += [kind for kind in kinds.get((hop.file, hop.frame), ()) if kind not in found]
    lane = index[Lane(group[0].point, group[0].ifname)]
    return Stop(lane, group[0].time_ns, tuple(group), tuple(found))


def _arrows(
    path_id: int, stops: Sequence[Stop], analysis: Analysis, reply: bool, highlight: bool
) -> list[Arrow]:
    flags = next((f for s in stops for h in s.hops if (f := flags_of(h))), "")
    if len(stops) == 1:
        return [Arrow(path_id, stops[0], stops[0], flags, (), reply, highlight)]
    out = []
    for start, end in pairwise(stops):
        changes = tuple(rewrites(start.hops[-1], end.hops[0], analysis.nat))
        out.append(Arrow(path_id, start, end, flags, changes, reply, highlight))
    return out


def stop_title(stop: Stop) -> str:
    """Tooltip text of a stop: each sighting (copies included) with its file and frame."""
    lines = [f"{hop_label(h)} {h.file}#{h.frame}: {h.text}" for h in stop.hops]
    if stop.kinds:
        lines.append("evidence for: " + ", ".join(stop.kinds))
    return "\n".join(lines)
