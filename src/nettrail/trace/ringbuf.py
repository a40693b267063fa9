"""Batch reader of a BPF ring buffer map, mapped into this process (no callback per event).

The layout is the kernel's (kernel/bpf/ringbuf.c, as libbpf's ringbuf.c reads it): page 0
holds ``consumer_pos`` (ours to write), page 1 ``producer_pos``, then the data area mapped
twice so a record that wraps is contiguous. Each record has an 8-byte header: ``len`` with
a BUSY bit (still being written) and a DISCARD bit, and a page offset we do not need.
"""

from __future__ import annotations

import mmap
import struct

import numpy as np

from nettrail.errors import TraceError

BUSY = 1 << 31
DISCARD = 1 << 30
_HDR = struct.Struct("<I")


class RingReader:
    """Reads records of one fixed size (``record``: ring header included) in batches.

    The committed records between the consumer and producer positions are contiguous (the data
    area is mapped twice), so a batch is one copy of that span: the records' bytes, back to
    back, for ``np.frombuffer`` (or ``struct.iter_unpack``).
    """

    def __init__(self, fd: int, size: int, record: struct.Struct) -> None:
        page = mmap.PAGESIZE
        try:
            self._cons = mmap.mmap(fd, page, mmap.MAP_SHARED,
                                   mmap.PROT_READ | mmap.PROT_WRITE, offset=0)
            self._prod = mmap.mmap(fd, page + 2 * size, mmap.MAP_SHARED, mmap.PROT_READ,
                                   offset=page)
        except OSError as exc:
            raise TraceError(f"cannot map the event ring buffer: {exc.strerror}") from exc
        self._cpos = memoryview(self._cons).cast("Q")
        self._pview = memoryview(self._prod)
        self._ppos = self._pview[:8].cast("Q")
        self._data = self._pview[page:]
        self._words = self._data.cast("I")
        self._mask = size - 1
        self._record = record
        self._rsize = record.size
        if self._rsize % 8:
            raise TraceError(f"ring records must be 8-byte multiples, not {self._rsize}")
        self.skipped = 0

    def pending(self) -> int:
        """Bytes reserved by the kernel and not yet consumed."""
        return int(self._ppos[0] - self._cpos[0])

    def drain(self, limit: int = 1 << 30) -> bytes:
        """Every committed record now in the buffer (at most ``limit``), in order, back to back."""
        out: list[bytes] = []
        count = 0
        while count < limit:
            before = self._cpos[0]
            chunk = self._batch(limit - count)
            if chunk:
                out.append(chunk)
                count += len(chunk) // self._rsize
            if self._cpos[0] == before:
                break
        return out[0] if len(out) == 1 else b"".join(out)

    def _batch(self, limit: int) -> bytes:
        cons = self._cpos[0]
        avail = self._ppos[0] - cons
        rsize = self._rsize
        n = min(avail // rsize, limit, (self._mask + 1) // rsize)
        if n <= 0:
            return b""
        off = cons & self._mask
        step = rsize // 4
        heads = np.asarray(self._words[off // 4 : off // 4 + n * step : step])
        want = rsize - 8
        if (heads != want).any():
            n = self._clean_prefix(heads.tolist(), want)
            if n == 0:
                self._odd_record(cons, off)
                return b""
        out = bytes(self._data[off : off + n * rsize])
        self._cpos[0] = cons + n * rsize
        return out

    @staticmethod
    def _clean_prefix(heads: list[int], want: int) -> int:
        """How many leading records are committed, of our size, and not discarded."""
        for i, h in enumerate(heads):
            if h != want:
                return i
        return len(heads)

    def _odd_record(self, cons: int, off: int) -> None:
        """Step over one discarded or foreign-size record; stop at a busy one."""
        (length,) = _HDR.unpack_from(self._data, off)
        if length & BUSY:
            return
        size = length & ~(BUSY | DISCARD)
        self._cpos[0] = cons + ((size + 8 + 7) & ~7)
        self.skipped += 1

    def close(self) -> None:
        """Unmap and stop waiting (idempotent)."""
        for view in ("_words", "_ppos", "_data", "_pview", "_cpos"):
            v = getattr(self, view, None)
            if v is not None:
                v.release()
                setattr(self, view, None)
        self._prod.close()
        self._cons.close()
