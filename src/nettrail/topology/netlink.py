"""Links, addresses, routes, policy rules, neighbours and qdiscs of the current namespace.

pyroute2 behind small typed functions: ``dump()`` reads everything in one go, the others turn
its messages into model records; nothing else in nettrail touches pyroute2's messages.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any

from nettrail.model.topology import Address, Link, Neighbour, PolicyRule, Route

_NUD = {0x01: "incomplete", 0x02: "reachable", 0x04: "stale", 0x08: "delay", 0x10: "probe",
        0x20: "failed", 0x40: "noarp", 0x80: "permanent"}
_RTN = {1: "unicast", 2: "local", 3: "broadcast", 5: "multicast", 6: "blackhole",
        7: "unreachable", 8: "prohibit", 9: "throw"}
_TUNNELS = {"vxlan": ("IFLA_VXLAN_ID", "IFLA_VXLAN_GROUP", "IFLA_VXLAN_LOCAL"),
            "geneve": ("IFLA_GENEVE_ID", "IFLA_GENEVE_REMOTE", "")}


@dataclass(frozen=True, slots=True)
class Dump:
    """The raw netlink messages of one namespace, by kind."""

    links: list[Any]
    addresses: list[Any]
    routes: list[Any]
    rules: list[Any]
    neighbours: list[Any]
    qdiscs: list[Any]


_LOOP: asyncio.AbstractEventLoop | None = None


def dump() -> Dump:
    """Dump links, addresses, IPv4 routes, rules and neighbours, and qdiscs over one socket
    opened in the current namespace (one event loop per process, reused)."""
    global _LOOP
    if _LOOP is None:
        _LOOP = asyncio.new_event_loop()
    return _LOOP.run_until_complete(_dump())


async def _dump() -> Dump:
    from pyroute2 import AsyncIPRoute

    async with AsyncIPRoute() as ipr:
        async def get(method: str, **kw: Any) -> list[Any]:
            return [m async for m in await getattr(ipr, method)(**kw)]

        return Dump(await get("get_links"), await get("get_addr"),
                    await get("get_routes", family=2), await get("get_rules", family=2),
                    await get("get_neighbours", family=2), await get("get_qdiscs"))


def links(raw: list[Any]) -> list[Link]:
    """Every device of the namespace, with bridge master, veth peer and tunnel ends."""
    names = {m["index"]: m.get_attr("IFLA_IFNAME") for m in raw}
    out = []
    for m in raw:
        info = m.get_attr("IFLA_LINKINFO")
        kind = (info.get_attr("IFLA_INFO_KIND") if info else None) or _guess_kind(m)
        data = info.get_attr("IFLA_INFO_DATA") if info else None
        vni = remote = local = None
        if kind in _TUNNELS and data is not None:
            k_id, k_remote, k_local = _TUNNELS[kind]
            vni = data.get_attr(k_id)
            remote = data.get_attr(k_remote)
            local = data.get_attr(k_local) if k_local else None
        master = m.get_attr("IFLA_MASTER")
        peer = m.get_attr("IFLA_LINK") if kind == "veth" else None
        out.append(Link(
            index=m["index"], name=str(m.get_attr("IFLA_IFNAME")), kind=kind,
            mac=str(m.get_attr("IFLA_ADDRESS") or ""), mtu=int(m.get_attr("IFLA_MTU") or 0),
            up=bool(m["flags"] & 1), master=names.get(master) if master else None,
            peer_index=peer, peer_netnsid=m.get_attr("IFLA_LINK_NETNSID") if peer else None,
            vni=vni, remote=str(remote) if remote else None, local=str(local) if local else None))
    return out


def _guess_kind(m: Any) -> str:
    return "loopback" if m["index"] == 1 else "device"


def addresses(raw: list[Any], names: dict[int, str]) -> list[Address]:
    """Every IPv4 and IPv6 address with its prefix length and device."""
    return [Address(names.get(m["index"], str(m["index"])),
                    f"{m.get_attr('IFA_ADDRESS')}/{m['prefixlen']}")
            for m in raw]


def routes(raw: list[Any], names: dict[int, str]) -> list[Route]:
    """Every IPv4 route of every table (local and main included)."""
    out = []
    for m in raw:
        dst = m.get_attr("RTA_DST")
        dev = m.get_attr("RTA_OIF")
        table = m.get_attr("RTA_TABLE") or m["table"]
        out.append(Route(f"{dst}/{m['dst_len']}" if dst else "default",
                         m.get_attr("RTA_GATEWAY"), names.get(dev) if dev else None,
                         int(table), _RTN.get(m["type"], str(m["type"]))))
    return out


def policy(raw: list[Any]) -> list[PolicyRule]:
    """The IPv4 policy routing rules, by priority."""
    out = []
    for m in raw:
        src, dst = m.get_attr("FRA_SRC"), m.get_attr("FRA_DST")
        out.append(PolicyRule(
            priority=int(m.get_attr("FRA_PRIORITY") or 0),
            table=int(m.get_attr("FRA_TABLE") or m["table"]),
            src=f"{src}/{m['src_len']}" if src else None,
            dst=f"{dst}/{m['dst_len']}" if dst else None,
            iif=m.get_attr("FRA_IIFNAME"), oif=m.get_attr("FRA_OIFNAME"),
            fwmark=m.get_attr("FRA_FWMARK")))
    return sorted(out, key=lambda r: r.priority)


def neighbours(raw: list[Any], names: dict[int, str]) -> list[Neighbour]:
    """The IPv4 neighbour (ARP) table."""
    return [Neighbour(str(m.get_attr("NDA_DST")), str(m.get_attr("NDA_LLADDR") or ""),
                      names.get(m["ifindex"], str(m["ifindex"])),
                      _NUD.get(m["state"], str(m["state"])))
            for m in raw]


def filter_hooks(raw: list[Any], names: dict[int, str]) -> list[tuple[str, str]]:
    """(device, hook) pairs that can hold tc filters: ingress/clsact and classful roots."""
    hooks: list[tuple[str, str]] = []
    for m in raw:
        kind = m.get_attr("TCA_KIND")
        dev = names.get(m["index"])
        if dev is None:
            continue
        if kind in ("ingress", "clsact"):
            hooks.append((dev, "ingress"))
            if kind == "clsact":
                hooks.append((dev, "egress"))
        elif kind in ("prio", "htb", "hfsc", "cbq", "drr", "qfq", "ets") and m["parent"] == \
                0xFFFFFFFF:
            hooks.append((dev, "root"))
    return hooks
