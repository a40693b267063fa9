"""One device captured twice at once (two tcpdumps merged, overlapping files): each packet
stands twice at the same instant. Copies, not retransmissions: no TCP sends a segment again
within a microsecond."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from nettrail.cli.main import main

VM = Path(__file__).parent.parent / "fixtures" / "labruns" / "netnode-client" / "vm.pcap"


def _doubled(src: Path, dst: Path, apart_ns: int) -> None:
    """``src`` (a microsecond pcap) with every packet written again ``apart_ns`` later."""
    data = src.read_bytes()
    out, at = [data[:24]], 24
    while at < len(data):
        sec, usec, incl, _orig = struct.unpack_from("<IIII", data, at)
        rec = data[at:at + 16 + incl]
        usec2 = usec + apart_ns // 1000
        out += [rec, struct.pack("<II", sec + usec2 // 1_000_000, usec2 % 1_000_000) + rec[8:]]
        at += 16 + incl
    dst.write_bytes(b"".join(out))


def _connection(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    assert main(["analyze", "--format", "json", *args]) == 0
    (conn,) = json.loads(capsys.readouterr().out)["connections"]
    return dict(conn)


def test_packets_captured_twice_are_copies(tmp_path: Path,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    assert struct.unpack_from("<I", VM.read_bytes())[0] == 0xA1B2C3D4  # microseconds
    once = _connection([str(VM)], capsys)
    _doubled(VM, tmp_path / "twice.pcap", 0)
    twice = _connection([str(tmp_path / "twice.pcap")], capsys)
    assert twice["retransmissions"] == once["retransmissions"] == 1
    assert twice["copies"] == once["packets"]
    assert main(["analyze", str(tmp_path / "twice.pcap")]) == 0
    assert "captured twice at the same instant on if2" in capsys.readouterr().out


def test_the_same_segment_a_millisecond_later_is_sent_again(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    once = _connection([str(VM)], capsys)
    _doubled(VM, tmp_path / "again.pcap", 1_000_000)
    again = _connection([str(tmp_path / "again.pcap")], capsys)
    assert again["copies"] == 0  # the SYN and each SYN-ACK again (a RST is not counted)
    assert again["retransmissions"] == 2 * once["retransmissions"] + 2
