"""A classic pcap file into a packet table: one offset walk, then the columns in bulk.

The file is read in large chunks into one reusable buffer. For each chunk the record starts
are found in bulk first (``_chained``: places whose header looks like the chunk's first
record's, chained by their captured lengths), then by a Python loop over the record headers
from wherever the chain stopped (only the captured length is read, to find the next record);
the record headers and the common frames' fields are then read as columns (``table_fill``).
Faults are those of ``pcap.read_pcap``, at the same byte offsets, raised after the rows before
them are in the table.
"""

from __future__ import annotations

import struct
from array import array
from collections.abc import Mapping
from typing import Any

import numpy as np

from nettrail.capture import decode
from nettrail.capture.base import CaptureStats
from nettrail.capture.columns import PAD, rows_at
from nettrail.capture.pcap import (
    FILE_HEADER_LEN,
    MAX_CAPLEN,
    RECORD_HEADER_LEN,
    _check_tail,
    _os_error,
    _store,
    file_seam,
    parse_file_header,
    seam_marks,
)
from nettrail.capture.table_fill import Filler, ifname_of
from nettrail.errors import CaptureError
from nettrail.model.arrays import Arr
from nettrail.model.packet import PacketRecord
from nettrail.model.table import PacketTable

CHUNK = 8 << 20


def read_pcap_table(path: str, table: PacketTable, stats: CaptureStats,
                    ifnames: Mapping[int, str] | None = None) -> None:
    """Append the packets of pcap file ``path`` to ``table``; a fault is raised (and kept in
    ``stats.error``) after every row before it is in the table."""
    stats.format = "pcap"
    try:
        f = open(path, "rb")  # noqa: SIM115 - closed in the finally below
    except OSError as exc:
        raise _store(stats, _os_error(exc, path, 0)) from exc
    fill = Filler(table, path, stats, ifnames or {})
    frame = 0
    try:
        head = f.read(FILE_HEADER_LEN)
        order, unit, _snaplen, linktype = parse_file_header(head, path)
        marks_of_a_file = seam_marks(head, order)
        u32 = struct.Struct(order + "I").unpack_from
        head_dtype = np.dtype(order + "u4")
        frac_limit = 1_000_000_000 // unit
        marks = _LE_MARKS if order == "<" else _BE_MARKS
        bulk = True
        room = bytearray(CHUNK + MAX_CAPLEN + RECORD_HEADER_LEN + PAD)
        view = memoryview(room)
        npbuf = np.frombuffer(room, np.uint8)
        base = FILE_HEADER_LEN  # file offset of room[0]
        end = 0
        again = False  # records left in the buffer past another file's header: walk on first
        while True:
            got = 0 if again else f.readinto(view[end : end + CHUNK])
            if not got and not again:
                break
            again = False
            end += got
            chained, pos = (_chained(npbuf, end, marks, head_dtype) if bulk
                            else (np.zeros(0, np.int64), 0))
            offs = array("q")
            append = offs.append
            last = end - RECORD_HEADER_LEN
            while pos <= last:  # the hot loop: where each record starts
                stop = pos + 16 + u32(room, pos + 8)[0]
                if stop > end:
                    break
                append(pos)
                pos = stop
            starts = np.concatenate([chained, np.array(offs, np.int64)])
            found = len(starts)
            bulk = found > 0 and pos < BULK_MAX_MEAN * found  # short records: worth it
            if pos + RECORD_HEADER_LEN <= end:  # the record the walk stopped at, if whole
                starts = np.append(starts, pos)
            h = rows_at(npbuf, starts, RECORD_HEADER_LEN).view(head_dtype).astype(np.int64)
            absurd = _absurd(h[:, 2], starts)
            whole = found if absurd is None else absurd[0]
            seam = _seam(h[:whole], marks_of_a_file)
            if seam is not None:  # another file's header: files joined with cat
                whole, absurd = seam, None
            _add(fill, npbuf, starts[:whole], h[:whole], frame, unit, frac_limit, linktype,
                 path, stats, base)
            frame += whole
            if absurd is not None:
                raise CaptureError(f"absurd record length {absurd[1]} (> {MAX_CAPLEN})",
                                   path=path, offset=base + absurd[2], records=frame)
            if seam is not None:
                pos = int(starts[seam])
                if pos + FILE_HEADER_LEN <= end:  # whole: read on past it (else: more bytes)
                    file_seam(bytes(room[pos : pos + FILE_HEADER_LEN]), base + pos, linktype,
                              order, path, stats)
                    pos += FILE_HEADER_LEN
                    again = True
            left = end - pos
            room[:left] = room[pos:end]
            base += pos
            end = left
        fill.flush()
        _check_tail(bytes(room[:end]), 0, base, path, frame,
                    struct.Struct(order + "IIII").unpack_from)
    except OSError as exc:
        fill.flush()
        raise _store(stats, _os_error(exc, path, frame)) from exc
    except CaptureError as exc:
        fill.flush()
        raise _store(stats, exc) from None
    finally:
        f.close()
        stats.packets = frame


BULK_MAX_MEAN = 400
"""Largest mean record length (bytes) at which the next chunk is walked in bulk first
(:func:`_chained`, whose cost goes with the bytes, about 0.4 ns each, the loop's with the
records, about 0.2 us each: even at about 450 bytes a record)."""
_CHAIN_BREAKS = 256  # jumps over stray candidates before the loop takes over
# Byte offsets in a record header of: the time's two high bytes (alike in nearby records),
# the high bytes of the captured and the wire length (zero below 16 MiB).
_LE_MARKS = (3, 2, 11, 15)
_BE_MARKS = (0, 1, 8, 12)


def _chained(npbuf: Arr, end: int, marks: tuple[int, int, int, int],
             u32: np.dtype[Any]) -> tuple[Arr, int]:
    """Where the whole records of ``npbuf[:end]`` start, found in bulk from the record at
    0 for as long as each one's successor (start + 16 + captured length) is a candidate:
    a place whose header looks like the first one's (the same two high bytes of the time,
    lengths below 16 MiB). The same starts as the record-by-record loop, which goes on
    from the returned position (where the chain left the candidates, or stopped).
    ``marks``: :data:`_LE_MARKS` or :data:`_BE_MARKS`; ``u32``: the file's 32-bit dtype."""
    none = np.zeros(0, np.int64), 0
    n = end - RECORD_HEADER_LEN + 1  # places a whole header can start
    if n <= 0:
        return none
    t_hi, t_next, cap_hi, wire_hi = marks
    c = np.flatnonzero(npbuf[t_hi : t_hi + n] == npbuf[t_hi])
    c = c[(npbuf[c + t_next] == npbuf[t_next]) & (npbuf[c + cap_hi] == 0)
          & (npbuf[c + wire_hi] == 0)]
    if not len(c) or c[0] != 0:
        return none
    return follow_chain(c, c + 16 + rows_at(npbuf, c + 8, 4).view(u32)[:, 0].astype(np.int64),
                        end)


def follow_chain(c: Arr, nxt: Arr, end: int) -> tuple[Arr, int]:
    """The chain of candidate starts ``c`` (sorted, ``c[0]`` a true start) through their
    successors ``nxt``, for as long as each successor is the next candidate and whole in
    ``end`` bytes: (the starts, where a one-by-one walk goes on: the start of the first
    item that does not fit, or the successor that is not a candidate)."""
    whole = nxt <= end
    succ = np.searchsorted(c, nxt)
    hit = succ < len(c)
    hit[hit] = c[succ[hit]] == nxt[hit]
    brk = np.flatnonzero(~(whole & hit & (succ == np.arange(1, len(c) + 1))))
    runs = []
    i = 0
    for _ in range(_CHAIN_BREAKS):  # the last candidate always breaks a run
        j = int(brk[np.searchsorted(brk, i)])
        if not whole[j]:
            runs.append(c[i:j])
            return np.concatenate(runs), int(c[j])
        runs.append(c[i : j + 1])
        if not hit[j]:
            return np.concatenate(runs), int(nxt[j])
        i = int(succ[j])
    return np.concatenate(runs), int(c[i])


def _seam(h: Arr, marks: tuple[int, int]) -> int | None:
    """The index of the first record of no bytes whose time fields are a pcap file header's
    magic and version (``seam_marks``): another file's header. None when there is none."""
    at = np.flatnonzero((h[:, 2] == 0) & (h[:, 0] == marks[0]) & (h[:, 1] == marks[1]))
    return int(at[0]) if len(at) else None


def _absurd(caplens: Arr, starts: Arr) -> tuple[int, int, int] | None:
    """(index, length, buffer offset) of the first record longer than libpcap allows;
    None when there is none."""
    bad = np.flatnonzero(caplens > MAX_CAPLEN)
    if not len(bad):
        return None
    i = int(bad[0])
    return i, int(caplens[i]), int(starts[i])


def _add(fill: Filler, npbuf: Arr, starts: Arr, h: Arr, frame: int, unit: int,
         frac_limit: int, linktype: int, path: str, stats: CaptureStats, base: int) -> None:
    """Rows for the records at ``starts`` in the buffer (``h``: their four header fields)."""
    n = len(starts)
    if n == 0:
        return
    sec, frac, caplen, wire_len = h[:, 0], h[:, 1], h[:, 2], h[:, 3]
    ts = sec * 1_000_000_000 + frac * unit
    frames = np.arange(frame + 1, frame + n + 1, dtype=np.int64)
    recs: dict[int, PacketRecord] = {}
    for i in np.flatnonzero(frac >= frac_limit).tolist():
        recs[i] = _bad_time(fill, npbuf, int(starts[i]), h[i], frame + 1 + i, linktype, path,
                            stats, base)
        ts[i] = recs[i].ts_ns
    fill.add(npbuf, starts + RECORD_HEADER_LEN, caplen, wire_len, ts, frames,
             np.full(n, linktype, np.int64), np.zeros(n, np.int64), [None], recs)


def _bad_time(fill: Filler, npbuf: Arr, start: int, head: Arr, frame: int, linktype: int,
              path: str, stats: CaptureStats, base: int) -> PacketRecord:
    """The record of a frame whose time fraction is a second or more (as ``pcap`` makes it)."""
    sec, frac, caplen, wire_len = (int(v) for v in head)
    stats.warnings.append(f"{path} at byte {base + start}: frame {frame}: invalid timestamp "
                          f"fraction {frac} (a second or more); its time is not used")
    data = npbuf[start + 16 : start + 16 + caplen].tobytes()
    fr = decode.decode_frame_general(linktype, data, wire_len)
    if fr.problem is not None:
        stats.skipped[fr.problem] += 1
    ifname = ifname_of(fill.ifnames, None, -1 if fr.ifindex is None else fr.ifindex)
    return PacketRecord(fill.table.point, sec * 1_000_000_000 + 999_999_999, path, frame, ifname,
                        fr.direction, wire_len, fr.headers, fr.inner, fr.vni, None, linktype,
                        time_ok=False, tunnel=fr.tunnel)
