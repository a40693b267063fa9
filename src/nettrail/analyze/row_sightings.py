"""Sightings of table rows made when asked for: ``RowSighting`` (its record built when first
asked for) and ``LazySightings`` (a point's sightings, those of its TCP rows made when first
asked for, alone or in bulk)."""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from itertools import compress, repeat
from operator import is_not
from typing import Any, cast, overload

import numpy as np

from nettrail.analyze.columns import stable_order
from nettrail.analyze.correlate import Form, Sighting, fill_sighting
from nettrail.model.arrays import Ints
from nettrail.model.packet import PROTO_TCP, PacketRecord
from nettrail.model.rows import TableRows
from nettrail.model.table import K_IPID, K_TS, K_TTL

_RECORD: Any = Sighting.__dict__["record"]  # the slot: RowSighting puts a property over it


class RowSighting(Sighting):
    """A table row's sighting, seen once: its record is built when first asked for."""

    __slots__ = ("_row", "_rows", "ttl")

    def __init__(self, rows: TableRows, row: int, idx: int, form: Form, ts: int, flags: int,
                 seq: int, ack: int, plen: int, ip_id: int | None, ip_len: int,
                 ts_val: int | None, ttl: int | None = None) -> None:
        self._rows = rows
        self._row = row
        self.ttl = ttl
        self.idx = idx
        _RECORD.__set__(self, None)
        fill_sighting(self, rows.table.point, form, ts, PROTO_TCP, flags, seq, ack, plen, ip_id,
                      ip_len, ts_val)

    def arrival_ttl(self) -> int | None:
        """The row's TTL, read with its other columns (no record built for it)."""
        return self.ttl if self._more is None else super().arrival_ttl()

    @property
    def record(self) -> PacketRecord:
        """The row's record (built once, when first asked for)."""
        rec: PacketRecord | None = _RECORD.__get__(self)
        if rec is None:
            rec = self._rows[self._row]
            _RECORD.__set__(self, rec)
        return rec

    @record.setter
    def record(self, value: PacketRecord) -> None:
        _RECORD.__set__(self, value)


class LazySightings(Sequence[Sighting]):
    """A point's sightings in order, as ``fold_columns`` folds them: those of its TCP rows
    are made when first asked for (alone, or in bulk by ``make``), the others at once.
    ``offset``: the point's clock offset, given to every sighting made (``set_offset``)."""

    __slots__ = ("_form_at", "_forms", "_made", "_others", "_row_at", "_rows", "_slots",
                 "offset")

    def __init__(self, slots: list[Sighting | None], rows: TableRows, row_at: Ints,
                 form_at: Ints, forms: list[Form]) -> None:
        self._slots = slots
        made = compress(slots, map(is_not, slots, repeat(None)))  # (in C: most are empty)
        self._others = cast(list[Sighting], list(made))
        self._made: list[Sighting] = []  # the TCP rows' made so far
        self._rows = rows
        self._row_at = row_at  # each slot's table row (-1: made at once)
        self._form_at = form_at  # each slot's place in ``forms`` (TCP rows)
        self._forms = forms
        self.offset = 0

    def __len__(self) -> int:
        return len(self._slots)

    @overload
    def __getitem__(self, k: int) -> Sighting: ...

    @overload
    def __getitem__(self, k: slice) -> list[Sighting]: ...

    def __getitem__(self, k: int | slice) -> Sighting | list[Sighting]:
        if isinstance(k, slice):
            return list(self)[k]
        s = self._slots[k]
        if s is None:
            self.make(np.array([k if k >= 0 else k + len(self._slots)], np.int64))
            s = self._slots[k]
            assert s is not None
        return s

    def __iter__(self) -> Iterator[Sighting]:
        self.make_all()
        return iter(self._slots)  # type: ignore[arg-type]  # every slot is made

    def others(self) -> list[Sighting]:
        """The sightings made at once, in order: those of rows that are not column TCP rows
        (only these can be ICMP, or hold several copies)."""
        return self._others

    def make_all(self) -> None:
        """Make every sighting not made yet."""
        if None in self._slots:
            self.make(np.flatnonzero(self._row_at >= 0))

    def set_offset(self, offset: int) -> None:
        """Give every sighting, made and to be made, the point's clock offset."""
        self.offset = offset
        for s in self._others:
            s.offset = offset
        for s in self._made:
            s.offset = offset

    def make(self, ks: Ints) -> None:
        """Make the sightings of slots ``ks`` (those not made yet), reading their rows'
        columns once."""
        slots = self._slots
        ks = ks[self._row_at[ks] >= 0]
        if not len(ks):
            return
        rows = self._rows
        col = rows.table.column
        at = self._row_at[ks]
        forms = self._forms
        new, offset, made = RowSighting, self.offset, self._made
        for k, row, f, ts, flags, seq, ack, plen, kn, ip_id, ip_len, ts_val, ttl in zip(
                ks.tolist(), at.tolist(), self._form_at[ks].tolist(),
                *(col(c)[at].tolist() for c in (
                    "ts", "flags", "seq", "ack", "payload_len", "known", "ip_id", "ip_len",
                    "ts_val", "ttl")), strict=True):
            if slots[k] is not None:
                continue
            s = slots[k] = new(rows, row, k, forms[f], ts, flags, seq, ack, plen,
                               ip_id if kn & K_IPID else None, ip_len,
                               ts_val if kn & K_TS else None, ttl if kn & K_TTL else None)
            s.offset = offset
            made.append(s)


def take(items: Sequence[Sighting], numbers: Ints) -> list[Sighting]:
    """``items[k]`` for each of ``numbers``, made in bulk first when ``items`` makes them."""
    if isinstance(items, LazySightings):
        items.make(numbers)
        return cast(list[Sighting], list(map(items._slots.__getitem__, numbers.tolist())))
    return [items[k] for k in numbers.tolist()]


def build_records(sightings: Iterable[Sighting]) -> None:
    """Build the records of the row sightings among ``sightings`` that have none yet, in bulk
    per table (before a step that reads every one's record: a row at a time costs more)."""
    wanted: dict[int, tuple[TableRows, list[RowSighting]]] = {}
    for s in sightings:
        if type(s) is RowSighting and _RECORD.__get__(s) is None:
            got = wanted.get(id(s._rows))
            if got is None:
                got = wanted[id(s._rows)] = (s._rows, [])
            got[1].append(s)
    for rows, items in wanted.values():
        at = np.array([s._row for s in items], np.int64)
        order = stable_order(at)  # the rows in table order: read in one sweep
        records = rows.take(at[order])
        for k, rec in zip(order.tolist(), records, strict=True):
            _RECORD.__set__(items[k], rec)
