"""The packet table: one row per packet sighting, in column batches (numpy arrays).

Readers (capture/) fill it; analysis (analyze/) reads it. A row holds the fields analysis
uses as fixed-width columns; a packet the columns cannot describe fully (ICMP, ARP, a tunnel,
text input, an unusual header) also keeps its :class:`PacketRecord` in the batch's ``odd``
map. :meth:`PacketTable.record` gives the record of any row: the kept one, or one built
from the columns (no link header, TCP options reduced to the timestamp, no bytes).

Addresses: an IPv4 address is its 32-bit value; any other (IPv6, a name from text input)
is an index into the table's ``addrs`` side list, with ``family`` saying which (4, 6, or
:data:`FAMILY_NAME`; 0 when the packet has no IP header).
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from nettrail.model import packet as pk
from nettrail.model.analysis import PointSummary
from nettrail.model.cache import remember
from nettrail.model.packet import PacketRecord
from nettrail.model.time_steps import StepFinder

BATCH_ROWS = 262_144
"""Rows per batch a reader fills before it starts the next one."""

FAMILY_NAME = 1
"""``family`` of an address that is neither IPv4 nor IPv6 (a host name in text input)."""

# Bits of the ``known`` column: which optional fields a row has.
K_SEQ = 1  # seq and ack
K_IPID = 2
K_TS = 4  # TCP timestamp option value
K_HASH = 8  # payload hash
K_DF = 16  # IPv4 don't-fragment bit (a value, not a presence)
K_MF = 32  # IPv4 more-fragments bit (a value)
K_WIN = 64
K_TTL = 128
# Text input (rows filled without a record): seq or ack known alone, and numbers left relative.
K_SEQ1 = 256  # seq known (when K_SEQ is not set)
K_ACK1 = 512  # ack known (when K_SEQ is not set)
K_REL = 1024  # seq/ack as printed, relative (TCPHeader.seq_relative)

DIRECTIONS: tuple[str | None, str | None, str | None] = (None, "in", "out")
"""``direction`` column values: 0 unknown, 1 ``in``, 2 ``out``."""


COLUMNS: dict[str, type[Any]] = {
    "ts": np.int64,  # capture time, ns since the epoch, the point's own clock
    "frame": np.uint32,  # frame (binary) or line (text) number, 1-based
    "file": np.uint16,  # index into PacketTable.files
    "iface": np.int32,  # index into PacketTable.ifnames, -1 unknown
    "direction": np.uint8,  # see DIRECTIONS
    "linktype": np.int32,  # pcap link type (pcapng: 16 bits, pcap: 32), -1 for text
    "wire_len": np.uint32,
    "family": np.uint8,
    "src": np.uint32,
    "dst": np.uint32,
    "proto": np.uint8,
    "sport": np.uint16,
    "dport": np.uint16,
    "flags": np.uint16,  # TCP flag bits including AE (0x100)
    "seq": np.uint32,
    "ack": np.uint32,
    "window": np.uint16,
    "ip_len": np.uint32,
    "payload_len": np.uint32,
    "ip_id": np.uint16,
    "ttl": np.uint8,
    "tos": np.uint8,
    "ts_val": np.uint32,
    "payload_hash": np.uint32,
    "known": np.uint16,  # K_* bits
}
"""Every column and its dtype."""


_K_TCP = K_SEQ | K_TS | K_WIN  # the known bits a TCP header built from columns depends on


class Rebuild(Protocol):
    """A reader's own builder of the records of a batch's rows (the text reader's
    ``TextRows``: what the line printed, which the columns do not all hold), and what a
    partition file (``capture.partition``) carries of it."""

    def __call__(self, rows: npt.NDArray[np.int64]) -> list[PacketRecord]:
        """The records of rows ``rows`` (row numbers in the batch), in that order."""
        ...

    @property
    def source(self) -> object:
        """What every batch of one reader shares (kept in memory, not in partition files):
        batches of one source are joined by any of them."""
        ...

    def part(self, rows: npt.NDArray[np.int64]) -> object:
        """What rebuilds rows ``rows`` (in that order) besides the source: picklable."""
        ...

    def joined(self, parts: Sequence[object], cols: dict[str, npt.NDArray[Any]]) -> Rebuild:
        """A builder of the rows of ``parts`` one after another, whose columns are ``cols``."""
        ...


@dataclass
class Batch:
    """Up to :data:`BATCH_ROWS` rows: one array per column of :data:`COLUMNS`, all the same
    length, and the records kept for rows the columns cannot describe (row -> record)."""

    cols: dict[str, npt.NDArray[Any]]
    odd: dict[int, PacketRecord] = field(default_factory=dict)
    rebuild: Rebuild | None = None
    """The reader's own records of rows not in ``odd`` (text input), in the order asked,
    else column_record's."""

    def __len__(self) -> int:
        return len(self.cols["ts"])


def _rebuilt(b: Batch, rows: npt.NDArray[np.int64]) -> list[PacketRecord]:
    """The records of a batch's rows ``rows`` (in that order) that a reader rebuilds: the
    kept ones from ``odd``, the others from ``rebuild`` all at once."""
    assert b.rebuild is not None
    if not b.odd:
        return b.rebuild(rows)
    local = rows.tolist()
    kept = [b.odd.get(i) for i in local]
    made = iter(b.rebuild(rows[np.fromiter((r is None for r in kept), bool, len(kept))]))
    return [r if r is not None else next(made) for r in kept]


def _intern(index: dict[str, int], items: list[str], key: str) -> int:
    """The position of ``key`` in ``items``, appended (and indexed) when new."""
    idx = index.get(key)
    if idx is None:
        idx = index[key] = len(items)
        items.append(key)
    return idx


@dataclass
class PacketTable:
    """The packets of one capture point, in capture order, as column batches."""

    point: str
    files: list[str] = field(default_factory=list)
    ifnames: list[str] = field(default_factory=list)
    addrs: list[str] = field(default_factory=list)
    batches: list[Batch] = field(default_factory=list)
    untimed: int = 0
    """Rows whose packet has no time of its own (text printed with ``-t``, a mangled stamp):
    the reader placed them in order, so their times tell no duration or gap."""
    steps: StepFinder = field(default_factory=StepFinder, repr=False)
    """Where a file's times go back and stay back (``model.time_steps``)."""
    _addr_index: dict[str, int] = field(default_factory=dict, repr=False)
    _if_index: dict[str, int] = field(default_factory=dict, repr=False)

    def __len__(self) -> int:
        return sum(len(b) for b in self.batches)

    def file_id(self, path: str) -> int:
        """The ``file`` column value of ``path`` (added when new)."""
        try:
            return self.files.index(path)
        except ValueError:
            self.files.append(path)
            return len(self.files) - 1

    def iface_id(self, name: str | None) -> int:
        """The ``iface`` column value of interface ``name`` (-1 for None; added when new)."""
        return -1 if name is None else _intern(self._if_index, self.ifnames, name)

    def addr_id(self, text: str) -> int:
        """The side-list index of a non-IPv4 address text (added when new)."""
        return _intern(self._addr_index, self.addrs, text)

    def add_batch(self, batch: Batch) -> None:
        """Append a batch of rows (readers call this for every batch they fill)."""
        self.untimed += sum(not r.time_ok for r in batch.odd.values())  # only records lack one
        self.steps.feed(batch.cols)
        self._keep(batch)

    def _keep(self, batch: Batch) -> None:
        """Hold a batch counted by :meth:`add_batch`."""
        self.batches.append(batch)

    def column(self, name: str) -> npt.NDArray[Any]:
        """One column over every batch (a copy when there are several)."""
        parts = [b.cols[name] for b in self.batches]
        if len(parts) == 1:
            return parts[0]
        if not parts:
            return np.zeros(0, COLUMNS[name])
        return np.concatenate(parts)

    def odd_rows(self) -> dict[int, PacketRecord]:
        """The kept records by row number over the whole table."""
        out: dict[int, PacketRecord] = {}
        start = 0
        for b in self.batches:
            for i, rec in b.odd.items():
                out[start + i] = rec
            start += len(b)
        return out

    def record(self, i: int) -> PacketRecord:
        """The record of row ``i``: the one kept for it, else one built from the columns."""
        for b in self.batches:
            n = len(b)
            if i < n:
                return self._record(b, i)
            i -= n
        raise IndexError("row out of range")

    def records(self, shared: dict[tuple[int, ...], pk.TCPHeader] | None = None,
                ) -> Iterator[PacketRecord]:
        """The record of every row, in order (the columns read in bulk, batch by batch).

        ``shared``: TCP headers by their column values, filled and reused across calls, so
        that tables of several points seeing the same packets share one header per packet
        (headers are immutable; NAT leaves them alone)."""
        for b in self.batches:
            if b.rebuild is not None:  # a reader's own record builder (text)
                yield from _rebuilt(b, np.arange(len(b), dtype=np.int64))
                continue
            yield from _batch_records(self, b, {} if shared is None else shared)

    def records_of(self, rows: npt.NDArray[np.int64],
                   shared: dict[tuple[int, ...], pk.TCPHeader] | None = None,
                   ) -> list[PacketRecord]:
        """The records of rows ``rows`` (row numbers over the whole table), in that order:
        the same records ``records`` gives for them, built from the selected rows only
        (``shared``: as for ``records``)."""
        out: list[PacketRecord] = []
        if not len(rows):
            return out
        start = 0
        pieces: list[tuple[npt.NDArray[np.int64], list[PacketRecord]]] = []
        for b in self.batches:
            n = len(b)
            where = np.flatnonzero((rows >= start) & (rows < start + n))
            if len(where):
                local = rows[where] - start
                got = (_rebuilt(b, local) if b.rebuild is not None
                       else list(_batch_records(self, b, {} if shared is None else shared,
                                                local)))
                pieces.append((where, got))
            start += n
        if len(pieces) == 1:
            return pieces[0][1]
        slots: list[PacketRecord | None] = [None] * len(rows)
        for where, got in pieces:
            for k, rec in zip(where.tolist(), got, strict=True):
                slots[k] = rec
        out = [r for r in slots if r is not None]
        if len(out) != len(rows):
            raise IndexError("row out of range")
        return out

    def _record(self, b: Batch, i: int) -> PacketRecord:
        rec = b.odd.get(i)
        if rec is not None:
            return rec
        if b.rebuild is not None:
            return b.rebuild(np.array([i], np.int64))[0]
        c = b.cols
        return column_record(self, {k: v.item(i) for k, v in c.items()})  # (Python ints)

    def addr_text(self, family: int, value: int) -> str:
        """The text of an address column value of ``family``."""
        if family == 4:
            return _v4_text(value)
        return self.addrs[value]


def column_record(table: PacketTable, row: dict[str, int]) -> PacketRecord:
    """The record a row of plain IPv4/IPv6 + TCP/UDP columns stands for."""
    known = row["known"]
    family = row["family"]
    ip = pk.IPHeader(
        version=family,
        src=table.addr_text(family, row["src"]),
        dst=table.addr_text(family, row["dst"]),
        proto=row["proto"],
        ttl=row["ttl"] if known & K_TTL else None,
        ip_id=row["ip_id"] if known & K_IPID else None,
        length=row["ip_len"],
        df=bool(known & K_DF),
        frag_offset=0,
        more_fragments=bool(known & K_MF),
        tos=row["tos"],
    )
    l4: pk.TCPHeader | pk.UDPHeader
    if row["proto"] == 6:
        options = pk.NO_OPTIONS
        if known & K_TS:
            options = pk.TCPOptions(None, None, False, (), row["ts_val"], None, ())
        l4 = pk.TCPHeader(row["sport"], row["dport"], row["flags"],
                       row["seq"] if known & K_SEQ else None,
                       row["ack"] if known & K_SEQ else None,
                       row["window"] if known & K_WIN else None,
                       row["payload_len"], options)
    else:
        l4 = pk.UDPHeader(row["sport"], row["dport"], row["payload_len"])
    phash = row["payload_hash"] if known & K_HASH else None
    iface = row["iface"]
    return PacketRecord(
        point=table.point,
        ts_ns=row["ts"],
        file=table.files[row["file"]],
        frame=row["frame"],
        ifname=table.ifnames[iface] if iface >= 0 else None,
        direction=DIRECTIONS[row["direction"]],
        wire_len=row["wire_len"],
        headers=pk.Headers(None, ip, l4, None, phash),
        linktype=row["linktype"],
    )


def _batch_records(table: PacketTable, b: Batch, shared: dict[tuple[int, ...], pk.TCPHeader],
                   only: npt.NDArray[np.int64] | None = None) -> Iterator[PacketRecord]:
    """``column_record`` of every row of a column batch (its kept record where it has one),
    the same values built positionally: the columns read as lists once, one shared text per
    address, one shared TCP header per distinct header (``shared``, by its column values).
    ``only``: just these rows of the batch, in this order."""
    if only is None:
        c = {k: v.tolist() for k, v in b.cols.items()}
        index: Iterable[int] = range(len(b))
    else:
        c = {k: v[only].tolist() for k, v in b.cols.items()}
        index = only.tolist()
    odd = b.odd
    new = tuple.__new__
    ip_t, tcp_t, udp_t, opt_t = pk.IPHeader, pk.TCPHeader, pk.UDPHeader, pk.TCPOptions
    hdr_t, rec_t = pk.Headers, PacketRecord
    no_options = pk.NO_OPTIONS
    point, files, ifnames, addrs = table.point, table.files, table.ifnames, table.addrs
    texts: dict[tuple[int, int], str] = {}
    rows = zip(c["known"], c["family"], c["src"], c["dst"], c["proto"], c["ttl"], c["ip_id"],
               c["ip_len"], c["tos"], c["ts_val"], c["sport"], c["dport"], c["flags"],
               c["seq"], c["ack"], c["window"], c["payload_len"], c["payload_hash"],
               c["iface"], c["ts"], c["file"], c["frame"], c["direction"], c["wire_len"],
               c["linktype"], strict=True)
    for i, (known, family, src, dst, proto, ttl, ip_id, ip_len, tos, ts_val, sport, dport,
            flags, seq, ack, window, plen, phash, iface, ts, file, frame, direction, wire_len,
            linktype) in zip(index, rows, strict=True):
        if odd:
            rec = odd.get(i)
            if rec is not None:
                yield rec
                continue
        src_text = texts.get((family, src))
        if src_text is None:
            src_text = texts[(family, src)] = (_v4_text(src) if family == 4 else addrs[src])
        dst_text = texts.get((family, dst))
        if dst_text is None:
            dst_text = texts[(family, dst)] = (_v4_text(dst) if family == 4 else addrs[dst])
        ip = new(ip_t, (family, src_text, dst_text, proto, ttl if known & K_TTL else None,
                        ip_id if known & K_IPID else None, ip_len, bool(known & K_DF), 0,
                        bool(known & K_MF), tos))
        l4: pk.TCPHeader | pk.UDPHeader
        if proto == 6:
            key = (sport, dport, flags, seq, ack, window, plen, ts_val, known & _K_TCP)
            got = shared.get(key)
            if got is None:
                options = new(opt_t, (None, None, False, (), ts_val, None, ())) \
                    if known & K_TS else no_options
                got = shared[key] = new(tcp_t, (
                    sport, dport, flags, seq if known & K_SEQ else None,
                    ack if known & K_SEQ else None, window if known & K_WIN else None, plen,
                    options, False))
            l4 = got
        else:
            l4 = new(udp_t, (sport, dport, plen))
        yield new(rec_t, (point, ts, files[file], frame, ifnames[iface] if iface >= 0 else None,
                          DIRECTIONS[direction], wire_len,
                          new(hdr_t, (None, ip, l4, None, phash if known & K_HASH else None)),
                          None, None, None, linktype, None, None, True, None))


@dataclass(frozen=True)
class PointData:
    """What analysis gets of one capture point: its summary and its packet table."""

    summary: PointSummary
    table: PacketTable


def empty_columns(n: int) -> dict[str, npt.NDArray[Any]]:
    """Zeroed columns for ``n`` rows."""
    return {name: np.zeros(n, dtype) for name, dtype in COLUMNS.items()}


_V4_CACHE: dict[str, int | None] = {}


def _v4_value(text: str) -> int | None:
    """The 32-bit value of canonical dotted-quad text, else None."""
    value = _V4_CACHE.get(text, -1)
    if value != -1:
        return value
    return remember(_V4_CACHE, text, quad_value(text))


OCTET = r"(?:25[0-5]|2[0-4][0-9]|1[0-9][0-9]|[1-9][0-9]|[0-9])"
"""An octet of a canonical dotted quad (as ``inet_ntoa`` prints it): decimal, no leading
zero."""
_QUAD = re.compile(rf"({OCTET})\.({OCTET})\.({OCTET})\.({OCTET})")


def quad_value(text: str) -> int | None:
    """The 32-bit value of canonical dotted-quad text (as ``inet_ntoa`` prints it), else
    None; a pattern and four ints, a fifth of what ``ipaddress`` costs."""
    m = _QUAD.fullmatch(text)
    if m is None:
        return None
    a, b, c, d = m.groups()
    return int(a) << 24 | int(b) << 16 | int(c) << 8 | int(d)


_V4_TEXT: dict[int, str] = {}


def _v4_text(value: int) -> str:
    """The dotted-quad text of a 32-bit IPv4 value (one shared string per address)."""
    text = _V4_TEXT.get(value)
    if text is None:
        text = remember(_V4_TEXT, value, f"{value >> 24}.{value >> 16 & 255}."
                                          f"{value >> 8 & 255}.{value & 255}")
    return text


_TEXT_FAMILY: dict[str, int] = {}


def _text_family(text: str) -> int:
    """6 for IPv6 address text, else ``FAMILY_NAME`` (a name, or text that only looks like an
    address: ``2001:db8:1::1:g`` in a damaged line)."""
    fam = _TEXT_FAMILY.get(text)
    if fam is None:
        fam = FAMILY_NAME
        if ":" in text:
            try:
                ipaddress.IPv6Address(text)
                fam = 6
            except ValueError:
                pass
        remember(_TEXT_FAMILY, text, fam)
    return fam


def _family(table: PacketTable, text: str) -> tuple[int, int]:
    """(family, column value) of an address text."""
    v4 = _v4_value(text)
    if v4 is not None:
        return 4, v4
    return _text_family(text), table.addr_id(text)


def address_value(table: PacketTable, text: str) -> tuple[int, int]:
    """(family, column value) of an address text, as ``fill_row`` stores it."""
    return _family(table, text)


def address_code(table: PacketTable, text: str) -> int | None:
    """``family << 32 | value`` of an address text as the table's rows hold it, or None when
    no row of the table can hold it (a text it never interned); the table is left as it is."""
    v4 = _v4_value(text)
    if v4 is not None:
        return 4 << 32 | v4
    try:
        value = table.addrs.index(text)
    except ValueError:
        return None
    return _text_family(text) << 32 | value


_U32 = 0xFFFFFFFF
"""The largest TCP sequence number, timestamp or length a column holds."""


def fill_row(table: PacketTable, cols: dict[str, npt.NDArray[Any]], i: int,
             rec: PacketRecord, file_id: int) -> None:
    """Fill row ``i`` of ``cols`` from a record (the flow's headers: the inner ones of a
    tunnel)."""
    cols["ts"][i] = rec.ts_ns
    cols["frame"][i] = rec.frame
    cols["file"][i] = file_id
    cols["iface"][i] = table.iface_id(rec.ifname)
    cols["direction"][i] = 1 if rec.direction == "in" else 2 if rec.direction == "out" else 0
    cols["linktype"][i] = rec.linktype
    cols["wire_len"][i] = rec.wire_len
    ip = rec.ip
    if ip is None:
        return
    known = 0
    fam, src = _family(table, ip.src)
    fam2, dst = _family(table, ip.dst)
    cols["family"][i] = fam if fam == fam2 else FAMILY_NAME
    if fam != fam2:  # a mixed pair: both by text
        src, dst = table.addr_id(ip.src), table.addr_id(ip.dst)
    cols["src"][i] = src
    cols["dst"][i] = dst
    cols["proto"][i] = ip.proto
    cols["ip_len"][i] = ip.length or 0
    if ip.ttl is not None and 0 <= ip.ttl <= 0xFF:  # a mangled text line may say more
        cols["ttl"][i] = ip.ttl
        known |= K_TTL
    if ip.tos is not None and 0 <= ip.tos <= 0xFF:
        cols["tos"][i] = ip.tos
    if ip.ip_id is not None and 0 <= ip.ip_id <= 0xFFFF:
        cols["ip_id"][i] = ip.ip_id
        known |= K_IPID
    if ip.df:
        known |= K_DF
    if ip.more_fragments:
        known |= K_MF
    l4 = rec.l4
    if isinstance(l4, pk.TCPHeader | pk.UDPHeader):
        cols["sport"][i] = l4.sport
        cols["dport"][i] = l4.dport
        cols["payload_len"][i] = min(max(l4.payload_len, 0), _U32)
    if isinstance(l4, pk.TCPHeader):
        cols["flags"][i] = l4.flags
        seq, ack, win = l4.seq, l4.ack, l4.window
        has_seq = seq is not None and 0 <= seq <= _U32
        has_ack = ack is not None and 0 <= ack <= _U32
        if has_seq:
            cols["seq"][i] = seq
        if has_ack:
            cols["ack"][i] = ack
        if win is not None:
            cols["window"][i] = win & 0xFFFF
            known |= K_WIN
        if has_seq and has_ack and win is not None and not l4.seq_relative:
            known |= K_SEQ
        else:  # as the text columns keep them: what was printed, and whether relative
            known |= ((K_SEQ1 if has_seq else 0) | (K_ACK1 if has_ack else 0)
                      | (K_REL if l4.seq_relative else 0))
        if l4.options.ts_val is not None and l4.options.ts_val <= _U32:
            cols["ts_val"][i] = l4.options.ts_val
            known |= K_TS
    headers = rec.inner if rec.inner is not None and rec.inner.ip is not None else rec.headers
    if headers.payload_hash is not None:
        cols["payload_hash"][i] = headers.payload_hash
        known |= K_HASH
    cols["known"][i] = known


def lean(rec: PacketRecord) -> PacketRecord:
    """The record without its captured bytes."""
    if rec.data is None:
        return rec
    return rec._replace(data=None)


def table_from_records(point: str, records: Iterable[PacketRecord],
                       table: PacketTable | None = None) -> PacketTable:
    """A table whose every row keeps its record (text input, records built elsewhere):
    the columns are filled from the records. Rows are appended to ``table`` when given."""
    table = table if table is not None else PacketTable(point)
    pending: list[PacketRecord] = []
    for rec in records:
        pending.append(lean(rec))
        if len(pending) >= BATCH_ROWS:
            _append_records(table, pending)
            pending = []
    if pending:
        _append_records(table, pending)
    return table


def _append_records(table: PacketTable, recs: Sequence[PacketRecord]) -> None:
    cols = empty_columns(len(recs))
    files: dict[str, int] = {}
    for i, rec in enumerate(recs):
        fid = files.get(rec.file)
        if fid is None:
            fid = files[rec.file] = table.file_id(rec.file)
        fill_row(table, cols, i, rec, fid)
    table.add_batch(Batch(cols, dict(enumerate(recs))))
