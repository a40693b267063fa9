"""The analysis: packet tables of capture points in, one :class:`Analysis` out. Pure: no
file is opened here (``nettrail.run`` and ``capture.points`` read files into tables).

Each point's TCP connections come from its table (``analyze.table_flows``: plain connections
in bulk, the others through the per-packet state machine). With two or more points the
records of every row are also matched across points (``analyze/crosspoint.py``), which
diagnoses them; a point given alone is diagnosed from its own findings
(``analyze/one_point.py``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import TYPE_CHECKING

from nettrail.analyze.findings_host import host_findings
from nettrail.analyze.one_point import lacks, names, point_diagnosis
from nettrail.analyze.one_side import ONE_WAY_CAPTURE
from nettrail.analyze.table_flows import track_table
from nettrail.model.analysis import Analysis, Diagnosis, PointSummary
from nettrail.model.finding import Finding
from nettrail.model.flow import Connection, Focus
from nettrail.model.packet import PacketRecord, TCPHeader
from nettrail.model.rows import TableRows
from nettrail.model.table import PacketTable, PointData, table_from_records

if TYPE_CHECKING:
    from nettrail.analyze.clockprobe import HostClock

COPY_KIND = "multi-interface-copy"


def analyze(points: Sequence[PointData], paths: bool = True,
            clocks: Mapping[str, HostClock] | None = None,
            focus: Focus | None = None) -> Analysis:
    """Analyse the packet tables of capture points (the first point is the reference).
    ``paths``: False when no packet path is wanted (``Analysis.paths`` is then empty: only
    the HTML report and the pcapng export show paths). ``clocks``: the points' clocks as
    measured apart from the packets, by point (a collect run's SSH probes, the one kernel of
    a trace: ``analyze/clockprobe.py``). ``focus``: the connections to report, followed
    through NAT across points (``analyze.focus``); the points' tables hold every packet."""
    summaries = tuple(p.summary for p in points)
    connections: list[Connection] = []
    findings: list[Finding] = []
    for p in points:
        conns, found = track_table(p.table)
        connections.extend(conns)
        findings.extend(found)
    if len(points) < 2:
        findings = _with_host(points, findings)
        if focus is not None:  # one point: no other form to follow
            connections = [c for c in connections if focus.matches(c.client, c.server)]
            findings = [f for f in findings if f.connection is None
                        or focus.matches(f.connection.a, f.connection.b)]
        return Analysis(points=summaries, connections=tuple(connections),
                        findings=tuple(findings), diagnosis=_diagnosis(points, connections,
                                                                        findings))
    # each point's records, built as they are asked for (most rows are read as columns),
    # one TCP header per packet for all points
    shared: dict[tuple[int, ...], TCPHeader] = {}
    kept = {p.summary.name: TableRows(p.table, shared) for p in points}
    return cross_points(summaries, connections, findings, kept,
                        {p.summary.name: p.table for p in points}, paths, clocks, focus)


def _diagnosis(points: Sequence[PointData], connections: Sequence[Connection],
               findings: Sequence[Finding]) -> Diagnosis | None:
    """The diagnosis of a single point (``analyze.one_point``; none without a point)."""
    if not points:
        return None
    p = points[0]
    return point_diagnosis(p.summary.name, connections, findings, names(p.table),
                           lacks(p.table))


def _with_host(points: Sequence[PointData], findings: list[Finding]) -> list[Finding]:
    """A single point's findings with those of its host (``findings_host``: resets a device
    on the way injected, packets its host dropped after the capture saw them, a SYN it
    rejected). Not for a point with packets without a usable time (``tcpdump -t``): their
    order is not known."""
    if not points or points[0].table.untimed:
        return findings
    p = points[0]
    return with_host(findings, host_findings(p.summary.name, TableRows(p.table), p.table))


def with_host(findings: Sequence[Finding], host: Sequence[Finding]) -> list[Finding]:
    """A point's findings with its host's, after the root causes, as cross-point analysis
    places them (without any, as they were)."""
    if not host:
        return list(findings)
    return ([f for f in findings if f.root_cause] + list(host)
            + [f for f in findings if not f.root_cause])


def analyze_records(points: Mapping[str, Iterable[PacketRecord]],
                    clocks: Mapping[str, HostClock] | None = None) -> Analysis:
    """Analyse records already in memory, by point (insertion order; first is the reference);
    ``clocks`` as for :func:`analyze`."""
    cross = len(points) >= 2
    data = []
    for name, records in points.items():
        table = table_from_records(name, records)
        files = tuple(sorted(table.files)) if cross else ()
        data.append(PointData(PointSummary(name=name, files=files, formats=(),
                                           packets=len(table), untimed=table.untimed), table))
    return analyze(data, clocks=clocks)


def cross_points(
    summaries: tuple[PointSummary, ...],
    connections: list[Connection],
    findings: list[Finding],
    kept: Mapping[str, Sequence[PacketRecord]],
    tables: Mapping[str, PacketTable] | None = None,
    paths: bool = True,
    clocks: Mapping[str, HostClock] | None = None,
    focus: Focus | None = None,
) -> Analysis:
    """Correlate the records of two or more points, given each point's own results
    (``tables``: their packet tables, when ``kept`` holds each one's rows in order;
    ``paths``: False when no packet path is wanted; ``clocks``: the points' clocks measured
    apart from the packets; ``focus``: the connections to report)."""
    from nettrail.analyze import crosspoint  # only multi-point runs pay for its import

    dropped = {p.name: p.capture_dropped for p in summaries if p.capture_dropped}
    result = crosspoint.cross_point(kept, connections, tables, paths, clocks, dropped, focus)
    if result.in_focus is not None:
        connections = [c for c in connections if result.in_focus.connection(c)]
        findings = result.in_focus.findings(findings)
    # a point's copies, or its one-way capture, noted across points are not noted again
    noted = {(f.kind, f.details.get("point")) for f in result.findings
             if f.kind in (COPY_KIND, ONE_WAY_CAPTURE)}
    shift = {c.point: round(c.offset_ns) for c in result.clock}  # to the first point's clock
    findings = [f.shifted(shift) for f in findings
                if (f.kind, f.details.get("point")) not in noted]
    return Analysis(
        points=summaries,
        connections=tuple(connections),
        findings=tuple(result.findings) + tuple(findings),
        clock=tuple(result.clock),
        nat=tuple(result.nat),
        paths=tuple(result.paths),
        diagnosis=result.diagnosis,
        clock_checks=result.clock_checks,
    )
