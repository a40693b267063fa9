"""A host's topology and NAT rules, read from the kernel and the tools that own them.

``snapshot()`` is the library entry point (``nettrail snapshot``, ``nettrail lab run`` and
remote collection call it): it needs root, enters every namespace in worker processes and
returns a pure :class:`~nettrail.model.topology.Topology`.
"""

from __future__ import annotations

import multiprocessing
import os
import socket
import time
from collections.abc import Sequence
from dataclasses import replace

from nettrail.errors import CapabilityError
from nettrail.model.topology import Namespace, NatRule, OvsBridge, Topology
from nettrail.topology import collect, ovs, peers
from nettrail.topology.discover import NetnsRef, namespaces

__all__ = ["NetnsRef", "namespaces", "snapshot", "snapshot_refs"]


def snapshot(only: Sequence[str] = ()) -> Topology:
    """This host's topology: every network namespace (or those named in ``only``)."""
    if os.geteuid() != 0:
        raise CapabilityError("nettrail snapshot needs root (it enters every network "
                              "namespace and reads netfilter rules)")
    return snapshot_refs(namespaces(only), with_ovs=True)


def snapshot_refs(refs: Sequence[NetnsRef], with_ovs: bool = True,
                  workers: int | None = None) -> Topology:
    """The topology of the namespaces ``refs``, read in parallel worker processes."""
    # one more worker than cores: each waits on nft and iptables-save part of the time
    results = _read(list(refs), workers or (os.cpu_count() or 1) + 1)
    spaces = [r for r in results if isinstance(r, Namespace)]
    notes = [r for r in results if isinstance(r, str)]
    bridges: tuple[OvsBridge, ...] = ()
    if with_ovs:
        names = {r.inode: r.name for r in refs}
        found, nat, msgs = ovs.read_all(names)
        bridges = tuple(b for b in found if b.namespace in names.values())
        spaces = [_with_ports(_with_flows(ns, [n for n in nat if n.namespace == ns.name]),
                              bridges) for ns in spaces]
        notes += msgs
    return Topology(socket.gethostname(), os.uname().release, time.time(),
                    tuple(peers.resolve(spaces)), bridges, tuple(notes))


def _with_flows(ns: Namespace, flows: list[NatRule]) -> Namespace:
    return replace(ns, nat=ns.nat + tuple(flows)) if flows else ns


def _with_ports(ns: Namespace, bridges: Sequence[OvsBridge]) -> Namespace:
    """``ns`` with each device that is a port of one of its Open vSwitch bridges mastered by
    that bridge (the userspace datapath sets no kernel master; the kernel one sets
    ``ovs-system``, which is replaced by the bridge)."""
    port_of = {p: b.name for b in bridges if b.namespace == ns.name for p in b.ports
               if p != b.name}
    if not port_of:
        return ns
    links = tuple(replace(lk, master=port_of[lk.name])
                  if lk.name in port_of and lk.master in (None, "ovs-system") else lk
                  for lk in ns.links)
    return replace(ns, links=links)


def _read(refs: list[NetnsRef], workers: int) -> list[Namespace | str]:
    """Read every namespace in forked workers (each enters namespaces with setns)."""
    if not refs:
        return []
    workers = max(1, min(workers, len(refs)))
    shares = [refs[i::workers] for i in range(workers)]
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(workers) as pool:
        parts = pool.map(collect.read_many, shares)
    order = {r.inode: i for i, r in enumerate(refs)}
    flat = [x for part in parts for x in part]
    return sorted(flat, key=lambda x: order.get(x.inode, 0) if isinstance(x, Namespace) else -1)
