"""The pcap reader: magic variants, the fast path, chunk boundaries and every kind of bad input."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from capkit import eth, ipv4, pcap, sll2, tcp, udp
from nettrail.capture import base as capture_base
from nettrail.capture import open_capture
from nettrail.capture.decode import (
    decode_frame,
    decode_frame_general,
    fast_eth_ipv4_tcp,
    fast_sll2_ipv4_tcp,
)
from nettrail.errors import CaptureError
from nettrail.model.packet import ACK, PSH, SYN, PacketRecord

C4, S4 = "198.51.100.2", "203.0.113.10"
TS = 1_700_000_000_123_456_000
TS_OPT = b"\x01\x01\x08\x0a" + struct.pack("!II", 11, 22)
SYN_OPTS = struct.pack("!BBH", 2, 4, 1460) + b"\x04\x02" + struct.pack("!BBII", 8, 10, 7, 0) \
    + b"\x01\x03\x03\x07"


def frames() -> list[bytes]:
    """Frames that take the fast path and frames that take the general one."""
    return [
        eth(ipv4(C4, S4, 6, tcp(40000, 80, SYN, options=SYN_OPTS))),
        eth(ipv4(S4, C4, 6, tcp(80, 40000, SYN | ACK, ack=1001, options=SYN_OPTS))),
        eth(ipv4(C4, S4, 6, tcp(40000, 80, ACK, options=TS_OPT))) + b"\0" * 2,
        eth(ipv4(C4, S4, 6, tcp(40000, 80, ACK))) + b"\0" * 6,
        eth(ipv4(C4, S4, 6, tcp(40000, 80, PSH | ACK, options=TS_OPT, payload=b"GET /\r\n"))),
        eth(ipv4(S4, C4, 6, tcp(80, 40000, PSH | ACK, payload=b"x" * 1400))),
        eth(ipv4(C4, S4, 6, tcp(40000, 80, ACK, options=b"\x01\x01\x05\x0a" + b"\0" * 8))),
        eth(ipv4(C4, S4, 6, tcp(40000, 80, ACK, payload=b"y" * 100)))[:70],
        eth(ipv4(C4, S4, 6, tcp(1, 2, ACK), options=b"\x01\x01\x01\x00")),
        eth(ipv4(C4, S4, 17, udp(5353, 53, b"q"))),
        eth(ipv4(C4, S4, 6, tcp(1, 2, ACK)), vlans=(5,)),
    ]


def write(tmp_path: Path, data: bytes, name: str = "cap.pcap") -> str:
    path = tmp_path / name
    path.write_bytes(data)
    return str(path)


def read_all(path: str) -> list[PacketRecord]:
    return list(open_capture(path))


@pytest.mark.parametrize(("nano", "big"), [(False, False), (True, False), (False, True),
                                           (True, True)])
def test_magic_variants_give_same_records(tmp_path: Path, nano: bool, big: bool) -> None:
    path = write(tmp_path, pcap([(TS, f) for f in frames()], nano=nano, big=big))
    cap = open_capture(path, "host1")
    recs = list(cap)
    assert len(recs) == len(frames()) and cap.stats.packets == len(frames())
    assert cap.stats.format == "pcap" and cap.stats.error is None
    assert [r.frame for r in recs] == list(range(1, len(frames()) + 1))
    assert all(r.ts_ns == TS and r.point == "host1" and r.file == path for r in recs)
    assert recs[0].tcp is not None and recs[0].tcp.options.mss == 1460


def test_nanosecond_timestamps_keep_precision(tmp_path: Path) -> None:
    path = write(tmp_path, pcap([(TS + 789, frames()[0])], nano=True))
    assert read_all(path)[0].ts_ns == TS + 789


def test_fast_path_equals_general_decoder(tmp_path: Path) -> None:
    path = write(tmp_path, pcap([(TS, f) for f in frames()], wire_extra=4))
    for rec, frame in zip(read_all(path), frames(), strict=True):
        fr = decode_frame_general(1, frame, len(frame) + 4)
        assert rec.headers == fr.headers, rec.frame
        assert (rec.data, rec.wire_len, rec.linktype) == (frame, len(frame) + 4, 1)
        assert (rec.inner, rec.vni, rec.ifname, rec.direction) == (None, None, None, None)


def test_records_straddling_chunks(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(capture_base, "CHUNK", 37)
    many = [(TS + i, f) for i in range(20) for f in frames()]
    path = write(tmp_path, pcap(many))
    recs = read_all(path)
    assert [r.data for r in recs] == [f for _ts, f in many]


def test_sll2_names_interfaces(tmp_path: Path) -> None:
    data = [(TS, sll2(ipv4(C4, S4, 6, tcp(1, 2, SYN)), ifindex=i, pkttype=p))
            for i, p in ((2, 4), (7, 0))]
    path = write(tmp_path, pcap(data, linktype=276))
    recs = list(open_capture(path, ifnames={2: "veth0"}))
    assert [(r.ifname, r.direction) for r in recs] == [("veth0", "out"), ("if7", "in")]


def test_non_ip_frames_are_yielded_and_counted(tmp_path: Path) -> None:
    data = [(TS, eth(b"\0" * 46, etype=0x88CC)), (TS, frames()[0])]
    cap = open_capture(write(tmp_path, pcap(data)))
    recs = list(cap)
    assert len(recs) == 2 and recs[0].headers.ip is None
    assert cap.stats.skipped == {"other-protocol:lldp": 1}


def expect_error(path: str, offset: int | None, text: str, records: int = 0) -> CaptureError:
    cap = open_capture(path)
    got: list[PacketRecord] = []
    with pytest.raises(CaptureError) as info:
        got.extend(cap)
    err = info.value
    assert text in str(err) and err.path == path
    assert err.offset == offset and err.records == records == len(got)
    assert cap.stats.error is err and cap.stats.packets == records
    return err


def test_truncated_record_body_keeps_good_records(tmp_path: Path) -> None:
    whole = pcap([(TS, f) for f in frames()[:3]])
    path = write(tmp_path, whole[:-10])
    last_len = len(frames()[2])
    expect_error(path, len(whole) - last_len - 16, "truncated record", records=2)


def test_truncated_record_header(tmp_path: Path) -> None:
    whole = pcap([(TS, frames()[0])])
    path = write(tmp_path, whole + b"\x01\x02\x03")
    expect_error(path, len(whole), "truncated record header (3 of 16 bytes)", records=1)


def test_absurd_caplen(tmp_path: Path) -> None:
    good = pcap([(TS, frames()[0])])
    bad = good + struct.pack("<IIII", 1, 0, 10_000_000, 60) + b"\0" * 64
    expect_error(write(tmp_path, bad), len(good), "absurd record length 10000000", records=1)


def test_empty_file(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="empty file") as info:
        open_capture(write(tmp_path, b""))
    assert info.value.offset == 0


def test_short_file_header(tmp_path: Path) -> None:
    expect_error(write(tmp_path, pcap([])[:10]), 0, "truncated pcap file header (10 of 24")


def test_unknown_link_type(tmp_path: Path) -> None:
    expect_error(write(tmp_path, pcap([(TS, b"\0" * 30)], linktype=147)), 20,
                 "unsupported link type 147")


def test_an_unread_link_type_is_named(tmp_path: Path) -> None:
    """Wi-Fi with radiotap headers, as libpcap names it, not a bare number to look up."""
    err = expect_error(write(tmp_path, pcap([(TS, b"\0" * 30)], linktype=127)), 20,
                       "unsupported link type 127 (IEEE802_11_RADIO: 802.11 plus radiotap "
                       "header)")
    assert str(err).count("unsupported") == 1


def test_unsupported_version(tmp_path: Path) -> None:
    data = bytearray(pcap([]))
    data[4:6] = struct.pack("<H", 9)
    expect_error(write(tmp_path, bytes(data)), 4, "unsupported pcap version 9")


def test_missing_file_is_a_capture_error(tmp_path: Path) -> None:
    with pytest.raises(CaptureError, match="cannot read"):
        open_capture(str(tmp_path / "nope.pcap"))


def test_streaming_does_not_read_ahead(tmp_path: Path) -> None:
    path = write(tmp_path, pcap([(TS, f) for f in frames()] + [(TS, b"")]) + b"junk")
    it = iter(open_capture(path))
    first = next(it)
    assert first.frame == 1
    it.close()  # stopping early is fine; nothing is raised


def test_shared_fast_decoder_equals_general_decoder() -> None:
    taken = 0
    for frame in frames():
        for wire in (None, len(frame), len(frame) + 4, len(frame) - 1):
            fast = fast_eth_ipv4_tcp(frame, wire)
            if fast is not None:
                taken += 1
                assert fast == decode_frame_general(1, frame, wire).headers
            assert decode_frame(1, frame, wire) == decode_frame_general(1, frame, wire)
    assert taken >= 24


def test_sll2_fast_decoder_equals_general_decoder() -> None:
    taken = 0
    for frame in frames():
        for pkttype in (0, 4):
            cooked = sll2(frame[14:], proto=int.from_bytes(frame[12:14], "big"), ifindex=5,
                          pkttype=pkttype)
            for wire in (None, len(cooked), len(cooked) + 4):
                fast = fast_sll2_ipv4_tcp(cooked, wire)
                if fast is not None:
                    taken += 1
                    assert fast == decode_frame_general(276, cooked, wire)
                assert decode_frame(276, cooked, wire) == decode_frame_general(276, cooked, wire)
    assert taken >= 36
