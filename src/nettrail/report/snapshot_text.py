"""The snapshot as text a person reads in one screen: findings, NAT owners, namespaces."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TextIO

from nettrail.model.finding import Finding
from nettrail.model.topology import Namespace, NatOwner, Topology

MAX_NAMESPACES = 15
MAX_FINDINGS = 3
MAX_RULES = 6
MAX_OWNERS = 20
WIDTH = 100


def render(topo: Topology, owners: dict[str, list[NatOwner]], findings: Sequence[Finding],
           out: TextIO) -> None:
    """Write the one-screen summary of a snapshot to ``out``."""
    w = out.write
    links = sum(len(ns.links) for ns in topo.namespaces)
    nat = sum(len(ns.nat) for ns in topo.namespaces)
    w(f"snapshot of {topo.host} (kernel {topo.kernel}): {len(topo.namespaces)} namespaces, "
      f"{links} links, {nat} address rewrites, {len(topo.bridges)} OVS bridges\n")
    for f in findings[:MAX_FINDINGS]:
        w(f"\n{str(f.severity).upper()} {f.kind}: {f.summary}\n")
        lines = f.details.get("rules", "").splitlines()
        for line in lines[:MAX_RULES]:
            place, where, rule = [*line.split("\t", 2), "", ""][:3]
            w(f"  {_cut(f'{place}, {where}', WIDTH - 2)}:\n      {rule}\n")
        if len(lines) > MAX_RULES:
            w(f"  … and {len(lines) - MAX_RULES} more rules\n")
    if len(findings) > MAX_FINDINGS:
        w(f"\n… and {len(findings) - MAX_FINDINGS} more findings (--format json lists them)\n")
    if not findings:
        w("\nno address has more than one NAT owner\n")
    _owners(owners, w)
    _namespaces(topo.namespaces, w)
    if topo.bridges:
        w("\nOVS bridges:\n")
        for b in topo.bridges:
            w(f"  {b.name} in {b.namespace}: {len(b.ports)} ports, {b.flows} flows\n")
    notes = [*topo.notes, *(f"{ns.name}: {n}" for ns in topo.namespaces for n in ns.notes)]
    if notes:
        w("\nnotes:\n")
        for n in notes[:8]:
            w(f"  {_cut(n, WIDTH - 2)}\n")
        if len(notes) > 8:
            w(f"  … and {len(notes) - 8} more (--format json lists them all)\n")


def _owners(owners: dict[str, list[NatOwner]], write: Callable[[str], int]) -> None:
    if not owners:
        return
    write("\nNAT owners (address: place, direction, mechanism):\n")
    for i, (addr, entries) in enumerate(owners.items()):
        if i == MAX_OWNERS:
            write(f"  … and {len(owners) - i} more addresses\n")
            break
        seen = dict.fromkeys(f"{e.place} {e.direction} ({e.rule.source} {e.rule.kind})"
                             for e in entries)
        col = f"{addr:<16}"  # an IPv6 address may be wider: the line stays within WIDTH
        write(f"  {col} {_cut('; '.join(seen), WIDTH - 3 - len(col))}\n")


def _namespaces(spaces: Sequence[Namespace], write: Callable[[str], int]) -> None:
    write("\nnamespaces:\n")
    shown = sorted(spaces, key=lambda ns: (not ns.nat, ns.name))[:MAX_NAMESPACES]
    for ns in shown:
        rules = ", ".join(f"{k} {v}" for k, v in ns.rules.items() if v) or "no rules"
        line = (f"  {ns.name}: {len(ns.links)} links, {len(ns.addresses)} addresses, "
                f"{len(ns.routes)} routes, {rules}, {len(ns.nat)} rewrites")
        write(_cut(line, WIDTH) + "\n")
    if len(spaces) > len(shown):
        write(f"  … and {len(spaces) - len(shown)} more\n")


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[:width - 1] + "…"
