"""Packet blocks built as arrays are the blocks ``PcapngWriter.write_packet`` writes."""

from __future__ import annotations

import io
import random

import numpy as np

from nettrail.report.pcapng import PcapngWriter
from nettrail.report.pcapng_blocks import packet_blocks


def test_packet_blocks_equal_written_packets() -> None:
    rng = random.Random(3)
    n = 500
    frame = np.array([[rng.randrange(256) for _ in range(128)] for _ in range(n)], np.uint8)
    cap = np.array([rng.choice([0, 1, 3, 4, 58, 66, 127, 128]) for _ in range(n)], np.int64)
    wire = np.array([rng.choice([0, 60, 1500, 65535]) for _ in range(n)], np.int64)
    ts = np.array([rng.choice([-5, 0, 1, 2**32 + 7, 1_764_058_200_123_456_789])
                   for _ in range(n)], np.int64)
    ifs = np.array([rng.randrange(3) for _ in range(n)], np.int64)
    comments = [rng.choice(["", "x", "abc", "abcd", "nettrail xmit packet 12 (followed)",
                            "naïve → ns", "NAT " * 30]) for _ in range(n)]
    expected = io.BytesIO()
    writer = PcapngWriter(expected)
    for name in ("a", "b", "c"):
        writer.add_interface(name)
    head = len(expected.getvalue())
    for i in range(n):
        writer.write_packet(int(ifs[i]), int(ts[i]), frame[i, : cap[i]].tobytes(), int(wire[i]),
                            comments[i] or None)
    got = packet_blocks(ifs, ts, frame, cap, wire, comments)
    assert got == expected.getvalue()[head:]
    assert packet_blocks(ifs[:0], ts[:0], frame[:0], cap[:0], wire[:0], []) == b""
    alone = io.BytesIO()
    writer = PcapngWriter(alone)
    writer.add_interface("a")
    start = len(alone.getvalue())
    writer.write_packet(0, 9, frame[0, :7].tobytes(), 7, None)
    assert packet_blocks(np.zeros(1, np.int64), np.array([9]), frame[:1], np.array([7]),
                         np.array([7]), [""]) == alone.getvalue()[start:]
