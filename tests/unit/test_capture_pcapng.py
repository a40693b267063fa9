"""The pcapng reader: sections, interfaces, resolutions, packet blocks, options, bad input."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest

from capkit import block, epb, eth, idb, ipv4, shb, sll2, spb, tcp
from nettrail.capture import open_capture
from nettrail.capture import pcapng as pcapng_mod
from nettrail.capture.decode import decode_frame_general
from nettrail.capture.points import read_table
from nettrail.errors import CaptureError
from nettrail.model.packet import SYN, PacketRecord
from nettrail.model.table import PacketTable

C4, S4 = "198.51.100.2", "203.0.113.10"
FRAME = eth(ipv4(C4, S4, 6, tcp(40000, 80, SYN)))
SEC = 1_700_000_000


def write(tmp_path: Path, data: bytes) -> str:
    path = tmp_path / "cap.pcapng"
    path.write_bytes(data)
    return str(path)


def read(path: str) -> tuple[list[PacketRecord], pcapng_mod.CaptureStats]:
    cap = open_capture(path, "nn")
    return list(cap), cap.stats


def test_interfaces_names_resolutions_and_offsets(tmp_path: Path) -> None:
    data = (shb() + idb(name="eth0") + idb(name="qg-1a2b", tsresol=9)
            + idb(name="bin", tsresol=0x80 | 10, tsoffset=100)
            + epb(FRAME, SEC * 1_000_000 + 5)
            + epb(FRAME, SEC * 1_000_000_000 + 7, if_id=1)
            + epb(FRAME, 3 * 1024 + 512, if_id=2))
    recs, stats = read(write(tmp_path, data))
    assert [r.ifname for r in recs] == ["eth0", "qg-1a2b", "bin"]
    assert [r.ts_ns for r in recs] == [SEC * 10**9 + 5000, SEC * 10**9 + 7,
                                       100 * 10**9 + 3_500_000_000]
    assert stats.interfaces == {0: "eth0", 1: "qg-1a2b", 2: "bin"}
    assert stats.format == "pcapng" and stats.packets == 3
    assert recs[0].headers == decode_frame_general(1, FRAME).headers


def test_comment_and_direction_flags(tmp_path: Path) -> None:
    data = (shb() + idb(name="eth0") + epb(FRAME, 1, comment="the bad one", flags=2)
            + epb(FRAME, 2, flags=1) + epb(FRAME, 3))
    recs, _ = read(write(tmp_path, data))
    assert [(r.comment, r.direction) for r in recs] == [
        ("the bad one", "out"), (None, "in"), (None, None)]


def test_several_sections_and_big_endian(tmp_path: Path) -> None:
    data = (shb() + idb(name="a") + epb(FRAME, 1)
            + shb(">") + idb(name="b", order=">") + idb(name="c", order=">")
            + epb(FRAME, 2, if_id=1, order=">") + epb(FRAME, 3, if_id=0, order=">"))
    recs, stats = read(write(tmp_path, data))
    assert [(r.ifname, r.ts_ns, r.frame) for r in recs] == [
        ("a", 1000, 1), ("c", 2000, 2), ("b", 3000, 3)]
    assert stats.interfaces == {0: "a", 1: "b", 2: "c"}


def test_simple_packet_blocks_use_previous_time_and_warn_once(tmp_path: Path) -> None:
    data = shb() + idb(snaplen=40) + epb(FRAME, 9) + spb(FRAME) + spb(FRAME)
    recs, stats = read(write(tmp_path, data))
    assert [r.ts_ns for r in recs] == [9000, 9000, 9000]
    assert recs[1].data == FRAME[:40] and recs[1].wire_len == len(FRAME)
    assert len(stats.warnings) == 1 and "simple packet blocks" in stats.warnings[0]


def test_unknown_and_unused_blocks(tmp_path: Path) -> None:
    data = (shb() + idb() + block(0x4000_0BAD, b"custom") + block(5, b"\0" * 12)
            + block(0x1234, b"") + epb(FRAME, 1))
    recs, stats = read(write(tmp_path, data))
    assert len(recs) == 1 and stats.skipped == {"unknown-block": 2}


def test_sll2_interface_index_names(tmp_path: Path) -> None:
    frame = sll2(ipv4(C4, S4, 6, tcp(1, 2, SYN)), ifindex=4, pkttype=4)
    data = shb() + idb(linktype=276, name="any") + epb(frame, 1)
    recs, _ = read(write(tmp_path, data))
    assert (recs[0].ifname, recs[0].direction) == ("if4", "out")
    named = list(open_capture(write(tmp_path, data), ifnames={4: "veth-a"}))
    assert named[0].ifname == "veth-a"


def expect_error(path: str, offset: int, text: str, records: int = 0) -> None:
    cap = open_capture(path)
    got: list[PacketRecord] = []
    with pytest.raises(CaptureError) as info:
        got.extend(cap)
    assert text in str(info.value)
    assert (info.value.offset, info.value.records, len(got)) == (offset, records, records)
    assert cap.stats.error is info.value


def test_truncated_block(tmp_path: Path) -> None:
    good = shb() + idb() + epb(FRAME, 1)
    expect_error(write(tmp_path, good + epb(FRAME, 2)[:30]), len(good), "truncated block",
                 records=1)


def test_trailer_mismatch(tmp_path: Path) -> None:
    good = shb() + idb()
    bad = bytearray(epb(FRAME, 1))
    bad[-4:] = struct.pack("<I", 8)
    expect_error(write(tmp_path, good + bytes(bad)), len(good) + len(bad) - 4,
                 "does not match its trailer")


def test_bad_and_absurd_block_lengths(tmp_path: Path) -> None:
    good = shb() + idb()
    expect_error(write(tmp_path, good + struct.pack("<II", 6, 13) + b"\0" * 20),
                 len(good) + 4, "bad block length 13")
    expect_error(write(tmp_path, good + struct.pack("<II", 6, 0x7FFFFFF0) + b"\0" * 20),
                 len(good) + 4, "absurd block length")


def test_packet_on_undefined_interface(tmp_path: Path) -> None:
    good = shb() + idb()
    expect_error(write(tmp_path, good + epb(FRAME, 1, if_id=3)), len(good) + 8,
                 "undefined interface 3")


def test_packet_longer_than_block(tmp_path: Path) -> None:
    good = shb() + idb()
    bad = bytearray(epb(FRAME, 1))
    bad[20:24] = struct.pack("<I", 4000)
    expect_error(write(tmp_path, good + bytes(bad)), len(good), "runs past its block")


def test_bad_byte_order_magic_and_not_pcapng(tmp_path: Path) -> None:
    bad = bytearray(shb())
    bad[8:12] = b"abcd"
    expect_error(write(tmp_path, bytes(bad)), 8, "bad byte-order magic")


def test_unsupported_link_type_in_interface(tmp_path: Path) -> None:
    expect_error(write(tmp_path, shb() + idb(linktype=147)), len(shb()) + 8,
                 "unsupported link type 147")


def test_unsupported_interface_beside_a_readable_one(tmp_path: Path) -> None:
    """Packets of an interface we cannot read are skipped; the other interface's are read."""
    data = shb() + idb() + idb(linktype=147) + epb(b"\x01" * 30, 1, 1) + epb(FRAME, 2, 0)
    recs, stats = read(write(tmp_path, data))
    assert [r.tcp is not None for r in recs] == [False, True]
    assert stats.skipped["unsupported-link-type:147"] == 1 and stats.error is None
    assert len(stats.warnings) == 1 and "interface 1: unsupported link type 147" in \
        stats.warnings[0]


def test_only_unsupported_interfaces_is_a_fault_after_the_records(tmp_path: Path) -> None:
    data = shb() + idb(linktype=147) + epb(b"\x01" * 30, 1, 0)
    expect_error(write(tmp_path, data), len(shb()) + 8, "unsupported link type 147", 1)


def test_block_too_short_for_its_type(tmp_path: Path) -> None:
    good = shb() + idb()
    expect_error(write(tmp_path, good + block(6, b"\0" * 8)), len(good), "too short")


@pytest.mark.parametrize(("iface", "ts", "before"), [
    (idb(tsoffset=1 << 62), 1, 0),  # an offset of 2**62 s: no time of it fits
    (idb(tsoffset=-(1 << 62)), 1, 0),
    (idb(), (1 << 64) - 1, 2),  # 2**64 microseconds
    (idb(tsresol=0), 1 << 60, 2),  # 2**60 seconds
])
def test_time_past_64_bit_nanoseconds_is_a_fault_at_its_block(
    tmp_path: Path, iface: bytes, ts: int, before: int
) -> None:
    """Read as records and as a table alike: the packets before it kept, the block named."""
    good = shb() + iface + epb(FRAME, 5) * before
    path = write(tmp_path, good + epb(FRAME, ts) + epb(FRAME, 9))
    expect_error(path, len(good) + 12, "timestamp out of range", before)
    table = PacketTable("p")
    with pytest.raises(CaptureError, match="timestamp out of range") as info:
        read_table(open_capture(path, "p"), table)
    assert (info.value.offset, len(table)) == (len(good) + 12, before)


def test_link_type_past_15_bits_in_a_table(tmp_path: Path) -> None:
    """pcapng link types are 16-bit: an unsupported one of 65535 is kept in its rows."""
    data = shb() + idb() + idb(linktype=0xFFFF) + epb(b"\x01" * 30, 1, 1) + epb(FRAME, 2, 0)
    table = PacketTable("p")
    read_table(open_capture(write(tmp_path, data), "p"), table)
    assert [r.linktype for r in table.records()] == [0xFFFF, 1]


@pytest.mark.parametrize("tsresol", [127, 0x80 | 127])
def test_resolution_far_below_a_nanosecond_in_a_table(tmp_path: Path, tsresol: int) -> None:
    """Units of 10**-127 or 2**-127 s: every time is 0 ns, read as records or as a table."""
    path = write(tmp_path, shb() + idb(tsresol=tsresol) + epb(FRAME, 5) + epb(FRAME, 1 << 63))
    table = PacketTable("p")
    read_table(open_capture(path, "p"), table)
    assert [r.ts_ns for r in table.records()] == [r.ts_ns for r in read(path)[0]] == [0, 0]


def test_more_interface_names_than_15_bits_in_a_table(tmp_path: Path) -> None:
    n = (1 << 15) + 2
    data = (shb() + b"".join(idb(name=f"if{i}") for i in range(n))
            + b"".join(epb(FRAME, i, if_id=i) for i in range(n)))
    table = PacketTable("p")
    read_table(open_capture(write(tmp_path, data), "p"), table)
    assert [r.ifname for r in table.records()] == [f"if{i}" for i in range(n)]
