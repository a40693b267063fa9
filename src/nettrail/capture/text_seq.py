"""Absolute TCP sequence numbers back from tcpdump's relative ones.

Without ``-S`` tcpdump prints relative seq/ack: for each conversation (both directions share
one entry) the first packet carrying ACK (or any SYN-ACK, which starts over) is printed with
absolute numbers and sets the bases: its own direction's seq base is its seq, the other
direction's is its ack - 1. Later packets print seq - base and ack - base of the other side.
Replaying that bookkeeping over the same lines gives the absolute numbers back, which are what
other capture points (pcap, or ``-S`` text) show.

Whether a file was printed with ``-S`` is not written in it: the first packet after a base was
set whose numbers are clearly one or the other decides for the whole file. Relative numbers are
small (``ack 1``) where absolute ones are close to the base; until one packet tells, numbers
are kept as printed and marked relative.
When text starts mid-conversation (an excerpt), the first packet seen already has small
numbers; that conversation's numbers stay relative (``seq_relative=True``).
"""

from __future__ import annotations

from nettrail.model.packet import ACK, SYN, TCPHeader

_MOD = 1 << 32
_NEAR = 1 << 24  # -S: later numbers are within this of the base (16 MB of data)
_RELATIVE = 1 << 20  # relative numbers of the first packets after a base are below this
_SMALL = 1 << 16  # an excerpt's first packet: numbers this small were relative already

_Key = tuple[str, int, str, int]
_Bases = tuple[int | None, int | None]
_UNKNOWN: _Bases = (None, None)


def _near(a: int, b: int) -> bool:
    d = (a - b) % _MOD
    return d < _NEAR or d > _MOD - _NEAR


class SeqTracker:
    """Replays tcpdump's relative-sequence bookkeeping over one file's TCP packets."""

    def __init__(self) -> None:
        self.bases: dict[_Key, _Bases] = {}
        self.relative: bool | None = None

    def absolute(self, src: str, dst: str, tcp: TCPHeader) -> TCPHeader:
        """``tcp`` with absolute seq/ack where the file's text was relative."""
        if self.relative is False or not tcp.flags & ACK or tcp.ack is None:
            return tcp
        seq, ack, rel = self.numbers(src, tcp.sport, dst, tcp.dport, tcp.flags, tcp.seq, tcp.ack)
        if seq == tcp.seq and ack == tcp.ack and not rel:
            return tcp
        return tcp._replace(seq=seq, ack=ack, seq_relative=rel)

    def numbers(
        self, src: str, sport: int, dst: str, dport: int, flags: int, seq: int | None, ack: int
    ) -> tuple[int | None, int, bool]:
        """(seq, ack, still relative) of a packet with the ACK flag, as printed in the file."""
        if self.relative is False:
            return seq, ack, False
        fwd = (src, sport, dst, dport)
        base = self.bases.get(fwd)
        if base is None or flags & SYN:
            excerpt = self._set_base(fwd, (dst, dport, src, sport), flags, seq, ack)
            return seq, ack, excerpt
        if self.relative is None:
            self.relative = self._judge(base, seq, ack)
            if self.relative is False:
                return seq, ack, False
        seq_base, ack_base = base
        if self.relative is None or ack_base is None or (seq_base is None and seq is not None):
            return seq, ack, True
        if seq is not None and seq_base is not None:
            seq = (seq + seq_base) % _MOD
        return seq, (ack + ack_base) % _MOD, False

    def _set_base(self, fwd: _Key, rev: _Key, flags: int, seq: int | None, ack: int) -> bool:
        """Record the bases this packet sets; True if its numbers are already relative."""
        if not flags & SYN and ack < _SMALL and (seq is None or seq < _SMALL):
            # an excerpt: relative numbers with no absolute ones before them
            self.bases[fwd] = self.bases[rev] = _UNKNOWN
            if self.relative is None:
                self.relative = True
            return True
        other = (ack - 1) % _MOD
        self.bases[fwd] = (seq, other)  # a pure ACK hides its seq: that base stays unknown
        self.bases[rev] = (other, seq)
        return False

    @staticmethod
    def _judge(base: _Bases, seq: int | None, ack: int) -> bool | None:
        """True if this packet's numbers read as relative, False as absolute, None unsure."""
        seq_base, ack_base = base
        if ack_base is None:
            return None
        rel = ack < _RELATIVE and (seq is None or seq < _RELATIVE)
        absolute = _near(ack, ack_base) and (
            seq is None or seq_base is None or _near(seq, seq_base))
        if rel != absolute:
            return rel
        return None
