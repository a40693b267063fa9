"""The pcap table walker's bulk record walk finds the same record starts as the
record-by-record loop, whatever the payloads hold (headers planted in them, stray
candidates), where the buffer ends, and in either byte order."""

from __future__ import annotations

import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from nettrail.capture import table_pcap
from nettrail.capture.columns import PAD
from nettrail.capture.table_pcap import _BE_MARKS, _LE_MARKS, _chained
from nettrail.report.json import to_dict
from nettrail.run import analyze_files

ROOT = Path(__file__).resolve().parents[2]


def loop_walk(buf: bytes, end: int, start: int, order: str) -> tuple[list[int], int]:
    """The reader's loop: whole records from ``start``; where it stopped."""
    out = []
    pos = start
    while pos <= end - 16:
        stop = pos + 16 + struct.unpack_from(order + "I", buf, pos + 8)[0]
        if stop > end:
            break
        out.append(pos)
        pos = stop
    return out, pos


def records(rng: np.random.Generator, order: str, n: int, plant: float,
            sec: int = 1_700_000_000) -> bytes:
    """``n`` records of random lengths, the time from ``sec`` on; a share ``plant`` of
    payloads hold copies of a record header (true-looking and with wrong lengths) at random
    places."""
    out = bytearray()
    for i in range(n):
        caplen = int(rng.choice([0, 1, 15, 16, 17, 60, 74, 200, 1514]))
        head = struct.pack(order + "IIII", sec + i // 50, i, caplen, caplen + 4)
        body = bytearray(rng.integers(0, 256, caplen, dtype=np.uint8).tobytes())
        if caplen >= 16 and rng.random() < plant:
            at = int(rng.integers(0, caplen - 15))
            fake = int(rng.choice([0, 3, 40, caplen, 70000]))
            body[at : at + 16] = struct.pack(order + "IIII", sec + i // 50, 7, fake, fake)
        out += head + body
    return bytes(out)


@pytest.mark.parametrize("order", ["<", ">"])
@pytest.mark.parametrize("plant", [0.0, 0.3, 1.0])
@pytest.mark.parametrize("sec", [1_700_000_000, 0x6553FFFC, 0])  # the high bytes change; zero
@pytest.mark.parametrize("breaks", [256, 3])
def test_bulk_walk_then_loop_is_the_loop(order: str, plant: float, sec: int, breaks: int,
                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(table_pcap, "_CHAIN_BREAKS", breaks)
    rng = np.random.default_rng(7)
    marks = _LE_MARKS if order == "<" else _BE_MARKS
    u32 = np.dtype(order + "u4")
    data = records(rng, order, 400, plant, sec)
    ends = [0, 1, 15, 16, 17, 100, len(data) // 2, len(data) - 1, len(data)]
    ends += rng.integers(0, len(data), 40).tolist()
    for end in ends:
        buf = np.frombuffer(data[:end] + bytes(PAD + 16), np.uint8)
        chained, pos = _chained(buf, end, marks, u32)
        rest, stop = loop_walk(data, end, pos, order)
        assert chained.tolist() + rest == loop_walk(data, end, 0, order)[0], end
        assert stop == loop_walk(data, end, 0, order)[1], end
        if plant == 0.0 and end == len(data) and sec == 1_700_000_000:
            assert len(chained) == 400  # nothing stray: the bulk walk took every record


@pytest.mark.parametrize("mix", ["web", "bulk"])
def test_chunked_reads_analyse_the_same(mix: str, tmp_path: Path,
                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """Small chunks (records cut at every boundary), the bulk walk on every chunk or on
    none: the same analysis."""
    out = tmp_path / f"{mix}.pcap"
    subprocess.run([sys.executable, str(ROOT / "bench" / "gen_capture.py"), str(out),
                    "--packets", "6000", "--seed", "2", "--mix", mix], check=True)
    whole = to_dict(analyze_files([("p", str(out))]).analysis)
    for chunk, mean in ((4096, 1 << 20), (4096, 0), (65536, 1 << 20), (1 << 20, 0)):
        monkeypatch.setattr(table_pcap, "CHUNK", chunk)
        monkeypatch.setattr(table_pcap, "BULK_MAX_MEAN", mean)
        assert to_dict(analyze_files([("p", str(out))]).analysis) == whole, (chunk, mean)
    assert whole["points"][0]["packets"] == 6000
