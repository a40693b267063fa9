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
    odd_rows,
    own_parts,
)
from nettrail.model.arrays import Ints
from nettrail.model.packet import ICMPHeader, PacketRecord, TCPHeader
from nettrail.model.rows import TableRows
from nettrail.model.table import PacketTable

Part = tuple[PacketTable, Ints]
"""A table and each of its rows' number in the whole point's table."""


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
        """The addresses that live on the point's host (``suspects.own_codes``)."""
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
                 if type(r.headers.l4) is ICMPHeader and r.headers.l4.type == 3)
    tunnelled = tuple((where(i), r) for i, r in kept
                      if r.inner is not None and type(r.inner.l4) is TCPHeader)
    iface = table.column("iface")
    return HostScope(mine, others, icmp, tunnelled, bool((table.column("direction") != 0).any()),
                     frozenset(np.unique(iface).tolist()))


def joined(scopes: Sequence[HostScope]) -> HostScope:
    """The scope of a point from its partitions' (each made with its rows' numbers)."""
    none = np.zeros(0, np.int64)
    return HostScope(
        np.unique(np.concatenate([none, *(s.mine for s in scopes)])),
        np.unique(np.concatenate([none, *(s.others for s in scopes)])),
        tuple(sorted((x for s in scopes for x in s.numbered_icmp), key=_row)),
        tuple(sorted((x for s in scopes for x in s.numbered_tunnelled), key=_row)),
        any(s.ways for s in scopes), frozenset().union(*(s.ifaces for s in scopes)))


def _row(x: tuple[int, PacketRecord]) -> int:
    return x[0]


def parts_suspects(parts: Callable[[], Iterable[Part]], scope: HostScope,
                   ) -> list[PacketRecord]:
    """``suspects.column_suspects`` over a point's partitions (``parts`` gives them, each
    time it is called: its rows are read twice, the second time only when a chosen packet
    may be found in another form), in the whole table's row order; ``scope``: the point's."""
    own, single, icmp = scope.own, scope.single, scope.icmp
    chosen: list[tuple[Ints, list[PacketRecord], Ints]] = []
    wanted: list[Invariants] = []
    for table, origin in parts():
        rows, inv = chosen_rows(table, odd_rows(table), icmp, own, single)
        chosen.append((origin[rows], TableRows(table).take(rows), rows))
        wanted.append(inv)
    out = _in_order(chosen)
    if not any(len(w[0]) for w in wanted):
        return out
    keys = (np.concatenate([w[0] for w in wanted]), np.concatenate([w[1] for w in wanted]),
            np.concatenate([w[2] for w in wanted]))
    again = []
    for (table, origin), (_o, _r, rows) in zip(parts(), chosen, strict=True):
        mask = np.zeros(len(table), np.bool_)
        mask[rows] = True
        more = again_rows(table, odd_rows(table), mask, keys)
        again.append((origin[more], TableRows(table).take(more), more))
    return out + _in_order(again)


def _in_order(picked: Sequence[tuple[Ints, list[PacketRecord], Ints]]) -> list[PacketRecord]:
    """The records of several tables' picked rows, in the order of their numbers in the
    point's table."""
    numbers = np.concatenate([np.zeros(0, np.int64), *(p[0] for p in picked)])
    recs = [r for p in picked for r in p[1]]
    return [recs[i] for i in np.argsort(numbers, kind="stable").tolist()]
