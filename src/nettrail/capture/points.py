"""Capture files of capture points into packet tables: the file side of ``nettrail analyze``.

Each point's files are read in the order given into one table. Unfiltered pcap and pcapng are
read by the columnar walkers, however many points (cross-point matching uses no field the
columns lack); text input, or any input with a packet filter, keeps the reader's record in
every row.
A fault ends reading of that file only: its good rows stay, and the fault is returned.
"""

from __future__ import annotations

import os
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import NamedTuple

from nettrail.capture import Capture
from nettrail.capture.base import CaptureStats
from nettrail.capture.inputs import Inputs, open_inputs
from nettrail.capture.partition import Budget, SpillTable
from nettrail.errors import CaptureError, InputError
from nettrail.model.analysis import PointSummary
from nettrail.model.flow import count_text, time_text
from nettrail.model.packet import PacketRecord, TCPHeader, UDPHeader
from nettrail.model.table import PacketTable, PointData, table_from_records
from nettrail.model.time_steps import TimeStep, overlaps


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


def read_points(
    inputs: Sequence[tuple[str, str]] | Inputs,
    *,
    packet_filter: PacketFilter | None = None,
    ifnames: Mapping[str, Mapping[int, str]] | None = None,
    budget: Budget | None = None,
) -> tuple[list[PointData], list[InputError]]:
    """Read (point, path) pairs, or inputs already opened by ``open_inputs``, into one table
    per point (in first-seen order) and the faults met. ``ifnames`` maps a point to its
    cooked v2 interface names (not used with ``Inputs``, which already hold them).
    With a ``budget``, the table of a single point read unfiltered is a ``SpillTable``: past
    the budget its rows go to partition files (``capture.partition``)."""
    if not isinstance(inputs, Inputs):
        inputs = open_inputs(inputs, ifnames)
    order = list(dict.fromkeys(item.point for item in inputs.items))
    filtering = packet_filter is not None and bool(packet_filter.host or packet_filter.port)
    full = filtering
    tables: dict[str, PacketTable] = {p: PacketTable(p) for p in order}
    if budget is not None and not full and len(order) == 1:  # one point may spill to disk
        size = sum(_size(item.path) for item in inputs.items)
        tables = {p: SpillTable(p, memory_rows=budget.memory_rows, part_rows=budget.part_rows,
                                expected_bytes=size) for p in order}
    stats: dict[str, list[CaptureStats]] = {p: [] for p in order}
    errors: list[InputError] = []
    for point, path, capture, exc in inputs.items:
        if capture is None:
            assert exc is not None
            errors.append(exc)
            stats[point].append(_failed_stats(path, point, exc))
            continue
        stats[point].append(capture.stats)
        try:
            read_table(capture, tables[point], full=full,
                       packet_filter=packet_filter if filtering else None)
        except CaptureError as err:
            errors.append(err)
    return [PointData(_summary(p, stats[p], tables[p]), tables[p]) for p in order], errors


def read_table(capture: Capture, table: PacketTable, *, full: bool = False,
               packet_filter: PacketFilter | None = None) -> None:
    """Append the packets of ``capture`` to ``table``: by the columnar walkers, or (text,
    ``full``, a filter) from the reader's records, every row keeping its record. A fault is
    raised after the rows before it are in the table."""
    capture.reset_stats()
    if not full and packet_filter is None and capture.format == "pcap":
        from nettrail.capture.table_pcap import read_pcap_table

        read_pcap_table(capture.path, table, capture.stats, capture.ifnames)
        return
    if not full and packet_filter is None and capture.format == "pcapng":
        from nettrail.capture.table_pcapng import read_pcapng_table

        read_pcapng_table(capture.path, table, capture.stats, capture.ifnames)
        return
    if not full and packet_filter is None and capture.format == "tcpdump-text":
        from nettrail.capture.tcpdump_text import read_text_table

        try:
            read_text_table(capture.path, capture.point, capture.stats, table,
                            day_ns=capture.day_ns, lines_of=capture.lines_of)
        except CaptureError as exc:
            capture.stats.error = exc
            raise
        return
    records: Iterable[PacketRecord] = capture
    if packet_filter is not None:
        records = packet_filter.apply(records)
    rows: list[PacketRecord] = []
    try:
        rows.extend(records)
    except CaptureError:  # the rows before the fault are kept
        table_from_records(table.point, rows, table)
        raise
    table_from_records(table.point, rows, table)


def _size(path: str) -> int:
    """The size of a file in bytes (0 when it cannot be seen)."""
    try:
        return os.stat(path).st_size
    except OSError:
        return 0


def _failed_stats(path: str, point: str, exc: InputError) -> CaptureStats:
    """Statistics of a file that could not be opened at all."""
    stats = CaptureStats(path=path, point=point)
    if isinstance(exc, CaptureError):
        stats.error = exc
    else:
        stats.warnings.append(f"{path}: {exc}")
    return stats


def _summary(point: str, stats: Sequence[CaptureStats], table: PacketTable) -> PointSummary:
    """One point's summary from the statistics of its files and its table."""
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
    text = {s.path for s in stats if s.format == "tcpdump-text"}
    warnings += step_warnings(table.steps.finish(), table.files, text)
    warnings += overlap_warnings(table.steps.spans, table.files, text)
    warnings += [f"{s.path}: its capture dropped {s.dropped} packet{'' if s.dropped == 1 else 's'}"
                 " (its own count): a packet missing at this point may be one it missed"
                 for s in stats if s.dropped]
    return PointSummary(
        name=point,
        files=tuple(s.path for s in stats),
        formats=tuple(s.format for s in stats),
        packets=sum(s.packets for s in stats),
        interfaces=tuple(sorted(interfaces)),
        skipped=dict(sorted(skipped.items())),
        warnings=tuple(warnings),
        untimed=table.untimed,
        capture_dropped=sum(s.dropped for s in stats),
    )


def overlap_warnings(spans: dict[int, tuple[int, int]], files: Sequence[str], text: set[str]
                     ) -> list[str]:
    """A warning when files of a point overlap in time, the file read before them
    (``model.time_steps.overlaps``; tcpdump text left out: times of day, or none): the first
    named, the others counted."""
    read = [i for i, path in enumerate(files) if path not in text]
    found = overlaps(spans, read)
    if not found:
        return []
    after, before = found[0]
    more = f"; {count_text(len(found) - 1, 'more file')} overlap the one before" if len(
        found) > 1 else ""
    return [f"{files[after]}: its times ({_span(spans[after])}) overlap those of "
            f"{files[before]} ({_span(spans[before])}), read before it{more}: a point's files "
            "are read one after the other, not merged, so its copies and retransmissions across "
            "them may be miscounted (two captures of one point made at once, one per "
            "interface? give each as a point of its own, or merge them: mergecap -w m.pcapng)"]


def _span(span: tuple[int, int]) -> str:
    return f"{time_text(span[0], date=True)} to {time_text(span[1])}"


STEPS_NAMED = 3
"""Steps back in time named one by one; the rest are counted."""


def step_warnings(steps: Sequence[TimeStep], files: Sequence[str], text: set[str]) -> list[str]:
    """A warning for each of the first ``STEPS_NAMED`` steps back (``files``: the table's
    paths by id; ``text``: those of tcpdump text, whose frames are lines), then a count."""
    out = []
    for step in steps[:STEPS_NAMED]:
        path = files[step.file]
        where = f"line {step.frame}" if path in text else f"frame {step.frame}"
        back = (step.before_ns - step.after_ns) / 1e9
        was, now = time_text(step.before_ns, date=True), time_text(step.after_ns, date=True)
        out.append(f"{path} {where}: the times go back {back:.3f} s (from {was} to {now}) and "
                   "stay back: two captures joined into one file, or a clock set back; a packet "
                   "seen in both reads as sent again. Give each capture as a point of its own")
    if len(steps) > STEPS_NAMED:
        out.append(f"{len(steps) - STEPS_NAMED} more places where the times go back")
    return out

