"""A point's packet table within a memory budget: past it, rows go to disk in partitions
by connection key.

:class:`SpillTable` holds its batches in memory until they exceed ``memory_rows`` rows. Then
every row, those held and every later one, goes to one of K partition files, chosen by a hash
of the row's direction-normalised endpoints (address family, addresses, ports): every row of
one connection key lands in the same partition, in capture order.
:meth:`SpillTable.partitions` lists the partition files, a partition larger than
``part_rows`` split again by another hash first; :meth:`SpillTable.load` reads one back as a
packet table (sharing the point's file, interface and address lists, so every column value
means what it meant). Each partition row keeps its row number
in the whole table (``Partition.origin``). The files live in one temporary directory, removed
when the table is closed.

A partition file is a run of chunks: the row count and the size of the kept records (16
bytes), each column's values (in ``COLUMNS`` order), the rows' numbers in the whole table,
then the kept records (pickled, by row).
"""

from __future__ import annotations

import itertools
import math
import os
import pickle
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any, NamedTuple

import numpy as np

from nettrail.model.arrays import Arr
from nettrail.model.table import COLUMNS, Batch, PacketTable, Rebuild

MEMORY_ROWS = 1_500_000
"""Rows a table holds in memory before it spills (about 70 bytes each)."""

PART_ROWS = 1_000_000
"""The most rows a partition should hold when it is analysed."""

MAX_PARTS = 256
"""The most partition files written at once (a larger estimate splits again on reading)."""

_HEAD = struct.Struct("<QQ")
_MIX = (np.uint64(0x9E3779B97F4A7C15), np.uint64(0xBF58476D1CE4E5B9),
        np.uint64(0x94D049BB133111EB))
_MASK64 = (1 << 64) - 1
_SERIAL = itertools.count()
_DEPTH = 4  # splits of one partition at most (one connection key cannot be split)



def key_hash(cols: dict[str, Arr]) -> Arr:
    """A 64-bit hash per row of its connection key: the same for both directions."""
    tag = (cols["family"] != 4).astype(np.uint64) << np.uint64(48)
    a = tag | (cols["src"].astype(np.uint64) << np.uint64(16)) | cols["sport"]
    b = tag | (cols["dst"].astype(np.uint64) << np.uint64(16)) | cols["dport"]
    h = np.minimum(a, b) * _MIX[0]
    h ^= np.maximum(a, b)
    h *= _MIX[1]
    h ^= h >> np.uint64(31)
    out: Arr = h
    return out


def partition_of(h: Arr, k: int, salt: int) -> Arr:
    """The partition (0 .. ``k``-1) of each key hash, for a split at depth ``salt`` (each
    depth mixes the hash anew, so a split of one partition spreads its keys)."""
    x = h + np.uint64(salt * int(_MIX[0]) & _MASK64)  # then splitmix64's finaliser
    x ^= x >> np.uint64(30)
    x *= _MIX[1]
    x ^= x >> np.uint64(27)
    x *= _MIX[2]
    x ^= x >> np.uint64(31)
    out: Arr = ((x >> np.uint64(32)) % np.uint64(k)).astype(np.intp)
    return out


class Budget(NamedTuple):
    """How many rows a point's table may hold in memory before it spills to partitions,
    and how many a partition should hold."""

    memory_rows: int = MEMORY_ROWS
    part_rows: int = PART_ROWS


DEFAULT_BUDGET = Budget()
"""The budget ``nettrail analyze`` reads within."""


class Partition(PacketTable):
    """Some connection keys' rows of a spilled table, in capture order."""

    def __init__(self, whole: PacketTable, batches: list[Batch], origin: Arr) -> None:
        super().__init__(whole.point, whole.files, whole.ifnames, whole.addrs, batches)
        self.origin = origin
        """Each row's number in the whole table."""


class PartFile(NamedTuple):
    """A partition file and its row count."""

    path: str
    rows: int


class _Builders:
    """The record builders (``Batch.rebuild``) of a spilled table's batches, one per source
    (a text file's reader): partition files name them by number and carry their rows' part."""

    def __init__(self) -> None:
        self.known: list[Rebuild] = []
        self.index: dict[int, int] = {}  # id of a source -> its number

    def number(self, rebuild: Rebuild) -> int:
        """The number of ``rebuild``'s source (remembered when new)."""
        key = id(rebuild.source)
        n = self.index.get(key)
        if n is None:
            n = self.index[key] = len(self.known)
            self.known.append(rebuild)
        return n


class _Spill:
    """K partition files being written."""

    def __init__(self, directory: str, k: int, salt: int, builders: _Builders) -> None:
        self.k, self.salt, self.builders = k, salt, builders
        n = next(_SERIAL)
        self.paths = [os.path.join(directory, f"part-{n}-{i}") for i in range(k)]
        self.files: list[IO[bytes]] = [open(p, "wb") for p in self.paths]  # noqa: SIM115
        self.rows = [0] * k

    def add(self, batch: Batch, origin: Arr) -> None:
        """Write each row of ``batch`` (``origin``: their numbers) to its partition."""
        n = len(batch)
        if n == 0:
            return
        part = partition_of(key_hash(batch.cols), self.k, self.salt)
        order = np.argsort(part, kind="stable")
        counts = np.bincount(part, minlength=self.k)
        bounds = np.concatenate(([0], np.cumsum(counts)))
        odd: list[dict[int, Any]] = [{} for _ in range(self.k)]
        if batch.odd:
            rank = np.empty(n, np.intp)
            rank[order] = np.arange(n) - bounds[part[order]]
            for i, rec in batch.odd.items():
                odd[int(part[i])][int(rank[i])] = rec
        rebuild = batch.rebuild
        source = -1 if rebuild is None else self.builders.number(rebuild)
        for p in np.flatnonzero(counts).tolist():
            sel = order[bounds[p] : bounds[p + 1]]
            aux = None if rebuild is None else (source, rebuild.part(sel))
            _write_chunk(self.files[p], {k: v[sel] for k, v in batch.cols.items()},
                         origin[sel], odd[p], aux)
            self.rows[p] += len(sel)

    def close(self) -> list[PartFile]:
        """Close every file; the partitions written."""
        for f in self.files:
            f.close()
        return [PartFile(p, n) for p, n in zip(self.paths, self.rows, strict=True)]


Aux = tuple[int, object] | None
"""What a chunk carries of its rows' record builder: the builder's number and its rows'
part (``Rebuild.part``); None for rows built from the columns."""


def _write_chunk(f: IO[bytes], cols: dict[str, Arr], origin: Arr, odd: dict[int, Any],
                 aux: Aux) -> None:
    kept = pickle.dumps((odd, aux), pickle.HIGHEST_PROTOCOL) if odd or aux else b""
    f.write(_HEAD.pack(len(origin), len(kept)))
    for name in COLUMNS:
        f.write(np.ascontiguousarray(cols[name]).data)
    f.write(np.ascontiguousarray(origin, np.int64).data)
    f.write(kept)


def _chunks(path: str) -> Iterator[tuple[dict[str, Arr], Arr, dict[int, Any], Aux]]:
    """The chunks of a partition file, in order: columns, row numbers, kept records and
    record builder part."""
    with open(path, "rb") as f:
        while head := f.read(_HEAD.size):
            n, size = _HEAD.unpack(head)
            cols = {}
            fields: list[tuple[str, Any]] = [*COLUMNS.items(), ("", np.int64)]
            for name, dtype in fields:
                col = np.empty(n, dtype)
                f.readinto(col.data.cast("B"))
                cols[name] = col
            origin = cols.pop("")
            odd, aux = pickle.loads(f.read(size)) if size else ({}, None)
            yield cols, origin, odd, aux


@dataclass
class SpillTable(PacketTable):
    """A packet table that moves its rows to partition files past ``memory_rows`` rows."""

    memory_rows: int = MEMORY_ROWS
    part_rows: int = PART_ROWS
    expected_bytes: int = 0
    """Size of the files that will fill the table (how many partitions to start with)."""
    _spill: _Spill | None = field(default=None, repr=False)
    _dir: tempfile.TemporaryDirectory[str] | None = field(default=None, repr=False)
    _count: int = 0  # rows spilled so far
    _builders: _Builders = field(default_factory=_Builders, repr=False)

    @property
    def spilled(self) -> bool:
        """Whether the rows went to partition files (then only :meth:`partitions` has them)."""
        return self._spill is not None

    def _keep(self, batch: Batch) -> None:
        """Hold a batch: in memory within the budget, else in the partitions."""
        if self._spill is None:
            self.batches.append(batch)
            if len(self) > self.memory_rows:
                self._start()
            return
        n = len(batch)
        self._spill.add(batch, np.arange(self._count, self._count + n, dtype=np.int64))
        self._count += n

    def _start(self) -> None:
        """Spill the rows held so far; the partition count from the rows per byte so far."""
        rows = len(self)
        wire = sum(int(b.cols["wire_len"].sum()) for b in self.batches) + 16 * rows
        estimate = self.expected_bytes * rows / max(wire, 1)
        k = min(MAX_PARTS, max(2, math.ceil(max(estimate, rows) * 1.1 / self.part_rows)))
        self._dir = tempfile.TemporaryDirectory(prefix="nettrail-")
        self._spill = _Spill(self._dir.name, k, 0, self._builders)
        held, self.batches = self.batches, []
        for b in held:
            self._keep(b)

    def partitions(self) -> list[PartFile]:
        """The partition files, every one within ``part_rows`` rows unless it holds one
        connection key only (an empty list when the table did not spill)."""
        if self._spill is None:
            return []
        return [p for p in self._split(self._spill.close(), 1) if p.rows]

    def _split(self, parts: list[PartFile], depth: int) -> Iterator[PartFile]:
        assert self._dir is not None
        for part in parts:
            if part.rows <= self.part_rows or depth > _DEPTH:
                yield part
                continue
            sub = _Spill(self._dir.name, math.ceil(part.rows / self.part_rows) + 1, depth,
                         self._builders)
            for cols, origin, odd, aux in _chunks(part.path):
                sub.add(Batch(cols, odd, self._rebuild(aux, cols)), origin)
            written = sub.close()
            os.unlink(part.path)
            if max(p.rows for p in written) < part.rows:
                yield from self._split(written, depth + 1)
            else:  # one connection key: as it is
                yield from written

    def load(self, part: PartFile) -> Partition:
        """The rows of one partition file as a table: one batch, or one per run of rows of
        one record builder (a point of several files, text and binary)."""
        cols = {name: np.empty(part.rows, dtype) for name, dtype in COLUMNS.items()}
        origin = np.empty(part.rows, np.int64)
        odd: dict[int, Any] = {}
        runs: list[tuple[int, int | None, list[object]]] = []  # start, builder, parts
        at = 0
        for chunk, numbers, kept, aux in _chunks(part.path):
            n = len(numbers)
            for name, col in cols.items():
                col[at : at + n] = chunk[name]
            origin[at : at + n] = numbers
            for i, rec in kept.items():
                odd[at + i] = rec
            source = None if aux is None else aux[0]
            if not runs or runs[-1][1] != source:
                runs.append((at, source, []))
            if aux is not None:
                runs[-1][2].append(aux[1])
            at += n
        batches = []
        for (start, source, parts), end in zip(runs, [*(r[0] for r in runs[1:]), at],
                                               strict=True):
            if len(runs) == 1:
                run_cols, run_odd = cols, odd
            else:
                run_cols = {name: col[start:end] for name, col in cols.items()}
                run_odd = {i - start: rec for i, rec in odd.items() if start <= i < end}
            rebuild = (None if source is None
                       else self._builders.known[source].joined(parts, run_cols))
            batches.append(Batch(run_cols, run_odd, rebuild))
        return Partition(self, batches or [Batch(cols, odd)], origin)

    def _rebuild(self, aux: Aux, cols: dict[str, Arr]) -> Rebuild | None:
        """The record builder of a chunk's rows (None: built from the columns)."""
        return None if aux is None else self._builders.known[aux[0]].joined([aux[1]], cols)

    def close(self) -> None:
        """Remove the partition files (the rows are gone then)."""
        if self._spill is not None:
            self._spill.close()
        if self._dir is not None:
            self._dir.cleanup()
            self._dir = None
