"""Link type numbers as libpcap names them, for the error a capture of an unreadable one gets.

``unsupported link type 127 (IEEE802_11_RADIO: 802.11 plus radiotap header)`` tells a user
what the capture is (here Wi-Fi with radiotap headers) without looking the number up. The
names are libpcap's (``linktypes.tsv``, as tcpdump prints them: ``link-type NAME
(description)``); a number libpcap does not name (the ``USER0``-``USER15`` range) stays a
number.
"""

from __future__ import annotations

import functools
from pathlib import Path

_TABLE = Path(__file__).with_name("linktypes.tsv")


@functools.cache
def names() -> dict[int, tuple[str, str]]:
    """Link type number to (libpcap's name, its description)."""
    out = {}
    for line in _TABLE.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith("#"):
            number, name, description = line.split("\t")
            out[int(number)] = (name, description)
    return out


def unsupported(linktype: int) -> str:
    """``unsupported link type 127 (IEEE802_11_RADIO: 802.11 plus radiotap header)``."""
    known = names().get(linktype)
    text = f"unsupported link type {linktype}"
    return f"{text} ({known[0]}: {known[1]})" if known is not None else text
