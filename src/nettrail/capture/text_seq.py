"""Absolute TCP sequence numbers back from tcpdump's relative ones.

Without ``-S`` tcpdump prints relative seq/ack: for each conversation (both directions share
one entry) the first packet carrying ACK (or any SYN-ACK, which starts over) is printed with
absolute numbers and sets the bases: its own direction's seq base is its seq, the other
direction's is its ack - 1. Later packets print seq - base and ack - base of the other side.
Replaying that bookkeeping over the same lines gives the absolute numbers back, which are what
other capture points (pcap, or ``-S`` text) show.

Whether a file was printed with ``-S`` is not written in it: the first packet after a base was
set whose numbers are clearly one or the other decides for the whole file. Relative numbers are
small (``ack 1``, or just below 2**32 when a retransmission goes before the base) where absolute
ones are just ahead of their base; until one packet tells, numbers are kept as printed and
marked relative. A pure ACK that sets the bases hides its own seq: it is taken to be the one
after the SYN of its direction, when the text showed that SYN.
When text starts mid-conversation (an excerpt), the first packet seen already has small
numbers; that conversation's numbers stay relative (``seq_relative=True``).
"""

from __future__ import annotations

from collections.abc import Callable

from nettrail.model.cache import remember
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
        self.syns: dict[_Key, int] = {}
        self.settle: Callable[[_Key], None] | None = None
        """Called before the bases of a key are read here, when another keeps some bases
        (``text_replay``) and writes them into ``bases`` only when asked."""
        self.log: list[_Key] | None = None
        """When a list: the keys whose conversation's bases were set here, in order."""

    def syn(self, src: str, sport: int, dst: str, dport: int, seq: int) -> None:
        """Note a SYN without ACK: a pure ACK that sets the bases later hides seq + 1."""
        remember(self.syns, (src, sport, dst, dport), (seq + 1) % _MOD)

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
        if self.settle is not None:
            self.settle(fwd)
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
        if self.log is not None:
            self.log.append(fwd)
        answers_syn = self.syns.get(rev) == ack  # acks the peer's SYN: absolute numbers
        if not flags & SYN and ack < _SMALL and (seq is None or seq < _SMALL) and not answers_syn:
            # an excerpt: relative numbers with no absolute ones before them
            self.bases[fwd] = self.bases[rev] = _UNKNOWN
            if self.relative is None:
                self.relative = True
            return True
        other = (ack - 1) % _MOD
        if seq is None:
            # a pure ACK hides its seq: it is the sender's next one, just after its SYN
            seq = self.syns.get(fwd)
        self.bases[fwd] = (seq, other)
        self.bases[rev] = (other, seq)
        return False

    @staticmethod
    def _judge(base: _Bases, seq: int | None, ack: int) -> bool | None:
        """True if this packet's numbers read as relative, False as absolute, None unsure.

        Each number with a known base votes: relative when it is small (relative numbers
        start near 0 and may go a little below it, wrapping to just under 2**32) and not just
        ahead of its base; absolute when it is just ahead of its base and not small. A small
        number "ahead" of its base only past the wrap (a base within 2**24 of 2**32: ``ack 1``
        after ``seq 4280176585``) is relative: the absolute reading would have the sender
        wrap 2**32 within its first packets.
        """
        votes = set()
        for value, b in ((seq, base[0]), (ack, base[1])):
            if value is None or b is None:
                continue
            small = value < _RELATIVE or value > _MOD - _RELATIVE
            ahead = (value - b) % _MOD < _NEAR
            if small != ahead:
                votes.add(small)
            elif small and value < _RELATIVE and value < b:
                votes.add(True)
        return votes.pop() if len(votes) == 1 else None
