"""The one-line, tcpdump-like text of a packet: the evidence in findings, the live tracer's
timeline and every other writer print a packet with these functions and no other."""

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
        return tcp_line(ip.src, l4.sport, ip.dst, l4.dport, l4.flags, l4.seq, l4.ack, l4.window,
                        l4.payload_len)
    if isinstance(l4, UDPHeader):
        return udp_line(ip.src, l4.sport, ip.dst, l4.dport, l4.payload_len)
    if isinstance(l4, ICMPHeader):
        return f"{ip.src} > {ip.dst}: {_icmp(l4)}"
    return f"{ip.src} > {ip.dst}: ip-proto-{ip.proto}"


_FLAG_TEXT: dict[int, str] = {}


def tcp_line(src: str, sport: int, dst: str, dport: int, flags: int, seq: int | None,
             ack: int | None, window: int | None, payload_len: int) -> str:
    """A TCP segment from its fields, e.g. ``198.51.100.2.40000 > 203.0.113.10.22: Flags [S.],
    seq 1, ack 2, win 64240, length 0`` (the line every writer prints for one)."""
    text = _FLAG_TEXT.get(flags)
    if text is None:
        text = _FLAG_TEXT[flags] = f"Flags [{tcp_flags_text(flags)}]"
    if seq is not None and ack is not None and flags & 0x10 and window is not None:
        if payload_len:  # the bulk of segments, in one format
            return (f"{src}.{sport} > {dst}.{dport}: {text}, seq {seq}:"
                    f"{(seq + payload_len) & 0xFFFFFFFF}, ack {ack}, win {window}, "
                    f"length {payload_len}")
        return (f"{src}.{sport} > {dst}.{dport}: {text}, seq {seq}, ack {ack}, win {window}, "
                f"length {payload_len}")
    if seq is not None:
        text += f", seq {seq}:{(seq + payload_len) & 0xFFFFFFFF}" if payload_len else f", seq {seq}"
    if ack is not None and flags & 0x10:
        text += f", ack {ack}"
    if window is not None:
        text += f", win {window}"
    return f"{src}.{sport} > {dst}.{dport}: {text}, length {payload_len}"


def udp_line(src: str, sport: int, dst: str, dport: int, payload_len: int) -> str:
    """A UDP datagram from its fields: ``198.51.100.2.53 > 203.0.113.10.40000: UDP, length 40``."""
    return f"{src}.{sport} > {dst}.{dport}: UDP, length {payload_len}"


def _icmp(icmp: ICMPHeader) -> str:
    kinds = _ICMP4_NAMES if icmp.version == 4 else _ICMP6_NAMES
    what = kinds.get(icmp.type, f"type {icmp.type}")
    text = f"{icmp.name} {what}"
    if icmp.is_frag_needed:
        text += " - need to frag" if icmp.version == 4 else ""
        if icmp.mtu is not None:
            text += f" (mtu {icmp.mtu})"
    elif icmp.is_unreachable:
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
