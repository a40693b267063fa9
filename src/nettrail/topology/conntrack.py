"""Conntrack entries that carry NAT, read over ctnetlink in the current namespace."""

from __future__ import annotations

import os
import socket
import struct

from nettrail.model.topology import NatRule

_PROTO = {6: "tcp", 17: "udp", 1: "icmp", 132: "sctp", 58: "icmpv6"}

Tuple = tuple[str, str, int, int, int]  # src, dst, proto, sport, dport


def count() -> int | None:
    """How many conntrack entries the current namespace holds (None: conntrack not loaded)."""
    try:
        with open("/proc/sys/net/netfilter/nf_conntrack_count") as f:
            return int(f.read())
    except (OSError, ValueError):
        return None


def dump() -> list[tuple[Tuple, Tuple]]:
    """(original, reply) tuples of every conntrack entry of the current namespace, IPv4 and
    IPv6 (the request names no family: AF_UNSPEC dumps both).

    One ctnetlink dump request on a raw netlink socket. The kernel walks its whole (global)
    conntrack hash table for it, some milliseconds: callers skip it when ``count()`` is 0.
    """
    sock = socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, _NETLINK_NETFILTER)
    try:
        sock.settimeout(_TIMEOUT_S)
        sock.bind((0, 0))
        req = struct.pack("=IHHII", 20, _CT_GET, _NLM_F_REQUEST | _NLM_F_DUMP, 1, 0)
        sock.send(req + struct.pack("=BBH", socket.AF_UNSPEC, 0, 0))
        out: list[tuple[Tuple, Tuple]] = []
        while True:
            data = sock.recv(1 << 16)
            for kind, body in _messages(data):
                if kind == _NLMSG_DONE:
                    return out
                if kind == _NLMSG_ERROR:
                    code = -struct.unpack_from("=i", body)[0]
                    if code:
                        raise OSError(code, os.strerror(code))
                    return out
                attrs = _attrs(body[4:])
                if 1 in attrs and 2 in attrs:
                    out.append((_tuple(attrs[1]), _tuple(attrs[2])))
    finally:
        sock.close()


_NETLINK_NETFILTER = 12
_CT_GET = (1 << 8) | 1  # NFNL_SUBSYS_CTNETLINK, IPCTNL_MSG_CT_GET
_NLM_F_REQUEST, _NLM_F_DUMP = 0x1, 0x300
_NLMSG_ERROR, _NLMSG_DONE = 2, 3
_TIMEOUT_S = 5.0


def _messages(data: bytes) -> list[tuple[int, bytes]]:
    out = []
    off = 0
    while off + 16 <= len(data):
        length, kind = struct.unpack_from("=IH", data, off)
        if length < 16:
            break
        out.append((kind, data[off + 16:off + length]))
        off += (length + 3) & ~3
    return out


def _attrs(data: bytes) -> dict[int, bytes]:
    out = {}
    off = 0
    while off + 4 <= len(data):
        length, kind = struct.unpack_from("=HH", data, off)
        if length < 4:
            break
        out[kind & 0x3FFF] = data[off + 4:off + length]
        off += (length + 3) & ~3
    return out


def _tuple(data: bytes) -> Tuple:
    """A CTA_TUPLE_* nest: addresses (CTA_TUPLE_IP: CTA_IP_V4_SRC/DST 1 and 2, CTA_IP_V6_SRC/DST
    3 and 4) and protocol and ports (CTA_TUPLE_PROTO)."""
    t = _attrs(data)
    ip, proto = _attrs(t.get(1, b"")), _attrs(t.get(2, b""))
    return (_address(ip.get(1) or ip.get(3)), _address(ip.get(2) or ip.get(4)),
            proto.get(1, b"\0")[0],
            struct.unpack(">H", proto[2][:2])[0] if len(proto.get(2, b"")) >= 2 else 0,
            struct.unpack(">H", proto[3][:2])[0] if len(proto.get(3, b"")) >= 2 else 0)


def _address(raw: bytes | None) -> str:
    if raw is not None and len(raw) in (4, 16):
        return socket.inet_ntop(socket.AF_INET if len(raw) == 4 else socket.AF_INET6, raw)
    return "?"


def nat_entries(entries: list[tuple[Tuple, Tuple]], namespace: str) -> list[NatRule]:
    """The translations conntrack entries record: a reply not the mirror of the original."""
    out = []
    for orig, reply in entries:
        s, d, proto, sp, dp = orig
        rs, rd, _, rsp, rdp = reply
        text = (f"{_PROTO.get(proto, proto)} src={s} dst={d} sport={sp} dport={dp} "
                f"src={rs} dst={rd} sport={rsp} dport={rdp}")
        if rs != d:
            out.append(NatRule(namespace, "conntrack", "entries", "dnat", (d,), (rs,), True,
                               text))
        if rd != s:
            out.append(NatRule(namespace, "conntrack", "entries", "snat", (s,), (rd,), True,
                               text))
    return out
