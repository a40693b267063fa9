"""Link types and tunnels beyond Ethernet: hand-built frames, read as pcap and as pcapng, and
checked against tshark's reading of the same frames (one tshark run for all of them)."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest

from capkit import block, epb, eth, ipv4, ipv6, pcap, shb, tcp, udp, vxlan
from conformance.truth import TruthRow, tcp_truth
from conftest import require_tool
from nettrail.analyze.describe import describe
from nettrail.capture import open_capture
from nettrail.model.packet import ACK, AE, PSH, SYN, PacketRecord, Tunnel, tcp_flags_text

C4, S4, O4, P4 = "198.51.100.2", "203.0.113.10", "198.18.0.1", "198.18.0.2"
C6, S6 = "2001:db8::2", "2001:db8::10"


class Case(NamedTuple):
    """One hand-built frame: its link type, bytes, and the tunnel we must report."""

    name: str
    linktype: int
    frame: bytes
    tunnel: Tunnel | None


# tshark 4.0 reads no LINKTYPE_PPP_PPPD, no SLIP and no Juniper header without its L2:
# tcpdump does.
BY_TCPDUMP = frozenset({"ppp-pppd", "slip", "juniper-no-l2"})


def seg(n: int, flags: int = PSH | ACK, payload: bytes = b"hello") -> bytes:
    """A TCP segment whose source port tells the case apart."""
    return tcp(40000 + n, 22, flags, seq=1000 + n, ack=5000 + n, payload=payload)


def v4(n: int, **kw: int) -> bytes:
    """IPv4 + TCP of case ``n``."""
    return ipv4(C4, S4, 6, seg(n), **kw)


def v6(n: int) -> bytes:
    """IPv6 + TCP of case ``n``."""
    return ipv6(C6, S6, 6, seg(n))


def geneve(vni: int, proto: int, inner: bytes, options: bytes = b"") -> bytes:
    """A Geneve header (options in 4-byte words) and what it carries."""
    return struct.pack("!BBH", len(options) // 4, 0, proto) + struct.pack("!I", vni << 8) \
        + options + inner


def gre(proto: int, inner: bytes, key: int | None = None, seq: int | None = None) -> bytes:
    """A GRE (version 0) header with an optional key and sequence number."""
    flags = (0x2000 if key is not None else 0) | (0x1000 if seq is not None else 0)
    head = struct.pack("!HH", flags, proto)
    head += struct.pack("!I", key) if key is not None else b""
    head += struct.pack("!I", seq) if seq is not None else b""
    return head + inner


def mpls(labels: list[int], inner: bytes) -> bytes:
    """An MPLS label stack (the last label bottom of stack) and its payload."""
    out = b""
    for i, label in enumerate(labels):
        out += struct.pack("!I", label << 12 | (0x100 if i == len(labels) - 1 else 0) | 64)
    return out + inner


def arcnet_linux(proto: int, body: bytes) -> bytes:
    """An ARCnet (Linux) header: source, destination, offset, protocol, split flag, sequence."""
    return struct.pack("!BBHBBH", 1, 2, 0, proto, 0, 7) + body


def ethernet(n: int, inner: bytes | None = None, etype: int = 0x0800) -> bytes:
    """An Ethernet frame with ``inner`` (IPv4 + TCP of case ``n`` by default)."""
    return eth(v4(n) if inner is None else inner, etype)


def juniper(flags: int, body: bytes) -> bytes:
    """Juniper's capture header ("MGC", flags) before the PIC's link layer."""
    return b"MGC" + bytes([flags]) + body


def big_tcp_v6(n: int) -> bytes:
    """IPv6 with payload length 0 and a hop-by-hop jumbo option (more than 64 KiB), then TCP."""
    body = seg(n, payload=b"x" * 70000)
    hbh = bytes([6, 0, 0xC2, 4]) + struct.pack("!I", 8 + len(body))
    return struct.pack("!IHBB16s16s", 6 << 28, 0, 0, 64, bytes(16), bytes(15) + b"\x01") \
        + hbh + body


def ae_segment(n: int) -> bytes:
    """IPv4 + TCP with the AE flag set (the low bit of the data offset byte)."""
    raw = bytearray(seg(n, SYN | 0xC0, b""))
    raw[12] |= 1
    return ipv4(C4, S4, 6, bytes(raw))


def pptp(n: int) -> bytes:
    """Enhanced GRE (version 1, PPTP) carrying PPP carrying IPv4 + TCP of case ``n``."""
    ppp = b"\xff\x03\x00\x21" + v4(n)
    return ipv4(O4, P4, 47, struct.pack("!HHHHI", 0x3001, 0x880B, len(ppp), 77, 9) + ppp)


CASES = [
    Case("ppp", 9, b"\xff\x03\x00\x21" + v4(1), None),
    Case("ppp-no-address", 9, b"\x00\x57" + v6(2), None),
    Case("ppp-hdlc", 50, b"\xff\x03\x00\x21" + v4(3), None),
    Case("ppp-hdlc-cisco", 50, b"\x0f\x00\x08\x00" + v4(4), None),
    Case("pppoe-link", 51, struct.pack("!BBHH", 0x11, 0, 5, len(v4(5)) + 2) + b"\x00\x21"
         + v4(5), None),
    Case("chdlc", 104, b"\x0f\x00\x86\xdd" + v6(6), None),
    Case("ppp-with-dir", 204, b"\x01\xff\x03\x00\x21" + v4(7), None),
    Case("arcnet-rfc1201", 129, arcnet_linux(0xD4, v4(8)), None),
    Case("arcnet-rfc1051", 129, struct.pack("!BBHB", 1, 2, 0, 0xF0) + v4(9), None),
    Case("ipoib", 242, bytes(40) + b"\x08\x00\x00\x00" + v4(10), None),
    Case("juniper-ether", 178, juniper(0x01, ethernet(11)), None),
    Case("juniper-ppp", 179, juniper(0x00, b"\xff\x03\x00\x21" + v4(12)), None),
    Case("ppp-pppd", 166, b"\x00\x03\x00\x21" + v4(30), None),
    Case("arcnet-bsd", 7, struct.pack("!BBBBH", 1, 2, 0xD4, 0, 7) + v4(31), None),
    Case("arcnet-bsd-exception", 7, struct.pack("!BBBBHBBH", 1, 2, 0xD4, 0xFF, 0xFFFF, 0xD4, 0,
                                                7) + v4(32), None),
    Case("juniper-ext", 178, juniper(0x81, struct.pack("!H", 6) + b"\x01\x04\0\0\0\x05"
                                     + ethernet(33)), None),
    Case("juniper-no-l2", 178, juniper(0x03, b"\0\0\0\0" + v4(34)), None),
    Case("slip", 8, b"\x00\x40" + bytes(14) + v4(36), None),
    Case("nflog", 239, b"\x02\x00\x00\x05" + struct.pack("<HH", 8, 1) + b"\x08\x00\x01\x00"
         + struct.pack("<HH", 4 + len(v4(37)), 9) + v4(37) + b"\0" * (-len(v4(37)) % 4), None),
    Case("geneve", 1, ethernet(0, ipv4(O4, P4, 17, udp(5000, 6081, geneve(
        11, 0x6558, ethernet(13), b"\x01\x02\x03\x01\0\0\0\0")))),
         Tunnel("geneve", 11)),
    Case("geneve-ipv6", 1, ethernet(0, ipv4(O4, P4, 17, udp(5000, 6081, geneve(
        12, 0x86DD, v6(14))))), Tunnel("geneve", 12)),
    Case("gre-key", 1, ethernet(0, ipv4(O4, P4, 47, gre(0x0800, v4(15), key=99))),
         Tunnel("gre", 99)),
    Case("gre-teb", 1, ethernet(0, ipv4(O4, P4, 47, gre(0x6558, eth(v6(16), 0x86DD)))),
         Tunnel("gre", None)),
    Case("erspan-ii", 1, ethernet(0, ipv4(O4, P4, 47, gre(
        0x88BE, struct.pack("!HHI", 0x1000, 33, 0) + ethernet(17), seq=1))),
         Tunnel("erspan", 33)),
    Case("erspan-iii", 1, ethernet(0, ipv4(O4, P4, 47, gre(
        0x22EB, struct.pack("!HHII", 0x2000, 44, 0, 0) + ethernet(18), seq=1))),
         Tunnel("erspan", 44)),
    Case("mpls", 1, eth(mpls([16, 17], v4(19)), 0x8847), Tunnel("mpls", 16)),
    Case("ipip", 1, ethernet(0, ipv4(O4, P4, 4, v4(20))), Tunnel("ipip", None)),
    Case("ipv6-in-ipv4", 1, ethernet(0, ipv4(O4, P4, 41, v6(21))), Tunnel("ip6ip", None)),
    Case("ipv4-in-ipv6", 1, eth(ipv6(C6, S6, 4, v4(22)), 0x86DD), Tunnel("ipip6", None)),
    Case("gre-mpls", 1, ethernet(0, ipv4(O4, P4, 47, gre(0x8847, mpls([300], v4(23))))),
         Tunnel("gre/mpls", 300)),
    Case("vxlan-geneve", 1, ethernet(0, ipv4(O4, P4, 17, udp(5000, 4789, vxlan(
        7, ethernet(0, ipv4(O4, P4, 17, udp(5000, 6081, geneve(8, 0x0800, v4(24))))))))),
         Tunnel("vxlan/geneve", 8)),
    Case("pptp", 1, ethernet(0, pptp(25)), Tunnel("pptp", 77)),
    Case("pppoe-session", 1, eth(struct.pack("!BBHH", 0x11, 0, 5, len(v4(26)) + 2)
                                 + b"\x00\x21" + v4(26), 0x8864), None),
    Case("big-tcp-ipv4", 1, eth(ipv4(C4, S4, 6, seg(27, payload=b"y" * 100), total=0)), None),
    Case("big-tcp-ipv6", 1, eth(big_tcp_v6(28), 0x86DD), None),
    Case("ae-flag", 1, eth(ae_segment(29)), None),
]


def pcapng(cases: list[Case]) -> bytes:
    """One pcapng file: an interface per case, each with its one frame."""
    idbs = b"".join(block(1, struct.pack("<HHI", c.linktype, 0, 262144)) for c in cases)
    packets = b"".join(epb(c.frame, 1_700_000_000_000_000 + i, i) for i, c in enumerate(cases))
    return shb() + idbs + packets


def read(path: Path) -> list[PacketRecord]:
    """Every record of a capture file."""
    return list(open_capture(str(path), "p"))


@pytest.fixture(scope="module")
def tshark_rows(tmp_path_factory: pytest.TempPathFactory) -> dict[int, TruthRow]:
    """tshark's TCP rows of all cases, by frame number (one pcapng, one tshark run)."""
    require_tool("tshark")
    path = tmp_path_factory.mktemp("links") / "cases.pcapng"
    path.write_bytes(pcapng(CASES))
    return {row.frame: row for row in tcp_truth(path) or []}


@pytest.mark.parametrize("case", [c for c in CASES if c.name not in BY_TCPDUMP],
                         ids=[c.name for c in CASES if c.name not in BY_TCPDUMP])
def test_frame_reads_as_tshark_reads_it(
    case: Case, tmp_path: Path, tshark_rows: dict[int, TruthRow]
) -> None:
    """Read as pcap and as pcapng, the frame's TCP packet is tshark's, with its tunnel."""
    n = CASES.index(case)
    row = tshark_rows.get(n + 1)
    assert row is not None, f"tshark finds no TCP in {case.name}"
    pcap_path = tmp_path / "one.pcap"
    pcap_path.write_bytes(pcap([(1_700_000_000_000_000_000, case.frame)], case.linktype))
    ng_path = tmp_path / "one.pcapng"
    ng_path.write_bytes(pcapng([case]))
    for path in (pcap_path, ng_path):
        (rec,) = read(path)
        ip, l4 = rec.ip, rec.tcp
        assert ip is not None and l4 is not None, (path.name, rec)
        ours = (ip.src, ip.dst, l4.sport, l4.dport, l4.flags, l4.seq, l4.ack)
        theirs = (row.src, row.dst, row.sport, row.dport, row.flags, row.seq, row.ack)
        assert ours == theirs, path.name
        assert rec.tunnel == case.tunnel
        assert (rec.inner is not None) == (case.tunnel is not None)


@pytest.mark.parametrize("name", sorted(BY_TCPDUMP))
def test_frame_reads_as_tcpdump_prints_it(name: str, tmp_path: Path) -> None:
    """Where tshark cannot read the link type, tcpdump -n -S prints the packet we read."""
    tcpdump = require_tool("tcpdump")
    case = named(name)
    (rec,) = read_frames(case, tmp_path)
    ip, l4 = rec.ip, rec.tcp
    assert ip is not None and l4 is not None and l4.seq is not None
    line = (f"IP {ip.src}.{l4.sport} > {ip.dst}.{l4.dport}: Flags [{tcp_flags_text(l4.flags)}], "
            f"seq {l4.seq}:{l4.seq + l4.payload_len}, ack {l4.ack}, win {l4.window}, "
            f"length {l4.payload_len}")
    out = subprocess.run([tcpdump, "-n", "-S", "-r", str(tmp_path / f"{name}.pcap")],
                         capture_output=True, text=True, check=True).stdout
    assert line in out


def test_big_tcp_lengths(tmp_path: Path) -> None:
    """BIG TCP: IPv4 total length 0 and IPv6 jumbo take their length from the packet."""
    (rec4,) = read_frames(named("big-tcp-ipv4"), tmp_path)
    (rec6,) = read_frames(named("big-tcp-ipv6"), tmp_path)
    assert rec4.ip is not None and rec4.ip.length == 20 + 20 + 100
    assert rec6.ip is not None and rec6.ip.length == 40 + 8 + 20 + 70000
    assert rec4.tcp is not None and rec4.tcp.payload_len == 100
    assert rec6.tcp is not None and rec6.tcp.payload_len == 70000


def test_ae_flag_bit(tmp_path: Path) -> None:
    """The AE flag (low bit of the data offset byte) is flag bit 0x100."""
    (rec,) = read_frames(named("ae-flag"), tmp_path)
    assert rec.tcp is not None and rec.tcp.flags & AE and rec.tcp.flags & SYN


def named(name: str) -> Case:
    """The case called ``name``."""
    return next(c for c in CASES if c.name == name)


def read_frames(case: Case, tmp: Path) -> list[PacketRecord]:
    """The records of a pcap holding ``case``'s frame."""
    path = tmp / f"{case.name}.pcap"
    path.write_bytes(pcap([(1_700_000_000_000_000_000, case.frame)], case.linktype))
    return read(path)


@pytest.mark.parametrize(("linktype", "frame", "reason"), [
    (9, b"\xff\x03\xc0\x21\x01\x01\x00\x04", "other-protocol:ppp-lcp"),
    (9, b"\xff\x03\x80\x21\x01\x01\x00\x04", "other-protocol:ppp-ipcp"),
    (129, struct.pack("!BBHBBH", 1, 2, 0, 0xD4, 2, 7) + b"\0" * 20,
     "other-protocol:arcnet-fragment"),
    (129, struct.pack("!BBHB", 1, 2, 0, 0x80) + b"\0" * 20, "other-protocol:arcnet-0x80"),
    (242, bytes(40) + b"\x88\x99\x00\x00", "other-protocol:ethertype-0x8899"),
    (178, b"XYZ\x00" + bytes(30), "malformed:juniper"),
    (8, b"\x00\x70" + bytes(14) + v4(1), "other-protocol:slip-compressed"),
    (239, b"\x02\x00\x00\x05" + struct.pack("<HH", 8, 1) + bytes(4),
     "other-protocol:nflog-no-payload"),
    (137, juniper(0x00, bytes(30)), "other-protocol:juniper-137"),
    (1, ethernet(0, ipv4(O4, P4, 47, gre(0x880B, b""))), "other-protocol:gre-0x880b"),
    (1, eth(mpls([16], b"\x00" * 24), 0x8847), "other-protocol:mpls-payload"),
], ids=["ppp-lcp", "ppp-ipcp", "arcnet-fragment", "arcnet-diag", "ipoib-other",
        "juniper-no-magic", "slip-vj", "nflog-no-payload", "juniper-atm", "gre-ppp-v0", "mpls-pw"])
def test_frames_without_ip_are_skipped_not_rejected(
    linktype: int, frame: bytes, reason: str, tmp_path: Path
) -> None:
    """A frame carrying nothing we read is a record counted as skipped, never a file fault."""
    path = tmp_path / "x.pcap"
    path.write_bytes(pcap([(1_700_000_000_000_000_000, frame)] * 2, linktype))
    capture = open_capture(str(path), "p")
    records = list(capture)
    assert len(records) == 2 and all(r.tcp is None for r in records)
    assert capture.stats.skipped[reason] == 2
    assert capture.stats.error is None


def test_time_fraction_of_a_second_or_more_is_no_time(tmp_path: Path) -> None:
    """A pcap time fraction of a second or more: the record keeps its place, not its time."""
    frame = eth(v4(1))
    good = pcap([(1_700_000_000_000_000_000, frame)] * 3)
    bad = bytearray(good)
    struct.pack_into("<I", bad, 24 + 16 + len(frame) + 4, 1_000_000)  # second record's usec
    path = tmp_path / "t.pcap"
    path.write_bytes(bytes(bad))
    capture = open_capture(str(path), "p")
    recs = list(capture)
    assert [r.time_ok for r in recs] == [True, False, True]
    assert recs[1].ts_ns == 1_700_000_000_999_999_999
    assert recs[1].tcp is not None and recs[1].tcp.sport == 40001
    assert len(capture.stats.warnings) == 1 and "frame 2" in capture.stats.warnings[0]


def test_evidence_names_the_tunnel(tmp_path: Path) -> None:
    """A tunnelled packet's one-line description names its tunnel and id, not VXLAN."""
    (rec,) = read_frames(named("geneve"), tmp_path)
    text = describe(rec)
    assert ": Geneve vni 11: 198.51.100.2.40013 > 203.0.113.10.22: Flags [P.]" in text
    (rec,) = read_frames(named("gre-mpls"), tmp_path)
    assert ": MPLS label 300: 198.51.100.2.40023 > " in describe(rec)
