"""Failed and reset connections of a packet table, worked out on arrays.

A group of rows that is plain in every other respect (see ``analyze.table_flows``) but whose
handshake failed (a SYN unanswered, a SYN-ACK never acknowledged) or that ends with a RST
needs no per-packet state machine either: what the tracker keeps of it for its outcome and
finding is read off the rows. The RST must be the group's last row, its only RST, carry no
data, SYN or FIN, and come before both sides sent a FIN (the tracker ignores a RST after
that, and a packet after a RST may meet its housekeeping: such groups stay with it). The
progress bits are the tracker's (``flows.H_*``): the first SYN and SYN-ACK, the client's
acknowledgement (from a packet without SYN or RST), the FINs, the RST; the evidence is the
tracker's: its first SYN, first SYN-ACK, the RST and the last packet from the other side
before it.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from nettrail.analyze.columns import ranges
from nettrail.analyze.flows import (
    COPY_WINDOW_NS,
    H_EST,
    H_FIN_C,
    H_FIN_S,
    H_MID,
    H_RST,
    H_SYN,
    H_SYNACK,
    Seg,
    outcome_finding,
    outcome_of,
)
from nettrail.model.arrays import Arr
from nettrail.model.finding import Finding
from nettrail.model.flow import Connection, Outcome
from nettrail.model.packet import ACK, FIN, RST, SYN
from nettrail.model.table import K_SEQ

_MASK = 0xFFFFFFFF


def final_resets(flags: Arr, plen: Arr, new: Arr, rst: Arr) -> Arr:
    """The RST rows (``rst``) the arrays cannot take: all but those that are the last row of
    their group (``new``: where each group starts, in sorted order) and carry no data, SYN
    or FIN."""
    r = np.flatnonzero(rst)
    last = np.ones(len(r), bool)
    inner = r + 1 < len(new)
    last[inner] = new[r[inner] + 1]
    ok = last & (plen[r] == 0) & (flags[r] & (SYN | FIN) == 0)
    out = rst.copy()
    out[r[ok]] = False
    return out


class Failed(NamedTuple):
    """What the tracker would keep of each failed or reset group (by group number): its
    progress bits, and the sorted rows of its first SYN, first SYN-ACK, RST and the last
    packet from the other side before the RST (-1: none); who sent the RST."""

    h: dict[int, int]
    syn: dict[int, int]
    synack: dict[int, int]
    rst: dict[int, int]
    answered: dict[int, int]
    rst_from_client: dict[int, bool]

    def rows(self) -> list[int]:
        """Every row whose segment a finding may cite."""
        return [k for part in (self.syn, self.synack, self.rst, self.answered)
                for k in part.values() if k >= 0]

    def outcome(self, g: int) -> Outcome:
        """The tracker's verdict on group ``g``."""
        return outcome_of(self.h[g], self.rst_from_client.get(g))

    def finding(self, g: int, conn: Connection, sigs: dict[int, Seg]) -> Finding | None:
        """The outcome finding of group ``g`` (``sigs``: the segments of :meth:`rows`)."""
        h = self.h[g]
        syn, synack = self.syn[g], self.synack[g]
        rst, answered = self.rst.get(g, -1), self.answered.get(g, -1)
        return outcome_finding(
            conn, h, sigs[syn] if syn >= 0 else None, sigs[synack] if synack >= 0 else None,
            sigs[rst] if rst >= 0 else None, self.rst_from_client.get(g),
            sigs[answered] if answered >= 0 else None, 1)  # a second SYN is not plain


def failed_groups(flags: Arr, fc: Arr, starts: Arr, groups: Arr, mid: Arr, fin_c: Arr,
                  fin_s: Arr) -> Failed:
    """The state of groups ``groups`` (plain but for a failed handshake or a final RST;
    ``mid``, ``fin_c``, ``fin_s``: per group, whether it began midstream and each side sent
    a FIN)."""
    if not len(groups):
        return Failed({}, {}, {}, {}, {}, {})
    ends = np.append(starts[1:], len(fc))
    rows, at = ranges(starts[groups], ends[groups])
    first = starts[groups]
    last = ends[groups] - 1
    fl, fcr = flags[rows], fc[rows]
    mid_g = mid[groups]
    syn_first = (flags[first] & (SYN | ACK) == SYN) & ~mid_g
    no_rst = fl & RST == 0
    synack = (fl & (SYN | ACK) == SYN | ACK) & ~fcr  # the final RST has no SYN
    far = len(fc)
    first_synack = np.minimum.reduceat(np.where(synack, rows, far), at)
    acked = fcr & (fl & ACK != 0) & (fl & SYN == 0) & no_rst
    est = np.logical_or.reduceat(acked, at) & ~mid_g
    reset = flags[last] & RST != 0
    h = (np.where(syn_first, H_SYN, 0) | np.where(first_synack < far, H_SYNACK, 0)
         | np.where(est, H_EST, 0) | np.where(mid_g, H_MID, 0)
         | np.where(fin_c[groups], H_FIN_C, 0) | np.where(fin_s[groups], H_FIN_S, 0)
         | np.where(reset, H_RST, 0))
    last_c = np.maximum.reduceat(np.where(fcr, rows, -1), at)
    last_s = np.maximum.reduceat(np.where(fcr, -1, rows), at)
    from_client = fc[last]
    answered = np.where(from_client, last_s, last_c)  # the RST is the last row: not it
    gl = groups.tolist()
    r = np.flatnonzero(reset)
    rg = groups[r].tolist()
    return Failed(
        dict(zip(gl, h.tolist(), strict=True)),
        dict(zip(gl, np.where(syn_first, first, -1).tolist(), strict=True)),
        dict(zip(gl, np.where(first_synack < far, first_synack, -1).tolist(), strict=True)),
        dict(zip(rg, last[r].tolist(), strict=True)),
        dict(zip(rg, answered[r].tolist(), strict=True)),
        dict(zip(rg, from_client[r].tolist(), strict=True)),
    )


def syn_retries(flags: Arr, known: Arr, odd: Arr, ts: Arr, seq: Arr, eps: Arr, epd: Arr,
                new: Arr) -> Arr | None:
    """Rows after the first of groups that are a series of SYNs, each of which the tracker
    begins a new connection with (each unanswered): every row a SYN without ACK, RST or FIN
    from the group's first source, its numbers known and no record kept, and each after the
    first with another sequence number than the one before it, more than ``COPY_WINDOW_NS``
    after it (``flows._reopens``). None when there are none. The sequence number must leave
    room for the SYN (a SYN at 2^32 - 1 is not plain: the tracker would see only part of the
    series, and take a later SYN for a retransmission of it)."""
    pure = flags & (SYN | ACK | RST | FIN) == SYN
    later = np.flatnonzero(pure & ~new)
    if not len(later):
        return None
    starts = np.flatnonzero(new)
    ends = np.append(starts[1:], len(new))
    g = np.unique(np.searchsorted(starts, later, "right") - 1)
    rows, at = ranges(starts[g], ends[g])
    head = np.repeat(starts[g], ends[g] - starts[g])
    ok = (pure[rows] & (known[rows] & K_SEQ != 0) & ~odd[rows] & (eps[rows] == eps[head])
          & (eps[rows] != epd[rows]) & (seq[rows] != _MASK))
    prev = np.maximum(rows - 1, 0)
    step = rows != head
    ok &= ~step | ((seq[rows] != seq[prev]) & (ts[rows] - ts[prev] > COPY_WINDOW_NS))
    good = np.logical_and.reduceat(ok, at)
    out = np.zeros(len(new), bool)
    out[rows[np.repeat(good, ends[g] - starts[g]) & step]] = True
    return out if out.any() else None
