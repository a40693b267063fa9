"""The capture files of one run, each sniffed once, read by the analysis and again by exports.

``open_inputs(pairs, ifnames)`` detects the format of every (point, path) once and returns
``Inputs``: one ``Input`` per file, holding its ``Capture`` or the fault that makes it
unreadable, a point's files in the order of their first packets (``in_time_order``). Tcpdump
text that prints only the time of day is dated once, from the first packet of the first
binary capture (``first_date_ns``), and only when there is such text.
``Inputs.records()`` streams every record of every capture again, merged by timestamp: the
data a renderer writing packets (the pcapng export) is given, so that it opens no file.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Mapping, Sequence
from typing import NamedTuple, TextIO

from nettrail.capture import (
    Capture,
    captures_date_ns,
    default_point,
    first_record,
    sniff,
)
from nettrail.capture.spool import spooled
from nettrail.capture.text_hosts import HostLines, TextHosts
from nettrail.errors import InputError
from nettrail.model.packet import PacketRecord

TEXT = "tcpdump-text"


class Input(NamedTuple):
    """One capture file of the run: its point and path, and its capture or why there is none."""

    point: str
    path: str
    capture: Capture | None
    error: InputError | None


class Inputs:
    """The capture files of one run, in the order given (the first point is the reference)."""

    def __init__(self, items: Sequence[Input]) -> None:
        self.items = tuple(items)

    def __len__(self) -> int:
        return len(self.items)

    def records(self) -> Iterator[PacketRecord]:
        """Every record of every readable capture, merged by timestamp, streaming.

        Each capture is read again from its start with a fresh ``Capture`` (same format,
        interface names and date), so the statistics of the analysis pass stay as they were.
        A fault in a file raises its ``CaptureError`` after the records before it.
        """
        streams = [iter(c.again()) for c in self.captures()]
        if len(streams) == 1:
            return streams[0]
        return heapq.merge(*streams, key=_ts)

    def captures(self) -> list[Capture]:
        """The captures of the readable files."""
        return [item.capture for item in self.items if item.capture is not None]


def _ts(rec: PacketRecord) -> int:
    return rec.ts_ns


def in_time_order(items: Sequence[Input]) -> list[Input]:
    """The files of each point in the order of their first packets, the points in the order
    given. A shell gives ``tcpdump -C``'s files ``cap.pcap*`` as ``cap.pcap``, ``cap.pcap1``,
    ``cap.pcap10``, ``cap.pcap2``: read so, the packets of the tenth came before the second's,
    and a connection's first RST was a later one. A point with tcpdump text among its files
    keeps the order given (a time of day orders no files across midnight); a file with no
    packet to read goes first."""
    points: dict[str, list[Input]] = {}
    for item in items:
        points.setdefault(item.capture.point if item.capture else item.point, []).append(item)
    out: list[Input] = []
    for files in points.values():
        if len(files) > 1 and all(i.capture is not None and i.capture.format != TEXT
                                  for i in files):
            files = sorted(files, key=_first_ns)
        out += files
    return out


def _first_ns(item: Input) -> int:
    """The time of the first packet of a binary capture (-1: none can be read)."""
    assert item.capture is not None
    record = first_record(item.capture)
    return -1 if record is None else record.ts_ns


def _points_of(point: str, path: str, found: TextHosts | None
               ) -> list[tuple[str, HostLines | None]]:
    """The points a file is, each with the lines it reads: ``point`` with all of them; in a
    text of several hosts' lines (pdsh, clush, dshbak), each host with its own, named by it
    (a name given to the file names its one host)."""
    if found is None or not found.hosts:
        return [(point, None)]
    one = len(found.hosts) == 1 and point != default_point(path)
    return [(point if one else host, HostLines(host, found, bare=k == 0))
            for k, host in enumerate(found.hosts)]


def open_inputs(
    pairs: Sequence[tuple[str, str]], ifnames: Mapping[str, Mapping[int, str]] | None = None,
    dropped: Mapping[str, int] | None = None, prompt: TextIO | None = None,
) -> Inputs:
    """Open (point, path) pairs as captures; a file that cannot be opened keeps its fault.
    A pipe (``-``, ``/dev/stdin``, ``/dev/fd/N``) is saved first (``spool``; ``prompt`` is
    told when that is a terminal's text).

    ``ifnames`` maps a point to the interface index -> name table of its Linux cooked v2
    captures (from a lab manifest); ``dropped`` a point to the packets its capture dropped
    (from a lab or collect manifest: tcpdump's count), given to its first file.
    """
    items: list[Input] = []
    for point, path in pairs:
        try:
            path = spooled(path, prompt)
            fmt, found = sniff(path)
        except InputError as exc:
            items.append(Input(point, path, None, exc))
            continue
        for name, lines_of in _points_of(point or default_point(path), path, found):
            capture = Capture(path, name, fmt, (ifnames or {}).get(name), lines_of=lines_of)
            if dropped and not any(i.point == name for i in items):
                capture.known_dropped = dropped.get(name, 0)
            items.append(Input(name, path, capture, None))
    inputs = Inputs(in_time_order(items))
    captures = inputs.captures()
    if any(c.format == TEXT for c in captures):
        day_ns = captures_date_ns(captures)
        for capture in captures:
            capture.day_ns = day_ns
    return inputs
