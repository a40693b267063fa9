"""What the hosts of a run know of each other: which share a kernel, and whose is which namespace.

Hosts whose ``boot_id`` is the same run on one kernel (containers, network-namespace labs):
an eBPF tracer on any of them sees every namespace of that kernel, and a snapshot reads them
all. So that each namespace is reported once, a host keeps the namespace it was logged in to
(its point is named after the host), and the first host of the kernel (in command-line order)
also keeps the namespaces that are no host's login (named by themselves). Each tracer leaves
out the other hosts' SSH connections, or it would trace their streams and they its own.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from nettrail.collect.agent import ssh_ports

_NETNS = re.compile(r"^net:\[(\d+)\]$")


@dataclass(frozen=True)
class Peer:
    """One connected host: its kernel's boot id, login netns inode, SSH port pair."""

    name: str
    boot_id: str
    netns: int | None
    ssh: tuple[int, int] | None


def peer_of(name: str, info: Mapping[str, str]) -> Peer:
    """A host's :class:`Peer` from its information lines (``boot_id``, ``netns``, ``ssh``)."""
    m = _NETNS.match(info.get("netns", "").strip())
    return Peer(name, info.get("boot_id", "").strip(), int(m.group(1)) if m else None,
                ssh_ports(info.get("ssh", "")))


class Peers:
    """Every host's :class:`Peer` once connected (or None when it never was)."""

    def __init__(self, names: Sequence[str]) -> None:
        self.order = list(names)
        self._known: dict[str, Peer | None] = {}
        self._cond = threading.Condition()

    def register(self, name: str, peer: Peer | None) -> None:
        """Record ``name``'s peer (the first registration stands)."""
        with self._cond:
            self._known.setdefault(name, peer)
            self._cond.notify_all()

    def wait(self, timeout: float) -> None:
        """Until every host registered, at most ``timeout`` seconds."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while len(self._known) < len(self.order):
                left = deadline - time.monotonic()
                if left <= 0:
                    return
                self._cond.wait(left)

    def sharing(self, name: str) -> list[Peer]:
        """The hosts on the same kernel as ``name`` (itself included), in command-line order."""
        with self._cond:
            me = self._known.get(name)
            if me is None or not me.boot_id:
                return [me] if me else []
            return [p for n in self.order if (p := self._known.get(n)) is not None
                    and p.boot_id == me.boot_id]

    def others_ssh(self, name: str) -> list[tuple[int, int]]:
        """The SSH port pairs of the other hosts on ``name``'s kernel."""
        return [p.ssh for p in self.sharing(name) if p.name != name and p.ssh]

    def point_of(self, name: str, inode: int, netns: str) -> str | None:
        """The point a namespace seen from ``name`` belongs to; None: another host reports it."""
        group = self.sharing(name)
        me = next((p for p in group if p.name == name), None)
        if me is not None and inode == me.netns:
            return name
        if any(p.netns == inode for p in group if p.name != name):
            return None
        if len(group) > 1:
            return netns if group[0].name == name else None
        return f"{name}/{netns}"

    def snapshot_args(self, name: str) -> list[str]:
        """The agent's snapshot arguments that leave out what other hosts report; on a shared
        kernel, one snapshot per namespace (each is its own point's)."""
        group = self.sharing(name)
        if len(group) < 2:
            return []
        if group[0].name != name:
            return ["--own-only", "--per-netns"]
        skip = [str(p.netns) for p in group if p.name != name and p.netns is not None]
        return ["--per-netns", *(["--skip-netns", ",".join(skip)] if skip else [])]
