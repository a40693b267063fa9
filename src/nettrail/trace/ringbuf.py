"""Batch reader of a BPF ring buffer map, mapped into this process (no callback per event).

The layout is the kernel's (kernel/bpf/ringbuf.c, as libbpf's ringbuf.c reads it): page 0
holds ``consumer_pos`` (ours to write), page 1 ``producer_pos``, then the data area mapped
twice so a record that wraps is contiguous. Each record has an 8-byte header: ``len`` with
a BUSY bit (still being written) and a DISCARD bit, and a page offset we do not need.
"""

from __future__ import annotations

import contextlib
import mmap
import select
import struct
from typing import Any

from nettrail.errors import TraceError

BUSY = 1 << 31
DISCARD = 1 << 30
_HDR = struct.Struct("<I")


class RingReader:
    """Reads fixed-size records of a ring buffer map fd in batches, unpacked by ``unpack``."""

    def __init__(self, fd: int, size: int, record: struct.Struct) -> None:
        page = mmap.PAGESIZE
        try:
            self._cons = mmap.mmap(fd, page, mmap.MAP_SHARED,
                                   mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
            self._prod = mmap.mmap(fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ,
                                   offset=page)
            self._epoll = select.epoll()
            self._epoll.register(fd, select.EPOLLIN)
        except OSError as exc:
            raise TraceError(f"cannot map the event ring buffer: {exc.strerror}") from exc
        self._cpos = memoryview(self._cons).cast("Q")
        self._pview = memoryview(self._prod)
        self._ppos = self._pview[:8].cast("Q")
        self._data = self._pview[page:]
        self._mask = size - 1
        self._record = record
        self._rsize = record.size

    def wait(self, timeout_s: float) -> None:
        """Sleep until the kernel signals data or ``timeout_s`` passes."""
        with contextlib.suppress(InterruptedError):
            self._epoll.poll(timeout_s)

    def pending(self) -> int:
        """Bytes written by the kernel and not yet consumed."""
        return int(self._ppos[0] - self._cpos[0])

    def drain(self, limit: int = 1 << 30) -> list[tuple[Any, ...]]:
        """Every complete record now in the buffer (at most ``limit``), unpacked, in order."""
        out: list[tuple[Any, ...]] = []
        cons = self._cpos[0]
        prod = self._ppos[0]
        data = self._data
        mask = self._mask
        unpack = self._record.unpack_from
        want = self._rsize
        hdr = _HDR.unpack_from
        append = out.append
        n = 0
        while cons < prod and n < limit:
            off = cons & mask
            (length,) = hdr(data, off)
            if length & BUSY:
                break
            size = length & ~(BUSY | DISCARD)
            if not length & DISCARD and size == want:
                append(unpack(data, off + 8))
                n += 1
            cons += (size + 8 + 7) & ~7
        self._cpos[0] = cons
        return out

    def close(self) -> None:
        """Unmap and stop waiting (idempotent)."""
        for view in ("_ppos", "_data", "_pview", "_cpos"):
            v = getattr(self, view, None)
            if v is not None:
                v.release()
                setattr(self, view, None)
        self._epoll.close()
        self._prod.close()
        self._cons.close()
