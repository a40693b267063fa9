"""pcapng output: the writer's blocks, synthesized frames, read back by tshark and our reader."""

from __future__ import annotations

import io
import struct
import subprocess
from pathlib import Path

import pytest

from conftest import require_tool
from nettrail.capture import open_capture
from nettrail.errors import NettrailError
from nettrail.model.packet import (
    ACK,
    SYN,
    ARPHeader,
    EthHeader,
    Headers,
    ICMPHeader,
    IPHeader,
    TCPHeader,
    TCPOptions,
    UDPHeader,
)
from nettrail.report.frames import synthesize
from nettrail.report.pcapng import PcapngWriter, interface_name

T0 = 1_764_058_200_123_456_789

SYN_HEADERS = Headers(
    EthHeader("02:00:00:00:0a:01", "02:00:00:00:0a:02", (), 0x0800),
    IPHeader(4, "198.51.100.10", "203.0.113.10", 6, 63, 4321, None, True, 0, False),
    TCPHeader(40000, 80, SYN, 1000, 0, 64240, 0,
              TCPOptions(1460, 7, True, (), 123, 0, ("mss", "sackOK", "TS", "nop", "wscale"))),
)


def tshark_fields(path: Path, *fields: str) -> list[list[str]]:
    """Each packet's ``fields`` as tshark prints them (-T fields, tab separated)."""
    tshark = require_tool("tshark")
    args = [tshark, "-r", str(path), "-T", "fields", "-o", "ip.check_checksum:TRUE"]
    for name in fields:
        args += ["-e", name]
    done = subprocess.run(args, capture_output=True, text=True, check=True, timeout=60)
    return [line.split("\t") for line in done.stdout.splitlines()]


def write_sample(path: Path) -> None:
    """Two interfaces, three packets, comments on two of them."""
    data, wire = synthesize(SYN_HEADERS)
    with path.open("wb") as f:
        w = PcapngWriter(f, comment="clock note")
        a = w.add_interface("client/eth0")
        b = w.add_interface("network-node/qrouter-1/qg-7c1e", snaplen=60)
        w.write_packet(a, T0, data, wire, "nettrail: packet #1 <ünïcode>")
        w.write_packet(b, T0 + 210_001, data, wire, "nettrail: packet #1; NAT")
        w.write_packet(a, T0 + 900_000, data, wire)


def test_block_layout_is_pcapng() -> None:
    out = io.BytesIO()
    w = PcapngWriter(out)
    if_id = w.add_interface("p/eth0")
    w.write_packet(if_id, T0, b"\x01\x02\x03", 3, "c")
    raw = out.getvalue()
    pos = 0
    kinds = []
    while pos < len(raw):
        kind, length = struct.unpack_from("<II", raw, pos)
        assert length % 4 == 0
        assert struct.unpack_from("<I", raw, pos + length - 4)[0] == length
        kinds.append(kind)
        pos += length
    assert pos == len(raw)
    assert kinds == [0x0A0D0D0A, 1, 6]
    assert b"nettrail" in raw[:64]


def test_unknown_interface_is_refused() -> None:
    w = PcapngWriter(io.BytesIO())
    with pytest.raises(ValueError, match="interface id 0"):
        w.write_packet(0, T0, b"", 0)


class _Full(io.RawIOBase):
    def writable(self) -> bool:
        return True

    def write(self, b: object) -> int:
        raise OSError(28, "No space left on device")


def test_disk_full_names_the_cause() -> None:
    with pytest.raises(NettrailError, match="No space left"):
        PcapngWriter(_Full())  # type: ignore[arg-type]


def test_interface_names() -> None:
    assert interface_name("nn", "qrouter-1", "qg-7c1e") == "nn/qrouter-1/qg-7c1e"
    assert interface_name("nn", None, "eth0") == "nn/eth0"
    assert interface_name("nn", None, None) == "nn"


def test_tshark_reads_names_times_comments(tmp_path: Path) -> None:
    path = tmp_path / "out.pcapng"
    write_sample(path)
    rows = tshark_fields(path, "frame.interface_name", "frame.comment", "frame.time_epoch",
                         "frame.len", "frame.cap_len")
    assert [r[0] for r in rows] == ["client/eth0", "network-node/qrouter-1/qg-7c1e",
                                    "client/eth0"]
    assert [r[1] for r in rows] == ["nettrail: packet #1 <ünïcode>", "nettrail: packet #1; NAT",
                                    ""]
    assert [r[2] for r in rows] == ["1764058200.123456789", "1764058200.123666790",
                                    "1764058200.124356789"]
    wire = synthesize(SYN_HEADERS)[1]
    assert [int(r[3]) for r in rows] == [wire] * 3
    assert [int(r[4]) for r in rows] == [wire, 60, wire]  # the second interface's snaplen


def test_tshark_decodes_a_synthesized_syn(tmp_path: Path) -> None:
    path = tmp_path / "syn.pcapng"
    write_sample(path)
    row = tshark_fields(path, "eth.src", "ip.src", "ip.dst", "ip.id", "ip.ttl", "ip.flags.df",
                        "ip.checksum.status", "tcp.srcport", "tcp.dstport", "tcp.seq_raw",
                        "tcp.flags", "tcp.window_size_value", "tcp.options.mss_val",
                        "tcp.options.wscale.shift", "tcp.options.timestamp.tsval",
                        "_ws.expert.message")[0]
    assert row[:6] == ["02:00:00:00:0a:01", "198.51.100.10", "203.0.113.10", "0x10e1", "63",
                       "1"]
    assert row[6] == "1"  # good IPv4 header checksum
    assert row[7:15] == ["40000", "80", "1000", "0x0002", "64240", "1460", "7", "123"]
    assert "Malformed" not in row[15]


def test_synthesized_lengths_count_the_payload() -> None:
    h = SYN_HEADERS._replace(l4=SYN_HEADERS.l4._replace(flags=ACK, payload_len=100))  # type: ignore[union-attr]
    data, wire = synthesize(h)
    assert len(data) == 14 + 20 + 40
    assert wire == len(data) + 100
    assert struct.unpack_from("!H", data, 16)[0] == 20 + 40 + 100  # IPv4 total length
    udp = Headers(None, IPHeader(6, "2001:db8::1", "2001:db8::2", 17, None, None, None, False, 0,
                                 False), UDPHeader(53, 5353, 20))
    data, wire = synthesize(udp)
    assert (len(data), wire) == (14 + 40 + 8, 14 + 40 + 28)


def test_our_reader_reads_what_we_write(tmp_path: Path) -> None:
    path = tmp_path / "out.pcapng"
    write_sample(path)
    capture = open_capture(str(path), "p")
    records = list(capture)
    assert [r.ifname for r in records] == ["client/eth0", "network-node/qrouter-1/qg-7c1e",
                                           "client/eth0"]
    assert [r.ts_ns for r in records] == [T0, T0 + 210_001, T0 + 900_000]
    assert sorted(capture.stats.interfaces.values()) == ["client/eth0",
                                                         "network-node/qrouter-1/qg-7c1e"]
    data, wire = synthesize(SYN_HEADERS)
    assert records[0].data == data
    assert records[1].data == data[:60]
    assert all(r.wire_len == wire for r in records)
    assert [r.comment for r in records] == ["nettrail: packet #1 <ünïcode>",
                                            "nettrail: packet #1; NAT", None]
    tcp = records[0].tcp
    assert tcp is not None and (tcp.sport, tcp.dport, tcp.flags, tcp.seq) == (40000, 80, SYN, 1000)
    assert capture.stats.error is None


def test_tshark_decodes_vlan_vxlan_arp_and_icmp(tmp_path: Path) -> None:
    inner = Headers(None, IPHeader(4, "198.51.100.4", "203.0.113.10", 6, 64, 1, None, False, 0,
                                   False),
                    TCPHeader(22, 40000, SYN | ACK, 5, 6, 100, 0,
                              TCPOptions(None, None, False, (), None, None, ())))
    outer = Headers(EthHeader(None, None, (101,), 0x8100),
                    IPHeader(4, "198.18.0.1", "198.18.0.2", 17, 64, 9, None, False, 0, False),
                    UDPHeader(52000, 4789, 0))
    arp = Headers(None, None, None, ARPHeader(1, "02:00:00:00:00:09", "198.51.100.9",
                                              "00:00:00:00:00:00", "198.51.100.1"))
    frag = Headers(None, IPHeader(4, "198.18.0.254", "198.51.100.10", 1, 64, 3, 576, False, 0,
                                  False), ICMPHeader(4, 3, 4, 1400, None))
    path = tmp_path / "mixed.pcapng"
    with path.open("wb") as f:
        w = PcapngWriter(f)
        i = w.add_interface("p")
        for n, (data, wire) in enumerate([synthesize(outer, inner, 4242), synthesize(arp),
                                          synthesize(frag)]):
            w.write_packet(i, T0 + n, data, wire)
    rows = tshark_fields(path, "vlan.id", "vxlan.vni", "tcp.flags.str", "ip.src", "arp.opcode",
                         "arp.dst.proto_ipv4", "icmp.mtu", "_ws.malformed")
    assert rows[0][0] == "101" and rows[0][1] == "4242"
    assert rows[0][3] == "198.18.0.1,198.51.100.4"  # outer and inner IPv4 sources
    assert "S" in rows[0][2] and "A" in rows[0][2]
    assert rows[1][4:6] == ["1", "198.51.100.1"]
    assert rows[2][6] == "1400"
    assert all(not r[7] for r in rows)
