"""A scenario turned into the ordered commands that build it, each with the one that undoes it.

Pure: this module only computes argv lists. Every command targets a lab namespace
(``ip -n NS …`` or ``ip netns exec NS …``); the builder checks that again before running it.
Objects inside a namespace (addresses, routes, rules) have no undo of their own when deleting
the namespace removes them; links, bridges, tables and the namespace itself do.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path
from typing import NamedTuple

from nettrail.lab import ovs, state
from nettrail.lab.scenario import Bridge, End, Host, Link, Scenario, Vxlan

Argv = tuple[str, ...]


class Step(NamedTuple):
    """One build step: what it does in words, the command, and the command undoing it."""

    what: str
    argv: Argv
    undo: Argv | None = None


_BASE_SYSCTLS = (
    ("net.ipv6.conf.all.disable_ipv6", "1"),
    ("net.ipv6.conf.default.disable_ipv6", "1"),
)
"""Set in every lab namespace first: IPv6 off keeps captures free of ND/MLD noise."""

_NFT_TABLE = re.compile(r"^\s*table\s+(\w+)\s+([\w-]+)", re.MULTILINE)


def ip(ns: str, *args: str) -> Argv:
    """``ip -n NS args…``."""
    return ("ip", "-n", ns, *args)


def in_ns(ns: str, *argv: str) -> Argv:
    """``argv`` run inside namespace ``ns``."""
    return ("ip", "netns", "exec", ns, *argv)


def plan(s: Scenario) -> list[Step]:
    """Every step that builds scenario ``s``, in order (OVS daemons start between the two)."""
    return namespace_steps(s) + network_steps(s)


def namespace_steps(s: Scenario) -> list[Step]:
    """The namespaces of scenario ``s``: created, lo up, IPv6 off, sysctls."""
    steps: list[Step] = []
    for host in s.hosts:
        steps += _namespace(host)
    return steps


def network_steps(s: Scenario) -> list[Step]:
    """Everything inside the namespaces; OVS hosts need their daemons running first."""
    state_dir = state.state_dir(s.name)
    steps: list[Step] = []
    for bridge in s.bridges:
        steps += _bridge(s.host(bridge.host).netns, bridge)
    steps += [Step(*o) for o in ovs.bridge_steps(s, state_dir)]
    for link in s.links:
        steps += _link(s, link, state_dir)
    for vx in s.vxlans:
        steps += _vxlan(s.host(vx.host).netns, vx)
    if not s.offloads:
        steps += _offloads_off(s)
    if s.switches:
        steps += [Step(*o) for o in ovs.checksum_steps(s)]
        steps += [Step(*o) for o in ovs.port_steps(s, state_dir)]
    for host in s.hosts:
        steps += _routes_and_rules(host)
    return steps


def _sysctl(ns: str, key: str, value: str) -> Step:
    return Step(f"{ns}: sysctl {key}={value}", in_ns(ns, "sysctl", "-qw", f"{key}={value}"))


def _namespace(host: Host) -> list[Step]:
    ns = host.netns
    steps = [
        Step(f"create namespace {ns}", ("ip", "netns", "add", ns), ("ip", "netns", "del", ns)),
        Step(f"{ns}: lo up", ip(ns, "link", "set", "lo", "up")),
    ]
    steps += [_sysctl(ns, k, v) for k, v in _BASE_SYSCTLS]
    steps += [_sysctl(ns, k, v) for k, v in host.sysctls]
    return steps


def _up_steps(ns: str, dev: str, mtu: int | None, addrs: tuple[str, ...],
              master: str | None = None, mac: str | None = None) -> list[Step]:
    steps = []
    if mac:
        steps.append(Step(f"{ns}: {dev} mac {mac}", ip(ns, "link", "set", dev, "address", mac)))
    if mtu:
        steps.append(Step(f"{ns}: {dev} mtu {mtu}", ip(ns, "link", "set", dev, "mtu", str(mtu))))
    if master:
        steps.append(Step(f"{ns}: {dev} into {master}",
                          ip(ns, "link", "set", dev, "master", master)))
    for addr in addrs:
        steps.append(Step(f"{ns}: {dev} address {addr}", ip(ns, "addr", "add", addr, "dev", dev)))
    steps.append(Step(f"{ns}: {dev} up", ip(ns, "link", "set", dev, "up")))
    return steps


def _bridge(ns: str, b: Bridge) -> list[Step]:
    create = Step(f"{ns}: bridge {b.name}",
                  ip(ns, "link", "add", "name", b.name, "type", "bridge", "stp_state", "0",
                     "forward_delay", "0"),
                  ip(ns, "link", "del", b.name))
    return [create, *_up_steps(ns, b.name, b.mtu, b.addrs)]


def _end_steps(s: Scenario, end: End, state_dir: Path) -> list[Step]:
    ns = s.host(end.host).netns
    if end.master and ovs.is_ovs_bridge(s, end.host, end.master):
        steps = _up_steps(ns, end.dev, end.mtu, end.addrs, None, end.mac)
        return [*steps, Step(*ovs.add_port_step(s, state_dir, end.host, end.master, end.dev))]
    return _up_steps(ns, end.dev, end.mtu, end.addrs, end.master, end.mac)


def _link(s: Scenario, link: Link, state_dir: Path) -> list[Step]:
    ns_a, ns_b = s.host(link.a.host).netns, s.host(link.b.host).netns
    create = Step(
        f"veth {link.name}: {ns_a}/{link.a.dev} <-> {ns_b}/{link.b.dev}",
        ip(ns_a, "link", "add", "name", link.a.dev, "type", "veth", "peer", "name", link.b.dev,
           "netns", ns_b),
        ip(ns_a, "link", "del", link.a.dev),
    )
    return [create, *_end_steps(s, link.a, state_dir), *_end_steps(s, link.b, state_dir)]


def _vxlan(ns: str, vx: Vxlan) -> list[Step]:
    create = Step(
        f"{ns}: vxlan {vx.name} vni {vx.vni} to {vx.remote}",
        ip(ns, "link", "add", "name", vx.name, "type", "vxlan", "id", str(vx.vni),
           "local", vx.local, "remote", vx.remote, "dstport", str(vx.port), "dev", vx.dev),
        ip(ns, "link", "del", vx.name),
    )
    return [create, *_up_steps(ns, vx.name, vx.mtu, (), vx.master)]


def _offloads_off(s: Scenario) -> list[Step]:
    steps = []
    for link in s.links:
        for end in (link.a, link.b):
            ns = s.host(end.host).netns
            steps.append(Step(f"{ns}: {end.dev} offloads off",
                              in_ns(ns, "ethtool", "-K", end.dev, "tso", "off", "gso", "off",
                                    "gro", "off")))
    return steps


def _routes_and_rules(host: Host) -> list[Step]:
    ns = host.netns
    steps = [Step(f"{ns}: route {r}", ip(ns, "route", "add", *r.split())) for r in host.routes]
    for rule in host.iptables:
        args = tuple(shlex.split(rule))
        steps.append(Step(f"{ns}: iptables {rule}", in_ns(ns, "iptables", *args),
                          _iptables_undo(ns, args)))
    if host.nft.strip():
        steps.append(Step(f"{ns}: nft ruleset", in_ns(ns, "nft", host.nft),
                          *_nft_undo(ns, host.nft)))
    return steps


def _iptables_undo(ns: str, args: Argv) -> Argv | None:
    """``-A``/``-I CHAIN`` rules undo as ``-D`` with the same match; other verbs have none."""
    out = list(args)
    for i, arg in enumerate(out):
        if arg in ("-A", "--append", "-I", "--insert"):
            out[i] = "-D"
            if arg in ("-I", "--insert") and i + 2 < len(out) and out[i + 2].isdigit():
                del out[i + 2]
            return in_ns(ns, "iptables", *out)
    return None


def _nft_undo(ns: str, ruleset: str) -> list[Argv]:
    """Deleting the first table the ruleset declares; the namespace takes the rest with it."""
    match = _NFT_TABLE.search(ruleset)
    if match is None:
        return []
    return [in_ns(ns, "nft", "delete", "table", match.group(1), match.group(2))]
