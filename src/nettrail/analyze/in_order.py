"""A packet sent again, seen as often at two points: its copies paired in time order before
any clock is known.

The clock estimate is built from packets matched without a clock: a strong key one sighting
holds at each point, or copies told apart by IP ID. A retransmitted SYN-ACK has neither: its
copies share every field, and Linux sends SYN-ACKs with IP ID 0. Yet it is the very packet
that crosses in the other direction when a connection fails in its handshake (the SYN-ACK of
a reply that takes another path is sent again because its ACK never comes back), so without
it the points are tied one way only, and a one-way bound put a VM's reply before the request
it answers.

Copies a sender made again after a timeout leave it in order and far apart (a retransmission
timeout is 200 ms at the least, and doubles each time), so when both points saw the same
number of them, spaced alike, the first is the first, the second the second: that pairing
holds whatever the clocks. Spaced alike rules out the one pairing that could fool it (a
point that missed the first copy and caught one more at the end) for copies sent with a
growing timeout; so only packets a sender repeats on a timeout that grows take part: SYNs,
FINs and segments with data. A pure ACK or a keep-alive probe (no data, or one byte) can be
repeated at a fixed interval, which spaces every shifted pairing alike too.
"""

from __future__ import annotations

from collections.abc import Sequence

from nettrail.model.packet import FIN, PROTO_TCP, SYN

ORDER_GAP_NS = 50_000_000
"""The least time between two copies at a point: closer ones are not a sender's timeout."""
ORDER_SLACK_NS = 5_000_000
ORDER_SLACK_SHARE = 0.05
"""How far the two points' gaps between the same copies may differ: the larger of 5 ms (the
copies' transit may differ by queueing) and 5% of the gap (far less than a timeout that
doubles)."""


def sent_again(proto: int, flags: int, plen: int) -> bool:
    """Whether a packet of this kind is repeated on a timeout that grows: a TCP SYN or FIN, or
    a segment with more than one byte of data."""
    return proto == PROTO_TCP and (flags & (SYN | FIN) != 0 or plen > 1)


Marks = Sequence[tuple[int | None, int | None]]
"""Each copy's IP ID and TCP timestamp value (None, or below 0: not carried)."""


def in_order(ta: Sequence[int], tb: Sequence[int], marks_a: Marks, marks_b: Marks) -> bool:
    """Whether the copies of one packet seen at two points (each side's times in order, its
    own clock; each copy's ``Marks``) pair first with first, second with second: two or more
    a side, as many at each, every gap between them at least ORDER_GAP_NS, the two sides'
    gaps alike, and no pair whose IP IDs or timestamp values, carried on both, differ."""
    if len(ta) < 2 or len(ta) != len(tb):
        return False
    for ma, mb in zip(marks_a, marks_b, strict=True):
        for x, y in zip(ma, mb, strict=True):
            if x is not None and y is not None and x >= 0 and y >= 0 and x != y:
                return False
    for k in range(1, len(ta)):
        ga, gb = ta[k] - ta[k - 1], tb[k] - tb[k - 1]
        if min(ga, gb) < ORDER_GAP_NS:
            return False
        if abs(ga - gb) > max(ORDER_SLACK_NS, ORDER_SLACK_SHARE * max(ga, gb)):
            return False
    return True
