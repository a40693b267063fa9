"""Enhanced packet blocks of many packets at once, built as one byte array.

``packet_blocks`` gives the bytes ``PcapngWriter.write_packet`` writes for each packet, back
to back, with numpy: the fixed fields of every block in one array, the packet bytes and the
comments copied in once per distinct length (packets of one batch have few lengths).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from nettrail.report.pcapng import BLOCK_EPB, OPT_COMMENT

_HEAD = 28  # type, length, interface, ts high, ts low, caplen, origlen
_TAIL = 8  # opt_endofopt, then the block length again


def _encode(comments: Sequence[str]) -> tuple[bytes, npt.NDArray[np.int64]]:
    """The comments' UTF-8 bytes back to back, and each one's length in bytes."""
    text = "".join(comments).encode()
    lengths = np.fromiter(map(len, comments), np.int64, len(comments))
    if len(text) != int(lengths.sum()):  # some are not ASCII: count bytes one by one
        encoded = [c.encode() for c in comments]
        lengths = np.fromiter(map(len, encoded), np.int64, len(encoded))
    return text, lengths


def _copy(out: npt.NDArray[np.uint8], dest: npt.NDArray[np.int64], src: npt.NDArray[np.uint8],
          start: npt.NDArray[np.int64], length: npt.NDArray[np.int64]) -> None:
    """``out[dest[i] : dest[i] + length[i]] = src[start[i] : start[i] + length[i]]`` for every
    i, one gather per distinct length."""
    for size in np.unique(length).tolist():
        if not size:
            continue
        rows = np.flatnonzero(length == size)
        span = np.arange(size)
        out[dest[rows, None] + span] = src[start[rows, None] + span]


def packet_blocks(if_ids: npt.NDArray[np.int64], ts_ns: npt.NDArray[np.int64],
                  frame: npt.NDArray[np.uint8], cap_len: npt.NDArray[np.integer[Any]],
                  wire_len: npt.NDArray[np.integer[Any]], comments: Sequence[str]) -> bytes:
    """The enhanced packet blocks of packets ``i``: interface ``if_ids[i]``, time ``ts_ns[i]``
    (ns since the epoch), bytes ``frame[i, :cap_len[i]]`` (``frame`` one row per packet),
    length on the wire ``wire_len[i]``, comment ``comments[i]`` (none when empty)."""
    n = len(if_ids)
    if not n:
        return b""
    text, tlen = _encode(comments)
    cap = cap_len.astype(np.int64)
    data_room = (cap + 3) & ~3
    has_opts = tlen > 0
    opt_room = np.where(has_opts, 4 + ((tlen + 3) & ~3) + 4, 0)
    length = _HEAD + data_room + opt_room + 4
    start = np.zeros(n, np.int64)
    np.cumsum(length[:-1], out=start[1:])
    out = np.zeros(int(start[-1] + length[-1]), np.uint8)
    ts = np.maximum(ts_ns.astype(np.int64), 0).astype(np.uint64)
    head = np.empty((n, _HEAD // 4), np.uint32)
    head[:, 0] = BLOCK_EPB
    head[:, 1] = length
    head[:, 2] = if_ids
    head[:, 3] = ts >> np.uint64(32)
    head[:, 4] = ts & np.uint64(0xFFFFFFFF)
    head[:, 5] = cap
    head[:, 6] = np.maximum(wire_len.astype(np.int64), cap)
    span = np.arange(_HEAD)
    out[start[:, None] + span] = head.astype("<u4").view(np.uint8).reshape(n, _HEAD)
    width = frame.shape[1] if frame.ndim == 2 else 0
    _copy(out, start + _HEAD, frame.reshape(-1), np.arange(n, dtype=np.int64) * width, cap)
    opts = start + _HEAD + data_room
    rows = np.flatnonzero(has_opts)
    opt_head = np.empty((len(rows), 2), "<u2")
    opt_head[:, 0] = OPT_COMMENT
    opt_head[:, 1] = tlen[rows]
    out[opts[rows, None] + np.arange(4)] = opt_head.view(np.uint8).reshape(len(rows), 4)
    text_start = np.zeros(n, np.int64)
    np.cumsum(tlen[:-1], out=text_start[1:])
    _copy(out, opts + 4, np.frombuffer(text, np.uint8), text_start, tlen)
    tail = start + length - 4
    out[tail[:, None] + np.arange(4)] = length.astype("<u4").view(np.uint8).reshape(n, 4)
    return out.tobytes()
