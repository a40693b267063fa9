"""Conntrack entries that carry NAT, read over netlink in the current namespace."""

from __future__ import annotations

from typing import Any

from nettrail.model.topology import NatRule

_PROTO = {6: "tcp", 17: "udp", 1: "icmp", 132: "sctp"}

Tuple = tuple[str, str, int, int, int]  # src, dst, proto, sport, dport


def dump() -> list[tuple[Tuple, Tuple]]:
    """(original, reply) tuples of every IPv4 conntrack entry of the current namespace."""
    from pyroute2 import NFCTSocket

    sock = NFCTSocket()
    try:
        return [(_tuple(m.get_attr("CTA_TUPLE_ORIG")), _tuple(m.get_attr("CTA_TUPLE_REPLY")))
                for m in sock.dump() if m.get_attr("CTA_TUPLE_ORIG") is not None]
    finally:
        sock.close()


def _tuple(t: Any) -> Tuple:
    ip = t.get_attr("CTA_TUPLE_IP")
    proto = t.get_attr("CTA_TUPLE_PROTO")
    return (str(ip.get_attr("CTA_IP_V4_SRC")), str(ip.get_attr("CTA_IP_V4_DST")),
            int(proto.get_attr("CTA_PROTO_NUM") or 0),
            int(proto.get_attr("CTA_PROTO_SRC_PORT") or 0),
            int(proto.get_attr("CTA_PROTO_DST_PORT") or 0))


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
