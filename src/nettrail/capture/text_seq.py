"""Absolute TCP sequence numbers back from tcpdump's relative ones.

Without ``-S`` tcpdump prints relative seq/ack: for each conversation (both directions share
one entry) the first packet carrying ACK (or any SYN-ACK, which starts over) is printed with
absolute numbers and sets the bases: its own direction's seq base is its seq, the other
direction's is its ack - 1. Later packets print seq - base and ack - base of the other side.
Replaying that bookkeeping over the same lines gives the absolute numbers back, which are what
other capture points (pcap, or ``-S`` text) show.

Whether a file was printed with ``-S`` is not written in it: the first packet after a base was
set decides. Relative numbers are small (``ack 1``) where absolute ones are close to the base.
When text starts mid-conversation (an excerpt), the first packet seen already has small
numbers; that conversation's numbers stay relative (``seq_relative=True``).
"""

from __future__ import annotations

from nettrail.model.packet import ACK, SYN, TCPHeader

_MOD = 1 << 32
_NEAR = 1 << 28
_SMALL = 1 << 16

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
        fwd = (src, tcp.sport, dst, tcp.dport)
        base = self.bases.get(fwd)
        if base is None or tcp.flags & SYN:
            excerpt = self._set_base(fwd, (dst, tcp.dport, src, tcp.sport), tcp)
            return tcp._replace(seq_relative=True) if excerpt else tcp
        if self.relative is None:
            self.relative = self._judge(base, tcp)
            if self.relative is False:
                return tcp
        seq_base, ack_base = base
        if self.relative is None or ack_base is None or (seq_base is None and tcp.seq is not None):
            return tcp._replace(seq_relative=True)
        seq = None if tcp.seq is None or seq_base is None else (tcp.seq + seq_base) % _MOD
        return tcp._replace(seq=seq, ack=(tcp.ack + ack_base) % _MOD)

    def _set_base(self, fwd: _Key, rev: _Key, tcp: TCPHeader) -> bool:
        """Record the bases this packet sets; True if its numbers are already relative."""
        ack = tcp.ack if tcp.ack is not None else 0
        seq = tcp.seq
        if not tcp.flags & SYN and ack < _SMALL and (seq is None or seq < _SMALL):
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
    def _judge(base: _Bases, tcp: TCPHeader) -> bool | None:
        """True if this packet's numbers read as relative, False as absolute, None unsure."""
        if base[1] is None or tcp.ack is None:
            return None
        rel = tcp.ack < _NEAR
        if rel != _near(tcp.ack, base[1]):
            return rel
        return None
