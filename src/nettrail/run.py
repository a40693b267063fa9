"""``analyze_files``: capture files in, one analysis out (files read here, analysed purely)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from nettrail.analyze.merge import merged
from nettrail.analyze.pipeline import analyze
from nettrail.analyze.table_flows import Done, tracked
from nettrail.capture.inputs import Inputs, open_inputs
from nettrail.capture.partition import DEFAULT_BUDGET, Budget, SpillTable
from nettrail.capture.points import PacketFilter, read_points
from nettrail.errors import InputError
from nettrail.model.analysis import Analysis
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
) -> AnalysisRun:
    """Analyse capture files given as (point, path) pairs, or already opened by
    ``capture.inputs.open_inputs``; the first point is the reference.

    Several files may share a point (read in the order given). ``ifnames`` maps a point to the
    interface index -> name table of its Linux cooked v2 captures (from a lab manifest; not
    used with ``Inputs``, which already hold them).
    A capture fault ends reading of that file only: the good packets before it are analysed
    and the fault is returned beside the analysis.
    A single point read unfiltered is held within ``budget`` (None: no limit): past it, its
    rows are analysed in partitions by connection key and the results merged, the same
    analysis as of the whole table.
    """
    if not isinstance(inputs, Inputs):
        inputs = open_inputs(inputs, ifnames)
    points, errors = read_points(inputs, packet_filter=packet_filter, budget=budget)
    if len(points) == 1 and isinstance(points[0].table, SpillTable) and points[0].table.spilled:
        analysis = _partitioned(points[0])
        if analysis is not None:
            return AnalysisRun(analysis, tuple(errors))
        # a late packet on a finished connection: the whole table decides, read again
        points, errors = read_points(inputs, packet_filter=packet_filter)
    return AnalysisRun(analyze(points), tuple(errors))


def _partitioned(point: PointData) -> Analysis | None:
    """The analysis of a spilled point, partition by partition; None when a partition's
    tracker met a late packet (``FlowTracker.late``): what it says of that connection may
    depend on housekeeping timed by the connections of every partition."""
    assert isinstance(point.table, SpillTable)
    parts: list[Done] = []
    try:
        for table in point.table.parts():
            done, late = tracked(table)
            if late:
                return None
            parts.append(done)
            del table, done  # before the next partition is read
    finally:
        point.table.close()
    return merged(point.summary, parts)
