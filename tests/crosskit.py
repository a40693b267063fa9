"""Hand-built multi-point captures for cross-point tests: one packet, several sightings.

A ``Net`` holds one ``Wire`` per capture point, each point with its own clock skew. ``send``
puts one packet on the wire at each hop (point, form, interface), a few microseconds apart in
true time, each stamped in its point's clock. ``text=True`` strips what tcpdump text lacks
(seq/ack, IP ID, interface names, options).
"""

from __future__ import annotations

from collections.abc import Sequence

from flowkit import MS, T0, US, Wire
from nettrail.model.packet import (
    ACK,
    FIN,
    NO_OPTIONS,
    PROTO_ICMP,
    PSH,
    RST,
    SYN,
    Headers,
    ICMPHeader,
    IPHeader,
    PacketRecord,
    QuotedHeader,
    TCPOptions,
)

C = "203.0.113.2:40000"
FIP = "203.0.113.10:22"
VM = "198.51.100.4:22"
HOP_US = 40.0

Hop = tuple[str, str, str, str | None]  # point, src, dst, ifname


class Net:
    """Capture points with skewed clocks; ``send`` records one packet at every hop."""

    def __init__(self, points: Sequence[str], skew_ms: dict[str, float] | None = None,
                 text: bool = False) -> None:
        self.wires = {p: Wire(p, f"{p}.{'txt' if text else 'pcap'}") for p in points}
        self.skew = skew_ms or {}
        self.text = text
        self.ip_id = 100

    def send(self, t_ms: float, hops: Sequence[Hop], flags: int, *, seq: int = 0,
             ack: int = 0, length: int = 0, ip_id: int | None = None,
             ts_val: int | None = None) -> None:
        """One packet at ``t_ms`` (true time) crossing ``hops`` in order."""
        if ip_id is None:
            self.ip_id += 1
            ip_id = self.ip_id
        for i, (point, src, dst, ifname) in enumerate(hops):
            w = self.wires[point]
            t = t_ms + self.skew.get(point, 0.0) + i * HOP_US / 1000
            rec = w.tcp(t, src, dst, flags,
                        seq=None if self.text else seq,
                        ack=None if self.text or not flags & ACK else ack,
                        length=length, ifname=None if self.text else ifname,
                        ip_id=None if self.text else ip_id)
            if ts_val is not None and not self.text:
                opts = NO_OPTIONS._replace(ts_val=ts_val, order=("ts",))
                tcp = rec.headers.l4._replace(options=opts)  # type: ignore[union-attr]
                w.records[-1] = rec._replace(headers=rec.headers._replace(l4=tcp))
            if self.text:
                w.records[-1] = w.records[-1]._replace(linktype=-1)

    def icmp_frag_needed(self, t_ms: float, point: str, src: str, dst: str, quoted_src: str,
                         quoted_dst: str, mtu: int) -> None:
        """An ICMP frag-needed from ``src`` to ``dst`` quoting a TCP packet, seen at ``point``."""
        w = self.wires[point]
        qs, qsp = quoted_src.rsplit(":", 1)
        qd, qdp = quoted_dst.rsplit(":", 1)
        quoted = QuotedHeader(IPHeader(4, qs, qd, 6, 63, 7, 1500, True, 0, False), int(qsp),
                              int(qdp))
        ip = IPHeader(4, src, dst, PROTO_ICMP, 64, 9, 576, False, 0, False)
        rec = PacketRecord(point, T0 + round((t_ms + self.skew.get(point, 0.0)) * MS), w.file,
                           len(w.records) + 1, None, None, 590,
                           Headers(None, ip, ICMPHeader(4, 3, 4, mtu, quoted)), linktype=1)
        w.records.append(rec)

    def points(self) -> dict[str, list[PacketRecord]]:
        """Records per point, in the order the points were given."""
        return {p: w.records for p, w in self.wires.items()}


def incident(*, healthy: bool = False, text: bool = False, skew_ms: float = 0.0,
             names: tuple[str, str, str] = ("qg-1", "qr-1", "tap1")) -> Net:
    """The two-NAT incident at points client, router and compute (the compute host holds the
    VM); ``healthy`` routes the reply back through the router. ``skew_ms`` puts the compute
    host's clock ahead."""
    qg, qr, tap = names
    net = Net(("client", "router", "compute"), {"compute": skew_ms}, text)
    req = [("client", C, FIP, "eth0"), ("router", C, FIP, qg), ("router", C, VM, qr),
           ("compute", C, VM, tap)]
    if healthy:
        rep = [("compute", VM, C, tap), ("router", VM, C, qr), ("router", FIP, C, qg),
               ("client", FIP, C, "eth0")]
    else:
        rep = [("compute", VM, C, tap), ("compute", FIP, C, "eth1"),
               ("client", FIP, C, "eth0")]
    net.send(0.0, req, SYN, seq=1000, ts_val=1)
    net.send(1.0, rep, SYN | ACK, seq=5000, ack=1001, ts_val=7)
    if not healthy:
        net.send(2.0, req[:2], ACK, seq=1001, ack=5001)
        net.send(2.5, [("router", FIP, C, qg), ("client", FIP, C, "eth0")], RST, seq=5001,
                 ip_id=0)
        return net
    net.send(2.0, req, ACK, seq=1001, ack=5001)
    net.send(2.2, req, PSH | ACK, seq=1001, ack=5001, length=20)
    net.send(3.0, rep, ACK, seq=5001, ack=1021)
    net.send(4.0, rep, PSH | ACK, seq=5001, ack=1021, length=100)
    net.send(5.0, req, ACK, seq=1021, ack=5101)
    net.send(6.0, req, FIN | ACK, seq=1021, ack=5101)
    net.send(7.0, rep, FIN | ACK, seq=5101, ack=1022)
    net.send(8.0, req, ACK, seq=1022, ack=5102)
    return net


def plain(*, text: bool = False) -> tuple[Net, list[Hop], list[Hop]]:
    """A routed path client -> router -> server without NAT; the request and reply hops."""
    net = Net(("client", "router", "server"), text=text)
    s = "198.51.100.4:80"
    req = [("client", C, s, "eth0"), ("router", C, s, "r0"), ("router", C, s, "r1"),
           ("server", C, s, "eth0")]
    rep = [("server", s, C, "eth0"), ("router", s, C, "r1"), ("router", s, C, "r0"),
           ("client", s, C, "eth0")]
    return net, req, rep


def still_capturing(net: Net, point: str, t_ms: float) -> None:
    """A packet of another connection at ``point`` only, at ``t_ms``: what shows a point was
    still capturing then (a capture file has no end marker)."""
    net.send(t_ms, [(point, "198.51.100.99:5353", "198.51.100.98:9", None)], SYN, seq=7)


def handshake(net: Net, req: list[Hop], rep: list[Hop]) -> None:
    """SYN, SYN-ACK, ACK along the given hops."""
    net.send(0.0, req, SYN, seq=1000)
    net.send(1.0, rep, SYN | ACK, seq=5000, ack=1001)
    net.send(2.0, req, ACK, seq=1001, ack=5001)


__all__ = [
    "ACK",
    "FIN",
    "FIP",
    "MS",
    "PSH",
    "RST",
    "SYN",
    "T0",
    "US",
    "VM",
    "C",
    "Net",
    "TCPOptions",
    "handshake",
    "incident",
    "plain",
    "still_capturing",
]
