"""A packet table's rows as a sequence of records, each built when it is asked for.

Cross-point analysis reads most rows' fields from the columns and needs few rows' records
(those of suspects and of the packets its findings name): ``TableRows`` stands for the list
of every record without building it. Iterating builds them in order, a chunk of rows at a
time.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import overload

import numpy as np
import numpy.typing as npt

from nettrail.model.packet import PacketRecord, TCPHeader
from nettrail.model.table import PacketTable

_CHUNK = 4096
_FIRST_CHUNK = 16


class TableRows(Sequence[PacketRecord]):
    """The records of ``table``'s rows, in row order, built on demand (``take`` builds many
    at once). The records are equal to ``table.records()``'s. ``shared``: TCP headers by
    their column values, as ``PacketTable.records`` takes them (several points' rows that
    are the same packet then share one header)."""

    __slots__ = ("_binary", "_len", "_shared", "table")

    def __init__(self, table: PacketTable,
                 shared: dict[tuple[int, ...], TCPHeader] | None = None) -> None:
        self.table = table
        self._len = len(table)
        self._shared = {} if shared is None else shared
        self._binary: bool | None = None

    def __len__(self) -> int:
        return self._len

    @overload
    def __getitem__(self, i: int) -> PacketRecord: ...

    @overload
    def __getitem__(self, i: slice) -> list[PacketRecord]: ...

    def __getitem__(self, i: int | slice) -> PacketRecord | list[PacketRecord]:
        if isinstance(i, slice):
            return self.take(np.arange(self._len, dtype=np.int64)[i])
        if i < 0:
            i += self._len
        if not 0 <= i < self._len:
            raise IndexError("row out of range")
        return self.table.record(i)

    def __iter__(self) -> Iterator[PacketRecord]:
        # a chunk at a time, the first ones small: a reader that stops early (often at the
        # first packet) builds few records
        start, size = 0, _FIRST_CHUNK
        while start < self._len:
            yield from self.table.records_of(
                np.arange(start, min(start + size, self._len), dtype=np.int64), self._shared)
            start += size
            size = min(size * 4, _CHUNK)

    def take(self, rows: npt.NDArray[np.int64]) -> list[PacketRecord]:
        """The records of ``rows`` (row numbers), in that order."""
        return self.table.records_of(np.asarray(rows, np.int64), self._shared)

    def binary(self) -> bool:
        """True when no row is from text input: every row has its capture's link type, and
        its time is usable (``time_ok``). Found once (cross-point analysis asks at each
        step that could skip a per-record pass)."""
        if self._binary is None:
            t = self.table
            self._binary = (all(b.rebuild is None for b in t.batches)
                            and bool((t.column("linktype") >= 0).all())
                            and all(r.linktype >= 0 and r.time_ok
                                    for b in t.batches for r in b.odd.values()))
        return self._binary

    def names(self) -> set[str | None]:
        """Every row's interface name and network namespace (None where it has none)."""
        t = self.table
        iface = t.column("iface")
        odd = t.odd_rows()
        plain = np.ones(len(iface), bool)
        plain[list(odd)] = False
        out: set[str | None] = {t.ifnames[i] if i >= 0 else None
                                for i in np.unique(iface[plain]).tolist()}
        if plain.any():
            out.add(None)  # a record built from the columns has no network namespace
        for r in odd.values():
            out.add(r.ifname)
            out.add(r.netns)
        return out
