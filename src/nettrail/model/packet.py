"""Packets as seen at one capture point: small immutable records, cheap to build.

Records are ``NamedTuple`` s rather than dataclasses: a capture of a million packets builds
millions of them, and tuple construction is several times cheaper. They are still typed and
immutable. Fields a source does not know (tcpdump text has no IP ID, often no seq) are ``None``.
"""

from __future__ import annotations

from typing import NamedTuple

# TCP flag bits, as in the TCP header.
FIN = 0x01
SYN = 0x02
RST = 0x04
PSH = 0x08
ACK = 0x10
URG = 0x20
ECE = 0x40
CWR = 0x80
AE = 0x100  # accurate ECN (formerly NS), the low bit of the data offset byte

PROTO_ICMP = 1
PROTO_TCP = 6
PROTO_UDP = 17
PROTO_ICMPV6 = 58

_FLAG_LETTERS = ((SYN, "S"), (FIN, "F"), (RST, "R"), (PSH, "P"), (URG, "U"), (ECE, "E"), (CWR, "W"))


def tcp_flags_text(flags: int) -> str:
    """TCP flags written as tcpdump writes them: ``S``, ``S.``, ``R.``, ``P.``, ``.``."""
    text = "".join(letter for bit, letter in _FLAG_LETTERS if flags & bit)
    if flags & ACK:
        text += "."
    return text or "none"


def tcp_flags_parse(text: str) -> int:
    """The flag bits of a tcpdump flag string such as ``S.`` or ``R``; ``none`` is 0."""
    bits = 0
    if text == "none":
        return 0
    for ch in text:
        if ch == ".":
            bits |= ACK
            continue
        for bit, letter in _FLAG_LETTERS:
            if letter == ch:
                bits |= bit
                break
        else:
            raise ValueError(f"unknown TCP flag {ch!r}")
    return bits


class EthHeader(NamedTuple):
    """Link-layer header: MAC addresses (``aa:bb:..``), VLAN tags outermost first, ethertype."""

    src: str | None
    dst: str | None
    vlans: tuple[int, ...]
    ethertype: int


class IPHeader(NamedTuple):
    """IPv4 or IPv6 header fields nettrail uses; ``ip_id`` is None for IPv6 and text input;
    ``tos`` is the IPv4 type-of-service byte (DSCP and ECN) or the IPv6 traffic class, None
    when the input does not say (text without ``-v``)."""

    version: int
    src: str
    dst: str
    proto: int
    ttl: int | None
    ip_id: int | None
    length: int | None
    df: bool
    frag_offset: int
    more_fragments: bool
    tos: int | None = None


class TCPOptions(NamedTuple):
    """Decoded TCP options; ``order`` lists option names as they appear (``mss``, ``nop``...)."""

    mss: int | None
    wscale: int | None
    sack_ok: bool
    sack: tuple[tuple[int, int], ...]
    ts_val: int | None
    ts_ecr: int | None
    order: tuple[str, ...]


NO_OPTIONS = TCPOptions(None, None, False, (), None, None, ())
_OPT_SIZES = {"mss": 4, "wscale": 3, "sackOK": 2, "TS": 10, "nop": 1, "eol": 1}


def tcp_header_len(options: TCPOptions) -> int:
    """TCP header length with these options (padded to 4 bytes), as an estimate where only
    their names and values are known (tcpdump text)."""
    size = 0
    for name in options.order:
        size += _OPT_SIZES.get(name, 2 + 8 * len(options.sack) if name == "sack" else 4)
    return 20 + (size + 3) // 4 * 4


class TCPHeader(NamedTuple):
    """TCP header: ports, flag bits, seq/ack (None when unknown), window, payload length.

    ``seq_relative`` is True when seq/ack came from tcpdump text printed without ``-S``
    (relative numbers), so they cannot be compared with absolute ones.
    """

    sport: int
    dport: int
    flags: int
    seq: int | None
    ack: int | None
    window: int | None
    payload_len: int
    options: TCPOptions
    seq_relative: bool = False


class UDPHeader(NamedTuple):
    """UDP ports and payload length."""

    sport: int
    dport: int
    payload_len: int


class QuotedHeader(NamedTuple):
    """The offending packet an ICMP error quotes: its IP header and ports when present."""

    ip: IPHeader
    sport: int | None
    dport: int | None


class ICMPHeader(NamedTuple):
    """ICMP or ICMPv6: type and code, the next-hop MTU for frag-needed/packet-too-big,
    and the quoted inner header of error messages."""

    version: int
    type: int
    code: int
    mtu: int | None
    quoted: QuotedHeader | None
    ident: int | None = None
    sequence: int | None = None

    @property
    def is_frag_needed(self) -> bool:
        """ICMPv4 dest-unreachable/frag-needed or ICMPv6 packet-too-big."""
        if self.version == 4:
            return self.type == 3 and self.code == 4
        return self.type == 2

    @property
    def name(self) -> str:
        """``ICMP`` or ``ICMP6``, as tcpdump names them."""
        return "ICMP" if self.version == 4 else "ICMP6"

    @property
    def is_unreachable(self) -> bool:
        """A destination unreachable: ICMPv4 type 3, ICMPv6 type 1 (ICMPv6's type 3 is time
        exceeded)."""
        return self.type == (3 if self.version == 4 else 1)


class ARPHeader(NamedTuple):
    """An ARP request (op 1) or reply (op 2)."""

    op: int
    sender_mac: str
    sender_ip: str
    target_mac: str
    target_ip: str


L4 = TCPHeader | UDPHeader | ICMPHeader


class Headers(NamedTuple):
    """One stack of decoded headers: link, network, transport (each None when absent)."""

    eth: EthHeader | None
    ip: IPHeader | None
    l4: L4 | None
    arp: ARPHeader | None = None
    payload_hash: int | None = None


class Tunnel(NamedTuple):
    """The encapsulation an inner packet came out of: ``kind`` and its identifier, if any.

    ``kind`` is ``vxlan``, ``geneve``, ``gre``, ``erspan``, ``mpls``, ``ipip`` (IPv4 in IPv4),
    ``ip6ip`` (IPv6 in IPv4), ``ipip6`` (IPv4 in IPv6), ``ip6ip6`` or ``pptp``; nested
    encapsulations are joined outermost first (``gre/mpls``). ``id`` is the innermost one's:
    the VNI (VXLAN, Geneve), the GRE key, the ERSPAN session ID, the top MPLS label, the PPTP
    call ID; None when it has none.
    """

    kind: str
    id: int | None


class PacketRecord(NamedTuple):
    """One packet as seen at one capture point, with where it came from for evidence.

    ``point`` is the capture point name (``host1``); ``ts_ns`` the capture timestamp in ns since
    the epoch in that point's own clock; ``file`` and ``frame`` locate the record (frame number
    for binary captures, line number for text, both 1-based); ``ifname`` and ``direction``
    (``in``/``out``) are set when the capture knows them; ``wire_len`` is the length on the
    wire; ``headers`` the outer headers; ``inner`` the encapsulated (innermost) headers of a
    tunnelled packet, ``tunnel`` which encapsulation it was and its id, ``vni`` the VXLAN
    network identifier (VXLAN only, as before ``tunnel``); ``data`` the captured bytes (None
    for text input); ``linktype`` the pcap link type (-1 for text); ``netns`` the namespace
    when known (live tracing); ``comment`` the packet's own comment in the capture (a pcapng
    ``opt_comment``), if any; ``time_ok`` is False when the source gave no usable time for this
    packet (a text line with no timestamp, one mangled in pasting, a pcap time fraction of a
    second or more): ``ts_ns`` then only keeps the record's place in order and must
    not be used for clock estimates or timing.
    """

    point: str
    ts_ns: int
    file: str
    frame: int
    ifname: str | None
    direction: str | None
    wire_len: int
    headers: Headers
    inner: Headers | None = None
    vni: int | None = None
    data: bytes | None = None
    linktype: int = -1
    netns: str | None = None
    comment: str | None = None
    time_ok: bool = True
    tunnel: Tunnel | None = None

    @property
    def ip(self) -> IPHeader | None:
        """The IP header that matters for flows: the inner one of a tunnel, else the outer."""
        if self.inner is not None and self.inner.ip is not None:
            return self.inner.ip
        return self.headers.ip

    @property
    def tcp(self) -> TCPHeader | None:
        """The TCP header of the (inner, for a tunnel) packet, if it is TCP."""
        h = self.inner if self.inner is not None and self.inner.ip is not None else self.headers
        return h.l4 if isinstance(h.l4, TCPHeader) else None

    @property
    def l4(self) -> L4 | None:
        """The transport header of the (inner, for a tunnel) packet."""
        h = self.inner if self.inner is not None and self.inner.ip is not None else self.headers
        return h.l4

    @property
    def where(self) -> str:
        """Where this record came from: ``file#frame`` or ``file:line``."""
        sep = "#" if self.linktype >= 0 else ":"
        return f"{self.file}{sep}{self.frame}"
