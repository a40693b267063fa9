"""Which connection an ICMP error is about.

An ICMP error (unreachable, fragmentation needed, packet too big) quotes the packet that caused
it: its addresses and, when the quote is long enough, its ports. When the quote says so, the
error is about the flow it names (ports included when quoted). When nothing is quoted (a short
snaplen, a pasted line), it is tied by address and timing: sent to the offending packet's
source while the connection ran, or within :data:`UNQUOTED_WINDOW_NS` after it.
"""

from __future__ import annotations

from collections.abc import Iterable

from nettrail.model.flow import Endpoint
from nettrail.model.packet import ICMPHeader, PacketRecord

UNQUOTED_WINDOW_NS = 1_000_000_000
"""How long after its packet an ICMP error that quotes nothing is still tied to it."""


def about(rec: PacketRecord, at_ns: int, src: Endpoint, dst: Endpoint, start_ns: int,
          end_ns: int) -> bool:
    """True when ICMP error ``rec``, seen at ``at_ns``, is about a packet from ``src`` to
    ``dst`` sent between ``start_ns`` and ``end_ns`` (the three times in one clock)."""
    icmp = rec.l4
    if not isinstance(icmp, ICMPHeader):
        return False
    q = icmp.quoted
    if q is not None:
        return ((q.ip.src, q.ip.dst) == (src.addr, dst.addr)
                and q.sport in (None, src.port) and q.dport in (None, dst.port))
    ip = rec.ip
    return (ip is not None and ip.dst == src.addr
            and start_ns <= at_ns <= end_ns + UNQUOTED_WINDOW_NS)


def named_flows(icmp: Iterable[PacketRecord],
                ) -> tuple[set[tuple[str, int, str, int]], set[tuple[str, str]]]:
    """What ICMP errors name: the flows their quotes give with ports (source, port,
    destination, port), and for the others the offending packet's (source, destination)."""
    flows: set[tuple[str, int, str, int]] = set()
    unquoted: set[tuple[str, str]] = set()
    for r in icmp:
        q = r.l4.quoted if isinstance(r.l4, ICMPHeader) else None
        if q is not None and q.sport is not None and q.dport is not None:
            flows.add((q.ip.src, q.sport, q.ip.dst, q.dport))
        elif r.ip is not None:
            unquoted.add((r.ip.dst, r.ip.src) if q is None else (q.ip.src, q.ip.dst))
    return flows, unquoted
