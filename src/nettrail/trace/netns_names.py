"""Network namespace inode -> a name people know: ``ip netns`` names, else a process in it.

Names come from the mounts under /run/netns (what ``ip netns add`` creates), the initial
namespace is ``root``, and other namespaces are named after a process living in them
(``pid:1234(sshd)``). Unknown inodes degrade to the inode number as text, with a warning.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

RUN_NETNS = Path("/run/netns")
PROC = Path("/proc")
ROOT_NAME = "root"


def _inode(path: Path) -> int | None:
    try:
        return os.stat(path).st_ino
    except OSError:
        return None


def _comm(proc: Path, pid: str) -> str:
    try:
        return (proc / pid / "comm").read_text().strip()
    except OSError:
        return "?"


def scan(run_netns: Path = RUN_NETNS, proc: Path = PROC) -> dict[int, str]:
    """Every namespace we can see, by inode."""
    names: dict[int, str] = {}
    root = _inode(proc / "1" / "ns" / "net")
    if root is not None:
        names[root] = ROOT_NAME
    try:
        entries = sorted(run_netns.iterdir())
    except OSError:
        entries = []
    for entry in entries:
        ino = _inode(entry)
        if ino is not None:
            names.setdefault(ino, entry.name)
    try:
        pids = sorted((p.name for p in proc.iterdir() if p.name.isdigit()), key=int)
    except OSError:
        pids = []
    for pid in pids:
        ino = _inode(proc / pid / "ns" / "net")
        if ino is not None and ino not in names:
            names[ino] = f"pid:{pid}({_comm(proc, pid)})"
    return names


class NetnsNames:
    """Resolves inodes to names, rescanning at most once per unknown inode."""

    def __init__(self) -> None:
        self._names = scan()
        self._missing: set[int] = set()
        self.warnings: list[str] = []

    def name(self, inode: int) -> str:
        """The namespace's name, else its inode as text (warned once)."""
        name = self._names.get(inode)
        if name is not None:
            return name
        if inode not in self._missing:
            self._names.update(scan())
            name = self._names.get(inode)
            if name is not None:
                return name
            self._missing.add(inode)
            self.warnings.append(f"netns {inode} has no name (no /run/netns entry, no process)")
        return str(inode)

    def inode(self, name_or_inode: str) -> int | None:
        """The inode of a namespace given by name or inode number, None when unknown."""
        if name_or_inode.isascii() and name_or_inode.isdigit():
            return int(name_or_inode)
        self._names.update(scan())
        for ino, name in self._names.items():
            if name == name_or_inode:
                return ino
        return _inode(RUN_NETNS / name_or_inode)


def switch_namespaces(proc: Path = PROC, daemon: str = "ovs-vswitchd") -> set[int]:
    """Inodes of the namespaces where an Open vSwitch daemon (``ovs-vswitchd``) runs."""
    found: set[int] = set()
    try:
        pids = [p.name for p in proc.iterdir() if p.name.isdigit()]
    except OSError:
        return found
    for pid in pids:
        if _comm(proc, pid) == daemon:
            ino = _inode(proc / pid / "ns" / "net")
            if ino is not None:
                found.add(ino)
    return found


class Switches:
    """Whether a namespace runs Open vSwitch; rescans at most once a second for a new inode."""

    def __init__(self, scan_fn: Callable[[], set[int]] = switch_namespaces) -> None:
        self._scan = scan_fn
        self._known: set[int] = set()
        self._seen: set[int] = set()
        self._last = -1.0

    def runs_ovs(self, inode: int) -> bool:
        """True when ``ovs-vswitchd`` runs in namespace ``inode``."""
        if inode in self._known:
            return True
        now = time.monotonic()
        if inode not in self._seen or now - self._last > 1.0:
            self._seen.add(inode)
            self._last = now
            self._known = self._scan()
        return inode in self._known
