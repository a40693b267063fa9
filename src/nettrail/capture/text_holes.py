"""Lines of other forms among the common ones that the common lines can be filled across.

tcpdump's print of real traffic has lines the common form does not take (ARP, ICMP, DNS with
``<BAD PTR>``, NTP...) every few dozen lines. Each one used to end a run of common lines, and
runs that short are filled line by line. A line that cannot change how the common lines after
it read (a *hole*) lets the reader fill the common lines around it in one go and read the hole
itself by the general path, in line order (``TextReader._across``).

A hole is a packet line that:
- starts with a time of day shaped as the common lines' (``HH:MM:SS.ffffff``), a usable one
  within 12 hours of the lines next to it: the clock reads it without moving the day;
- is not TCP, outside or inside a tunnel: the relative-sequence bookkeeping never sees it;
- needs no pasting repair (``Paste.keeps``) and does not end in a soft break or CR: it is one
  packet on one line, and changes nothing the reader keeps of the file's pasting.

Its body is parsed here, once (``parsed``); the reader uses that outcome when it reads the
line, and so for a line found not to be a hole.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from nettrail.capture.text_block import seconds_of
from nettrail.capture.text_fast import OTHER, Chunk, FastLine, Row
from nettrail.capture.text_fields import OtherProtocol, TextError
from nettrail.capture.text_parse import Body, parse_body
from nettrail.capture.text_paste import Paste
from nettrail.capture.text_time import DAY_NS, HALF_DAY_NS, Stamp
from nettrail.model.packet import PacketRecord, TCPHeader

_SHAPE = (2, 6)
"""The stamp shape of the common form: two digits of hour, six of fraction."""
_TOD = re.compile(r"[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6} ")
_STAMPED = 16
"""Where a line stamped so goes on (its stamp and one space)."""
Outcome = Body | OtherProtocol | TextError
"""What parsing a body gave: its headers, or the error it raised."""


class Hole(NamedTuple):
    """A line of another form among common ones: its row in the block, its stamp (a time of
    day) and the text after it."""

    row: int
    stamp: Stamp
    body: str


BODIES = 4096
"""Bodies whose parse a reader keeps (``parsed``): other lines repeat (ARP requests, ICMP,
NTP), most of them close together, and a line found not to be a hole is read next."""


def find_holes(rows: Sequence[Row], stamps: list[bytes], start: int, fast: FastLine,
               paste: Paste, bodies: dict[str, Outcome]) -> tuple[int, list[Hole]]:
    """From row ``start`` of a block (the first row after a run of common ones that is not of
    the common form): the row where a stretch of common rows with holes among them ends, and
    the holes. ``stamps[k]`` is empty for a row not of the common form. The stretch ends
    before the first row that is not a hole, and always with a common row. ``bodies``: what
    parsing gave for bodies seen before (filled here)."""
    n = len(rows)
    end, holes = start, list[Hole]()
    k = start
    while k < n and not stamps[k]:
        before = _tod(fast, rows[k - 1])
        found = []
        while k < n and not stamps[k]:
            hole = _hole(k, rows[k][OTHER], fast, paste, bodies)
            if hole is None or before < 0 or abs(hole.stamp.ns - before) > HALF_DAY_NS:
                return end, holes
            found.append(hole)
            before = hole.stamp.ns
            k += 1
        if k == n:
            return end, holes
        after = _tod(fast, rows[k])
        if after < 0 or abs(after - before) > HALF_DAY_NS:
            return end, holes
        holes += found
        try:
            end = stamps.index(b"", k)
        except ValueError:
            end = n
        k = end
    return end, holes


def _tod(fast: FastLine, row: Row) -> int:
    """The time of day of a common row in ns (-1: not a usable time of day)."""
    sec = seconds_of(fast, row[0])
    if not 0 <= sec < DAY_NS:
        return -1
    return sec + int(row[1]) * 1000


def _hole(row: int, raw: bytes, fast: FastLine, paste: Paste, bodies: dict[str, Outcome]
          ) -> Hole | None:
    """Line ``raw`` as a hole, if it is one (see the module's docstring)."""
    text = raw.decode()
    if text[-1:] in ("=", "\r", "") or not paste.keeps(text):
        return None
    stamp = _stamp(text, fast)
    if stamp is None:
        return None
    body = text[_STAMPED:]
    outcome = parsed(bodies, body)
    if isinstance(outcome, Body):
        inner = outcome.inner
        if isinstance(outcome.headers.l4, TCPHeader) or (
                inner is not None and isinstance(inner.l4, TCPHeader)):
            return None
    return Hole(row, stamp, body)


def parsed(bodies: dict[str, Outcome], body: str) -> Outcome:
    """What ``parse_body(body)`` gives (its error, if it raises one), kept in ``bodies``."""
    outcome = bodies.get(body)
    if outcome is None:
        try:
            outcome = parse_body(body)
        except (OtherProtocol, TextError) as exc:
            outcome = exc
        if len(bodies) >= BODIES:
            bodies.clear()
        bodies[body] = outcome
    return outcome


def _stamp(text: str, fast: FastLine) -> Stamp | None:
    """The stamp of a line that starts with a usable time of day shaped as the common lines'
    and one space (what ``read_stamp`` gives for it), else None."""
    if (_TOD.match(text) is None or text[_STAMPED : _STAMPED + 1].isspace()
            or text.startswith("(invalid", _STAMPED)):  # TIMESTAMP takes more than the space
        return None
    sec = seconds_of(fast, text[:8].encode())
    if not 0 <= sec < DAY_NS:
        return None
    return Stamp("tod", sec + int(text[9:15]) * 1000, False, False, _SHAPE)


class HoleAt(NamedTuple):
    """A hole of a Stretch, not read yet: the hole, its line, the time the line before it
    left the clock at and the time it has (ns)."""

    hole: Hole
    line: int
    before_ns: int
    ts_ns: int


Piece = list[int] | HoleAt | PacketRecord
"""A piece of a Stretch: lines of its chunk (``[from, to]``), a hole not read yet, or the
record of one read."""


class Stretch:
    """Common lines with holes among them, in line order: each hole with the line of
    ``chunk`` it comes before (``len(chunk)``: after the last). The holes are read when the
    judging of the packets before them is done (``TextReader._given``), as line by line."""

    __slots__ = ("chunk", "holes")

    def __init__(self, chunk: Chunk, holes: list[tuple[int, HoleAt]]) -> None:
        self.chunk = chunk
        self.holes = holes

    def __len__(self) -> int:
        return len(self.chunk) + len(self.holes)

    def span(self) -> int:
        """The time from the earliest packet to the latest (a hole's as its stamp gives it)."""
        if not self.holes:
            return self.chunk.span()
        times = [at.ts_ns for _, at in self.holes]
        if len(self.chunk):
            ts = self.chunk.fields(0, len(self.chunk))[0]
            times += (int(ts.min()), int(ts.max()))
        return max(times) - min(times)

    def pieces(self) -> list[Piece]:
        """The stretch in line order: runs of lines of ``chunk`` as ``[from, to]``, and the
        holes."""
        out: list[Piece] = []
        at = 0
        for cut, hole in self.holes:
            if cut > at:
                out.append([at, cut])
                at = cut
            out.append(hole)
        if len(self.chunk) > at:
            out.append([at, len(self.chunk)])
        return out
