"""``analyze_files``: capture files in, one analysis out (files read here, analysed purely)."""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from typing import NamedTuple

import numpy as np

from nettrail.analyze.clockprobe import HostClock
from nettrail.analyze.findings_host import parts_findings
from nettrail.analyze.host_scope import joined as joined_scopes
from nettrail.analyze.host_scope import scope_of
from nettrail.analyze.merge import merged
from nettrail.analyze.one_point import joined_lacks, lacks, names, point_diagnosis
from nettrail.analyze.one_side import joined
from nettrail.analyze.pipeline import analyze, with_host
from nettrail.analyze.table_flows import Done, tracked
from nettrail.capture.inputs import Inputs
from nettrail.capture.partition import DEFAULT_BUDGET, Budget, SpillTable
from nettrail.capture.points import PacketFilter, read_points
from nettrail.errors import InputError
from nettrail.model.analysis import Analysis, PointSummary
from nettrail.model.arrays import Arr
from nettrail.model.flow import Focus
from nettrail.model.table import PointData

__all__ = ["AnalysisRun", "Budget", "PacketFilter", "analyze_files"]


class AnalysisRun(NamedTuple):
    """An analysis and the capture faults met while reading (empty when every file was good)."""

    analysis: Analysis
    errors: tuple[InputError, ...]


def analyze_files(
    inputs: Sequence[tuple[str, str]] | Inputs,
    *,
    packet_filter: PacketFilter | None = None,
    ifnames: Mapping[str, Mapping[int, str]] | None = None,
    budget: Budget | None = DEFAULT_BUDGET,
    paths: bool = True,
    clocks: Mapping[str, HostClock] | None = None,
) -> AnalysisRun:
    """Analyse capture files given as (point, path) pairs, or already opened by
    ``capture.inputs.open_inputs``; the first point is the reference.

    Several files may share a point (binary ones read in the order of their first packets:
    ``capture.inputs.in_time_order``). ``ifnames`` maps a point to the interface index ->
    name table of its Linux cooked v2 captures (from a lab manifest; not used with
    ``Inputs``, which already hold them).
    A capture fault ends reading of that file only: the good packets before it are analysed
    and the fault is returned beside the analysis.
    A single point read unfiltered is held within ``budget`` (None: no limit): past it, its
    rows are analysed in partitions by connection key and the results merged, the same
    analysis as of the whole table (``capture.partition``).
    ``paths``: False when no packet path is wanted (``Analysis.paths`` is then empty; only the
    HTML report and the pcapng export show paths, and building them costs a hop per packet
    per point). ``clocks``: the points' clocks as measured apart from the packets (a collect
    run's SSH probes), by point: used where the packets give no clock estimate or agree.
    """
    focus = None
    if packet_filter is not None and (packet_filter.host or packet_filter.port) and len(
            {item[0] for item in (inputs.items if isinstance(inputs, Inputs) else inputs)}) > 1:
        # several points: every packet is matched, the filter picks the connections to report
        focus, packet_filter = Focus(packet_filter.host, packet_filter.port), None
    points, errors = read_points(inputs, packet_filter=packet_filter, ifnames=ifnames,
                                 budget=budget)
    if len(points) == 1 and isinstance(points[0].table, SpillTable) and points[0].table.spilled:
        return AnalysisRun(_partitioned(points[0].summary, points[0].table), tuple(errors))
    kept, notes = _read_points(points)
    analysis = analyze(kept, paths, clocks, focus)
    if notes:
        analysis = dataclasses.replace(analysis, warnings=analysis.warnings + notes)
    return AnalysisRun(analysis, tuple(errors))


def _read_points(points: Sequence[PointData]) -> tuple[Sequence[PointData], tuple[str, ...]]:
    """The points to analyse, and a note for each one left out: a point of which nothing could
    be read (its files failed, or held only packets of link types nettrail cannot decode) is
    not a point that saw nothing, so it is not analysed as one (nor made the clock reference)
    while another point has packets. A point whose captures are empty stays: that is evidence."""
    unread = {id(p) for p in points
              if not p.summary.read_packets and (p.summary.skipped or p.summary.warnings)}
    if not unread or len(unread) == len(points):
        return points, ()
    notes = tuple(f"point {p.summary.name} left out of the analysis: nothing of "
                  f"{_its_files(p, points)} could be read" for p in points if id(p) in unread)
    return [p for p in points if id(p) not in unread], notes


def _its_files(point: PointData, points: Sequence[PointData]) -> str:
    """The files of ``point``; a file other points read too (a text of several hosts' lines),
    as its lines in it."""
    shared = {f for p in points if p is not point for f in p.summary.files}
    return ", ".join(f"its lines in {f}" if f in shared else f for f in point.summary.files)


def _partitioned(summary: PointSummary, table: SpillTable) -> Analysis:
    """The analysis of a spilled point, partition by partition.

    A partition whose tracker met a late packet (``FlowTracker.late``) is tracked again,
    told where every connection of the other partitions began, so that its housekeeping runs
    where it would over the whole table (what it says of a late packet depends on that)."""
    try:
        files = table.partitions()
        done: list[Done] = []
        late: list[int] = []
        began: list[tuple[Arr, Arr]] = []  # (row in the whole table, time) per partition
        sides = []
        scopes = []  # what host findings need of the whole point, partition by partition
        seen: set[str] = set()  # and what its diagnosis needs: its names, the fields it lacks
        lacking = []
        for i, part in enumerate(files):
            rows = table.load(part)
            scopes.append(scope_of(rows, rows.origin))  # its temporaries gone before tracking
            seen |= names(rows)
            lacking.append(lacks(rows))
            result = tracked(rows)
            done.append(result.done)
            sides.append(result.side)
            began.append((rows.origin[result.began], rows.column("ts")[result.began]))
            if result.late:
                late.append(i)
            del rows, result  # before the next partition is read
        for i in late:
            rows = table.load(files[i])
            none = np.zeros(0, np.int64)
            where = np.concatenate([none, *(b[0] for j, b in enumerate(began) if j != i)])
            when = np.concatenate([none, *(b[1] for j, b in enumerate(began) if j != i)])
            by_row = np.argsort(where, kind="stable")
            done[i] = tracked(rows, (where[by_row], when[by_row]), rows.origin).done
            del rows
        host = [] if table.untimed else parts_findings(
            summary.name, lambda: ((p, p.origin) for p in map(table.load, files)),
            joined_scopes(scopes), table.addr_text)
    finally:
        table.close()
    analysis = merged(summary, done, joined(sides))
    findings = with_host(analysis.findings, host)
    return dataclasses.replace(analysis, findings=tuple(findings), diagnosis=point_diagnosis(
        summary.name, analysis.connections, findings, seen, joined_lacks(lacking)))
