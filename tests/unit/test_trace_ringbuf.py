"""The batch ring reader on a memory file laid out as the kernel lays out a BPF ring buffer."""

from __future__ import annotations

import mmap
import os
import struct
from collections.abc import Iterator

import pytest

from nettrail.trace.ringbuf import BUSY, DISCARD, RingReader

PAGE = mmap.PAGESIZE
SIZE = 4096
REC = struct.Struct("<II Q 8s")  # ring header + a u64 + 8 bytes: 24 bytes


class FakeRing:
    """Consumer page, producer page, data area twice (the kernel maps it twice)."""

    def __init__(self) -> None:
        self.fd = os.memfd_create("ntF-ring")
        os.ftruncate(self.fd, 2 * PAGE + 2 * SIZE)
        self.mem = mmap.mmap(self.fd, 2 * PAGE + 2 * SIZE)
        self.prod = 0

    def put(self, value: int, flags: int = 0, size: int = REC.size - 8) -> None:
        rec = struct.pack("<II", size | flags, 0) + struct.pack("<Q8s", value, b"x" * 8)
        rec = rec[: size + 8].ljust((size + 8 + 7) & ~7, b"\0")
        for i, byte in enumerate(rec):
            off = (self.prod + i) % SIZE
            self.mem[2 * PAGE + off] = byte
            self.mem[2 * PAGE + SIZE + off] = byte
        self.prod += len(rec)
        struct.pack_into("<Q", self.mem, PAGE, self.prod)

    def set_flags(self, at: int, flags: int) -> None:
        for base in (2 * PAGE, 2 * PAGE + SIZE):
            (length,) = struct.unpack_from("<I", self.mem, base + at % SIZE)
            struct.pack_into("<I", self.mem, base + at % SIZE, (length & ~BUSY) | flags)


@pytest.fixture
def ring() -> Iterator[tuple[FakeRing, RingReader]]:
    fake = FakeRing()
    reader = RingReader(fake.fd, SIZE, REC)
    yield fake, reader
    reader.close()
    fake.mem.close()
    os.close(fake.fd)


def values(batch: bytes) -> list[object]:
    return [r[2] for r in REC.iter_unpack(batch)]


def test_batches_wrap_and_busy(ring: tuple[FakeRing, RingReader]) -> None:
    fake, reader = ring
    assert reader.drain() == b""
    n = 0
    for _round in range(3):  # 3 x 150 records of 24 bytes wrap the 4096-byte area
        for _ in range(150):
            fake.put(n)
            n += 1
        got = reader.drain()
        assert values(got) == list(range(n - 150, n))
        assert REC.unpack_from(got)[3] == b"x" * 8
    # a record still being written stops the batch; the ones after it wait for it
    busy_at = fake.prod
    fake.put(1000)
    fake.put(1001)
    fake.set_flags(busy_at, BUSY)
    assert reader.drain() == b"" and reader.pending() == 48
    fake.set_flags(busy_at, 0)
    assert values(reader.drain()) == [1000, 1001]


def test_discarded_and_foreign_records_are_skipped(ring: tuple[FakeRing, RingReader]) -> None:
    fake, reader = ring
    fake.put(1)
    fake.put(2, flags=DISCARD)
    fake.put(3, size=12)
    fake.put(4)
    assert values(reader.drain()) == [1, 4]
    assert reader.skipped == 2 and reader.pending() == 0


def test_limit(ring: tuple[FakeRing, RingReader]) -> None:
    fake, reader = ring
    for i in range(10):
        fake.put(i)
    assert values(reader.drain(limit=4)) == [0, 1, 2, 3]
    assert values(reader.drain()) == list(range(4, 10))
