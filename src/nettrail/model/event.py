"""Live trace events: one record per hook hit, made of optional sections.

A ``TraceEvent`` always has a time, a kind, a CPU and a network namespace; every other part
(the device, the packet, its conntrack entry, a drop reason, a reset's origin, a socket, a
kernel stack) is a section that is present only when the kernel gave it. Each section formats
itself (``text()``), so a new section touches one place per layer; the packet is printed by
``nettrail.analyze.describe.describe_packet``, the one packet line every writer uses.
"""

from __future__ import annotations

from typing import NamedTuple

from nettrail.model.flow import Endpoint
from nettrail.model.packet import Headers, IPHeader, TCPHeader, Tunnel, UDPHeader

KINDS = ("xmit", "recv", "drop", "handed", "reset", "synack-retransmit")
PROTO_NAMES = {1: "icmp", 6: "tcp", 17: "udp", 58: "icmp6"}

# enum ip_conntrack_info
CT_INFO = {0: "established", 1: "related", 2: "new", 3: "established-reply",
           4: "related-reply", 7: "untracked"}
# enum ip_conntrack_status bits
CT_STATUS = ((0, "EXPECTED"), (1, "SEEN_REPLY"), (2, "ASSURED"), (3, "CONFIRMED"),
             (4, "SRC_NAT"), (5, "DST_NAT"), (7, "SRC_NAT_DONE"), (8, "DST_NAT_DONE"),
             (9, "DYING"))
TCP_STATES = {1: "ESTABLISHED", 2: "SYN_SENT", 3: "SYN_RECV", 4: "FIN_WAIT1", 5: "FIN_WAIT2",
              6: "TIME_WAIT", 7: "CLOSE", 8: "CLOSE_WAIT", 9: "LAST_ACK", 10: "LISTEN",
              11: "CLOSING", 12: "NEW_SYN_RECV", 13: "BOUND_INACTIVE"}


class DeviceSection(NamedTuple):
    """The network device the event happened on: index and name in its namespace."""

    ifindex: int
    ifname: str

    def text(self) -> str:
        """``qg-1234`` (ifindex 5)."""
        return f"{self.ifname} (ifindex {self.ifindex})"


class PacketSection(NamedTuple):
    """The packet's first bytes and decoded headers.

    ``link`` is ``eth`` (data starts at the Ethernet header) or ``raw`` (at the IP header);
    ``wire_len`` is the whole packet's length from that header; ``inner`` the encapsulated
    headers, ``tunnel`` the encapsulation they came out of, ``vni`` the VXLAN VNI.
    """

    link: str
    data: bytes
    wire_len: int
    headers: Headers
    inner: Headers | None = None
    vni: int | None = None
    tunnel: Tunnel | None = None

    @property
    def top(self) -> Headers:
        """The headers that name the flow: the inner ones of a tunnel, else the outer ones."""
        if self.inner is not None and self.inner.ip is not None:
            return self.inner
        return self.headers


class CtTuple(NamedTuple):
    """One direction of a conntrack entry."""

    proto: int
    src: Endpoint
    dst: Endpoint

    def text(self) -> str:
        """``tcp 203.0.113.9:40000 -> 203.0.113.223:22``."""
        return f"{PROTO_NAMES.get(self.proto, str(self.proto))} {self.src} -> {self.dst}"


class ConntrackSection(NamedTuple):
    """The conntrack entry attached to the packet (``skb->_nfct``)."""

    info: str
    status: tuple[str, ...]
    original: CtTuple
    reply: CtTuple

    @property
    def dnat(self) -> tuple[Endpoint, Endpoint] | None:
        """(public, private) when the entry rewrites the original destination."""
        if self.reply.src != self.original.dst:
            return self.original.dst, self.reply.src
        return None

    @property
    def snat(self) -> tuple[Endpoint, Endpoint] | None:
        """(private, public) when the entry rewrites the original source."""
        if self.reply.dst != self.original.src:
            return self.original.src, self.reply.dst
        return None

    def text(self) -> str:
        """Original and reply tuples with state and status bits."""
        return (f"ct {self.info} [{','.join(self.status)}] orig {self.original.text()} "
                f"reply {self.reply.text()}")


class DropSection(NamedTuple):
    """Why the kernel freed the packet (``enum skb_drop_reason``).

    ``handed_to`` names who took the frame instead when the host's own stack freed it only
    because it was not addressed to it (OTHERHOST) while a packet socket bound to the device
    read it: ``Open vSwitch`` (its userspace datapath), else ``a packet socket``. Such an
    event is a hand-over, not a loss.
    """

    reason: int
    name: str
    handed_to: str | None = None

    def text(self) -> str:
        """``dropped: NO_SOCKET``, or ``handed to Open vSwitch (OTHERHOST for this stack)``."""
        if self.handed_to:
            return f"handed to {self.handed_to} ({self.name} for this host's own stack)"
        return f"dropped: {self.name}"


class ResetSection(NamedTuple):
    """A RST made by this namespace's TCP stack (``tcp_send_reset``).

    ``socket`` is False when no socket owned the packet that caused it (the stack answered
    for an address it owns); ``reason`` is ``enum sk_rst_reason`` where the kernel gives it.
    """

    reason: int
    name: str
    socket: bool
    sk_state: str | None = None

    def text(self) -> str:
        """``RST made by the TCP stack (no socket), reason NO_SOCKET``."""
        owner = f"socket in {self.sk_state}" if self.socket else "no socket"
        return f"RST made by the TCP stack ({owner}), reason {self.name}"


class SocketSection(NamedTuple):
    """The socket an event belongs to: local and remote endpoints and TCP state."""

    local: Endpoint
    remote: Endpoint
    state: str | None = None

    def text(self) -> str:
        """``socket 198.51.100.4:22 <- 203.0.113.9:40000``."""
        return f"socket {self.local} <-> {self.remote}" + (f" {self.state}" if self.state else "")


class StackSection(NamedTuple):
    """The kernel stack at the hook, innermost frame first, symbolized.

    ``missing`` says why the kernel could not record it (``bpf_get_stack``'s error, e.g.
    ``EFAULT``), with no frames: a trace asked for stacks says so rather than show nothing.
    """

    frames: tuple[str, ...]
    missing: str = ""

    def text(self) -> str:
        """Frames joined by `` <- ``, or ``stack not recorded (EFAULT)``."""
        return " <- ".join(self.frames) if not self.missing else self.lines()[0]

    def lines(self) -> tuple[str, ...]:
        """One line per frame, or the one line saying the stack was not recorded."""
        return (f"stack not recorded ({self.missing})",) if self.missing else self.frames


class TraceEvent(NamedTuple):
    """One hit of a tracer hook.

    ``time_ns`` is wall-clock ns since the epoch (monotonic time plus the session's anchor);
    ``mono_ns`` the kernel's CLOCK_MONOTONIC; ``kind`` one of ``KINDS``; ``netns`` the
    namespace name (its inode as text when unnamed) and ``netns_inode`` the inode;
    ``packet_id`` groups the events of one packet (same skb followed from its first match);
    ``followed`` is True when the event was emitted because its skb was being followed.
    """

    time_ns: int
    mono_ns: int
    kind: str
    cpu: int
    netns: str
    netns_inode: int
    packet_id: int = 0
    followed: bool = False
    device: DeviceSection | None = None
    packet: PacketSection | None = None
    conntrack: ConntrackSection | None = None
    drop: DropSection | None = None
    reset: ResetSection | None = None
    socket: SocketSection | None = None
    stack: StackSection | None = None

    @property
    def ifname(self) -> str | None:
        """The device name, when the event has a device."""
        return self.device.ifname if self.device is not None else None

    @property
    def ip(self) -> IPHeader | None:
        """The flow-naming IP header (inner for VXLAN)."""
        return self.packet.top.ip if self.packet is not None else None

    @property
    def l4(self) -> TCPHeader | UDPHeader | None:
        """The flow-naming TCP or UDP header."""
        if self.packet is None:
            return None
        l4 = self.packet.top.l4
        return l4 if isinstance(l4, TCPHeader | UDPHeader) else None

    def sections(self) -> tuple[NamedTuple, ...]:
        """The optional sections present, in a fixed order."""
        parts = (self.device, self.packet, self.conntrack, self.drop, self.reset,
                 self.socket, self.stack)
        return tuple(p for p in parts if p is not None)
