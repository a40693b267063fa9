"""One-line, tcpdump-like text of a packet record, used as evidence in findings."""

from __future__ import annotations

from nettrail.model.packet import (
    ARPHeader,
    Headers,
    ICMPHeader,
    PacketRecord,
    TCPHeader,
    Tunnel,
    UDPHeader,
    tcp_flags_text,
)

_ICMP4_NAMES = {0: "echo reply", 3: "unreachable", 8: "echo request", 11: "time exceeded"}
_ICMP6_NAMES = {1: "unreachable", 2: "packet too big", 3: "time exceeded", 128: "echo request",
                129: "echo reply", 135: "neighbor solicitation", 136: "neighbor advertisement"}

_TUNNEL_NAMES = {"geneve": ("Geneve", "vni"), "gre": ("GRE", "key"), "mpls": ("MPLS", "label"),
                 "erspan": ("ERSPAN", "session"), "pptp": ("PPTP GRE", "call"),
                 "ipip": ("IP-in-IP", "id"), "ip6ip": ("IPv6-in-IPv4", "id"),
                 "ipip6": ("IPv4-in-IPv6", "id"), "ip6ip6": ("IPv6-in-IPv6", "id")}


def describe(record: PacketRecord) -> str:
    """The packet as ``tcpdump -n`` would summarise it, e.g.
    ``198.51.100.2.40000 > 203.0.113.10.22: Flags [S], seq 1, length 0``."""
    return describe_packet(record.headers, record.inner, record.vni, record.tunnel)


def describe_packet(headers: Headers, inner: Headers | None = None, vni: int | None = None,
                    tunnel: Tunnel | None = None) -> str:
    """Outer headers, then the tunnel (``: VXLAN vni N: ``, ``: Geneve vni N: ``...) and the
    inner ones; the evidence's packet text and the live tracer's."""
    text = describe_headers(headers)
    if inner is not None:
        if tunnel is None or tunnel.kind == "vxlan":
            label = "VXLAN" + ("" if vni is None else f" vni {vni}")
        else:
            kind = tunnel.kind.rsplit("/", 1)[-1]
            name, id_name = _TUNNEL_NAMES.get(kind, (kind.upper(), "id"))
            label = name if tunnel.id is None else f"{name} {id_name} {tunnel.id}"
        text = f"{text}: {label}: {describe_headers(inner)}"
    return text


def describe_headers(h: Headers) -> str:
    """One stack of headers as a tcpdump-like summary (no interface, no time)."""
    if h.arp is not None:
        return _arp(h.arp)
    ip = h.ip
    if ip is None:
        eth = h.eth
        return f"ethertype 0x{eth.ethertype:04x}" if eth is not None else "unknown packet"
    l4 = h.l4
    if isinstance(l4, TCPHeader):
        return f"{_ep(ip.src, l4.sport)} > {_ep(ip.dst, l4.dport)}: {_tcp(l4)}"
    if isinstance(l4, UDPHeader):
        return f"{_ep(ip.src, l4.sport)} > {_ep(ip.dst, l4.dport)}: UDP, length {l4.payload_len}"
    if isinstance(l4, ICMPHeader):
        return f"{ip.src} > {ip.dst}: {_icmp(l4)}"
    return f"{ip.src} > {ip.dst}: ip-proto-{ip.proto}"


def _ep(addr: str, port: int) -> str:
    return f"{addr}.{port}"


def _tcp(t: TCPHeader) -> str:
    parts = [f"Flags [{tcp_flags_text(t.flags)}]"]
    if t.seq is not None:
        if t.payload_len:
            parts.append(f"seq {t.seq}:{(t.seq + t.payload_len) & 0xFFFFFFFF}")
        else:
            parts.append(f"seq {t.seq}")
    if t.ack is not None and t.flags & 0x10:
        parts.append(f"ack {t.ack}")
    if t.window is not None:
        parts.append(f"win {t.window}")
    parts.append(f"length {t.payload_len}")
    return ", ".join(parts)


def _icmp(icmp: ICMPHeader) -> str:
    name = "ICMP" if icmp.version == 4 else "ICMP6"
    kinds = _ICMP4_NAMES if icmp.version == 4 else _ICMP6_NAMES
    what = kinds.get(icmp.type, f"type {icmp.type}")
    text = f"{name} {what}"
    if icmp.is_frag_needed:
        text += " - need to frag" if icmp.version == 4 else ""
        if icmp.mtu is not None:
            text += f" (mtu {icmp.mtu})"
    elif (icmp.type == 3 and icmp.version == 4) or (icmp.type == 1 and icmp.version == 6):
        text += f" code {icmp.code}"
    q = icmp.quoted
    if q is not None:
        sport = "" if q.sport is None else f".{q.sport}"
        dport = "" if q.dport is None else f".{q.dport}"
        text += f" for {q.ip.src}{sport} > {q.ip.dst}{dport}"
    return text


def _arp(arp: ARPHeader) -> str:
    if arp.op == 1:
        return f"ARP, Request who-has {arp.target_ip} tell {arp.sender_ip}"
    if arp.op == 2:
        return f"ARP, Reply {arp.sender_ip} is-at {arp.sender_mac}"
    return f"ARP, op {arp.op}"
