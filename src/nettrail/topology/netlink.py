"""Links, addresses, routes, policy rules, neighbours and qdiscs of the current namespace.

One raw rtnetlink socket, six dump requests, and a decoder that reads only the attributes the
model keeps (a link message is mostly statistics and per-family settings nettrail never
uses: skipping them is most of the cost of a snapshot's netlink part).
"""

from __future__ import annotations

import os
import socket
import struct
from collections.abc import Iterator
from dataclasses import dataclass, replace

from nettrail.model.topology import Address, Link, Neighbour, PolicyRule, Route

_NUD = {0x01: "incomplete", 0x02: "reachable", 0x04: "stale", 0x08: "delay", 0x10: "probe",
        0x20: "failed", 0x40: "noarp", 0x80: "permanent"}
_RTN = {1: "unicast", 2: "local", 3: "broadcast", 5: "multicast", 6: "blackhole",
        7: "unreachable", 8: "prohibit", 9: "throw"}
_CLASSFUL = ("prio", "htb", "hfsc", "cbq", "drr", "qfq", "ets")

_NLMSG = struct.Struct("=IHHII")
_NLA = struct.Struct("=HH")
_U32 = struct.Struct("=I")
_I32 = struct.Struct("=i")
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_RCVBUF = 1 << 20
_TIMEOUT_S = 5.0

# request type, family header (packed), answer type
_GETLINK, _GETADDR, _GETROUTE, _GETNEIGH, _GETRULE, _GETQDISC = 18, 22, 26, 30, 34, 38
_IFLA_EXT_MASK, _RTEXT_FILTER_SKIP_STATS = 29, 1 << 3
# ifinfomsg, ifaddrmsg, rtmsg, ndmsg, fib_rule_hdr, tcmsg
_IFINFO = struct.Struct("=BxHiII")
_IFADDR = struct.Struct("=BBBBI")
_RTMSG = struct.Struct("=BBBBBBBBI")
_NDMSG = struct.Struct("=BxxxiHBB")
_FIBRULE = struct.Struct("=BBBBBBBBI")
_TCMSG = struct.Struct("=BxxxiIII")
# attribute numbers (linux/if_link.h, if_addr.h, rtnetlink.h, neighbour.h, fib_rules.h)
IFLA_ADDRESS, IFLA_IFNAME, IFLA_MTU, IFLA_LINK, IFLA_MASTER = 1, 3, 4, 5, 10
IFLA_LINKINFO, IFLA_LINK_NETNSID = 18, 37
IFLA_INFO_KIND, IFLA_INFO_DATA = 1, 2
_TUNNELS = {"vxlan": (1, 2, 4), "geneve": (1, 2, 0)}
"""Per tunnel kind: the attributes of its VNI, remote and local IPv4 addresses (0: none)."""


@dataclass(frozen=True, slots=True)
class Dump:
    """What one namespace's netlink dumps hold, as model records."""

    links: list[Link]
    addresses: list[Address]
    routes: list[Route]
    rules: list[PolicyRule]
    neighbours: list[Neighbour]
    hooks: list[tuple[str, str]]


def dump() -> Dump:
    """Dump links, addresses, IPv4 routes, rules and neighbours, and qdiscs over one socket
    opened in the current namespace."""
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, socket.NETLINK_ROUTE)
    try:
        sock.settimeout(_TIMEOUT_S)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _RCVBUF)
        sock.bind((0, 0))
        ext = _NLA.pack(8, _IFLA_EXT_MASK) + _U32.pack(_RTEXT_FILTER_SKIP_STATS)
        read = [_link(body) for body in _request(sock, _GETLINK,
                                                 _IFINFO.pack(0, 0, 0, 0, 0) + ext, 1)]
        names = {lk.index: lk.name for lk, _master in read}
        links = [replace(lk, master=names.get(m)) if m else lk for lk, m in read]
        return Dump(
            links,
            [_address(b, names) for b in _request(sock, _GETADDR, _IFADDR.pack(0, 0, 0, 0, 0), 2)],
            [_route(b, names) for b in _request(sock, _GETROUTE,
                                               _RTMSG.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0),
                                               3)],
            sorted((_rule(b) for b in _request(
                sock, _GETRULE, _FIBRULE.pack(socket.AF_INET, 0, 0, 0, 0, 0, 0, 0, 0), 4)),
                key=lambda r: r.priority),
            [_neighbour(b, names) for b in _request(sock, _GETNEIGH,
                                                   _NDMSG.pack(socket.AF_INET, 0, 0, 0, 0), 5)],
            [h for b in _request(sock, _GETQDISC, _TCMSG.pack(0, 0, 0, 0, 0), 6)
             for h in _hooks(b, names)])
    finally:
        sock.close()


def _request(sock: socket.socket, kind: int, header: bytes, seq: int) -> list[bytes]:
    """The message bodies answering one dump request."""
    sock.send(_NLMSG.pack(_NLMSG.size + len(header), kind, _NLM_F_REQUEST | _NLM_F_DUMP, seq,
                          0) + header)
    out: list[bytes] = []
    while True:
        data = sock.recv(_RCVBUF)
        pos = 0
        while pos + _NLMSG.size <= len(data):
            length, mtype, _flags, mseq, _pid = _NLMSG.unpack_from(data, pos)
            if length < _NLMSG.size:
                return out
            body = data[pos + _NLMSG.size:pos + length]
            pos += (length + 3) & ~3
            if mseq != seq:
                continue
            if mtype == _NLMSG_DONE:
                return out
            if mtype == _NLMSG_ERROR:
                code = -_I32.unpack_from(body)[0]
                if code:
                    raise OSError(code, f"netlink dump {kind}: {os.strerror(code)}")
                return out
            out.append(body)


def attrs(data: bytes, start: int = 0) -> dict[int, bytes]:
    """The attributes (type -> payload, first of each type) of a netlink payload."""
    out: dict[int, bytes] = {}
    pos, end = start, len(data)
    while pos + 4 <= end:
        length, kind = _NLA.unpack_from(data, pos)
        if length < 4:
            break
        out.setdefault(kind & 0x3FFF, data[pos + 4:pos + length])
        pos += (length + 3) & ~3
    return out


def _str(raw: bytes | None) -> str | None:
    return None if raw is None else raw.split(b"\0", 1)[0].decode(errors="replace")


def _u32(raw: bytes | None) -> int | None:
    return None if raw is None or len(raw) < 4 else int(_U32.unpack_from(raw)[0])


def _ip(raw: bytes | None) -> str | None:
    if raw is None:
        return None
    if len(raw) == 4:
        return socket.inet_ntop(socket.AF_INET, raw)
    if len(raw) == 16:
        return socket.inet_ntop(socket.AF_INET6, raw)
    return None


def _mac(raw: bytes | None) -> str:
    return ":".join(f"{b:02x}" for b in raw) if raw else ""


def _link(body: bytes) -> tuple[Link, int | None]:
    """A link (its master not yet named) and its master's index."""
    _family, _type, index, flags, _change = _IFINFO.unpack_from(body)
    a = attrs(body, _IFINFO.size)
    info = attrs(a[IFLA_LINKINFO]) if IFLA_LINKINFO in a else {}
    kind = _str(info.get(IFLA_INFO_KIND)) or ("loopback" if index == 1 else "device")
    vni = remote = local = None
    if kind in _TUNNELS and IFLA_INFO_DATA in info:
        data = attrs(info[IFLA_INFO_DATA])
        k_id, k_remote, k_local = _TUNNELS[kind]
        vni = _u32(data.get(k_id))
        remote = _ip(data.get(k_remote))
        local = _ip(data.get(k_local)) if k_local else None
    peer = _u32(a.get(IFLA_LINK)) if kind == "veth" else None
    netnsid = a.get(IFLA_LINK_NETNSID) if peer else None
    return Link(
        index=index, name=_str(a.get(IFLA_IFNAME)) or str(index), kind=kind,
        mac=_mac(a.get(IFLA_ADDRESS)), mtu=_u32(a.get(IFLA_MTU)) or 0, up=bool(flags & 1),
        master=None, peer_index=peer,
        peer_netnsid=_I32.unpack_from(netnsid)[0] if netnsid else None,
        vni=vni, remote=remote or None, local=local or None), _u32(a.get(IFLA_MASTER))


def _address(body: bytes, names: dict[int, str]) -> Address:
    _family, prefixlen, _flags, _scope, index = _IFADDR.unpack_from(body)
    a = attrs(body, _IFADDR.size)
    return Address(names.get(index, str(index)), f"{_ip(a.get(1))}/{prefixlen}")


def _route(body: bytes, names: dict[int, str]) -> Route:
    _f, dst_len, _s, _tos, table, _proto, _scope, rtype, _flags = _RTMSG.unpack_from(body)
    a = attrs(body, _RTMSG.size)
    dst, dev = _ip(a.get(1)), _u32(a.get(4))
    return Route(f"{dst}/{dst_len}" if dst else "default", _ip(a.get(5)),
                 names.get(dev) if dev else None, _u32(a.get(15)) or table,
                 _RTN.get(rtype, str(rtype)))


def _rule(body: bytes) -> PolicyRule:
    _f, dst_len, src_len, _tos, table, _r1, _r2, _action, _flags = _FIBRULE.unpack_from(body)
    a = attrs(body, _FIBRULE.size)
    src, dst = _ip(a.get(2)), _ip(a.get(1))
    return PolicyRule(
        priority=_u32(a.get(6)) or 0, table=_u32(a.get(15)) or table,
        src=f"{src}/{src_len}" if src else None, dst=f"{dst}/{dst_len}" if dst else None,
        iif=_str(a.get(3)), oif=_str(a.get(17)), fwmark=_u32(a.get(10)))


def _neighbour(body: bytes, names: dict[int, str]) -> Neighbour:
    _family, index, state, _flags, _type = _NDMSG.unpack_from(body)
    a = attrs(body, _NDMSG.size)
    return Neighbour(str(_ip(a.get(1))), _mac(a.get(2)), names.get(index, str(index)),
                     _NUD.get(state, str(state)))


def _hooks(body: bytes, names: dict[int, str]) -> Iterator[tuple[str, str]]:
    """(device, hook) pairs that can hold tc filters: ingress/clsact and classful roots."""
    _family, index, _handle, parent, _info = _TCMSG.unpack_from(body)
    kind = _str(attrs(body, _TCMSG.size).get(1))
    dev = names.get(index)
    if dev is None:
        return
    if kind in ("ingress", "clsact"):
        yield dev, "ingress"
        if kind == "clsact":
            yield dev, "egress"
    elif kind in _CLASSFUL and parent == 0xFFFFFFFF:
        yield dev, "root"
