"""Open vSwitch on this host: every ovs-vswitchd, whatever its run directory, found through
its control socket in its own namespace; bridges, ports and flows read with ``ovs-ofctl``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass

from nettrail.model.topology import NatRule, OvsBridge
from nettrail.topology import openflow
from nettrail.topology.tool import communicate

TIMEOUT_S = 5.0


@dataclass(frozen=True, slots=True)
class Vswitchd:
    """One running ovs-vswitchd: pid, namespace inode, control socket, bridge sockets."""

    pid: int
    inode: int
    control: str
    bridges: dict[str, str]


def daemons() -> list[Vswitchd]:
    """Every ovs-vswitchd process with its sockets (from the unix sockets of its namespace)."""
    out = []
    for p in os.listdir("/proc"):
        if not p.isdigit():
            continue
        pid = int(p)
        try:
            with open(f"/proc/{pid}/comm") as f:
                if f.read().strip() != "ovs-vswitchd":
                    continue
            inode = os.stat(f"/proc/{pid}/ns/net").st_ino
            with open(f"/proc/{pid}/net/unix") as f:
                paths = [line.split()[-1] for line in f.readlines()[1:] if len(line.split()) > 7]
        except OSError:
            continue
        ctl = next((q for q in paths if q.endswith(f"/ovs-vswitchd.{pid}.ctl")), "")
        folder = os.path.dirname(ctl)
        mgmt = {os.path.basename(q)[:-5]: q for q in paths
                if ctl and q.endswith(".mgmt") and os.path.dirname(q) == folder}
        out.append(Vswitchd(pid, inode, ctl, dict(sorted(mgmt.items()))))
    return out


def read(daemon: Vswitchd, namespace: str,
         ) -> tuple[list[OvsBridge], list[NatRule], list[str]]:
    """(bridges, address rewrites, notes) of one ovs-vswitchd."""
    bridges: list[OvsBridge] = []
    nat: list[NatRule] = []
    notes: list[str] = []
    if not daemon.control:
        notes.append(f"ovs-vswitchd pid {daemon.pid}: no control socket found; not read")
    for name, sock in daemon.bridges.items():
        try:
            show = _ofctl("show", sock)
            flows = _ofctl("dump-flows", sock)
        except (OSError, subprocess.SubprocessError) as exc:
            notes.append(f"ovs bridge {name} (pid {daemon.pid}): ovs-ofctl failed: {exc}")
            continue
        rewrites, count = openflow.parse(flows, namespace, name)
        nat.extend(rewrites)
        bridges.append(OvsBridge(name, namespace, _ports(show), count, sock))
    return bridges, nat, notes


def read_all(names: Mapping[int, str]) -> tuple[list[OvsBridge], list[NatRule], list[str]]:
    """Bridges, rewrites and notes of every ovs-vswitchd; ``names`` maps netns inode -> name."""
    bridges: list[OvsBridge] = []
    nat: list[NatRule] = []
    notes: list[str] = []
    found = daemons()
    for d in found:
        b, n, msgs = read(d, names.get(d.inode, f"netns:{d.inode}"))
        bridges += b
        nat += n
        notes += msgs
    return bridges, nat, notes


def _ofctl(command: str, sock: str) -> str:
    proc = subprocess.Popen(["ovs-ofctl", command, f"unix:{sock}"], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    answer = communicate(proc, TIMEOUT_S)
    if answer is None:
        raise subprocess.SubprocessError(f"no answer in {TIMEOUT_S:.0f} s")
    if proc.returncode != 0:
        raise subprocess.SubprocessError(answer[1].strip().splitlines()[-1:] or "failed")
    return answer[0]


def _ports(show: str) -> tuple[str, ...]:
    """Port names of ``ovs-ofctl show``: `` 1(tap0): addr:…`` and ``LOCAL(br-int): …``."""
    out = []
    for line in show.splitlines():
        s = line.strip()
        if "(" in s and "): addr" in s:
            out.append(s[s.index("(") + 1:s.index("):")])
    return tuple(out)
