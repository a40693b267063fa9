"""Every network namespace of this host: named ones under /run/netns, those only a process
holds (``/proc/PID/ns/net``), and the host's own; deduplicated by inode."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass

from nettrail.errors import InputError

NETNS_DIR = "/run/netns"
# init_net: pid 1's namespace, or kthreadd's where pid 1 is hidden from us.
ROOT_NS = ("/proc/1/ns/net", "/proc/2/ns/net")


@dataclass(frozen=True, slots=True)
class NetnsRef:
    """A namespace to enter: its display name, kernel inode, and a path that opens it."""

    name: str
    inode: int
    path: str


def namespaces(only: Sequence[str] = ()) -> list[NetnsRef]:
    """The namespaces of this host (root first, then named, then process-held), or only those
    named in ``only`` (an unknown name is an input error)."""
    refs: dict[int, NetnsRef] = {}
    for path in ROOT_NS:
        if _add(refs, "root", path):
            break
    try:
        names = sorted(os.listdir(NETNS_DIR))
    except OSError:
        names = []
    for name in names:
        _add(refs, name, os.path.join(NETNS_DIR, name))
    for pid in _pids():
        path = f"/proc/{pid}/ns/net"
        try:
            inode = os.stat(path).st_ino
        except OSError:
            continue
        if inode not in refs:
            refs[inode] = NetnsRef(f"pid:{pid}({_comm(pid)})", inode, path)
    found = list(refs.values())
    if not only:
        return found
    by_name = {r.name: r for r in found}
    by_name.update({r.name.split("(")[0]: r for r in found if r.name.startswith("pid:")})
    missing = [n for n in only if n not in by_name]
    if missing:
        raise InputError(f"--netns: no such network namespace: {', '.join(missing)}")
    return [by_name[n] for n in dict.fromkeys(only)]


def _add(refs: dict[int, NetnsRef], name: str, path: str) -> bool:
    try:
        inode = os.stat(path).st_ino
    except OSError:
        return False
    refs.setdefault(inode, NetnsRef(name, inode, path))
    return True


def _pids() -> list[int]:
    return sorted(int(p) for p in os.listdir("/proc") if p.isdigit())


def _comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as f:
            return f.read().strip()
    except OSError:
        return "?"
