"""``fold_copies`` of a packet table read as columns, for a point none of whose TCP rows is
a copy of another (``columns.copy_free``) and whose TCP rows are all column rows
(``columns.column_ready``).

Each TCP row is then a sighting of its own (``RowSighting``), its fields read from the
columns, made only when something asks for it (``LazySightings``: cross-point analysis keeps
plain conversations as columns, ``analyze/plain.py``), and its record built only when
something asks for that (the evidence of a finding, a path). The other rows (UDP, ICMP, ...) are folded by ``fold_copies`` from their records, as
before; the sightings come in the order ``fold_copies`` of every record gives them (time
order of their first copy, rows in table order on equal times).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple, overload

import numpy as np
import numpy.typing as npt

from nettrail.analyze.anchors import PointColumns
from nettrail.analyze.columns import groups
from nettrail.analyze.correlate import Form, Sighting, _new_form, fill_sighting, fold_copies
from nettrail.model.cache import Memo
from nettrail.model.flow import Endpoint
from nettrail.model.packet import PROTO_TCP, PacketRecord
from nettrail.model.rows import TableRows
from nettrail.model.table import K_IPID, K_SEQ, K_TS

_RECORD: Any = Sighting.__dict__["record"]  # the slot: RowSighting puts a property over it
Ints = npt.NDArray[np.int64]
_FLAG_BITS = 12  # TCP flags take 9 bits (AE is 0x100)
_LEN_BITS = 17  # payload and IP lengths take 16


class FoldedColumns(NamedTuple):
    """A point's sightings (``fold_rows``) as columns, in their order: ``PointColumns``
    (their ``idx`` set to their place) and each one's strong key packed into three numbers,
    equal exactly where the keys are equal (None when a sighting has no strong key)."""

    columns: PointColumns
    key: tuple[Ints, Ints, Ints] | None


class RowSighting(Sighting):
    """A table row's sighting, seen once: its record is built when first asked for."""

    __slots__ = ("_row", "_rows")

    def __init__(self, rows: TableRows, row: int, idx: int, form: Form, ts: int, flags: int,
                 seq: int, ack: int, plen: int, ip_id: int | None, ip_len: int,
                 ts_val: int | None) -> None:
        self._rows = rows
        self._row = row
        self.idx = idx
        _RECORD.__set__(self, None)
        fill_sighting(self, rows.table.point, form, ts, PROTO_TCP, flags, seq, ack, plen, ip_id,
                      ip_len, ts_val)

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


def fold_rows(rows: TableRows, endpoints: dict[tuple[str, int], Endpoint]) -> list[Sighting]:
    """``fold_copies(rows, endpoints, copy_free=True)``, the TCP rows read as columns."""
    return list(fold_columns(rows, endpoints)[0])


class LazySightings(Sequence[Sighting]):
    """A point's sightings in order, as ``fold_columns`` folds them: those of its TCP rows
    are made when first asked for (alone, or in bulk by ``make``), the others at once.
    ``offset``: the point's clock offset, given to every sighting made (``set_offset``)."""

    __slots__ = ("_form_at", "_forms", "_row_at", "_rows", "_slots", "offset")

    def __init__(self, slots: list[Sighting | None], rows: TableRows, row_at: Ints,
                 form_at: Ints, forms: list[Form]) -> None:
        self._slots = slots
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

    def made(self) -> Iterator[Sighting]:
        """The sightings made so far (every one that is not a column TCP row's among them)."""
        return (s for s in self._slots if s is not None)

    def make_all(self) -> None:
        """Make every sighting not made yet."""
        if None in self._slots:
            self.make(np.flatnonzero(self._row_at >= 0))

    def set_offset(self, offset: int) -> None:
        """Give every sighting, made and to be made, the point's clock offset."""
        self.offset = offset
        for s in self.made():
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
        new, offset = RowSighting, self.offset
        for k, row, f, ts, flags, seq, ack, plen, kn, ip_id, ip_len, ts_val in zip(
                ks.tolist(), at.tolist(), self._form_at[ks].tolist(),
                *(col(c)[at].tolist() for c in (
                    "ts", "flags", "seq", "ack", "payload_len", "known", "ip_id", "ip_len",
                    "ts_val")), strict=True):
            if slots[k] is not None:
                continue
            s = slots[k] = new(rows, row, k, forms[f], ts, flags, seq, ack, plen,
                               ip_id if kn & K_IPID else None, ip_len,
                               ts_val if kn & K_TS else None)
            s.offset = offset


def fold_columns(rows: TableRows, endpoints: dict[tuple[str, int], Endpoint],
                 ) -> tuple[LazySightings, FoldedColumns]:
    """``fold_rows``, its TCP rows' sightings made when asked for (``LazySightings``), and
    its sightings as columns (read off the table's)."""
    table = rows.table
    col = table.column
    odd = table.odd_rows()
    order = np.argsort(col("ts"), kind="stable")  # ``sorted`` by time is stable too
    known = col("known")
    tcp = (col("proto") == PROTO_TCP) & ((known & K_SEQ) != 0)
    if odd:
        tcp[list(odd)] = False
    in_order = tcp[order]
    forms: dict[tuple[str, int, str, int], Form] = {}
    slots: list[Sighting | None] = [None] * len(order)
    filled = in_order.copy()
    others: list[tuple[int, Sighting]] = []
    rest = order[~in_order]
    if len(rest):  # every other row through the record path, in time order
        records = rows.take(rest)
        at = {id(r): k for r, k in zip(records, np.flatnonzero(~in_order).tolist(),
                                       strict=True)}
        for s in fold_copies(records, endpoints, True, forms):
            k = at[id(s.records[0])]
            slots[k] = s
            filled[k] = True
            others.append((k, s))
    place = np.cumsum(filled) - 1  # each slot's place among the sightings
    for k, s in others:
        s.idx = int(place[k])
    pos = np.flatnonzero(in_order)
    sel = order[in_order]
    # one form per address/port quadruple (shared with the other rows' of the same four)
    quad = groups(*(col(c)[sel] for c in ("family", "src", "sport", "dst", "dport")))
    _u, first, inverse = np.unique(quad, return_index=True, return_inverse=True)
    quad_forms: list[Form] = []
    text = table.addr_text
    texts: Memo[tuple[int, int], str] = Memo(lambda key: text(*key))
    for family, src, sport, dst, dport in zip(*(col(c)[sel[first]].tolist() for c in (
            "family", "src", "sport", "dst", "dport")), strict=True):
        key4 = (texts[(family, src)], sport, texts[(family, dst)], dport)
        form = forms.get(key4)
        if form is None:
            form = forms[key4] = _new_form(endpoints, *key4)
        quad_forms.append(form)
    keep = filled  # the slots that are sightings (a copy folded into another is none)
    items = [s for s, k in zip(slots, keep.tolist(), strict=True) if k]
    n = len(items)
    row_at = np.full(n, -1, np.int64)
    form_at = np.full(n, -1, np.int64)
    row_at[place[pos]] = sel
    form_at[place[pos]] = inverse.reshape(-1)
    lazy = LazySightings(items, rows, row_at, form_at, quad_forms)
    form_ids = np.fromiter(map(id, quad_forms), np.int64, len(quad_forms))[inverse.reshape(-1)]
    return lazy, _columns(lazy, col, sel, pos, filled, form_ids, quad_forms, others)


def _columns(items: LazySightings, col: Any, sel: Ints, pos: Ints,
             filled: npt.NDArray[np.bool_], row_form_ids: Ints, row_forms: list[Form],
             others: list[tuple[int, Sighting]]) -> FoldedColumns:
    """``FoldedColumns`` of ``fold_columns``' sightings: the TCP rows' (``sel``, at slots
    ``pos``, their forms' identities ``row_form_ids``, among ``row_forms``) from the
    table's columns, the others' from themselves."""
    n = len(filled)
    kn = col("known")[sel]
    first = np.zeros(n, np.int64)
    first[pos] = col("ts")[sel]
    last = first.copy()
    single = np.ones(n, np.bool_)
    ip_id = np.full(n, -1, np.int64)
    ip_id[pos] = np.where((kn & K_IPID) != 0, col("ip_id")[sel].astype(np.int64), -1)
    ts_val = np.full(n, -1, np.int64)
    ts_val[pos] = np.where((kn & K_TS) != 0, col("ts_val")[sel].astype(np.int64), -1)
    form_id = np.zeros(n, np.int64)
    form_id[pos] = row_form_ids
    proto = np.full(n, PROTO_TCP, np.int64)
    flags = np.zeros(n, np.int64)
    flags[pos] = col("flags")[sel]
    high = np.zeros(n, np.int64)
    high[pos] = col("seq")[sel].astype(np.int64) << _FLAG_BITS | col("flags")[sel]
    low = np.zeros(n, np.int64)
    low[pos] = (col("ack")[sel].astype(np.int64) + 1) << _LEN_BITS | col("payload_len")[sel]
    keyed = True
    by_id = {id(f): f for f in row_forms}
    for k, s in others:
        first[k], last[k], single[k] = s.first_ns, s.last_ns, s.single
        ip_id[k] = -1 if s.ip_id is None else s.ip_id
        ts_val[k] = -1 if s.ts_val is None else s.ts_val
        form_id[k] = id(s.form)
        by_id[id(s.form)] = s.form
        flags[k] = s.flags
        key = s.key
        if key is None:
            keyed = False
            continue
        proto[k] = s.proto
        a, b, c, d = (_number(v) for v in key[1:]) if s.proto == PROTO_TCP else (
            *(_number(v) for v in key[1:]), 0)
        # TCP: (flags, seq, ack, payload length); else (IP ID, IP length, payload length)
        high[k] = b << _FLAG_BITS | a if s.proto == PROTO_TCP else a
        low[k] = (c + 1 << _LEN_BITS | d) if s.proto == PROTO_TCP else (b + 1 << _LEN_BITS | c)
    form_id = form_id[filled]
    u, at, inverse = np.unique(form_id, return_index=True, return_inverse=True)
    ranked = np.argsort(at, kind="stable")
    number = np.empty(len(at), np.int64)
    number[ranked] = np.arange(len(at))  # forms numbered in order of first use
    columns = PointColumns(items, first[filled], last[filled], single[filled],
                           number[inverse.reshape(-1)],
                           [by_id[i] for i in u[ranked].tolist()],
                           ip_id[filled], ts_val[filled], proto=proto[filled],
                           flags=flags[filled])
    return FoldedColumns(columns, (proto[filled], high[filled], low[filled]) if keyed else None)


def _number(value: object) -> int:
    """A key field as a number, -1 for none."""
    return -1 if value is None else int(value)  # type: ignore[call-overload]


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
        order = np.argsort(at, kind="stable")  # the rows in table order: read in one sweep
        records = rows.take(at[order])
        for k, rec in zip(order.tolist(), records, strict=True):
            _RECORD.__set__(items[k], rec)
