"""A point whose capture shows one side of each connection only (``tcpdump -Q in``, a
``dst port`` filter, a router on a path the replies do not take): there, a handshake that
looks failed for want of the other side's packets proves nothing.

``one_side`` judges a point from its own TCP rows, as the single-point analysis groups them;
``seen_one_side`` takes the handshakes that look failed only for that off the failures.
Across points, ``analyze.doubt.one_way`` judges each point against what the others saw.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import NamedTuple

import numpy as np

from nettrail.model.arrays import Arr
from nettrail.model.finding import Finding, Severity
from nettrail.model.flow import Outcome
from nettrail.model.packet import ACK, RST, SYN
from nettrail.model.table import K_ACK1, K_SEQ

ONE_WAY_CAPTURE = "one-way-capture"
MIN_ONE_WAY = 3
"""How many packets a point must show, all of one direction, to count as a one-way capture."""

_TOWARDS = {"c2s": "towards the server", "s2c": "towards the client",
            "": "of one side of each connection"}
FAILED_BY_SIDE = {"c2s": frozenset({Outcome.SYN_UNANSWERED}),
                  "s2c": frozenset({Outcome.SYNACK_UNACKNOWLEDGED}),
                  "": frozenset({Outcome.SYN_UNANSWERED, Outcome.SYNACK_UNACKNOWLEDGED})}
"""The failures a capture of each one side shows of a healthy handshake (each outcome is
also the kind of the finding that states it)."""


class OneSide(NamedTuple):
    """The one direction a point showed of every connection (``c2s``: towards the server;
    ``s2c``; "": some one way, some the other, or none whose roles are known), and whether
    its packets prove a capture blind to the other (``proven``)."""

    direction: str
    proven: bool


def one_way_capture(point: str, direction: str, failed: int = 0) -> Finding:
    """A point whose capture shows packets of one direction only: what it lacks of the other
    may never have been in it (``failed``: the handshakes that look failed only there, no
    longer failures)."""
    details = {"point": point, "direction": direction}
    if failed:
        details["failed"] = str(failed)
    return Finding(ONE_WAY_CAPTURE, Severity.WARNING,
                   f"{point}'s capture shows packets {towards(direction)} only: a capture "
                   "filter (tcpdump -Q in, a port or host filter) or a path the other direction "
                   "does not take; a packet of the other direction missing there proves nothing",
                   details=details)


def towards(direction: str) -> str:
    """The words of a one-way capture's ``direction``."""
    return _TOWARDS[direction]


def one_side(from_client: Arr, flags: Arr, ack: Arr, known: Arr, starts: Arr) -> OneSide | None:
    """The side a point showed when it showed one side only of every connection, from its
    TCP rows grouped by connection (``starts``: where each group begins; capture order
    within a group): whether each row is from the connection's client, its flags, ack and
    known bits. Proven only by what the other side must have sent within the capture, as
    one side's packets show it: an ack that moves (the other side's data arrived), or a
    handshake that went on past its first packet (an ACK after the SYN: the SYN-ACK came;
    after the SYN-ACK: the client's ACK came). SYNs sent again and again and never
    answered, a keepalive or the last packet of an older connection prove nothing."""
    n = len(from_client)
    if n == 0:
        return None
    sizes = np.diff(starts, append=n)
    clients = np.add.reduceat(from_client.astype(np.int64), starts)
    if ((clients != 0) & (clients != sizes)).any():
        return None
    roles = flags[starts] & SYN != 0  # a handshake's packet first: who is the client is known
    sides = set()
    if (roles & (clients == sizes)).any():
        sides.add("c2s")
    if (roles & (clients == 0)).any():
        sides.add("s2c")
    later = np.ones(n, bool)
    later[starts] = False
    gid = np.cumsum(~later) - 1
    on = later & (flags & ACK != 0) & (flags & (SYN | RST) == 0) & roles[gid]
    acked = (flags & ACK != 0) & (known & (K_SEQ | K_ACK1) != 0)
    moved = acked[1:] & acked[:-1] & (gid[1:] == gid[:-1]) & (ack[1:] != ack[:-1])
    proven = n >= MIN_ONE_WAY and bool(on.any() or moved.any())
    return OneSide(sides.pop() if len(sides) == 1 else "", proven)


def joined(parts: Sequence[OneSide | None]) -> OneSide | None:
    """The side of a point judged part by part (partitions of its connections): one side
    only when every part shows one only."""
    if not parts or any(p is None for p in parts):
        return None
    directions = {p.direction for p in parts if p is not None}
    return OneSide(directions.pop() if len(directions) == 1 else "",
                   any(p.proven for p in parts if p is not None))


def seen_one_side(point: str, side: OneSide, findings: Sequence[Finding]) -> list[Finding]:
    """``findings`` of ``point``, whose capture is proven to show ``side`` only, with each
    handshake that looks failed only for that (a SYN unanswered where the client's packets
    alone show) kept but no longer an error, and a note of the capture."""
    kinds = FAILED_BY_SIDE[side.direction]
    out, hidden = [], 0
    for f in findings:
        if f.kind in kinds:
            hidden += 1
            f = replace(f, severity=Severity.WARNING,
                        summary=f"{f.summary}; but {point}'s capture shows packets "
                                f"{towards(side.direction)} only, so whether it was answered "
                                "cannot be told",
                        details={**f.details, "one_way": point})
        out.append(f)
    if not hidden:
        return out
    return [one_way_capture(point, side.direction, hidden), *out]
