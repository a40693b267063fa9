"""A pcap stream written to disk as it came: count its records, cut an unfinished last one."""

from __future__ import annotations

import os
import struct
from pathlib import Path

_ORDER = {b"\xd4\xc3\xb2\xa1": "<", b"\x4d\x3c\xb2\xa1": "<",
          b"\xa1\xb2\xc3\xd4": ">", b"\xa1\xb2\x3c\x4d": ">"}
HEADER = 24


def trim(path: Path) -> tuple[int, int]:
    """(records, bytes) of the pcap at ``path`` after cutting a record the stream broke off.

    A stream that ended before its file header leaves an empty file (0, 0).
    """
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        return 0, 0
    with path.open("rb") as fh:
        head = fh.read(HEADER)
        order = _ORDER.get(head[:4])
        if len(head) < HEADER or order is None:
            end, records = 0, 0
        else:
            end, records = HEADER, 0
            while True:
                rec = fh.read(16)
                if len(rec) < 16:
                    break
                caplen = struct.unpack(order + "I", rec[8:12])[0]
                if end + 16 + caplen > size:
                    break
                fh.seek(caplen, os.SEEK_CUR)
                end += 16 + caplen
                records += 1
    if end != size:
        os.truncate(path, end)
    return records, end


def usable(path: Path) -> bool:
    """Whether ``path`` holds at least a pcap file header."""
    try:
        return path.stat().st_size >= HEADER
    except FileNotFoundError:
        return False
