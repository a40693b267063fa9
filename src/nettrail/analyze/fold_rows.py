"""``fold_copies`` of a packet table read as columns, for a point none of whose TCP rows is
a copy of another (``columns.copy_free``) and whose TCP rows are all column rows
(``columns.column_ready``).

Each TCP row is then a sighting of its own (``row_sightings.RowSighting``), its fields read
from the columns, made only when something asks for it (``LazySightings``: cross-point
analysis keeps plain conversations as columns, ``analyze/plain.py``), and its record built
only when something asks for that (the evidence of a finding, a path). The other rows (UDP,
ICMP, ...) are folded by ``fold_copies`` from their records, as before; the sightings come
in the order ``fold_copies`` of every record gives them (time order of their first copy,
rows in table order on equal times).
"""

from __future__ import annotations

from collections.abc import Callable
from itertools import chain, compress, repeat
from operator import is_
from typing import Any, NamedTuple, cast

import numpy as np
import numpy.typing as npt

from nettrail.analyze.anchors import PointColumns
from nettrail.analyze.columns import (
    endpoint_numbers,
    hash_order,
    hashed_groups,
    row_hash,
    stable_order,
)
from nettrail.analyze.correlate import Form, Sighting, _new_form, fold_copies
from nettrail.analyze.row_sightings import LazySightings
from nettrail.model.arrays import Ints
from nettrail.model.flow import Endpoint
from nettrail.model.packet import ACK, PROTO_TCP
from nettrail.model.rows import TableRows
from nettrail.model.table import K_IPID, K_SEQ, K_TS

_FLAG_BITS = 12  # TCP flags take 9 bits (AE is 0x100)
_LEN_BITS = 17  # payload and IP lengths take 16


class FoldedColumns(NamedTuple):
    """A point's sightings (``fold_rows``) as columns, in their order: ``PointColumns``
    (their ``idx`` set to their place) and each one's strong key packed into three numbers,
    equal exactly where the keys are equal (None when a sighting has no strong key)."""

    columns: PointColumns
    key: tuple[Ints, Ints, Ints] | None


class V4Forms:
    """The IPv4 forms made so far by their addresses' and ports' values (shared by the
    points: a form is the same object wherever its four values are the same), looked up on
    arrays: one sort of a hash of the four, each found checked against them."""

    def __init__(self) -> None:
        self.forms: list[Form] = []
        self._values = [np.zeros(0, np.int64) for _ in range(4)]  # by form number
        self._hash = np.zeros(0, np.uint64)  # sorted
        self._number = np.zeros(0, np.int64)  # the form number of each of those

    def find(self, src: Ints, sport: Ints, dst: Ints, dport: Ints) -> Ints:
        """The form number of each quadruple, -1 where none was made."""
        if not len(self._hash) or not len(src):
            return np.full(len(src), -1, np.int64)
        h = row_hash(src, sport, dst, dport)
        at = np.minimum(np.searchsorted(self._hash, h), len(self._hash) - 1)
        number = self._number[at]
        hit = self._hash[at] == h
        for have, v in zip(self._values, (src, sport, dst, dport), strict=True):
            hit &= have[number] == v
        out: Ints = np.where(hit, number, -1)
        return out

    def add(self, values: list[Ints], forms: list[Form]) -> None:
        """Keep ``forms``, of the quadruples ``values`` (four arrays: source, source port,
        destination, destination port)."""
        if not forms:
            return
        start = len(self.forms)
        self.forms.extend(forms)
        self._values = [np.concatenate([have, v]) for have, v in zip(self._values, values,
                                                                     strict=True)]
        h = np.concatenate([self._hash, row_hash(*values)])
        number = np.concatenate([self._number, np.arange(start, len(self.forms))])
        order = hash_order(h)
        self._hash, self._number = h[order], number[order]


def fold_rows(rows: TableRows, endpoints: dict[tuple[str, int], Endpoint]) -> list[Sighting]:
    """``fold_copies(rows, endpoints, copy_free=True)``, the TCP rows read as columns."""
    return list(fold_columns(rows, endpoints)[0])


def fold_columns(rows: TableRows, endpoints: dict[tuple[str, int], Endpoint],
                 forms: dict[tuple[str, int, str, int], Form] | None = None,
                 v4_forms: V4Forms | None = None,
                 ) -> tuple[LazySightings, FoldedColumns]:
    """``fold_rows``, its TCP rows' sightings made when asked for (``LazySightings``), and
    its sightings as columns (read off the table's). ``forms``: forms by address/port
    quadruple, ``v4_forms`` the IPv4 ones by the addresses' values too, shared with other
    points (a form is the same object wherever its four values are the same)."""
    table = rows.table
    col = table.column
    odd = table.odd_rows()
    order = np.argsort(col("ts"), kind="stable")  # ``sorted`` by time is stable too
    known = col("known")
    tcp = (col("proto") == PROTO_TCP) & ((known & K_SEQ) != 0)
    if odd:
        tcp[list(odd)] = False
    in_order = tcp[order]
    if forms is None:
        forms = {}
    if v4_forms is None:
        v4_forms = V4Forms()
    filled = in_order.copy()
    others: list[tuple[int, Sighting]] = []
    rest = order[~in_order]
    if len(rest):  # every other row through the record path, in time order
        records = rows.take(rest)
        at = {id(r): k for r, k in zip(records, np.flatnonzero(~in_order).tolist(),
                                       strict=True)}
        for s in fold_copies(records, endpoints, True, forms):
            k = at[id(s.records[0])]
            filled[k] = True
            others.append((k, s))
    place = np.cumsum(filled) - 1  # each slot's place among the sightings
    n = int(place[-1]) + 1 if len(place) else 0
    items: list[Sighting | None] = [None] * n  # a copy folded into another is no sighting
    for k, s in others:
        s.idx = i = int(place[k])
        items[i] = s
    pos = np.flatnonzero(in_order)
    sel = order[in_order]
    # one form per address/port quadruple (shared with the other rows' of the same four)
    family = col("family")[sel]
    inverse, some = hashed_groups(endpoint_numbers(family, col("src")[sel], col("sport")[sel]),
                                  endpoint_numbers(family, col("dst")[sel], col("dport")[sel]))
    del family
    family, *quad = (col(c)[sel[some]].astype(np.int64) for c in ("family", "src", "sport",
                                                                  "dst", "dport"))
    v4 = np.flatnonzero(family == 4)
    found = np.full(len(family), -1, np.int64)  # each quadruple's IPv4 form number, if made
    found[v4] = v4_forms.find(*(v[v4] for v in quad))
    missed = np.flatnonzero(found < 0)
    made = _forms_of(table.addr_text, [v[missed] for v in (family, *quad)], forms, endpoints)
    # every quadruple's form, found (a number among the IPv4 forms) or made (after them)
    found[missed] = np.arange(len(missed), dtype=np.int64) + len(v4_forms.forms)
    quad_forms = list(map([*v4_forms.forms, *made].__getitem__, found.tolist()))
    new_v4 = missed[family[missed] == 4]
    v4_forms.add([v[new_v4] for v in quad], [quad_forms[k] for k in new_v4.tolist()])
    row_at = np.full(n, -1, np.int64)
    form_at = np.full(n, -1, np.int64)
    row_at[place[pos]] = sel
    form_at[place[pos]] = inverse
    lazy = LazySightings(items, rows, row_at, form_at, quad_forms)
    # each quadruple's form as a number: the first quadruple's of the same form object
    ids = list(map(id, quad_forms))
    canon = dict(zip(reversed(ids), range(len(ids) - 1, -1, -1), strict=True))  # first stays
    code = np.fromiter(map(canon.__getitem__, ids), np.int64, len(ids))
    return lazy, _columns(lazy, col, sel, pos, filled, code[inverse], quad_forms, canon,
                          others)


def _columns(items: LazySightings, col: Any, sel: Ints, pos: Ints,
             filled: npt.NDArray[np.bool_], row_codes: Ints, row_forms: list[Form],
             canon: dict[int, int],
             others: list[tuple[int, Sighting]]) -> FoldedColumns:
    """``FoldedColumns`` of ``fold_columns``' sightings: the TCP rows' (``sel``, at slots
    ``pos``, their forms by number ``row_codes`` in ``row_forms``, where ``canon`` numbers
    them by identity) from the table's columns, the others' from themselves."""
    n = len(filled)
    kn = col("known")[sel]

    def slots(values: Ints, fill: int) -> Ints:  # the TCP rows' values at their slots
        if len(pos) == n:  # (every slot is a TCP row's: ``pos`` is every place, in order)
            return values.astype(np.int64, copy=False)  # (a new array: taken or worked out)
        out = np.full(n, fill, np.int64)
        out[pos] = values
        return out

    first = slots(col("ts")[sel], 0)
    # every sighting seen once (the rule): its last copy is its first, one array for both
    last = first if all(s.single for _k, s in others) else first.copy()
    single = np.ones(n, np.bool_)
    ip_id = slots(np.where((kn & K_IPID) != 0, col("ip_id")[sel].astype(np.int64), -1), -1)
    ts_val = slots(np.where((kn & K_TS) != 0, col("ts_val")[sel].astype(np.int64), -1), -1)
    code = slots(row_codes, 0)
    code_forms = list(row_forms)  # by number
    proto = np.full(n, PROTO_TCP, np.int64)
    tcp_flags = col("flags")[sel]
    flags = slots(tcp_flags, 0)
    high = slots(col("seq")[sel].astype(np.int64) << _FLAG_BITS | tcp_flags, 0)
    # an ack without the ACK flag means nothing: none, as Sighting.key has it
    acks = np.where(tcp_flags & ACK != 0, col("ack")[sel].astype(np.int64), -1)
    low = slots((acks + 1) << _LEN_BITS | col("payload_len")[sel], 0)
    keyed = True
    for k, s in others:
        first[k], last[k], single[k] = s.first_ns, s.last_ns, s.single
        ip_id[k] = -1 if s.ip_id is None else s.ip_id
        ts_val[k] = -1 if s.ts_val is None else s.ts_val
        got = canon.get(id(s.form))
        if got is None:
            got = canon[id(s.form)] = len(code_forms)
            code_forms.append(s.form)
        code[k] = got
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
    # the sightings' slots (all of them when no copy was folded into another)
    take: npt.NDArray[np.bool_] | slice = slice(None) if filled.all() else filled
    code = code[take]
    first_at = np.full(len(code_forms), len(code), np.int64)  # each form's first sighting
    np.minimum.at(first_at, code, np.arange(len(code)))
    used = np.flatnonzero(first_at < len(code))
    ranked = used[stable_order(first_at[used])]
    number = np.empty(len(code_forms), np.int64)
    number[ranked] = np.arange(len(ranked))  # forms numbered in order of first use
    first_t = first[take]
    columns = PointColumns(items, first_t, first_t if last is first else last[take],
                           single[take], number[code],
                           list(map(code_forms.__getitem__, ranked.tolist())),
                           ip_id[take], ts_val[take], proto=proto[take],
                           flags=flags[take])
    return FoldedColumns(columns, (proto[take], high[take], low[take]) if keyed else None)


def _forms_of(text: Callable[[int, int], str], quads: list[Ints],
              forms: dict[tuple[str, int, str, int], Form],
              endpoints: dict[tuple[str, int], Endpoint]) -> list[Form]:
    """The form of each distinct quadruple (``quads``: family, source, source port,
    destination, destination port, as column values): ``forms``' by the texts, or made,
    their endpoints ``endpoints``' or made (kept in both, made in the order one quadruple
    after the other would make them). An address's text is worked out once."""
    family, src, sport, dst, dport = quads
    m = len(family)
    if not m:
        return []
    values, at = np.unique(np.concatenate([family << 32 | src, family << 32 | dst]),
                           return_inverse=True)
    names = list(map(text, (values >> 32).tolist(), (values & 0xFFFFFFFF).tolist()))
    both = list(map(names.__getitem__, at.reshape(-1).tolist()))
    src_text, dst_text, src_port, dst_port = both[:m], both[m:], sport.tolist(), dport.tolist()
    keys = list(zip(src_text, src_port, dst_text, dst_port, strict=True))
    got: list[Form | None] = list(map(forms.get, keys))
    new = list(compress(range(m), map(is_, got, repeat(None))))
    if len(set(keys)) != m:  # (two quadruples of one text: one after the other)
        new = []
        for k in range(m):
            form = got[k] = forms.get(keys[k])
            if form is None:
                got[k] = forms[keys[k]] = _new_form(endpoints, *keys[k])
    if not new:
        return cast(list[Form], got)
    every = len(new) == m  # (a first point's: all new)
    src_ends = list(zip(src_text, src_port, strict=True))
    dst_ends = list(zip(dst_text, dst_port, strict=True))
    if not every:
        src_ends, dst_ends = [src_ends[k] for k in new], [dst_ends[k] for k in new]
    ends = list(chain.from_iterable(zip(src_ends, dst_ends, strict=True)))
    objects = list(map(endpoints.get, ends))  # those made before
    for k in compress(range(len(ends)), map(is_, objects, repeat(None))):  # the others in turn
        key = ends[k]
        e = endpoints.get(key)  # (made just now, for an earlier one)
        if e is None:
            e = endpoints[key] = tuple.__new__(Endpoint, key)
        objects[k] = e
    done = cast(list[Endpoint], objects)  # (every one found or made)
    made: list[Form] = list(zip(done[0::2], done[1::2], strict=True))
    forms.update(zip(keys if every else [keys[k] for k in new], made, strict=True))
    if every:
        return made
    for k, form in zip(new, made, strict=True):
        got[k] = form
    return cast(list[Form], got)


def _number(value: object) -> int:
    """A key field as a number, -1 for none."""
    return -1 if value is None else int(value)  # type: ignore[call-overload]
