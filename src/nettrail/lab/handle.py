"""The lab's Python API: bring a scenario up, run it with captures, tear it down, list labs."""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType

from nettrail.errors import LabError
from nettrail.lab import builder, capture, manifest, ovs, safety, scenario, shell, state, traffic
from nettrail.lab.outcome import TrafficResult
from nettrail.lab.scenario import Scenario

_OWN_COMMANDS = (b"sshd", b"tcpdump", b"nettrail.cli.labtool", b"ovsdb-server", b"ovs-vswitchd")


@dataclass(frozen=True)
class RunResult:
    """A finished lab run: output directory, manifest, pcaps per point, the client outcome."""

    output: Path
    manifest: Path
    captures: tuple[tuple[str, str], ...]
    traffic: TrafficResult
    ifnames: dict[str, dict[int, str]]
    dropped: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True)
class LabStatus:
    """A lab found on this machine: its namespaces and the processes alive inside them."""

    scenario: str
    namespaces: tuple[str, ...]
    processes: int
    has_state: bool


class LabHandle:
    """A scenario that is up. Use as a context manager to take it down on exit."""

    def __init__(self, scn: Scenario, lab: state.LabState,
                 built: builder.Builder | None = None) -> None:
        self.scenario = scn
        self.state = lab
        self._builder = built
        self._inodes = {i for ns in scn.namespaces if (i := shell.ns_inode(ns))}
        """Its namespaces themselves, which a process keeps alive after their names go."""

    @property
    def name(self) -> str:
        """The scenario's name."""
        return self.scenario.name

    def ns(self, host: str) -> str:
        """The network namespace standing for ``host`` (``vm`` -> ``ntl-dual-l3-vm``)."""
        try:
            return self.scenario.host(host).netns
        except KeyError:
            hosts = ", ".join(h.name for h in self.scenario.hosts)
            raise LabError(f"scenario {self.name} has no host {host!r} (hosts: {hosts})"
                           ) from None

    def run_traffic(self) -> TrafficResult:
        """Drive the scenario's client traffic once, without captures."""
        return traffic.drive(self.scenario, self.state.dir)

    def run(self, output: Path) -> RunResult:
        """Capture at every point while driving the traffic; write pcaps and manifest.json."""
        return run_captured(self, output)

    def down(self) -> None:
        """Tear the lab down (idempotent)."""
        if self._builder is not None:
            # first every process inside: the unwind deletes the namespaces by name, and a
            # process the builder did not start would live on in an unnamed namespace; then
            # any that entered one while they went (ip netns exec opens it before it enters)
            inodes = self._inodes | {i for ns in self.scenario.namespaces
                                     if (i := shell.ns_inode(ns))}
            for ns in self.scenario.namespaces:
                if shell.exists(ns):
                    shell.kill(shell.pids(ns))
            self._builder.unwind()
            self._builder = None
            shell.kill(shell.pids_in(inodes))
        down(self.name)

    def __enter__(self) -> LabHandle:
        return self

    def __exit__(self, et: type[BaseException] | None, ev: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.down()


def up(name: str) -> LabHandle:
    """Build scenario ``name`` (shipped name or path to a .toml) and return its handle."""
    scn = scenario.load(name)
    lab, built = builder.build(scn)
    return LabHandle(scn, lab, built)


def attach(name: str) -> LabHandle:
    """The handle of a lab already up (built by another process); LabError when it is not."""
    lab = state.load(name)
    if lab is None or not all(shell.exists(ns) for ns in lab.namespaces):
        raise LabError(f"lab {name} is not up (`nettrail lab up {name}` builds it)")
    return LabHandle(scenario.load(lab.path), lab)


def is_up(name: str) -> bool:
    """Whether lab ``name`` has its state and all its namespaces."""
    lab = state.load(name)
    return lab is not None and all(shell.exists(ns) for ns in lab.namespaces)


def down(name: str) -> list[str]:
    """Remove lab ``name``: its processes, namespaces (also leftovers by prefix) and state.

    Idempotent; returns the namespaces that were removed.
    """
    lab = state.load(name)
    found = set(shell.namespaces(safety.scenario_prefix(name)))
    if lab is not None:
        found |= {ns for ns in lab.namespaces if shell.exists(ns)}
        _kill_recorded(lab.pids.values())
    for ns in sorted(found):
        shell.remove_namespace(ns)
    shell.kill(ovs.strays(state.state_dir(name) / "ovs"))
    state.remove(name)
    return sorted(found)


def down_all() -> list[str]:
    """Remove every lab on this machine (every ``ntl-`` namespace); return what was removed."""
    removed = []
    for name in state.known():
        removed += down(name)
    for ns in shell.namespaces():
        shell.remove_namespace(ns)
        removed.append(ns)
    return removed


def _kill_recorded(pids: Iterable[int]) -> None:
    """Kill recorded lab processes still alive, checking each is one we start (pid reuse)."""
    own = []
    for pid in pids:
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if any(c in cmdline for c in _OWN_COMMANDS):
            own.append(int(pid))
    shell.kill(own)


def status() -> list[LabStatus]:
    """Every lab found: by saved state, and leftover ``ntl-`` namespaces grouped by scenario."""
    names = set(state.known()) | set(scenario.available())
    leftovers = set(shell.namespaces())
    result = []
    for name in sorted(names, key=len, reverse=True):
        mine = sorted(ns for ns in leftovers if ns.startswith(safety.scenario_prefix(name)))
        leftovers -= set(mine)
        has_state = state.load(name) is not None
        if mine or has_state:
            procs = sum(len(shell.pids(ns)) for ns in mine)
            result.append(LabStatus(name, tuple(mine), procs, has_state))
    if leftovers:
        procs = sum(len(shell.pids(ns)) for ns in leftovers)
        result.append(LabStatus("?", tuple(sorted(leftovers)), procs, False))
    return sorted(result, key=lambda s: s.scenario)


def run_captured(handle: LabHandle, output: Path) -> RunResult:
    """Start tcpdump at every capture point, drive traffic, stop captures, write the manifest."""
    scn, lab = handle.scenario, handle.state
    try:
        output.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise LabError(f"cannot create output directory {output}: {exc.strerror}") from exc
    started, t0 = time.time(), time.monotonic()
    caps: list[capture.Capture] = []
    timings: dict[str, float] = {}
    try:
        with builder.terminate_as_interrupt():
            ovs.snapshot(scn, lab.dir, output, "before")
            for point in scn.captures:
                pcap = output / f"{point}.pcap"
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(pcap)
                caps.append(capture.start(point, handle.ns(point), pcap))
                lab.pids[f"capture/{point}"] = caps[-1].proc.pid
            state.save(lab)
            timings["captures_ready_s"] = time.monotonic() - t0
            result = handle.run_traffic()
            timings["traffic_s"] = result.elapsed
            time.sleep(scn.traffic.settle)
            ovs.snapshot(scn, lab.dir, output, "after")
    finally:
        for cap in caps:
            capture.stop(cap)
            lab.pids.pop(f"capture/{cap.point}", None)
        if caps:
            state.save(lab)
    timings["total_s"] = time.monotonic() - t0
    ifnames = {c.point: shell.links(c.netns) for c in caps}
    points = [manifest.point_entry(c.point, c.netns, c.pcap.name, ifnames[c.point], c.counts)
              for c in caps]
    path = manifest.write(output, manifest.build(scn, points, result, timings, started))
    from nettrail.lab import snapshots  # the hosts' rules, for `analyze` to quote

    snapshots.write(scn, output)
    pairs = tuple((c.point, str(c.pcap)) for c in caps)
    dropped = {c.point: (c.counts or {}).get("dropped-by-kernel", 0) for c in caps}
    return RunResult(output, path, pairs, result, ifnames,
                     {p: n for p, n in dropped.items() if n})
