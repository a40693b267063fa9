"""Run a trace: attach, signal readiness, optionally run a command, drain events to sinks."""

from __future__ import annotations

import contextlib
import gc
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from nettrail.errors import TraceError
from nettrail.model.event_table import EventTable
from nettrail.trace.config import TraceConfig
from nettrail.trace.decode import Decoder
from nettrail.trace.netns_names import NetnsNames
from nettrail.trace.session import OBJECT_PATH, TraceSession, TraceStats

POLL_S = 0.1
BATCH_S = 0.02
"""Drain at most this often: batches of many events cost less per event than many small ones
(the ring holds 16 MiB = 50,000 events by default, far more than arrive in this time)."""
GRACE_S = 0.2
GC_YOUNG = 100_000
"""Allocations between collections of the youngest generation while tracing: a drain makes
and drops many small objects in cycles of none, and the timeline keeps its packets' lines a
while, which the collector otherwise walked again and again (about a tenth of its time)."""
CHUNK = 8192
"""Decode and write at most this many events at once: a batch larger than the caches costs
more per event (a drain that fell behind finds up to the whole ring waiting)."""


class Sink(Protocol):
    """Anything that takes decoded events as they arrive."""

    def write(self, table: EventTable) -> None:
        """Take a batch of events, oldest first."""


@dataclass
class TraceResult:
    """How a trace ended: counters, the command's exit status, warnings to report."""

    stats: TraceStats = field(default_factory=lambda: TraceStats(0, 0, 0))
    events: int = 0
    command_status: int | None = None
    warnings: list[str] = field(default_factory=list)


@dataclass
class TraceRun:
    """A trace to run: config, sinks, and how long (duration, command, or until stopped)."""

    config: TraceConfig
    sinks: Sequence[Sink] = ()
    command: Sequence[str] = ()
    duration_s: float | None = None
    ready_file: Path | None = None
    should_stop: Callable[[], bool] = lambda: False
    on_start: Callable[[TraceSession], None] | None = None
    names: NetnsNames | None = None
    obj: Path = OBJECT_PATH

    def run(self) -> TraceResult:
        """Trace until the command exits, the duration passes or ``should_stop()``."""
        result = TraceResult()
        with _rare_collections(), TraceSession(self.config, self.obj) as session:
            decoder = Decoder(session.anchor_ns, self.names, stacks=self.config.stack)
            if self.on_start is not None:
                self.on_start(session)
            if self.ready_file is not None:
                _write_ready(self.ready_file)
            proc = _spawn(self.command) if self.command else None
            try:
                self._loop(session, decoder, proc, result)
            finally:
                if proc is not None and proc.poll() is None:
                    proc.terminate()
                    result.command_status = proc.wait()
            if proc is not None:
                time.sleep(GRACE_S)
            result.events += self._drain(session, decoder)
            result.stats = session.stats()
            result.warnings.extend(decoder.names.warnings)
        return result

    def _loop(self, session: TraceSession, decoder: Decoder,
              proc: subprocess.Popen[bytes] | None, result: TraceResult) -> None:
        deadline = None if self.duration_s is None else time.monotonic() + self.duration_s
        last = 0.0
        while not self.should_stop():
            if proc is not None and proc.poll() is not None:
                result.command_status = proc.returncode
                break
            if deadline is not None and time.monotonic() >= deadline:
                break
            session.wait(POLL_S)
            time.sleep(max(0.0, last + BATCH_S - time.monotonic()))
            last = time.monotonic()
            result.events += self._drain(session, decoder)

    def _drain(self, session: TraceSession, decoder: Decoder) -> int:
        """Write what the ring holds now, ``CHUNK`` events at a time."""
        done = 0
        for _ in range(session.pending() // (CHUNK * session.record.size) + 1):
            buf = session.read(CHUNK)
            if not buf:
                break
            table = decoder.table(buf)
            for sink in self.sinks:
                sink.write(table)
            done += len(table)
        return done


@contextlib.contextmanager
def _rare_collections() -> Iterator[None]:
    """Collect cycles less often: the objects alive now are set aside for good and the
    youngest generation waits for ``GC_YOUNG`` allocations; as before afterwards."""
    before = gc.get_threshold()
    gc.freeze()
    gc.set_threshold(GC_YOUNG, *before[1:])
    try:
        yield
    finally:
        gc.set_threshold(*before)
        gc.unfreeze()


def _write_ready(path: Path) -> None:
    try:
        path.write_text("ready\n")
    except OSError as exc:
        raise TraceError(f"cannot write ready file {path}: {exc.strerror}") from exc


def _spawn(command: Sequence[str]) -> subprocess.Popen[bytes]:
    try:
        return subprocess.Popen(list(command))
    except OSError as exc:
        raise TraceError(f"cannot run {command[0]}: {exc.strerror}") from exc
