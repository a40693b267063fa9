"""Build a scenario step by step, pushing an undo for each; unwind in reverse on any failure.

Errors, Ctrl-C and SIGTERM during a build all unwind what was built so far, then propagate.
"""

from __future__ import annotations

import contextlib
import signal
import subprocess
from collections.abc import Callable, Iterator
from types import FrameType

from nettrail.errors import LabError
from nettrail.lab import ovs, services, shell, sshhosts, state
from nettrail.lab.plan import Step, namespace_steps, network_steps
from nettrail.lab.scenario import Scenario
from nettrail.signals import signal_handlers

Undo = tuple[str, Callable[[], None]]


class Builder:
    """Applies steps and remembers how to undo each, most recent first."""

    def __init__(self) -> None:
        self.undo: list[Undo] = []
        self.processes: list[subprocess.Popen[bytes]] = []
        self.created: list[str] = []

    def apply(self, step: Step) -> None:
        """Run one step; push its undo when it has one.

        A namespace is recorded before ``ip netns add`` runs: a signal can land after the
        kernel made it and before the command returns. It is forgotten again only when the
        command itself fails (the name was taken: not ours to remove).
        """
        if step.argv[:3] != ("ip", "netns", "add"):
            shell.run(step.argv)
            if step.undo is not None:
                self.undo.append((step.what, _command(step.undo)))
            return
        if shell.exists(step.argv[3]):
            raise LabError(f"namespace {step.argv[3]} already exists: refusing to build over it")
        self.created.append(step.argv[3])
        if step.undo is not None:
            self.undo.append((step.what, _command(step.undo)))
        try:
            shell.run(step.argv)
        except LabError:
            self.created.pop()
            if step.undo is not None:
                self.undo.pop()
            raise

    def push(self, what: str, action: Callable[[], None]) -> None:
        """Push an undo for something done outside :meth:`apply` (a started process)."""
        self.undo.append((what, action))

    def unwind(self) -> list[str]:
        """Undo everything in reverse order; return what could not be undone (best effort)."""
        failed = []
        while self.undo:
            what, action = self.undo.pop()
            try:
                action()
            except Exception as exc:  # keep unwinding whatever one undo does
                failed.append(f"{what}: {exc}")
        return failed


def build(scenario: Scenario) -> tuple[state.LabState, Builder]:
    """Build ``scenario``: namespaces, links, rules, then services. Unwinds on failure."""
    shell.require_lab_capabilities()
    _refuse_existing(scenario)
    lab = state.LabState(scenario.name, scenario.path, list(scenario.namespaces))
    state.save(lab)
    builder = Builder()
    builder.push("lab state", lambda: state.remove(scenario.name))
    try:
        with terminate_as_interrupt():
            for step in namespace_steps(scenario):
                builder.apply(step)
            _start_switches(scenario, lab, builder)
            for step in network_steps(scenario):
                builder.apply(step)
            shell.wait_settled(scenario.namespaces)
            ovs.resolve_tunnels(scenario, lab.dir)
            _start_services(scenario, lab, builder)
    except BaseException:
        builder.unwind()
        # processes or objects an undo could not reach; only in namespaces this build made: a
        # build that lost a race with another process must not remove that process's lab
        for ns in builder.created:
            with contextlib.suppress(LabError):
                shell.remove_namespace(ns)
        raise
    return lab, builder


def _refuse_existing(scenario: Scenario) -> None:
    for ns in scenario.namespaces:
        if shell.exists(ns):
            raise LabError(f"namespace {ns} already exists: refusing to build over it "
                           f"(`nettrail lab down {scenario.name}` removes a lab's leftovers)")


def _start_services(scenario: Scenario, lab: state.LabState, builder: Builder) -> None:
    for svc in scenario.services:
        ns = scenario.host(svc.host).netns
        proc = services.start(svc, ns, lab.dir)
        builder.processes.append(proc)
        builder.push(f"stop {svc.name} in {ns}", _stopper(proc))
        lab.pids[f"{svc.host}/{svc.name}"] = proc.pid
        state.save(lab)
    for host, proc in sshhosts.start_all(scenario, lab.dir):
        builder.processes.append(proc)
        builder.push(f"stop the ssh login of {host}", _stopper(proc))
        lab.pids[f"{host}/{sshhosts.SERVICE}"] = proc.pid
    state.save(lab)


def _start_switches(scenario: Scenario, lab: state.LabState, builder: Builder) -> None:
    """Start each OVS host's own ovsdb-server and ovs-vswitchd; record and undo them by PID."""
    for host in ovs.hosts_with_ovs(scenario):
        ns = scenario.host(host).netns
        procs = ovs.start(ns, ovs.run_dir(lab.dir, host))
        for name, proc in zip(ovs.DAEMONS, procs, strict=True):
            lab.pids[f"{host}/{name}"] = proc.pid
            builder.processes.append(proc)
        builder.push(f"stop Open vSwitch in {ns}", _switch_stopper(procs))
        state.save(lab)


def _switch_stopper(procs: list[subprocess.Popen[bytes]]) -> Callable[[], None]:
    def undo() -> None:
        ovs.stop(procs)
    return undo


def _command(argv: tuple[str, ...]) -> Callable[[], None]:
    def undo() -> None:
        shell.run(argv, check=False)
    return undo


def _stopper(proc: subprocess.Popen[bytes]) -> Callable[[], None]:
    def undo() -> None:
        shell.kill([proc.pid])
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)
    return undo


@contextlib.contextmanager
def terminate_as_interrupt() -> Iterator[None]:
    """Within the block, SIGTERM raises KeyboardInterrupt (main thread only) so we unwind."""

    def handler(signum: int, frame: FrameType | None) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    with signal_handlers(handler, signal.SIGTERM):
        yield
