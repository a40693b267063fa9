"""One point's analysis from the analyses of its partitions (rows split by connection key).

A partition holds every row of the connection keys it was given (both directions), so each
connection is made whole in exactly one partition; the point's connections are those of all
partitions, in order of first packet (then key), each followed by its findings, as
``table_flows.track_table`` orders them over the whole table.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable

from nettrail.analyze.one_side import OneSide, seen_one_side
from nettrail.analyze.table_flows import Done
from nettrail.model.analysis import Analysis, PointSummary


def merged(summary: PointSummary, parts: Iterable[Done], side: OneSide | None = None,
           ) -> Analysis:
    """The single-point analysis of ``summary``'s point from each partition's connections
    and findings (each in order of first packet); ``side``: the one side of each connection
    its capture shows, as the partitions judged it together (``one_side.joined``)."""
    done = heapq.merge(*parts, key=lambda cf: (cf[0].first_ns, cf[0].key))
    connections = []
    findings = []
    for conn, found in done:
        connections.append(conn)
        findings.extend(found)
    if side is not None and side.proven:
        findings = seen_one_side(summary.name, side, findings)
    return Analysis(points=(summary,), connections=tuple(connections),
                    findings=tuple(findings))
