"""Veth peers across namespaces: which namespace and device holds each veth's other end.

The kernel tells each end its peer's ifindex and a netnsid local to its namespace. Two ends
that name each other's ifindex pair up; when that is ambiguous (ifindexes repeat across
namespaces), the netnsids already learnt from unambiguous pairs decide.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

from nettrail.model.topology import Link, Namespace

_End = tuple[str, Link]


def resolve(spaces: Sequence[Namespace]) -> list[Namespace]:
    """``spaces`` with every veth's ``peer`` set to ``namespace/device`` where it is known."""
    ends = [(ns.name, lk) for ns in spaces for lk in ns.links
            if lk.kind == "veth" and lk.peer_index is not None]
    by_index: dict[int, list[_End]] = {}
    for ns_name, lk in ends:
        by_index.setdefault(lk.index, []).append((ns_name, lk))
    found: dict[tuple[str, int], str] = {}
    learnt: dict[tuple[str, int], str] = {}
    pending = list(ends)
    while pending:
        left = []
        for end in pending:
            if (end[0], end[1].index) in found:
                continue
            cands = [c for c in _candidates(end, by_index, learnt)
                     if (c[0], c[1].index) not in found]
            if len(cands) == 1:
                for (ns_a, a), (ns_b, b) in ((end, cands[0]), (cands[0], end)):
                    found[(ns_a, a.index)] = f"{ns_b}/{b.name}"
                    if a.peer_netnsid is not None:
                        learnt[(ns_a, a.peer_netnsid)] = ns_b
            elif cands:
                left.append(end)
        if len(left) == len(pending):
            break
        pending = left
    return [replace(ns, links=tuple(replace(lk, peer=found.get((ns.name, lk.index)))
                                    if (ns.name, lk.index) in found else lk
                                    for lk in ns.links)) for ns in spaces]


def _candidates(end: _End, by_index: dict[int, list[_End]],
                learnt: dict[tuple[str, int], str]) -> list[_End]:
    ns_a, a = end
    assert a.peer_index is not None
    local = a.peer_netnsid is None
    out = []
    for ns_b, b in by_index.get(a.peer_index, []):
        if b.peer_index != a.index or (ns_b == ns_a) != local:
            continue
        if not local:
            want = learnt.get((ns_a, a.peer_netnsid or 0))
            back = learnt.get((ns_b, b.peer_netnsid or 0)) if b.peer_netnsid is not None else None
            if (want is not None and want != ns_b) or (back is not None and back != ns_a):
                continue
        out.append((ns_b, b))
    return out
