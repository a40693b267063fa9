"""What host findings need of a whole point, gathered table by table, so that a point read in
partitions (``capture.partition``: rows by connection key) gets the findings of its whole
table: the addresses living on its host, its ICMP errors and tunnelled TCP packets (each in
whatever partition its own key put it), whether it was captured in one place; and the
suspects (``suspects.chosen_rows``, ``suspects.again_rows``) over every partition in turn.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from typing import NamedTuple

import numpy as np

from nettrail.analyze.suspects import (
    Invariants,
    again_rows,
    chosen_rows,
    joined_invariants,
    odd_rows,
    own_parts,
    reset_rows,
)
from nettrail.model.arrays import Ints
from nettrail.model.packet import ICMPHeader, PacketRecord, TCPHeader
from nettrail.model.rows import TableRows
from nettrail.model.table import PacketTable

Part = tuple[PacketTable, Ints]
"""A table and each of its rows' number in the whole point's table."""


class Picked(NamedTuple):
    """Rows picked from one table: their numbers in the point's table, their records, and
    their numbers in the table."""

    numbers: Ints
    records: list[PacketRecord]
    rows: Ints


class HostScope(NamedTuple):
    """Of a whole point: the addresses that leave it as their sender's (``mine``) and those
    that arrive or leave older (``others``: ``suspects.own_parts``); its ICMP
    destination-unreachable records and its records of TCP inside a tunnel, each in row
    order; whether a row has a known direction; the interfaces its rows were captured on."""

    mine: Ints
    others: Ints
    numbered_icmp: tuple[tuple[int, PacketRecord], ...]
    numbered_tunnelled: tuple[tuple[int, PacketRecord], ...]
    ways: bool
    ifaces: frozenset[int]
    resets: tuple[Picked, ...]
    """Of each table, in turn: the rows of its connections with a RST that may be found
    injected (``suspects.reset_rows``): all that a point captured in one place needs."""

    @property
    def icmp(self) -> list[PacketRecord]:
        """The ICMP destination-unreachable records, in row order."""
        return [r for _i, r in self.numbered_icmp]

    @property
    def tunnelled(self) -> list[PacketRecord]:
        """The records of TCP inside a tunnel, in row order."""
        return [r for _i, r in self.numbered_tunnelled]

    @property
    def own(self) -> Ints:
        """The addresses that live on the point's host: packets from them leave it, with a
        TTL senders start with where the capture shows one, and none arrive from them or
        leave with another TTL."""
        out: Ints = self.mine[~np.isin(self.mine, self.others)]
        return out

    @property
    def single(self) -> bool:
        """Captured in one place (a plain capture file): one interface, no known direction;
        no two rows are copies of one packet, and none arrived or left."""
        return not self.ways and len(self.ifaces) <= 1


def scope_of(table: PacketTable, origin: Ints | None = None) -> HostScope:
    """The scope of one table, ``origin`` its rows' numbers in the point's (by default their
    own); the records are ordered by those numbers when scopes are joined."""
    mine, others = own_parts(table)
    kept = sorted(table.odd_rows().items())
    where = (lambda i: int(origin[i])) if origin is not None else (lambda i: i)
    icmp = tuple((where(i), r) for i, r in kept
                 if type(r.headers.l4) is ICMPHeader and r.headers.l4.is_unreachable)
    tunnelled = tuple((where(i), r) for i, r in kept
                      if r.inner is not None and type(r.inner.l4) is TCPHeader)
    judged = reset_rows(table, odd_rows(table))
    numbers = judged if origin is None else origin[judged]
    return HostScope(mine, others, icmp, tunnelled, bool((table.column("direction") != 0).any()),
                     frozenset(np.unique(table.column("iface")).tolist()),
                     (Picked(numbers, TableRows(table).take(judged), judged),))


def joined(scopes: Sequence[HostScope]) -> HostScope:
    """The scope of a point from its partitions' (each made with its rows' numbers)."""
    none = np.zeros(0, np.int64)
    return HostScope(
        np.unique(np.concatenate([none, *(s.mine for s in scopes)])),
        np.unique(np.concatenate([none, *(s.others for s in scopes)])),
        tuple(sorted((x for s in scopes for x in s.numbered_icmp), key=_row)),
        tuple(sorted((x for s in scopes for x in s.numbered_tunnelled), key=_row)),
        any(s.ways for s in scopes), frozenset().union(*(s.ifaces for s in scopes)),
        tuple(p for s in scopes for p in s.resets))


def _row(x: tuple[int, PacketRecord]) -> int:
    return x[0]


def parts_suspects(parts: Callable[[], Iterable[Part]], scope: HostScope,
                   ) -> list[PacketRecord]:
    """``findings_host._suspects`` from the columns of a point's tables (``parts`` gives
    them, in the order ``scope`` was joined in, each time it is called; a point captured in
    one place needs only ``scope.resets``; another's rows are read again, and a third time
    where a chosen packet may be found in another form), in the whole table's row order."""
    if scope.single:
        return _in_order(scope.resets)
    own, icmp = scope.own, scope.icmp
    chosen: list[Picked] = []
    wanted: list[Invariants] = []
    for (table, origin), resets in zip(parts(), scope.resets, strict=True):
        rows, inv = chosen_rows(table, odd_rows(table), icmp, own, judged=resets.rows)
        chosen.append(Picked(origin[rows], TableRows(table).take(rows), rows))
        wanted.append(inv)
    out = _in_order(chosen)
    keys = joined_invariants(wanted)
    if not len(keys[0]):
        return out
    again = []
    for (table, origin), picked in zip(parts(), chosen, strict=True):
        mask = np.zeros(len(table), np.bool_)
        mask[picked.rows] = True
        more = again_rows(table, odd_rows(table), mask, keys)
        again.append(Picked(origin[more], TableRows(table).take(more), more))
    return out + _in_order(again)


def _in_order(picked: Sequence[Picked]) -> list[PacketRecord]:
    """The records of several tables' picked rows, in the order of their numbers in the
    point's table."""
    numbers = np.concatenate([np.zeros(0, np.int64), *(p[0] for p in picked)])
    recs = [r for p in picked for r in p[1]]
    return [recs[i] for i in np.argsort(numbers, kind="stable").tolist()]
