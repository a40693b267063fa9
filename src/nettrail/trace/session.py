"""A tracing session: open -> configure -> load -> attach -> poll -> close.

Links are owned by this process's file descriptors and never pinned, so whatever way the
process ends (SIGKILL included) the kernel detaches and frees the programs.
"""

from __future__ import annotations

import contextlib
import os
import select
import struct
import time
from dataclasses import dataclass
from pathlib import Path
from types import TracebackType

from nettrail.errors import CapabilityError, TraceError
from nettrail.trace import btf, libbpf
from nettrail.trace import layout as L
from nettrail.trace.config import PROGRAMS, TraceConfig, to_rodata
from nettrail.trace.ringbuf import RingReader

OBJECT_PATH = Path(__file__).with_name("bpf") / "trace.bpf.o"
TRACEPOINTS = {
    "xmit": "net_dev_start_xmit",
    "recv": "netif_receive_skb",
    "drop": "kfree_skb",
    "reset": "tcp_send_reset",
    "synack-retransmit": "tcp_retransmit_synack",
}


@dataclass(frozen=True, slots=True)
class TraceStats:
    """Counters kept by the BPF programs: events emitted, lost (ring full), skbs followed, and
    events whose kernel stack could not be recorded (with ``--stack``)."""

    emitted: int
    lost: int
    followed: int
    stacks_lost: int = 0


def clock_anchor() -> int:
    """CLOCK_REALTIME minus CLOCK_MONOTONIC in ns (bpf_ktime_get_ns is CLOCK_MONOTONIC)."""
    best: tuple[int, int] | None = None
    for _ in range(5):
        m0 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        r = time.clock_gettime_ns(time.CLOCK_REALTIME)
        m1 = time.clock_gettime_ns(time.CLOCK_MONOTONIC)
        if best is None or m1 - m0 < best[0]:
            best = (m1 - m0, r - (m0 + m1) // 2)
    assert best is not None
    return best[1]


def check_capabilities(obj: Path, hooks: tuple[str, ...]) -> None:
    """Raise ``CapabilityError`` naming the first thing missing to trace ``hooks``."""
    if os.geteuid() != 0:
        raise CapabilityError("tracing needs root (CAP_BPF, CAP_PERFMON, CAP_NET_ADMIN)")
    if not obj.is_file():
        raise CapabilityError(f"BPF object {obj} not built (run: make bpf)")
    names = btf.kernel().names
    for hook in hooks:
        if f"btf_trace_{TRACEPOINTS[hook]}" not in names:
            raise CapabilityError(f"the kernel has no tracepoint {TRACEPOINTS[hook]} "
                                  f"(needed for {hook} events)")


class TraceSession:
    """The loaded, attached tracer: ``read()`` returns the raw records of a batch."""

    def __init__(self, cfg: TraceConfig, obj: Path = OBJECT_PATH) -> None:
        self.cfg = cfg
        self.obj_path = obj
        self.anchor_ns = 0
        self._obj: libbpf.BpfObject | None = None
        self._ring: RingReader | None = None
        self._epoll: select.epoll | None = None
        self._stats_fd = -1
        self._ncpu = 1

    def __enter__(self) -> TraceSession:
        self.start()
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    def start(self) -> None:
        """Open, configure, load and attach; on any failure nothing stays loaded."""
        check_capabilities(self.obj_path, self.cfg.hooks)
        try:
            self._obj = libbpf.BpfObject(str(self.obj_path))
            self._configure(self._obj)
            self._obj.load()
            for hook in self.cfg.hooks:
                self._obj.attach(PROGRAMS[hook])
            if self._following:
                self._obj.attach("nt_consume")
            events_fd = self._obj.map_fd("events")
            self._ring = RingReader(events_fd, self.cfg.ring_bytes, self.record)
            self._epoll = select.epoll()
            self._epoll.register(events_fd, select.EPOLLIN)
            self._stats_fd = self._obj.map_fd("stats")
            self._ncpu = libbpf.possible_cpus()
        except BaseException:
            self.close()
            raise
        self.anchor_ns = clock_anchor()

    def _configure(self, obj: libbpf.BpfObject) -> None:
        obj.set_initial_value(".rodata", to_rodata(self.cfg))
        obj.set_max_entries("events", self.cfg.ring_bytes)
        for hook, prog in PROGRAMS.items():
            obj.set_autoload(prog, hook in self.cfg.hooks)
        obj.set_autoload("nt_consume", self._following)

    @property
    def record(self) -> struct.Struct:
        """The ring record of this trace: with the event's kernel stack after it, or not."""
        return L.record_struct(self.cfg.stack)

    @property
    def _following(self) -> bool:
        """Whether matched skbs are followed (then freed skbs must be forgotten)."""
        return self.cfg.follow and bool(self.cfg.rules)

    def wait(self, timeout_s: float) -> None:
        """Sleep until events are signalled or ``timeout_s`` passes."""
        if self._epoll is None:
            raise TraceError("trace session is not started")
        with contextlib.suppress(InterruptedError):
            self._epoll.poll(timeout_s)

    def pending(self) -> int:
        """Bytes of events in the ring buffer not read yet."""
        if self._ring is None:
            raise TraceError("trace session is not started")
        return self._ring.pending()

    def read(self, limit: int = 1 << 30) -> bytes:
        """Every event now in the ring buffer, oldest first: ``record`` s back to back
        (``Decoder.table`` decodes them)."""
        if self._ring is None:
            raise TraceError("trace session is not started")
        return self._ring.drain(limit)

    def stats(self) -> TraceStats:
        """The programs' counters summed over CPUs."""
        if self._stats_fd < 0:
            return TraceStats(0, 0, 0)
        totals = []
        for slot in (L.STAT_EMITTED, L.STAT_LOST, L.STAT_TRACKED, L.STAT_STACK_LOST):
            raw = libbpf.lookup(self._stats_fd, struct.pack("<I", slot), 8 * self._ncpu)
            totals.append(sum(struct.unpack(f"<{self._ncpu}Q", raw)) if raw else 0)
        return TraceStats(*totals)

    def close(self) -> None:
        """Detach and free everything (idempotent)."""
        if self._epoll is not None:
            self._epoll.close()
            self._epoll = None
        if self._ring is not None:
            self._ring.close()
            self._ring = None
        if self._obj is not None:
            self._obj.close()
            self._obj = None
        self._stats_fd = -1
