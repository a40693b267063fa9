"""The bytes of a packet as ``tcpdump -A`` prints them after its line, told apart from lines.

``tcpdump -A`` prints each packet's bytes after its line (``-AA``: from the link header on), a
character a byte: a printable one as itself, a tab and a line feed as themselves (the text
breaks into lines there), a CR before a line feed not at all, any other byte as ``.``. nettrail
reads a packet from its line; its bytes are skipped. They must not be read as lines of their
own: a line of payload can look like the rest of a wrapped packet line, a quoted-printable
soft break (a line ending in ``=``: the next packet's line would be joined to it and lost),
HTML (``<br>`` splits a line) or a packet line without a time (``GET / HTTP/1.1``).

The first line of a packet's bytes comes right after its line (and its ``-v`` lines), and
starts with its IP or ARP header, or, after ``-AA``'s link header, has it where that ends
(``starts``): an IP header's version, and a length under 8,192 bytes until a dump of the file
was found (then a larger one too: what GRO hands tcpdump on a host). A line after a packet of
another protocol, or after a line that does not read on its own (a wrapped one), is not taken.
The bytes run for at most as many characters, line ends included, as the packet has bytes
(``budget``); the next packet's line, or tcpdump's closing counts, end them sooner (``ends``).
"""

from __future__ import annotations

import re

from nettrail.capture.text_time import TIMESTAMP

LINK_ENDS = (0, 4, 14, 16, 18, 20, 22)
"""Where a packet's network header starts in its first line of bytes: at once (``-A``), or
after ``-AA``'s link header (loopback, Ethernet, Linux cooked, Ethernet with a VLAN tag, Linux
cooked v2, Ethernet with two tags)."""
_LINK_TYPE = ("", "..")
"""The two bytes before the network header as printed: none (``-A``), or the end of a link
header (an Ethernet type 0x0800, 0x86dd or 0x0806, a loopback's family 2 or 10 and its zeros,
a cooked header's protocol or the last of its address's zeros: all ``.``)."""
_FIRST = {4: frozenset(map(chr, range(0x45, 0x50))), 6: frozenset(map(chr, range(0x60, 0x70)))}
"""The IP header's first byte as printed: version 4 with a header of 5 to 15 words (``E`` to
``O``), version 6 with any traffic class (`` ` `` to ``o``)."""
_LENGTH_AT = {4: 2, 6: 4}
"""Where in the IP header the high byte of its length stands (IPv4 total, IPv6 payload)."""
_SHORT = frozenset(".\t")
"""A length's high byte below 0x20 (a packet under 8,192 bytes) as printed: ``.``, or a tab
(0x09)."""
_HEADER = {4: 20, 6: 40}
"""An IP header's bytes without options."""
_DOTS = 3
"""The fewest ``.`` among an IP header's bytes as printed (where the line holds them): a
header has at least its type of service, its length's high byte below 8,192, the low byte of
its fragment field and its protocol as ``.``; a line of tcpdump's text one or two (``ags
[S.], seq 500``, wrapped after ``Fl``)."""
_NEXT6 = frozenset(".+,23:;<")
"""An IPv6 header's next header (byte 6) as printed: hop-by-hop options, TCP, UDP (``.``),
routing (``+``), fragment (``,``), ESP, AH, ICMPv6, none, destination options. Lines that
start with ``a`` to ``o`` (a wrapped ``ack 1, win 502, length 0``) do not have one there."""
ARP = 0
"""The kind of an ARP packet (else its IP version): its header starts with six bytes printed
as ``.`` (hardware type 1, protocol type 0x0800, their lengths 6 and 4)."""
SLACK = 10
"""Characters a dump may run beyond the packet's length as a record gives it (14 bytes of
link header counted when the text prints none): a longer link header of ``-AA`` (at most 22
bytes) and the line end tcpdump puts after the last byte."""
_CLOSING = re.compile(r"\d+ packets? (?:captured|received by filter|dropped by )")


def starts(line: str, kind: int, sure: bool = False) -> bool:
    """Whether ``line`` starts the bytes of a packet of ``kind`` (its IP version, or ARP) as
    ``tcpdump -A`` or ``-AA`` prints them: its header where a link header would end (after two
    bytes printed as ``.``). An IP header's first byte, and the high byte of its length as a
    packet under 8,192 bytes has it, unless the text is ``sure`` to be ``-A`` text (a dump of
    it was found); an IPv6 header's next header too, and ``.`` as often as a header has it. A
    line that ends before them (a line feed among the header's bytes) is not taken."""
    first, at = _FIRST.get(kind), _LENGTH_AT.get(kind, 0)
    for start in LINK_ENDS:
        if len(line) <= start:
            return False
        if line[start - 2 : start] not in _LINK_TYPE:
            continue
        if kind == ARP:
            if line[start : start + 6] == "......":
                return True
        elif (first is not None and line[start] in first and len(line) > start + at
              and (sure or line[start + at] in _SHORT)
              and (kind == 4 or line[start + 6 : start + 7] in _NEXT6)
              and line.count(".", start, start + _HEADER[kind]) >= _DOTS):
            return True
    return False


def budget(wire_len: int) -> int:
    """The most characters, line ends included, the bytes of a packet of ``wire_len`` bytes
    (as its record gives it) take as ``tcpdump -A`` prints them."""
    return wire_len + SLACK


def ends(text: str) -> bool:
    """Whether ``text`` ends the bytes of the packet before it whatever their length: a line
    that starts with a timestamp (the next packet's), or tcpdump's closing counts."""
    return TIMESTAMP.match(text) is not None or _CLOSING.match(text) is not None
