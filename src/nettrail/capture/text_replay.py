"""SeqTracker's replay over a block of lines at once, once the file is known to print
relative numbers (``SeqTracker.relative`` True).

Only three kinds of line move the bookkeeping: a SYN without ACK notes its seq + 1
(``SeqTracker.syn``); a SYN-ACK, and the first ACK of a conversation without bases, set the
bases of both directions (``SeqTracker._set_base``: the first ACK's numbers may be an
excerpt's, relative already, unless it answers the peer's SYN). Every other ACK adds the bases
of its conversation as the last of those lines left them. Here each step is a group-by on the
direction (numpy sorts), in line order within a group; SeqTracker's bases are kept as numbers by
direction (``ConvBases``): read for what the block starts with and written once with what it
ends with.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from nettrail.model.arrays import Arr
from nettrail.model.cache import CACHE_LIMIT
from nettrail.model.packet import ACK, SYN

if TYPE_CHECKING:
    from nettrail.capture.text_fast import FastLine
    from nettrail.capture.text_seq import SeqTracker

_MASK = 0xFFFFFFFF
_SMALL = 1 << 16  # SeqTracker's: an excerpt's first numbers are below this
NONE = -2
"""A direction without bases (``ConvBases``); -1: a base of None."""
_Key = tuple[str, int, str, int]


def _back(key: _Key) -> _Key:
    src, sp, dst, dp = key
    return (dst, dp, src, sp)


def _pair_numbers(bases: tuple[int | None, int | None] | None) -> tuple[int, int]:
    """SeqTracker's (seq base, ack base) as numbers: -1 for None, both NONE without bases."""
    if bases is None:
        return NONE, NONE
    seq_base, ack_base = bases
    return -1 if seq_base is None else seq_base, -1 if ack_base is None else ack_base


class ConvBases:
    """SeqTracker's bases of the conversations of a FastLine's pairs as numbers
    (``_pair_numbers``), one row per direction: conversation * 2, + 1 for the direction named first
    (``FastLine.per_pair``). A block's replay reads and writes them at once. What SeqTracker
    sets itself it logs, and that is read in before each block; what a replay sets is written
    into SeqTracker's ``bases`` only when SeqTracker is about to read that key (``settle``)."""

    def __init__(self, fast: FastLine) -> None:
        # what it needs of ``fast`` and its SeqTracker, not them: SeqTracker keeps ``settle``
        self.bases = fast.seqs.bases
        self.conn_ids, self.conv_keys = fast.conn_ids, fast.conv_keys
        self.values = np.full((64, 2), NONE, np.int64)
        self.dirty = np.zeros(32, bool)
        """The conversations whose bases SeqTracker's ``bases`` do not have yet."""
        self.made = 0
        """The conversations whose rows are set."""
        self.orphans: dict[_Key, None] = dict.fromkeys(min(k, _back(k)) for k in self.bases)
        """Conversations (first key) SeqTracker set bases of before their pairs were made."""
        self.log: list[_Key] = []
        fast.seqs.log = self.log

    def update(self) -> Arr:
        """The rows, with the conversations made and SeqTracker's own settings since the last
        call read in."""
        orphans = self.orphans
        convs = self.conv_keys
        n, made = len(convs), self.made
        if 2 * n > len(self.values):
            values = np.full((4 * n, 2), NONE, np.int64)
            values[: 2 * made] = self.values[: 2 * made]
            dirty = np.zeros(2 * n, bool)
            dirty[:made] = self.dirty[:made]
            self.values, self.dirty = values, dirty
        if n > made:
            self.values[2 * made : 2 * n] = NONE
            if orphans:
                for c, both in enumerate(convs[made:n], made):
                    if both in orphans:
                        del orphans[both]
                        self._read(c, both)
            self.made = n
        log = self.log
        if log:
            ids = self.conn_ids
            for key in log:
                both = min(key, _back(key))
                conv = ids.get(both)
                if conv is None:
                    orphans[both] = None
                else:
                    self._read(conv, both)
            log.clear()
        return self.values

    def _read(self, c: int, both: _Key) -> None:
        bases = self.bases
        self.values[2 * c] = _pair_numbers(bases.get(_back(both)))
        self.values[2 * c + 1] = _pair_numbers(bases.get(both))

    def keep(self, seqs: SeqTracker, fwd: Arr, rev: Arr, conns: Arr, after: Arr) -> None:
        """The bases a block leaves: per conversation that set them, its last setter's
        (``after``: its own direction's, then the other's)."""
        self.values[fwd] = after[:, 0:2]
        self.values[rev] = after[:, 2:4]
        self.dirty[conns] = True
        seqs.settle = self.settle

    def settle(self, key: _Key) -> None:
        """Write the bases of ``key``'s conversation into SeqTracker's, where a replay set them
        since."""
        both = min(key, _back(key))
        c = self.conn_ids.get(both)
        if c is None or c >= self.made or not self.dirty[c]:
            return
        self.dirty[c] = False
        bases = self.bases
        (sb, ab), (rsb, rab) = self.values[2 * c + 1].tolist(), self.values[2 * c].tolist()
        back = _back(both)
        if back != both:
            bases[back] = (None if rsb < 0 else rsb, None if rab < 0 else rab)
        bases[both] = (None if sb < 0 else sb, None if ab < 0 else ab)


def fits(fast: FastLine, fl: Arr, seq: Arr) -> bool:
    """Whether the block's SYN notes cannot fill SeqTracker's ``syns`` (a full cache is
    emptied: then the lines go one by one)."""
    notes = int(np.count_nonzero((fl >= 0) & (fl & SYN != 0) & (fl & ACK == 0) & (seq >= 0)))
    return len(fast.seqs.syns) + notes < CACHE_LIMIT


def replay(fast: FastLine, pid: Arr, fl: Arr, seq: Arr, ack: Arr, rel: Arr) -> None:
    """Relative seq/ack of the block back to absolute ones in place; ``rel`` marks the lines
    that keep them relative. SeqTracker's state moves as it would line by line."""
    seqs, keys = fast.seqs, fast.pair_keys()
    per = fast.per_pair()
    store = fast.conv_bases
    if store is None:
        store = fast.conv_bases = ConvBases(fast)
    values = store.update()
    conn = per[pid, 1]
    fwd = conn * 2 + per[pid, 2]  # a number per direction (key): both ends of one pair
    rev = conn * 2 + per[pid, 3]
    tcp = fl >= 0
    syn = tcp & (fl & SYN != 0)
    conv = tcp & (fl & ACK != 0) & (ack >= 0)
    notes = np.flatnonzero(syn & (fl & ACK == 0) & (seq >= 0))
    note_val = (seq[notes] + 1) & _MASK
    at_start = values[fwd]
    setter = conv & syn
    cand = np.flatnonzero(conv & (at_start[:, 0] == NONE))
    setter[cand[np.unique(conn[cand], return_index=True)[1]]] = True
    done = np.flatnonzero(setter)
    after = np.zeros((0, 4), np.int64)
    if len(done):
        after = _set_bases(fast, done, pid, fl, seq, ack, fwd, rev, notes, note_val, rel)
    _add_bases(per, pid, conv, setter, done, after, at_start, seq, ack, rel)
    if len(done):
        back = done[::-1]
        last = len(done) - 1 - np.unique(conn[back], return_index=True)[1]
        lines = done[last]
        store.keep(seqs, fwd[lines], rev[lines], conn[lines], after[last])
    if len(notes):
        seqs.syns.update(zip(map(keys.__getitem__, pid[notes].tolist()), note_val.tolist(),
                             strict=True))


def _set_bases(fast: FastLine, done: Arr, pid: Arr, fl: Arr, seq: Arr, ack: Arr, fwd: Arr,
               rev: Arr, notes: Arr, note_val: Arr, rel: Arr) -> Arr:
    """The bases each of the lines ``done`` sets (``SeqTracker._set_base``): per line, its own
    direction's (seq, ack) and the other's; -1 for None. Marks the excerpts in ``rel``."""
    s, a, f = seq[done], ack[done], fl[done]
    hidden = s < 0  # a pure ACK hides its seq: the one after its direction's SYN
    maybe = (f & SYN == 0) & (a < _SMALL) & (hidden | (s < _SMALL))  # an excerpt, unless...
    q_fwd, q_rev = np.flatnonzero(hidden), np.flatnonzero(maybe)
    got = _syn_before(fast, np.concatenate([done[q_fwd], done[q_rev]]),
                      np.concatenate([fwd[done[q_fwd]], rev[done[q_rev]]]),
                      np.arange(len(q_fwd) + len(q_rev)) >= len(q_fwd),
                      pid, notes, fwd[notes], note_val)
    own = s.copy()
    own[q_fwd] = got[: len(q_fwd)]
    excerpt = np.zeros(len(done), bool)
    excerpt[q_rev] = got[len(q_fwd):] != a[q_rev]  # ...it answers the peer's SYN
    rel[done] = excerpt
    other = (a - 1) & _MASK
    per = fast.per_pair()
    same = per[pid[done], 2] == per[pid[done], 3]  # both directions one key: the second wins
    after = np.stack([np.where(same, other, own), np.where(same, own, other), other, own], 1)
    after[excerpt] = -1
    return after


def _syn_before(fast: FastLine, lines: Arr, dirs: Arr, reverse: Arr, pid: Arr, notes: Arr,
                note_dirs: Arr, note_val: Arr) -> Arr:
    """SeqTracker's ``syns`` of direction ``dirs`` as it stands just before each of
    ``lines`` (-1 for none): the last SYN note of the block before it, else the dictionary's
    (its key: the line's pair, the other way round where ``reverse``)."""
    n = len(lines)
    out = np.full(n, -1, np.int64)
    if n == 0:
        return out
    pos = np.concatenate([notes, lines])
    key = np.concatenate([note_dirs, dirs])
    order = np.lexsort((pos, key))
    k = np.arange(len(order))
    start = np.maximum.accumulate(np.where(_starts(key[order]), k, 0))
    last = np.maximum.accumulate(np.where(order < len(notes), k, -1))
    asked = order >= len(notes)
    q = order[asked] - len(notes)
    hit = last[asked] >= start[asked]
    out[q[hit]] = note_val[order[last[asked][hit]]]
    miss = q[~hit]
    if len(miss):
        syns, keys = fast.seqs.syns, fast.pair_keys()
        found = []
        for p, back in zip(pid[lines[miss]].tolist(), reverse[miss].tolist(), strict=True):
            src, sp, dst, dp = keys[p]
            got = syns.get((dst, dp, src, sp) if back else (src, sp, dst, dp))
            found.append(-1 if got is None else got)
        out[miss] = found
    return out


def _add_bases(per: Arr, pid: Arr, conv: Arr, setter: Arr, done: Arr, after: Arr,
               at_start: Arr, seq: Arr, ack: Arr, rel: Arr) -> None:
    """Every other ACK: the bases of its conversation as the last line that set them before
    it left them (or as they were) added to its numbers; kept relative without a base."""
    r = np.flatnonzero(conv & ~setter)
    if not len(r):
        return
    base = at_start[r]
    if len(done):  # the rows of the conversations a line set the bases of: in turn in each
        conn = per[pid, 1]
        mark = np.zeros(int(conn.max()) + 1, bool)
        mark[conn[done]] = True
        rows = np.flatnonzero(conv & mark[conn])
        by_conn = rows[np.argsort(conn[rows], kind="stable")]  # rows in order within one
        k = np.arange(len(by_conn))
        group = np.maximum.accumulate(np.where(_starts(conn[by_conn]), k, 0))
        last = np.maximum.accumulate(np.where(setter[by_conn], k, -1))
        todo = ~setter[by_conn]
        after_set, last, group = by_conn[todo], last[todo], group[todo]
        since = last >= group  # a line of the conversation set the bases before this one
        if since.any():
            j = np.searchsorted(done, by_conn[last[since]])
            same = per[pid[after_set[since]], 2] == per[pid[done[j]], 2]
            at = np.empty(len(pid), np.int64)
            at[r] = np.arange(len(r))
            base[at[after_set[since]]] = np.where(
                same[:, None], after[j, 0:2], after[j, 2:4])
    sb, ab = base[:, 0], base[:, 1]
    s, a = seq[r], ack[r]
    keep = (ab < 0) | ((s >= 0) & (sb < 0))
    rel[r[keep]] = True
    move = ~keep
    ack[r[move]] = (a[move] + ab[move]) & _MASK
    both = move & (s >= 0)
    seq[r[both]] = (s[both] + sb[both]) & _MASK


def _starts(values: Arr) -> Arr:
    """Where a run of equal values begins (the first one included)."""
    out = np.empty(len(values), bool)
    out[:1] = True
    np.not_equal(values[1:], values[:-1], out=out[1:])
    return out
