"""A TCP payload ends where the IP length says, or where the frame ended on the wire when that
is sooner: the record readers and the packet table (its column decoder and the general one) of
pcap and pcapng agree with tshark's ``tcp.len`` on frames whose IP length says more than the
frame held (kday4.pcap frame 10: IP length 820 in a 66-byte frame, tcp.len 0), and still
take the IP length where only the snap length cut the frame short."""

from __future__ import annotations

import struct
import subprocess
from pathlib import Path
from typing import NamedTuple

import pytest

from capkit import epb, eth, idb, ipv4, ipv6, shb, sll2, tcp, udp, vxlan
from conftest import require_tool
from nettrail.capture import open_capture
from nettrail.capture.base import CaptureStats
from nettrail.capture.decode import decode_frame, decode_frame_general
from nettrail.capture.table_pcap import read_pcap_table
from nettrail.capture.table_pcapng import read_pcapng_table
from nettrail.model.packet import ACK
from nettrail.model.table import PacketTable

C4, S4 = "10.0.0.1", "10.0.0.2"
C6, S6 = "2001:db8::1", "2001:db8::2"
TS_OPT = b"\x01\x01\x08\x0a" + b"\0" * 8
MSS_WS = b"\x02\x04\x05\xb4\x01\x01\x04\x02"


class Case(NamedTuple):
    name: str
    linktype: int
    data: bytes  # the captured bytes
    wire: int  # the frame's length on the wire
    plen: int  # tshark's tcp.len


def _v6_plen(frame: bytes, plen: int) -> bytes:
    """``frame`` (Ethernet + IPv6) with its payload length field set to ``plen``."""
    return frame[:18] + struct.pack("!H", plen) + frame[20:]


def _cases() -> list[Case]:
    out = []

    def add(name: str, frame: bytes, wire: int, plen: int, cut: int | None = None,
            linktype: int = 1) -> None:
        out.append(Case(name, linktype, frame if cut is None else frame[:cut], wire, plen))

    f = eth(ipv4(C4, S4, 6, tcp(1, 2, ACK, options=TS_OPT), total=820))
    add("ipv4-total-past-wire", f, len(f), 0)  # kday4.pcap frame 10
    f = eth(ipv4(C4, S4, 6, tcp(1, 2, ACK, options=TS_OPT, payload=b"x" * 1000)))
    add("snaplen", f, len(f), 1000, cut=96)
    f = eth(ipv4(C4, S4, 6, tcp(1, 2, ACK, options=TS_OPT, payload=b"x" * 100), total=820))
    add("total-past-wire-and-snaplen", f, len(f), 100, cut=96)
    f = eth(ipv4(C4, S4, 6, tcp(1, 2, ACK, payload=b"x" * 3000), total=0))
    add("offload-total-0-snaplen", f, len(f), 3000, cut=96)
    f = eth(ipv4(C4, S4, 6, tcp(1, 2, ACK, payload=b"x" * 100), total=820))
    add("wire-shorter-than-captured", f, len(f) - 40, 100)
    f = _v6_plen(eth(ipv6(C6, S6, 6, tcp(1, 2, ACK, payload=b"x" * 100)), etype=0x86DD), 900)
    add("ipv6-length-past-wire", f, len(f), 100)
    f = eth(ipv6(C6, S6, 6, tcp(1, 2, ACK, payload=b"x" * 3000)), etype=0x86DD)
    add("ipv6-snaplen", f, len(f), 3000, cut=120)
    f = eth(ipv4(C4, S4, 6, tcp(1, 2, ACK, payload=b"x" * 10)))
    add("ethernet-padding", f + b"\0" * 6, len(f) + 6, 10)
    f = eth(ipv4(C4, S4, 6, tcp(1, 2, ACK, options=TS_OPT), total=820), vlans=(5,))
    add("vlan-total-past-wire", f, len(f), 0)
    f = eth(ipv4(C4, S4, 6, tcp(1, 2, ACK, options=MSS_WS), total=820))
    add("tcp-options-total-past-wire", f, len(f), 0)
    f = eth(ipv4(C4, S4, 6, tcp(1, 2, ACK, payload=b"x" * 100), options=b"\x01\x01\x01\x00",
                 total=820))
    add("ip-options-total-past-wire", f, len(f), 100)
    inner = eth(ipv4(C4, S4, 6, tcp(1, 2, ACK), total=500))
    f = eth(ipv4("192.0.2.1", "192.0.2.2", 17, udp(49152, 4789, vxlan(7, inner))))
    add("vxlan-inner-total-past-wire", f, len(f), 0)
    f = sll2(ipv4(C4, S4, 6, tcp(1, 2, ACK, options=TS_OPT), total=820))
    add("sll2-total-past-wire", f, len(f), 0, linktype=276)
    return out


CASES = _cases()


def _pcap(case: Case) -> bytes:
    head = struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, case.linktype)
    return head + struct.pack("<IIII", 1_700_000_000, 0, len(case.data), case.wire) + case.data


def _pcapng(cases: list[Case]) -> bytes:
    """One interface per link type, one packet block per case, in order."""
    kinds = sorted({c.linktype for c in cases})
    return shb() + b"".join(idb(k) for k in kinds) + b"".join(
        epb(c.data, i, kinds.index(c.linktype), wire_len=c.wire) for i, c in enumerate(cases))


def _table_plens(path: Path) -> list[int | None]:
    table = PacketTable("p")
    reader = read_pcapng_table if path.suffix == ".pcapng" else read_pcap_table
    reader(str(path), table, CaptureStats(str(path), "p"))
    return [rec.tcp.payload_len if rec.tcp else None for rec in table.records()]


def _record_plens(path: Path) -> list[int | None]:
    return [rec.tcp.payload_len if rec.tcp else None for rec in open_capture(str(path), "p")]


@pytest.mark.parametrize("case", CASES, ids=[c.name for c in CASES])
def test_payload_length_is_tsharks(case: Case, tmp_path: Path) -> None:
    """Records and table rows, of pcap and of pcapng, and both decoders given the frame and
    its wire length: the payload length tshark gives."""
    for fr in (decode_frame(case.linktype, case.data, case.wire),
               decode_frame_general(case.linktype, case.data, case.wire)):
        tcp_h = fr.inner.l4 if fr.inner is not None else fr.headers.l4
        assert tcp_h is not None and getattr(tcp_h, "payload_len", None) == case.plen
    one = tmp_path / "one.pcap"
    one.write_bytes(_pcap(case))
    ng = tmp_path / "one.pcapng"
    ng.write_bytes(_pcapng([case]))
    for path in (one, ng):
        assert _record_plens(path) == [case.plen], path.name
        assert _table_plens(path) == [case.plen], path.name


def test_many_rows_at_once_as_one_at_a_time(tmp_path: Path) -> None:
    """All cases in one pcapng (the table decodes its common frames as columns, in bulk):
    each row's payload length is still tshark's."""
    path = tmp_path / "all.pcapng"
    path.write_bytes(_pcapng(CASES))
    want = [c.plen for c in CASES]
    assert _table_plens(path) == want
    assert _record_plens(path) == want


def test_the_expected_lengths_are_tsharks(tmp_path: Path) -> None:
    """The lengths above are what tshark reads in these frames (``tcp.len``)."""
    tshark = require_tool("tshark")
    path = tmp_path / "all.pcapng"
    path.write_bytes(_pcapng(CASES))
    out = subprocess.run([tshark, "-r", str(path), "-T", "fields", "-e", "tcp.len"],
                         capture_output=True, text=True, check=True).stdout
    got = [int(line.split(",")[-1]) for line in out.splitlines()]
    assert got == [c.plen for c in CASES]
