"""Arbitrary and mutated bytes into every binary reader: records or CaptureError, nothing else."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from capkit import epb, eth, icmp, idb, ipv4, ipv6, pcap, shb, sll2, spb, tcp, udp, vxlan
from nettrail.capture import open_capture
from nettrail.capture.decode import SUPPORTED_LINKTYPES, decode_frame
from nettrail.errors import CaptureError
from nettrail.model.packet import ACK, SYN, PacketRecord

C4, S4 = "198.51.100.2", "203.0.113.10"
OPTS = struct.pack("!BBH", 2, 4, 1460) + b"\x04\x02\x01\x03\x03\x07"
FRAMES = [
    eth(ipv4(C4, S4, 6, tcp(40000, 80, SYN, options=OPTS))),
    eth(ipv4(C4, S4, 6, tcp(40000, 80, ACK, payload=b"data" * 20))),
    eth(ipv4(C4, S4, 17, udp(1, 4789, vxlan(7, eth(ipv4(S4, C4, 1, icmp(8, 0, 1, 1))))))),
    eth(ipv6("2001:db8::1", "2001:db8::2", 58, icmp(2, 0, 0, 1280, b"\x60" + b"\0" * 47)),
        etype=0x86DD),
]
PCAP = pcap([(i * 1000, f) for i, f in enumerate(FRAMES)])
PCAPNG = (shb() + idb(name="eth0") + idb(linktype=276, tsresol=9)
          + b"".join(epb(f, i, comment="c") for i, f in enumerate(FRAMES))
          + epb(sll2(FRAMES[0][14:]), 5, if_id=1) + spb(FRAMES[1]))
SETTINGS = settings(max_examples=150, deadline=None,
                    suppress_health_check=[HealthCheck.function_scoped_fixture])


def read_or_error(path: Path, data: bytes) -> list[PacketRecord]:
    """Read ``data`` as a capture; only CaptureError may come out, and it names the file."""
    path.write_bytes(data)
    records: list[PacketRecord] = []
    try:
        cap = open_capture(str(path))
        for rec in cap:
            records.append(rec)
    except CaptureError as exc:
        assert exc.path == str(path)
        assert exc.records == len(records)
        return records
    assert cap.stats.error is None
    return records


@st.composite
def mutated(draw: st.DrawFn, base: bytes) -> bytes:
    """``base`` with a few bytes flipped, cut, or inserted."""
    data = bytearray(base)
    for _ in range(draw(st.integers(1, 6))):
        op = draw(st.sampled_from(["flip", "cut", "insert"]))
        pos = draw(st.integers(0, len(data)))
        if op == "flip" and pos < len(data):
            data[pos] = draw(st.integers(0, 255))
        elif op == "cut":
            del data[pos : pos + draw(st.integers(1, 40))]
        else:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=16))
    return bytes(data)


@SETTINGS
@given(data=mutated(PCAP))
def test_mutated_pcap(tmp_path: Path, data: bytes) -> None:
    read_or_error(tmp_path / "m.pcap", data)


@SETTINGS
@given(data=mutated(PCAPNG))
def test_mutated_pcapng(tmp_path: Path, data: bytes) -> None:
    read_or_error(tmp_path / "m.pcapng", data)


@SETTINGS
@given(linktype=st.sampled_from(sorted(SUPPORTED_LINKTYPES)), body=st.binary(max_size=300))
def test_garbage_records_after_a_good_pcap_header(tmp_path: Path, linktype: int,
                                                  body: bytes) -> None:
    read_or_error(tmp_path / "g.pcap", pcap([], linktype=linktype) + body)


@SETTINGS
@given(body=st.binary(max_size=300))
def test_garbage_blocks_after_a_good_section_header(tmp_path: Path, body: bytes) -> None:
    read_or_error(tmp_path / "g.pcapng", shb() + idb() + body)


@settings(max_examples=300, deadline=None)
@given(linktype=st.sampled_from(sorted(SUPPORTED_LINKTYPES)),
       frame=st.one_of(st.binary(max_size=200), st.sampled_from(FRAMES).flatmap(
           lambda f: st.integers(0, len(f)).map(lambda n: f[:n]))))
def test_decode_frame_never_raises(linktype: int, frame: bytes) -> None:
    fr = decode_frame(linktype, frame)
    assert fr.problem is None or ":" in fr.problem
    assert fr.problem != "malformed:frame"  # every path checks lengths itself


@pytest.mark.parametrize("cut", range(0, len(PCAP), 7))
def test_every_cut_of_a_pcap(tmp_path: Path, cut: int) -> None:
    records = read_or_error(tmp_path / "c.pcap", PCAP[:cut])
    assert [r.data for r in records] == FRAMES[: len(records)]
