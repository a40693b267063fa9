"""The analyze pipeline: capture points in, one :class:`Analysis` out.

Each file is read in one streaming pass into a per-point :class:`FlowTracker`. With a single
point nothing else is held (memory stays flat whatever the file size); with two or more points
the records are also kept, because cross-point analysis (``analyze/crosspoint.py``) matches
packets between points. A capture fault ends reading of that file only: the good records before
it are analysed and the fault is returned beside the analysis, for the caller to report.
"""

from __future__ import annotations

import dataclasses
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

from nettrail.analyze.fastpath import track_pcap
from nettrail.analyze.flows import FlowTracker
from nettrail.analyze.parallel import track_pcap_parallel
from nettrail.capture.base import CaptureStats
from nettrail.capture.inputs import Inputs, open_inputs
from nettrail.errors import CaptureError, InputError
from nettrail.model.analysis import Analysis, ClockOffset, PointSummary
from nettrail.model.finding import Finding
from nettrail.model.flow import Connection
from nettrail.model.packet import PacketRecord, TCPHeader, UDPHeader

COPY_KIND = "multi-interface-copy"


class AnalysisRun(NamedTuple):
    """An analysis and the capture faults met while reading (empty when every file was good)."""

    analysis: Analysis
    errors: tuple[InputError, ...]


class PacketFilter(NamedTuple):
    """Keep only packets to or from ``host`` and/or with ``port`` as source or destination."""

    host: str | None = None
    port: int | None = None

    def apply(self, records: Iterable[PacketRecord]) -> Iterator[PacketRecord]:
        """The records that pass the filter."""
        host, port = self.host, self.port
        for rec in records:
            ip = rec.ip
            if host is not None and (ip is None or host not in (ip.src, ip.dst)):
                continue
            if port is not None:
                l4 = rec.l4
                if not isinstance(l4, TCPHeader | UDPHeader) or port not in (l4.sport, l4.dport):
                    continue
            yield rec


def analyze_files(
    inputs: Sequence[tuple[str, str]] | Inputs,
    *,
    packet_filter: PacketFilter | None = None,
    ifnames: Mapping[str, Mapping[int, str]] | None = None,
    split: bool | None = None,
) -> AnalysisRun:
    """Analyse capture files given as (point, path) pairs, or already opened by
    ``capture.inputs.open_inputs``; the first point is the reference.

    Several files may share a point (read in the order given). ``ifnames`` maps a point to the
    interface index -> name table of its Linux cooked v2 captures (from a lab manifest; not
    used with ``Inputs``, which already hold them).
    A single large pcap file is tracked in two processes (``analyze.parallel``); ``split``
    True or False forces or forbids that whatever the size.
    """
    if not isinstance(inputs, Inputs):
        inputs = open_inputs(inputs, ifnames)
    order = list(dict.fromkeys(item.point for item in inputs.items))
    cross = len(order) >= 2
    trackers = {p: FlowTracker(p) for p in order}
    kept: dict[str, list[PacketRecord]] = {p: [] for p in order}
    stats: dict[str, list[CaptureStats]] = {p: [] for p in order}
    errors: list[InputError] = []
    for point, path, capture, exc in inputs.items:
        if capture is None:
            assert exc is not None
            errors.append(exc)
            stats[point].append(_failed_stats(path, point, exc))
            continue
        stats[point].append(capture.stats)
        tracker = trackers[point]
        records: Iterable[PacketRecord] = capture
        filtering = packet_filter is not None and bool(packet_filter.host or packet_filter.port)
        if packet_filter is not None and filtering:
            records = packet_filter.apply(records)
        if len(inputs) == 1 and not filtering and split is not False:
            done = track_pcap_parallel(capture, force=bool(split))
            if done is not None:
                trackers[point], error = done
                if error is not None:
                    errors.append(error)
                continue
        try:
            # one point, a pcap: from bytes straight to the tracker's state
            if cross or filtering or not track_pcap(tracker, capture):
                tracker.consume(records, kept[point] if cross else None)
        except CaptureError as exc:
            errors.append(exc)
    summaries = tuple(_summary(p, stats[p]) for p in order)
    analysis = analyze_tracked(summaries, trackers, kept if cross else None)
    return AnalysisRun(analysis, tuple(errors))


def analyze_records(points: Mapping[str, Iterable[PacketRecord]]) -> Analysis:
    """Analyse records already in memory, by point (insertion order; first is the reference)."""
    cross = len(points) >= 2
    trackers = {p: FlowTracker(p) for p in points}
    kept: dict[str, list[PacketRecord]] = {p: [] for p in points}
    for point, records in points.items():
        trackers[point].consume(records, kept[point] if cross else None)
    summaries = tuple(
        PointSummary(name=p, files=tuple(sorted({r.file for r in kept[p]})) if cross else (),
                     formats=(), packets=trackers[p].packets)
        for p in points
    )
    return analyze_tracked(summaries, trackers, kept if cross else None)


def analyze_tracked(
    summaries: tuple[PointSummary, ...],
    trackers: Mapping[str, FlowTracker],
    kept: Mapping[str, Sequence[PacketRecord]] | None,
) -> Analysis:
    """Finish the per-point trackers and, with records of two or more points, correlate them."""
    connections: list[Connection] = []
    findings: list[Finding] = []
    for point in trackers:
        conns, found = trackers[point].finish()
        connections.extend(conns)
        findings.extend(found)
    if kept is None or len(kept) < 2:
        return Analysis(points=summaries, connections=tuple(connections),
                        findings=tuple(findings))
    from nettrail.analyze import crosspoint  # only multi-point runs pay for its import

    result = crosspoint.cross_point(kept, connections)
    folded = {f.details.get("point") for f in result.findings if f.kind == COPY_KIND}
    findings = [_corrected(f, result.clock) for f in findings
                if not (f.kind == COPY_KIND and f.details.get("point") in folded)]
    return Analysis(
        points=summaries,
        connections=tuple(connections),
        findings=tuple(result.findings) + tuple(findings),
        clock=tuple(result.clock),
        nat=tuple(result.nat),
        paths=tuple(result.paths),
        diagnosis=result.diagnosis,
    )


def _corrected(finding: Finding, clock: Sequence[ClockOffset]) -> Finding:
    """The finding with its evidence times moved to the reference point's clock."""
    offsets = {c.point: c.offset_ns for c in clock}
    if not any(e.point in offsets for e in finding.evidence):
        return finding
    evidence = tuple(
        dataclasses.replace(e, time_ns=e.time_ns - round(offsets[e.point]))
        if e.point in offsets else e
        for e in finding.evidence
    )
    return dataclasses.replace(finding, evidence=evidence)


def _failed_stats(path: str, point: str, exc: InputError) -> CaptureStats:
    """Statistics of a file that could not be opened at all."""
    stats = CaptureStats(path=path, point=point)
    if isinstance(exc, CaptureError):
        stats.error = exc
    else:
        stats.warnings.append(f"{path}: {exc}")
    return stats


def _summary(point: str, stats: Sequence[CaptureStats]) -> PointSummary:
    """One point's summary from the statistics of its files."""
    skipped: Counter[str] = Counter()
    warnings: list[str] = []
    interfaces: set[str] = set()
    for s in stats:
        skipped.update(s.skipped)
        warnings.extend(s.warnings)
        interfaces.update(s.interfaces.values())
        if s.error is not None:
            n = s.packets
            warnings.append(f"reading stopped: {s.error} ({n} packet{'' if n == 1 else 's'} "
                            "read before it)")
    return PointSummary(
        name=point,
        files=tuple(s.path for s in stats),
        formats=tuple(s.format for s in stats),
        packets=sum(s.packets for s in stats),
        interfaces=tuple(sorted(interfaces)),
        skipped=dict(sorted(skipped.items())),
        warnings=tuple(warnings),
    )
