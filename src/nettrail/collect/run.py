"""A collect run: capture on every host at once, run the trigger, stop, drain, write the run.

Every host works in its own thread (:class:`~nettrail.collect.host.HostRun`); this module
waits until each host captures or failed, runs the trigger command here, stops the captures
when it ends (plus the settle time) or after the duration, waits for the drains and writes
``RUN/manifest.json``. An interrupt at any point stops every host the same way, and the run
written holds what was captured until then.
"""

from __future__ import annotations

import contextlib
import shutil
import signal
import subprocess
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from nettrail.collect import manifest, zipapp
from nettrail.collect.host import DONE, FAILED, HostRun, HostSettings
from nettrail.collect.peers import Peers
from nettrail.collect.ssh import check_host
from nettrail.errors import InputError
from nettrail.signals import signal_handlers

DEFAULT_SETTLE_S = 1.0
_SLICE_S = 0.1
TRACERS = ("tcpdump", "ebpf")
"""Remote capture methods this build ships."""


@dataclass(frozen=True)
class CollectPlan:
    """What to collect: hosts, where, for how long, and the trigger command."""

    hosts: tuple[str, ...]
    output: Path
    settings: HostSettings
    duration: float | None = None
    command: tuple[str, ...] = ()
    settle: float = DEFAULT_SETTLE_S
    tracer: str = "tcpdump"


@dataclass
class CollectResult:
    """A finished run: per-host outcome, the trigger's status, where the manifest is."""

    hosts: list[HostRun]
    manifest: Path
    command_status: int | None = None
    interrupted: bool = False
    timings: dict[str, float] = field(default_factory=dict)

    @property
    def failed(self) -> list[HostRun]:
        """The hosts that did not capture to the end."""
        return [h for h in self.hosts if h.state != DONE]


def check_plan(plan: CollectPlan) -> None:
    """InputError/CapabilityError before any connection when the plan cannot work."""
    if not plan.hosts:
        raise InputError("collect needs at least one host")
    if len(set(plan.hosts)) != len(plan.hosts):
        raise InputError("a host is given twice")
    for host in plan.hosts:
        check_host(host)
    if plan.command and shutil.which(plan.command[0]) is None:
        raise InputError(f"command not found: {plan.command[0]}")
    if plan.tracer not in TRACERS:
        raise InputError(f"unknown tracer {plan.tracer!r} (available: {', '.join(TRACERS)})")
    if plan.tracer == "ebpf":
        zipapp.build()  # CapabilityError when the BPF object is not built
    if (plan.output / manifest.MANIFEST_NAME).exists():
        raise InputError(f"{plan.output} already holds a run: not overwriting it")
    try:
        plan.output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise InputError(f"cannot create {plan.output}: {exc.strerror}") from exc


def collect(plan: CollectPlan,
            on_change: Callable[[HostRun], None] = lambda h: None) -> CollectResult:
    """Run ``plan``; always writes the run, whatever happened (KeyboardInterrupt included)."""
    check_plan(plan)
    started, t0 = time.time(), time.monotonic()
    settings = replace(plan.settings, tracer=plan.tracer)
    peers = Peers(plan.hosts)
    hosts = [HostRun(name, plan.output / f"{name}.pcap", settings, on_change, peers)
             for name in plan.hosts]
    threads = [threading.Thread(target=h.run, name=f"collect-{h.name}", daemon=True)
               for h in hosts]
    result = CollectResult(hosts, plan.output / manifest.MANIFEST_NAME)
    with signals_noted() as signals:
        try:
            for h in hosts:
                on_change(h)
            for t in threads:
                t.start()
            for h in hosts:
                wait_for(h.settled, signals=signals)
            result.timings["ready_s"] = round(time.monotonic() - t0, 3)
            if any(h.state != FAILED for h in hosts):
                result.command_status = _trigger(plan, signals)
        except KeyboardInterrupt:
            result.interrupted = True
        finally:
            result.interrupted = result.interrupted or bool(signals)
            result.timings["trigger_end_s"] = round(time.monotonic() - t0, 3)
            for h in hosts:
                h.interrupted = result.interrupted  # then no snapshot: stop quickly
                h.stop.set()
            _join(threads, plan.settings, signals)
    result.timings["total_s"] = round(time.monotonic() - t0, 3)
    manifest.write(plan.output, manifest.build(plan, result, started))
    return result


@contextlib.contextmanager
def signals_noted() -> Iterator[list[int]]:
    """Within the block, SIGINT and SIGTERM are only noted (in the list yielded); the main
    thread acts on them between its waits (:func:`wait_for` raises KeyboardInterrupt).

    The default handler raises KeyboardInterrupt wherever the main thread happens to be, also
    just after it took the lock inside ``Event.wait`` or ``Event.set`` and before the ``with``
    that would release it: the lock then stays taken and the host thread that next sets
    that event blocks for ever (seen once in CI: a Ctrl-C during the wait for the hosts left
    a host's ``settled`` lock taken, and the run hung in its drain). Outside the main thread
    signals cannot be handled here: nothing changes."""
    noted: list[int] = []
    with signal_handlers(lambda n, _f: noted.append(n), signal.SIGINT, signal.SIGTERM):
        yield noted


def _trigger(plan: CollectPlan, signals: list[int]) -> int | None:
    """Run the command (bounded by the duration), then settle; or just wait the duration."""
    status = None
    if plan.command:
        status = run_command(plan.command, plan.duration, signals)
        wait_for(threading.Event(), plan.settle, signals)
    elif plan.duration is not None:
        wait_for(threading.Event(), plan.duration, signals)
    else:
        wait_for(threading.Event(), signals=signals)  # until interrupted
    return status


def wait_for(event: threading.Event, timeout: float | None = None,
             signals: Sequence[int] = ()) -> bool:
    """``event.wait(timeout)`` in short slices, so that the main thread sees a signal;
    KeyboardInterrupt as soon as ``signals`` (see :func:`signals_noted`) holds one.

    The kernel may hand SIGINT or SIGTERM to any thread of the process; Python runs the
    handler in the main thread only when that thread next executes bytecode. A main thread
    blocked in one long wait sleeps through Ctrl-C whenever a host thread takes the signal:
    the run then never ends."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if signals:
            raise KeyboardInterrupt(f"signal {signals[0]}")
        left = _SLICE_S if deadline is None else min(_SLICE_S, deadline - time.monotonic())
        if left <= 0:
            return event.is_set()
        if event.wait(left):
            return True


def run_command(argv: Sequence[str], timeout: float | None,
                signals: Sequence[int] = ()) -> int:
    """Run the trigger here, without a shell; its exit status (124 when cut at the duration)."""
    try:
        proc = subprocess.Popen(list(argv))
    except FileNotFoundError as exc:
        raise InputError(f"command not found: {argv[0]}") from exc
    except OSError as exc:
        raise InputError(f"cannot run {argv[0]}: {exc.strerror}") from exc
    deadline = None if timeout is None else time.monotonic() + timeout
    try:
        while True:  # in slices: see wait_for
            if signals:
                raise KeyboardInterrupt(f"signal {signals[0]}")
            left = _SLICE_S if deadline is None else deadline - time.monotonic()
            try:
                return proc.wait(timeout=max(0.0, min(_SLICE_S, left)))
            except subprocess.TimeoutExpired:
                if deadline is not None and time.monotonic() >= deadline:
                    raise
    except subprocess.TimeoutExpired:
        proc.terminate()
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=3)
        if proc.poll() is None:
            proc.kill()
        proc.wait()
        return 124
    except BaseException:
        proc.terminate()
        proc.wait()
        raise


def _join(threads: Sequence[threading.Thread], settings: HostSettings,
          signals: Sequence[int]) -> None:
    """Wait for every host to drain and close; a signal here only shortens the wait."""
    deadline = time.monotonic() + settings.drain_timeout + 15 + (
        settings.snapshot_timeout + 10 if settings.snapshot else 0)
    seen = len(signals)
    for t in threads:
        while t.is_alive() and time.monotonic() < deadline:
            t.join(0.1)
            if len(signals) > seen:
                seen = len(signals)
                deadline = min(deadline, time.monotonic() + settings.drain_timeout)
