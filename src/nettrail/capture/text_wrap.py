"""The lines of one tcpdump packet being gathered, and how a wrapped line is joined back.

A packet's text may run over several lines: tcpdump's own continuation lines (``-v`` IP
header, a VXLAN inner frame: indented, or announced by the line before), and lines wrapped
where it was pasted (a terminal or a mail at 80 columns: a line of the packet that does not
start with a space). ``Pending`` keeps them; a wrapped line is taken while the packet needs it
(``Pending.takes``), and the join that reads every field is the packet (``Pending.joined``).
"""

from __future__ import annotations

import re
from itertools import pairwise, product

from nettrail.capture.text_fields import OtherProtocol, TextError
from nettrail.capture.text_parse import Body, parse_body
from nettrail.capture.text_time import Stamp
from nettrail.capture.text_tunnel import V_WORDS
from nettrail.model.packet import UDPHeader

MOST_WRAPS = 5
"""The most lines one packet line is read as wrapped into after its first (``takes``)."""
_EXPECTS_MORE = re.compile(
    rf"(?:vni \d+|\((?:{V_WORDS}) [^)]*(?:\(\d+\))?[^)]*\))\s*$"
)


class Pending:
    """The lines of one packet being gathered, with where it started."""

    __slots__ = ("breaks", "line", "parts", "spaced", "stamp", "wrapped")

    def __init__(self, line: int, stamp: Stamp | None, body: str) -> None:
        self.line = line
        self.stamp = stamp
        self.parts = [body]
        self.wrapped = 0  # the first wrapped line's number
        self.breaks: list[tuple[int, int, bool]] = []
        """Each wrapped line: its number, its part, whether the line before ended in a space."""
        self.spaced = body[-1:].isspace()  # the last line's end

    def expects_more(self) -> bool:
        """Whether the last line announces a continuation (VXLAN inner frame, -v header)."""
        return _EXPECTS_MORE.search(self.parts[-1]) is not None

    def add(self, lineno: int, line: str) -> None:
        """Line ``lineno`` as the next of this packet: a continuation tcpdump printed
        (indented, or announced), else a wrapped line (a break)."""
        if line[:1] not in (" ", "\t") and not self.expects_more():
            self.wrapped = self.wrapped or lineno
            self.breaks.append((lineno, len(self.parts), self.spaced))
        self.spaced = line[-1:].isspace()
        self.parts.append(line.strip())

    def head(self) -> str:
        """The packet's text before its first wrapped line (all of it when none is)."""
        return " ".join(self.parts[: self.breaks[0][1]] if self.breaks else self.parts)

    def takes(self, line: str) -> bool:
        """Whether ``line``, not a packet's, is the rest of this one's: the first such line
        is; another only while the lines so far, joined as they look wrapped, do not read as
        a whole (a line wrapped in three or more), or where the break is one a field's text
        runs across: before or after a comma (``seq 0`` / ``, ack 1813951548, ...``), inside
        a number (``length 25`` / ``30: BGP``); at most ``MOST_WRAPS``. A packet its own
        line says is of another protocol takes only the first (it is not read either way)."""
        if not self.breaks:
            return True
        if len(self.breaks) >= MOST_WRAPS:
            return False
        body, other = self.joined(likeliest=True)
        if other is not None:  # "IP6 (class 0xc0, ..." / "... > 2a02:": cut short, or not IP
            try:
                parse_body(self.head())
            except OtherProtocol:
                return False
            except TextError:
                pass
            return True
        if body is None:
            return True
        last, first = self.parts[-1][-1:], line[:1]
        return first == "," or last == "," or (last.isdigit() and first.isdigit())

    def joined(self, likeliest: bool = False) -> tuple[Body | None, OtherProtocol | None]:
        """The body with its wrapped lines joined, None if no join reads (with what the
        likeliest join raised if it reads as another protocol). Each break is joined without
        a space where it splits a word or a number (``wi`` / ``n 502``), with one elsewhere
        (``ack 1,`` / ``win 502``), the other way where that does not read: the joins closest
        to that first. A join reads only if the whole text does: one that leaves a field
        unread (``Flags [S] , seq 1``: a break before a comma joined with a space) is not the
        join, nor one that reads as another protocol, nor one that reads a segment's flags
        as a datagram's text (``Fla gs [S], seq ...``). ``likeliest``: the first join only."""
        starts = [0] + [at for _, at, _ in self.breaks]
        ends = [*starts[1:], len(self.parts)]
        pieces = [" ".join(self.parts[a:b]).rstrip() for a, b in zip(starts, ends, strict=True)]
        seps: list[tuple[str, ...]] = []
        for (head, tail), (_, _, spaced) in zip(pairwise(pieces), self.breaks, strict=True):
            a, b = head[-1:], tail[:1]
            if spaced:  # the space kept at the break ("id " / "1499", "TS " / "val 1")
                seps.append((" ",))
            elif (a.isalpha() and b.isalpha()) or (a.isdigit() and b.isdigit()):
                seps.append(("", " "))
            else:
                seps.append((" ", ""))
        joins = sorted(product(*seps),
                       key=lambda c: sum(x != s[0] for x, s in zip(c, seps, strict=True)))
        segment = False
        other: OtherProtocol | None = None
        for choice in joins[:1] if likeliest else joins:
            text = pieces[0] + "".join(map(str.__add__, choice, pieces[1:]))
            segment = segment or ": Flags [" in text
            try:
                body = parse_body(text)
            except TextError:
                continue
            except OtherProtocol as exc:  # "66:89 , ethertype IPv4": not the join
                if choice is joins[0]:
                    other = exc
                continue
            if not (segment and body.inner is None and isinstance(body.headers.l4, UDPHeader)):
                return body, None
        return None, other
