"""Opening captures: format detection, POINT=FILE arguments, the default point name."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from capkit import eth, idb, ipv4, pcap, shb, tcp
from nettrail.capture import detect_format, open_capture, parse_point_arg, utf16_order
from nettrail.errors import CaptureError, InputError
from nettrail.model.packet import SYN

FRAME = eth(ipv4("198.51.100.2", "203.0.113.10", 6, tcp(1, 2, SYN)))


@pytest.mark.parametrize(("content", "fmt"), [
    (pcap([(0, FRAME)]), "pcap"),
    (pcap([(0, FRAME)], nano=True, big=True), "pcap"),
    (shb() + idb(), "pcapng"),
    (b"12:00:00.000001 IP 198.51.100.2.40000 > 203.0.113.10.22: Flags [S], length 0\n",
     "tcpdump-text"),
])
def test_detect_format(tmp_path: Path, content: bytes, fmt: str) -> None:
    path = tmp_path / "f"
    path.write_bytes(content)
    assert detect_format(str(path)) == fmt


@pytest.mark.parametrize("content", [bytes(range(256)) * 4, b"\x7fELF\x02\x01\x01" + b"\0" * 60])
def test_binary_garbage_is_rejected_at_byte_zero(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "garbage.bin"
    path.write_bytes(content)
    with pytest.raises(CaptureError, match="not a pcap, pcapng or tcpdump text") as info:
        open_capture(str(path))
    assert info.value.offset == 0 and info.value.path == str(path)


def test_point_defaults_to_stem(tmp_path: Path) -> None:
    path = tmp_path / "router-ns.pcap"
    path.write_bytes(pcap([(0, FRAME)]))
    cap = open_capture(str(path))
    assert cap.point == "router-ns" and next(iter(cap)).point == "router-ns"


def test_parse_point_arg(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert parse_point_arg("host1=a.pcap") == ("host1", "a.pcap")
    assert parse_point_arg("a.pcap") == ("a", "a.pcap")
    assert parse_point_arg("dir/sub/b.pcapng") == ("b", "dir/sub/b.pcapng")
    assert parse_point_arg("net-node.1=/x/y=z.pcap") == ("net-node.1", "/x/y=z.pcap")
    assert parse_point_arg("/tmp/a=b.pcap") == ("a=b", "/tmp/a=b.pcap")
    monkeypatch.chdir(tmp_path)
    (tmp_path / "k=v.pcap").write_bytes(b"")
    assert parse_point_arg("k=v.pcap") == ("k=v", "k=v.pcap")
    with pytest.raises(InputError, match="missing file"):
        parse_point_arg("host1=")
    with pytest.raises(InputError):
        parse_point_arg("")
    assert os.path.exists("k=v.pcap")


def test_iterating_twice_reads_again_with_fresh_stats(tmp_path: Path) -> None:
    path = tmp_path / "two.pcap"
    path.write_bytes(pcap([(0, FRAME), (1, eth(b"\0" * 46, etype=0x88CC))]))
    cap = open_capture(str(path))
    stats = cap.stats
    assert len(list(cap)) == 2 and len(list(cap)) == 2
    assert cap.stats is stats and stats.packets == 2 and stats.skipped == {"other-protocol:lldp": 1}


@pytest.mark.parametrize("kind", ["gzip", "xz", "bzip2"])
def test_compressed_capture_gets_a_hint(kind: str, tmp_path: Path) -> None:
    import bz2
    import gzip
    import lzma

    compress = {"gzip": gzip.compress, "xz": lzma.compress, "bzip2": bz2.compress}[kind]
    path = tmp_path / "c.pcap.z"
    path.write_bytes(compress(pcap([(0, FRAME)])))
    with pytest.raises(CaptureError, match=f"{kind}-compressed file: decompress it first"):
        open_capture(str(path))


def test_text_turning_binary_keeps_the_good_lines(tmp_path: Path) -> None:
    path = tmp_path / "pasted.txt"
    path.write_bytes(
        b"08:00:00.000001 IP 198.51.100.1.1000 > 198.51.100.2.80: Flags [S], seq 1, "
        b"win 100, length 0\n\x00\x01\x02garbage\n"
    )
    assert detect_format(str(path)) == "tcpdump-text"
    capture = open_capture(str(path))
    records = []
    with pytest.raises(CaptureError) as info:
        records.extend(capture)
    assert len(records) == 1 and records[0].tcp is not None and records[0].tcp.flags == SYN
    assert info.value.line == 2


TEXT_LINE = "08:10:54.514309 IP 198.51.100.4.51512 > 203.0.113.2.22: Flags [S], length 0\n"


@pytest.mark.parametrize("head", [
    TEXT_LINE.encode(),  # UTF-8 text
    bytes(range(256)) * 4,  # binary
    b"\x00" * 64,  # zeros
    "a".encode("utf-16-le"),  # one unit: too short to tell
    "é—ß 08:10".encode().ljust(32, b"\x00"),  # text then padding
])
def test_only_text_encoded_as_utf16_reads_as_utf16(head: bytes) -> None:
    assert utf16_order(head) is None


@pytest.mark.parametrize(("codec", "order"), [("utf-16-le", "LE"), ("utf-16-be", "BE")])
def test_utf16_text_cut_anywhere_is_told_by_its_byte_order(codec: str, order: str) -> None:
    data = (TEXT_LINE * 60).encode(codec)
    for cut in (5, 100, 4095, 4096):
        assert utf16_order(data[:cut]) == order
