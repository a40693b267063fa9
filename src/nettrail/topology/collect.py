"""Read one namespace from inside it: netlink, nftables, iptables and ip6tables (both back
ends each), tc and conntrack. Runs in a worker process that has entered the namespace with
setns(2)."""

from __future__ import annotations

import os
import subprocess

from nettrail.errors import InputError
from nettrail.model.topology import Namespace, NatRule
from nettrail.topology import conntrack, iptables, netlink, nft, tc
from nettrail.topology.discover import NetnsRef
from nettrail.topology.tool import communicate

TIMEOUT_S = 10.0
CLONE_NEWNET = 0x40000000
IPTABLES_TABLES = {"nat", "filter", "mangle", "raw", "security"}


class Vanished(Exception):
    """The namespace disappeared between discovery and reading."""


def setns(fd: int) -> None:
    """Move this process into the network namespace open as ``fd`` (setns(2))."""
    if hasattr(os, "setns"):  # Python 3.12
        os.setns(fd, CLONE_NEWNET)
        return
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    if libc.setns(fd, CLONE_NEWNET) != 0:
        err = ctypes.get_errno()
        raise OSError(err, os.strerror(err))


def enter(ref: NetnsRef) -> None:
    """Move this process into ``ref``'s namespace; Vanished when it no longer exists."""
    try:
        fd = os.open(ref.path, os.O_RDONLY)
    except OSError as exc:
        raise Vanished(str(exc.strerror)) from exc
    try:
        if os.fstat(fd).st_ino != ref.inode:
            raise Vanished("replaced by another namespace")
        setns(fd)
    except OSError as exc:
        raise Vanished(str(exc)) from exc
    finally:
        os.close(fd)


def read(ref: NetnsRef) -> Namespace | str:
    """The namespace ``ref`` as seen from inside, or a note saying why it was skipped."""
    try:
        enter(ref)
    except Vanished as exc:
        return f"namespace {ref.name} vanished during the snapshot ({exc}); skipped"
    notes: list[str] = []
    nft_proc = _start(["nft", "-j", "list", "ruleset"], notes)  # runs while netlink is read
    raw = netlink.dump()
    nat, counts = _rules(ref.name, _finish(nft_proc, notes), notes)
    for dev, hook in raw.hooks:
        out = _run(["tc", "-j", "filter", "show", "dev", dev, hook], notes)
        if out is not None:
            nat += tc.parse(out, ref.name, dev, hook)
    try:
        if conntrack.count() != 0:
            nat += conntrack.nat_entries(conntrack.dump(), ref.name)
    except OSError as exc:
        notes.append(f"conntrack entries not read: {exc}")
    return Namespace(ref.name, ref.inode, tuple(raw.links), tuple(raw.addresses),
                     tuple(raw.routes), tuple(raw.rules), tuple(raw.neighbours), tuple(nat),
                     counts, tuple(notes))


# iptables and ip6tables: nft family, save tool stem, legacy tables list in /proc/self/net
_XTABLES = (("ip", "iptables", "ip_tables_names"), ("ip6", "ip6tables", "ip6_tables_names"))


def _rules(name: str, text: str | None, notes: list[str],
           ) -> tuple[list[NatRule], dict[str, int]]:
    """NAT rules and rule counts of nftables (``text``: its JSON) and of iptables and
    ip6tables, both back ends each."""
    nat: list[NatRule] = []
    counts: dict[str, int] = {}
    tables: set[tuple[str, str]] = set()
    if text is not None:
        try:
            nft_nat, n, tables = nft.parse(text, name)
        except InputError as exc:
            notes.append(str(exc))
            text = None
    skip: set[tuple[str, str]] = set()
    for family, tool, _ in _XTABLES:
        if any(f == family and t in IPTABLES_TABLES for f, t in tables):
            skip |= {(family, t) for t in _save(f"{tool}-nft", name, nat, counts, notes)}
    if text is not None:
        if skip:  # the tables iptables-nft printed are not read twice
            nft_nat, n, _ = nft.parse(text, name, skip)
        nat += nft_nat
        counts["nftables"] = n
    for _, tool, legacy in _XTABLES:
        if _legacy_tables(legacy):
            _save(f"{tool}-legacy", name, nat, counts, notes)
    return nat, counts


def _save(source: str, name: str, nat: list[NatRule], counts: dict[str, int],
          notes: list[str]) -> set[str]:
    """Read ``SOURCE-save`` (``iptables-nft-save``, ``ip6tables-legacy-save``) into ``nat``
    and ``counts``; the tables it printed."""
    save = _run([f"{source}-save"], notes)
    if save is None:
        return set()
    rules, count, seen = iptables.parse(save, name, source)
    nat += rules
    counts[source] = count
    return seen


def _legacy_tables(names: str) -> bool:
    """Whether this namespace has legacy (x_tables) tables loaded, as ``/proc/self/net/NAMES``
    (``ip_tables_names``, ``ip6_tables_names``) lists them."""
    try:
        with open(f"/proc/self/net/{names}") as f:
            return bool(f.read().strip())
    except OSError:
        return False


def _run(cmd: list[str], notes: list[str]) -> str | None:
    """A tool's stdout, or None with a note when it is absent or fails."""
    return _finish(_start(cmd, notes), notes)


def _start(cmd: list[str], notes: list[str]) -> subprocess.Popen[str] | None:
    """Start a tool in the current namespace; None with a note when it is not installed."""
    try:
        return subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    except FileNotFoundError:
        notes.append(f"{cmd[0]} not installed: its rules were not read")
    except OSError as exc:
        notes.append(f"{' '.join(cmd)}: {exc}")
    return None


def _finish(proc: subprocess.Popen[str] | None, notes: list[str]) -> str | None:
    """A started tool's stdout, or None with a note when it failed."""
    if proc is None:
        return None
    cmd = " ".join(str(a) for a in proc.args)  # type: ignore[union-attr]
    answer = communicate(proc, TIMEOUT_S)
    if answer is None:
        notes.append(f"{cmd}: no answer in {TIMEOUT_S:.0f} s")
        return None
    out, err = answer
    if proc.returncode != 0:
        last = (err.strip().splitlines() or ["failed"])[-1]
        notes.append(f"{cmd}: exit {proc.returncode}: {last}")
        return None
    return out


def read_many(refs: list[NetnsRef]) -> list[Namespace | str]:
    """``read`` for each of ``refs`` in turn (one worker's share); a namespace that fails to
    read (netlink refuses, it disappears while being read) becomes a note, not a failure."""
    out: list[Namespace | str] = []
    for r in refs:
        try:
            out.append(read(r))
        except Exception as exc:  # the worker boundary: a surprise skips one namespace
            out.append(f"namespace {r.name} could not be read ({type(exc).__name__}: {exc}); "
                       f"skipped")
    return out
