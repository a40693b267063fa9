"""``fold_copies`` of a packet table read as columns, for a point none of whose TCP rows is
a copy of another (``columns.copy_free``) and whose TCP rows are all column rows
(``columns.column_ready``).

Each TCP row is then a sighting of its own (``RowSighting``), its fields read from the
columns; its record is built only when something asks for it (the evidence of a finding, a
path). The other rows (UDP, ICMP, ...) are folded by ``fold_copies`` from their records, as
before; the sightings come in the order ``fold_copies`` of every record gives them (time
order of their first copy, rows in table order on equal times).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from nettrail.analyze.correlate import Form, Sighting, _new_form, fill_sighting, fold_copies
from nettrail.model.cache import Memo
from nettrail.model.flow import Endpoint
from nettrail.model.packet import PROTO_TCP, PacketRecord
from nettrail.model.rows import TableRows
from nettrail.model.table import K_IPID, K_SEQ, K_TS

_RECORD: Any = Sighting.__dict__["record"]  # the slot: RowSighting puts a property over it


class RowSighting(Sighting):
    """A table row's sighting, seen once: its record is built when first asked for."""

    __slots__ = ("_row", "_rows")

    def __init__(self, rows: TableRows, row: int, form: Form, ts: int, flags: int, seq: int,
                 ack: int, plen: int, ip_id: int | None, ip_len: int,
                 ts_val: int | None) -> None:
        self._rows = rows
        self._row = row
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
    others = order[~in_order]
    if len(others):  # every other row through the record path, in time order
        records = rows.take(others)
        at = {id(r): k for r, k in zip(records, np.flatnonzero(~in_order).tolist(),
                                       strict=True)}
        for s in fold_copies(records, endpoints, True, forms):
            slots[at[id(s.records[0])]] = s
    sel = order[in_order]
    quads: dict[tuple[int, int, int, int, int], Form] = {}
    text = table.addr_text
    texts: Memo[tuple[int, int], str] = Memo(lambda key: text(*key))
    new = RowSighting
    for k, row, family, src, sport, dst, dport, ts, flags, seq, ack, plen, kn, ip_id, \
            ip_len, ts_val in zip(
                np.flatnonzero(in_order).tolist(), sel.tolist(),
                *(col(c)[sel].tolist() for c in (
                    "family", "src", "sport", "dst", "dport", "ts", "flags", "seq", "ack",
                    "payload_len", "known", "ip_id", "ip_len", "ts_val")), strict=True):
        quad = (family, src, sport, dst, dport)
        form = quads.get(quad)
        if form is None:
            a, b = texts[(family, src)], texts[(family, dst)]
            key4 = (a, sport, b, dport)
            form = forms.get(key4)
            if form is None:
                form = forms[key4] = _new_form(endpoints, a, sport, b, dport)
            quads[quad] = form
        slots[k] = new(rows, row, form, ts, flags, seq, ack, plen,
                       ip_id if kn & K_IPID else None, ip_len, ts_val if kn & K_TS else None)
    return [s for s in slots if s is not None]


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
