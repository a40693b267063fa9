"""Single-point tracking of a large Ethernet pcap file in two processes.

The process forks one worker; each of the two reads the whole file with the fused loop of
``analyze.fastpath`` but tracks only the connections of its half (``fastpath.key_part``: both
directions of a connection fall in the same half) and finishes them. The worker sends its
connections and findings back (flat tuples, pickled); the parent merges the two lists in the
order one tracker would give (by first packet, then key). Both read every record (packet
counts and faults are the parent's); each counts the skipped frames of its half. The unit
tests compare the result with the single-process one.
"""

from __future__ import annotations

import contextlib
import copyreg
import dataclasses
import heapq
import io
import multiprocessing
import os
import pickle
import signal
from collections.abc import Callable
from multiprocessing.connection import Connection as Pipe
from operator import attrgetter
from typing import Any

from nettrail.analyze.fastpath import track_pcap
from nettrail.analyze.flows import FlowTracker, gc_paused
from nettrail.capture import Capture, decode
from nettrail.capture.pcap import FILE_HEADER_LEN, parse_file_header
from nettrail.errors import CaptureError
from nettrail.model.finding import Evidence, Finding
from nettrail.model.flow import Connection

MIN_BYTES = 20_000_000  # smaller files are quicker in one process than forking two
_ORDER = attrgetter("first_ns", "key")


class Tracked(FlowTracker):
    """A tracker whose connections were tracked and finished by worker processes."""

    def __init__(self, point: str, connections: list[Connection], findings: list[Finding],
                 packets: int) -> None:
        super().__init__(point)
        self.packets = packets
        self._result = (connections, findings)

    def finish(self) -> tuple[list[Connection], list[Finding]]:
        """The connections and findings the workers made, merged in tracker order."""
        return list(self._result[0]), list(self._result[1])


def track_pcap_parallel(
    capture: Capture, *, force: bool = False
) -> tuple[Tracked, CaptureError | None] | None:
    """Track ``capture`` in two processes: the finished tracker and the capture fault (stored
    in ``capture.stats`` as ``track_pcap`` does), or None when this does not apply (not an
    Ethernet pcap, smaller than :data:`MIN_BYTES` unless ``force``, no fork, worker lost)."""
    if capture.format != "pcap" or "fork" not in multiprocessing.get_all_start_methods():
        return None
    try:
        if not force and os.path.getsize(capture.path) < MIN_BYTES:
            return None
        with open(capture.path, "rb") as f:
            head = parse_file_header(f.read(FILE_HEADER_LEN), capture.path)
    except (OSError, CaptureError):
        return None  # the single-process path reports it
    if head[3] != decode.LINKTYPE_ETHERNET:
        return None
    ctx = multiprocessing.get_context("fork")
    recv, send = ctx.Pipe(duplex=False)
    proc = ctx.Process(target=_work, args=(capture, send), daemon=True)
    proc.start()
    send.close()
    try:
        tracker = FlowTracker(capture.point)
        error = None
        try:
            track_pcap(tracker, capture, 0)
        except CaptureError as exc:
            error = exc
        with gc_paused():
            mine = list(tracker.finished())
            try:
                theirs, skipped = pickle.loads(recv.recv_bytes())
            except EOFError:
                return None  # the worker died: the caller tracks in one process instead
    except BaseException:  # Ctrl-C included: the worker ignores it and is stopped here
        proc.terminate()
        raise
    finally:
        recv.close()
        proc.join()
    capture.stats.skipped.update(skipped)
    connections: list[Connection] = []
    findings: list[Finding] = []
    for conn, found in heapq.merge(mine, theirs, key=lambda cf: _ORDER(cf[0])):
        connections.append(conn)
        findings.extend(found)
    return Tracked(capture.point, connections, findings, tracker.packets), error


def _work(capture: Capture, send: Pipe) -> None:
    """Worker: track and finish the second half of the connections and send them back with
    the skipped frames it counted."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent stops it on Ctrl-C
    tracker = FlowTracker(capture.point)
    with contextlib.suppress(CaptureError):  # the parent meets it at the same place
        track_pcap(tracker, capture, 1)
    out = io.BytesIO()
    pickler = pickle.Pickler(out, pickle.HIGHEST_PROTOCOL)
    pickler.dispatch_table = _TABLE
    with gc_paused():
        pickler.dump((list(tracker.finished()), dict(capture.stats.skipped)))
    send.send_bytes(out.getbuffer())
    send.close()


def _flat(cls: type) -> Callable[[Any], tuple[type, tuple[Any, ...]]]:
    """Pickle reducer of a dataclass as its class and field values (quicker than its state)."""
    get = attrgetter(*[f.name for f in dataclasses.fields(cls)])
    return lambda obj: (cls, get(obj))


_TABLE = dict(copyreg.dispatch_table)
_TABLE.update({cls: _flat(cls) for cls in (Connection, Finding, Evidence)})
