"""Host findings' suspects from a point's packet table: the cheap pass as column operations.

``findings_host._suspects`` walks every TCP record of a point three times to pick the
connections worth a closer look. On a binary capture's table every TCP row but the kept
(odd) ones is described by its columns alone, so the same choice is made with sorts and
set lookups on the columns; only the chosen rows' records are touched.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from nettrail.analyze.columns import groups
from nettrail.analyze.flows import COPY_WINDOW_NS
from nettrail.analyze.icmp_tie import named_flows
from nettrail.model.packet import RST, SYN, ICMPHeader, PacketRecord
from nettrail.model.rows import TableRows
from nettrail.model.table import K_IPID, K_SEQ, PacketTable, address_code

Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


def icmp_errors(table: PacketTable) -> list[PacketRecord]:
    """The ICMP destination-unreachable records of the table, in row order (only kept
    records can be ICMP)."""
    return [r for _i, r in sorted(table.odd_rows().items())
            if type(r.headers.l4) is ICMPHeader and r.headers.l4.type == 3]


def column_suspects(table: PacketTable, records: Sequence[PacketRecord],
                    icmp: Sequence[PacketRecord], resets_only: bool = False,
                    ) -> list[PacketRecord]:
    """``_suspects(records, icmp)`` from the columns (``column_ready`` must hold);
    ``resets_only``: only the suspects of connections with a RST among their suspects (where
    no packet can have ended at the point, a RST is the one thing left to judge)."""
    col = table.column
    odd = np.zeros(len(records), np.bool_)
    odd[list(table.odd_rows())] = True
    tcp = ~odd & (col("proto") == 6)
    rows = np.flatnonzero(tcp)
    if not len(rows):
        return []
    known = col("known")[rows]
    has_seq = (known & K_SEQ) != 0
    family = col("family")[rows].astype(np.int64) << 32
    src = family | col("src")[rows]
    dst = family | col("dst")[rows]
    sport = col("sport")[rows].astype(np.int64)
    dport = col("dport")[rows].astype(np.int64)
    flags = col("flags")[rows].astype(np.int64)
    plen = col("payload_len")[rows].astype(np.int64)
    seq = np.where(has_seq, col("seq")[rows].astype(np.int64), -1)
    ack = np.where(has_seq, col("ack")[rows].astype(np.int64), -1)
    ip_id = np.where((known & K_IPID) != 0, col("ip_id")[rows].astype(np.int64), -1)
    ts = col("ts")[rows]

    flows: set[tuple[int, int, int, int]] = set()
    unquoted: set[tuple[int, int]] = set()
    named, unquoted_texts = named_flows(icmp)
    for src_text, p, dst_text, q in named:
        a, b = address_code(table, src_text), address_code(table, dst_text)
        if a is not None and b is not None:
            flows.add((a, p, b, q))
    for src_text, dst_text in unquoted_texts:
        a, b = address_code(table, src_text), address_code(table, dst_text)
        if a is not None and b is not None:
            unquoted.add((a, b))
    marked = (flags & RST) != 0
    for a, b in unquoted:
        marked |= (src == a) & (dst == b)
    # exact packings (addresses take 35 bits, seq/ack + 1 33, flags and ports 16, IP ID + 1
    # 17): fewer sort keys, the same groups
    src_end = src << 16 | sport
    seq_flags = (seq + 1) << 16 | flags
    picked = np.flatnonzero(~marked & (((flags & SYN) != 0) | (plen != 0)))
    if len(picked):
        # a SYN or data segment again later than a copy would be, after its first sending
        group = groups(src_end[picked], seq_flags[picked], plen[picked])
        _, first = np.unique(group, return_index=True)
        late = ts[picked] - ts[picked][first][group] > COPY_WINDOW_NS
        marked[picked[late]] = True
    flagged = np.flatnonzero(marked)
    flows.update(zip(src[flagged].tolist(), sport[flagged].tolist(), dst[flagged].tolist(),
                     dport[flagged].tolist(), strict=True))
    if not flows:
        return []
    n = len(rows)
    ends = groups(np.concatenate([src_end, dst << 16 | dport]))
    numbers, at = np.unique(ends, return_index=True)
    both = (np.concatenate([src, dst])[at].tolist(), np.concatenate([sport, dport])[at].tolist())
    end_of = dict(zip(zip(*both, strict=True), numbers.tolist(), strict=True))
    n_ends = len(numbers)
    quad = ends[:n] * n_ends + ends[n:]
    back = ends[n:] * n_ends + ends[:n]
    wanted = np.array(sorted({end_of[(a, p)] * n_ends + end_of[(b, q)] for a, p, b, q in flows
                              if (a, p) in end_of and (b, q) in end_of}), np.int64)
    chosen = np.isin(quad, wanted) | np.isin(back, wanted)
    inv = groups(seq_flags, (ack + 1) << 17 | (ip_id + 1), plen)
    keyed = chosen & ((seq >= 0) | (ip_id > 0))
    again = ~chosen & np.isin(inv, np.unique(inv[keyed]))
    sel = np.concatenate([np.flatnonzero(chosen), np.flatnonzero(again)])
    if resets_only:
        conn = np.minimum(quad, back)[sel]  # the connection: its two ends, either way
        sel = sel[np.isin(conn, conn[(flags[sel] & RST) != 0])]
    picked = rows[sel]
    if isinstance(records, TableRows):  # built for these rows alone
        return records.take(picked)
    return [records[i] for i in picked.tolist()]
