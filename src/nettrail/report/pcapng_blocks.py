"""Enhanced packet blocks of many packets at once, built as one array of 32-bit words.

``packet_blocks`` gives the bytes ``PcapngWriter.write_packet`` writes for each packet, back
to back. Every part of a block is a whole number of words, so each block is a row of a word
matrix: its fixed fields, its packet's bytes, the comment option (placed once per distinct
packet length), the end of options and the length again; the rows, cut to their blocks'
lengths, are the output.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from nettrail.report.pcapng import BLOCK_EPB, OPT_COMMENT

_HEAD = 7  # words: type, length, interface, ts high, ts low, caplen, origlen


def _comment_words(comments: Sequence[str]) -> tuple[npt.NDArray[np.uint32],
                                                      npt.NDArray[np.int64]]:
    """(the comments' UTF-8 bytes as rows of words, zeros after; each one's length in bytes)."""
    encoded = [c.encode() for c in comments]
    lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
    width = max(4, (int(lengths.max()) + 3) & ~3) if len(encoded) else 4
    text = np.array(encoded, dtype=f"S{width}").view(np.uint8).reshape(len(encoded), width)
    return np.ascontiguousarray(text).view("<u4"), lengths


def packet_blocks(if_ids: npt.NDArray[np.int64], ts_ns: npt.NDArray[np.int64],
                  frame: npt.NDArray[np.uint8], cap_len: npt.NDArray[np.integer[Any]],
                  wire_len: npt.NDArray[np.integer[Any]], comments: Sequence[str]) -> bytes:
    """The enhanced packet blocks of packets ``i``: interface ``if_ids[i]``, time ``ts_ns[i]``
    (ns since the epoch), bytes ``frame[i, :cap_len[i]]`` (``frame`` one row per packet),
    length on the wire ``wire_len[i]``, comment ``comments[i]`` (none when empty)."""
    n = len(if_ids)
    if not n:
        return b""
    text, tlen = _comment_words(comments)
    cap = cap_len.astype(np.int64)
    data_words = (cap + 3) // 4
    text_words = (tlen + 3) // 4
    opt_words = np.where(tlen > 0, 2 + text_words, 0)
    words = _HEAD + data_words + opt_words + 1
    width = _HEAD + int(data_words.max()) + 2 + text.shape[1] + 1
    grid = np.zeros((n, width), "<u4")
    ts = np.maximum(ts_ns.astype(np.int64), 0).astype(np.uint64)
    grid[:, 0] = BLOCK_EPB
    grid[:, 1] = words * 4
    grid[:, 2] = if_ids
    grid[:, 3] = ts >> np.uint64(32)
    grid[:, 4] = ts & np.uint64(0xFFFFFFFF)
    grid[:, 5] = cap
    grid[:, 6] = np.maximum(wire_len.astype(np.int64), cap)
    room = 4 * int(data_words.max())
    data = np.zeros((n, room), np.uint8)
    used = min(room, frame.shape[1])
    data[:, :used] = np.where(np.arange(used) < cap[:, None], frame[:, :used], 0)
    grid[:, _HEAD : _HEAD + room // 4] = data.view("<u4")
    every = np.arange(n)
    opts = _HEAD + data_words
    for start in np.unique(opts).tolist():  # the comments, where each packet's bytes end
        rows = np.flatnonzero(opts == start)
        grid[rows, start + 1 : start + 1 + text.shape[1]] = text[rows]
    has = tlen > 0  # the end of options after the comment is a word left zero
    grid[every[has], opts[has]] = OPT_COMMENT | (tlen[has] << 16)
    grid[every, opts + opt_words] = words * 4
    return grid[np.arange(width) < words[:, None]].tobytes()
