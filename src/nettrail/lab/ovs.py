"""Open vSwitch in a lab host: its own daemons, bridges, patch and VXLAN ports, OpenFlow flows.

Each host with ``[hosts.H.ovs.BRIDGE]`` tables gets a private ``ovsdb-server`` and
``ovs-vswitchd`` started inside its namespace, with database, run directory, pidfiles, logs and
control sockets under the lab's state directory (``ovs/<host>/``); never the system service.
Bridges use the userspace datapath (``datapath_type=netdev``), so their internal ports are tap
devices created in the host's namespace. The daemons are stopped by PID on teardown; deleting
the namespace takes every port with it.
"""

from __future__ import annotations

import contextlib
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

from nettrail.errors import CapabilityError, LabError, ScenarioError
from nettrail.lab import shell
from nettrail.lab.parts import HostPart

if TYPE_CHECKING:
    from nettrail.lab.scenario import Scenario

SCHEMA = Path("/usr/share/openvswitch/vswitch.ovsschema")
"""The Open vSwitch database schema shipped by Debian's openvswitch-common."""

DAEMONS = ("ovsdb-server", "ovs-vswitchd")
"""The two processes started per OVS host, in start order."""

_READY_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class Patch:
    """An OVS patch port on a bridge, joined to the patch port ``peer`` on another bridge."""

    name: str
    peer: str


@dataclass(frozen=True, slots=True)
class Tunnel:
    """An OVS VXLAN port: userspace tunnel from ``local`` to ``remote`` with VNI ``key``."""

    name: str
    remote: str
    local: str
    key: int
    port: int = 4789


@dataclass(frozen=True, slots=True)
class OvsBridge(HostPart):
    """An Open vSwitch bridge in a host: addresses on its internal port, patches, tunnels, flows."""

    addrs: tuple[str, ...] = ()
    mtu: int | None = None
    patches: tuple[Patch, ...] = ()
    tunnels: tuple[Tunnel, ...] = ()
    flows: tuple[str, ...] = ()


class Step(NamedTuple):
    """One OVS build step (same shape as :class:`nettrail.lab.plan.Step`)."""

    what: str
    argv: tuple[str, ...]
    undo: tuple[str, ...] | None = None


def run_dir(state_dir: Path, host: str) -> Path:
    """Where host ``host``'s OVS database, sockets, pidfiles and logs live."""
    return state_dir / "ovs" / host


def _env(rundir: Path) -> tuple[str, ...]:
    d = str(rundir)
    return ("env", f"OVS_RUNDIR={d}", f"OVS_DBDIR={d}", f"OVS_LOGDIR={d}", f"OVS_SYSCONFDIR={d}")


def command(ns: str, rundir: Path, *argv: str) -> tuple[str, ...]:
    """An OVS tool run in namespace ``ns`` against the daemons of ``rundir``."""
    return ("ip", "netns", "exec", ns, *_env(rundir), *argv)


def vsctl(ns: str, rundir: Path, *args: str) -> tuple[str, ...]:
    """``ovs-vsctl`` against this host's database, waiting for vswitchd to apply the change."""
    return command(ns, rundir, "ovs-vsctl", "--timeout=10", *args)


# --- scenario data -------------------------------------------------------------------------


def check(bridges: tuple[OvsBridge, ...], file: str) -> None:
    """Patch peers must be patch ports on another OVS bridge of the same host."""
    patches = {(b.host, p.name): (b.name, p.peer) for b in bridges for p in b.patches}
    for (host, name), (bridge, peer) in patches.items():
        other = patches.get((host, peer))
        if other is None or other[1] != name or other[0] == bridge:
            raise ScenarioError(f"{file}: hosts.{host}.ovs.{bridge}.patch.{name}.peer: {peer!r} is "
                           f"not a patch port on another OVS bridge of {host} peering back")


def hosts_with_ovs(s: Scenario) -> list[str]:
    """Hosts of ``s`` that run Open vSwitch, in host order."""
    names = {b.host for b in s.switches}
    return [h.name for h in s.hosts if h.name in names]


def is_ovs_bridge(s: Scenario, host: str, name: str) -> bool:
    """Whether ``name`` in ``host`` is an Open vSwitch bridge."""
    return any(b.host == host and b.name == name for b in s.switches)


# --- build steps (pure) --------------------------------------------------------------------


def bridge_steps(s: Scenario, state_dir: Path) -> list[Step]:
    """Create every OVS bridge on the userspace datapath, and configure its internal port."""
    steps = []
    for b in s.switches:
        ns, rd = s.host(b.host).netns, run_dir(state_dir, b.host)
        steps.append(Step(f"{ns}: OVS bridge {b.name}",
                          vsctl(ns, rd, "add-br", b.name, "--", "set", "bridge", b.name,
                                "datapath_type=netdev", "fail_mode=standalone")))
        if b.mtu:
            steps.append(Step(f"{ns}: {b.name} mtu {b.mtu}",
                              vsctl(ns, rd, "set", "interface", b.name,
                                    f"mtu_request={b.mtu}")))
        if b.addrs:
            steps += [Step(f"{ns}: {b.name} address {a}",
                           ("ip", "-n", ns, "addr", "add", a, "dev", b.name)) for a in b.addrs]
            steps.append(Step(f"{ns}: {b.name} up", ("ip", "-n", ns, "link", "set", b.name, "up")))
    return steps


def add_port_step(s: Scenario, state_dir: Path, host: str, bridge: str, dev: str) -> Step:
    """Attach an existing device (a veth end) to an OVS bridge as a system port."""
    ns = s.host(host).netns
    return Step(f"{ns}: {dev} into OVS {bridge}",
                vsctl(ns, run_dir(state_dir, host), "add-port", bridge, dev))


def port_steps(s: Scenario, state_dir: Path) -> list[Step]:
    """Patch ports, VXLAN ports, then the flows of every OVS bridge."""
    steps = []
    for b in s.switches:
        ns, rd = s.host(b.host).netns, run_dir(state_dir, b.host)
        for p in b.patches:
            steps.append(Step(f"{ns}: {b.name} patch {p.name} <-> {p.peer}",
                              vsctl(ns, rd, "add-port", b.name, p.name, "--", "set",
                                    "interface", p.name, "type=patch", f"options:peer={p.peer}")))
        for t in b.tunnels:
            steps.append(Step(f"{ns}: {b.name} vxlan {t.name} vni {t.key} to {t.remote}",
                              vsctl(ns, rd, "add-port", b.name, t.name, "--", "set",
                                    "interface", t.name, "type=vxlan",
                                    f"options:remote_ip={t.remote}",
                                    f"options:local_ip={t.local}", f"options:key={t.key}",
                                    f"options:dst_port={t.port}")))
    for b in s.switches:
        ns, rd = s.host(b.host).netns, run_dir(state_dir, b.host)
        for flow in b.flows:
            steps.append(Step(f"{ns}: {b.name} flow {flow}",
                              command(ns, rd, "ovs-ofctl", "add-flow", b.name, flow)))
    return steps


def checksum_steps(s: Scenario) -> list[Step]:
    """TX checksum offload off on every veth end not attached to OVS.

    The userspace datapath reads frames with AF_PACKET and forwards them as they are: a frame
    sent with a partial checksum (left to offload) would arrive with a bad one.
    """
    steps = []
    for link in s.links:
        for end in (link.a, link.b):
            if end.master and is_ovs_bridge(s, end.host, end.master):
                continue
            ns = s.host(end.host).netns
            steps.append(Step(f"{ns}: {end.dev} tx checksum offload off",
                              ("ip", "netns", "exec", ns, "ethtool", "-K", end.dev, "tx",
                               "off")))
    return steps


# --- daemons -------------------------------------------------------------------------------


def start(ns: str, rundir: Path) -> list[subprocess.Popen[bytes]]:
    """Start ovsdb-server then ovs-vswitchd inside ``ns`` on a fresh database; wait for both."""
    if not SCHEMA.exists():
        raise CapabilityError(f"the OVS lab needs Open vSwitch ({SCHEMA} missing: "
                              "apt-get install openvswitch-switch)")
    shell.kill(strays(rundir))
    rundir.mkdir(parents=True, exist_ok=True)
    db = rundir / "conf.db"
    db.unlink(missing_ok=True)
    shell.run(command(ns, rundir, "ovsdb-tool", "create", str(db), str(SCHEMA)))
    procs = []
    try:
        procs.append(shell.spawn(command(
            ns, rundir, "ovsdb-server", str(db), f"--remote=punix:{rundir / 'db.sock'}",
            "--pidfile", "--no-chdir", f"--log-file={rundir / 'ovsdb-server.log'}"),
            rundir / "ovsdb-server.out"))
        _wait(procs[-1], lambda: (rundir / "db.sock").exists(), "ovsdb-server", rundir)
        shell.run(vsctl(ns, rundir, "--no-wait", "init"))
        procs.append(shell.spawn(command(
            ns, rundir, "ovs-vswitchd", f"unix:{rundir / 'db.sock'}", "--pidfile", "--no-chdir",
            f"--log-file={rundir / 'ovs-vswitchd.log'}"), rundir / "ovs-vswitchd.out"))
        _wait(procs[-1], lambda: _answers(ns, rundir), "ovs-vswitchd", rundir)
    except BaseException:
        stop(procs)
        raise
    return procs


def _answers(ns: str, rundir: Path) -> bool:
    out = shell.run(command(ns, rundir, "ovs-appctl", "-t", "ovs-vswitchd", "version"),
                    check=False)
    return "ovs-vswitchd" in out


def _wait(proc: subprocess.Popen[bytes], ready: Callable[[], bool], name: str,
          rundir: Path) -> None:
    deadline = time.monotonic() + _READY_TIMEOUT
    while not ready():
        if proc.poll() is not None or time.monotonic() > deadline:
            log = rundir / f"{name}.log"
            lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
            raise LabError(f"{name} did not start ({rundir}): {lines[-1] if lines else 'no log'}")
        time.sleep(0.02)


def strays(under: Path, proc: Path = Path("/proc")) -> list[int]:
    """PIDs of OVS daemons alive anywhere whose run directory is inside ``under``.

    A daemon whose namespace is already gone (a build killed while starting it) is invisible
    to ``ip netns pids``; its command line still names the lab's run directory.
    """
    marker = f"{under}/".encode()
    found = []
    for entry in proc.iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
        except OSError:
            continue
        if Path(argv[0].decode(errors="replace")).name in DAEMONS and \
                any(marker in a for a in argv[1:]):
            found.append(int(entry.name))
    return found


def stop(procs: list[subprocess.Popen[bytes]]) -> None:
    """Stop the daemons by PID, vswitchd first, and reap them."""
    for proc in reversed(procs):
        shell.kill([proc.pid])
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=2)


def resolve_tunnels(s: Scenario, state_dir: Path, timeout: float = 5.0) -> None:
    """Have every OVS host learn its tunnel peers' MAC addresses before any traffic.

    The userspace datapath drops a packet to a tunnel whose next hop it has not resolved yet
    (it sends an ARP request instead); a run's first SYN would be lost. One datagram from the
    host's own stack to each remote makes the kernel ARP across br-phy, which OVS snoops.
    """
    for b in s.switches:
        ns, rd = s.host(b.host).netns, run_dir(state_dir, b.host)
        for t in b.tunnels:
            deadline = time.monotonic() + timeout
            while t.remote not in shell.run(command(ns, rd, "ovs-appctl", "-t", "ovs-vswitchd",
                                                    "tnl/neigh/show"), check=False):
                if time.monotonic() > deadline:
                    raise LabError(f"{ns}: OVS did not resolve tunnel peer {t.remote} of "
                                   f"{t.name} within {timeout:.0f}s")
                # a fresh ARP exchange each try: OVS may have missed the last one
                shell.run(("ip", "-n", ns, "neigh", "flush", "to", t.remote), check=False)
                shell.run(("ip", "netns", "exec", ns, sys.executable, "-c",
                           "import socket,sys; socket.socket(socket.AF_INET, socket.SOCK_DGRAM)"
                           ".sendto(b'', (sys.argv[1], 9))", t.remote), check=False)
                time.sleep(0.1)


# --- run records ---------------------------------------------------------------------------


def snapshot(s: Scenario, state_dir: Path, output: Path, label: str) -> list[Path]:
    """Write each OVS host's flows (per bridge) and userspace conntrack to ``output``.

    One file per host and moment: ``ovs-<host>-<label>.txt``. Best effort: a failing dump is
    recorded as its error line, never fails the run.
    """
    written = []
    for host in hosts_with_ovs(s):
        ns, rd = s.host(host).netns, run_dir(state_dir, host)
        parts = []
        for b in (b for b in s.switches if b.host == host):
            parts.append(_dump(f"ovs-ofctl dump-flows {b.name}",
                               command(ns, rd, "ovs-ofctl", "dump-flows", b.name)))
        parts.append(_dump("ovs-appctl dpctl/dump-conntrack",
                           command(ns, rd, "ovs-appctl", "-t", "ovs-vswitchd",
                                   "dpctl/dump-conntrack")))
        path = output / f"ovs-{host}-{label}.txt"
        try:
            path.write_text("".join(parts), encoding="utf-8")
        except OSError as exc:
            raise LabError(f"cannot write {path}: {exc.strerror}") from exc
        written.append(path)
    return written


def _dump(title: str, argv: tuple[str, ...]) -> str:
    try:
        out = shell.run(argv)
    except LabError as exc:
        out = f"(failed: {exc})\n"
    return f"## {title}\n{out}\n"

