"""Grouping a packet table by connection, numpy against polars (is polars worth a dependency?).

    python bench/bench_group.py FILE.pcap

Reads FILE into a packet table, then times, best of 5, on one thread each
(``POLARS_MAX_THREADS=1``), the step analysis spends most of its column time on: grouping
the TCP rows by direction-normalised connection key, capture order kept within each group,
with per-group packet count, first and last time and payload bytes. numpy: a stable argsort
of a 64-bit key hash and ``reduceat``; polars: ``group_by(maintain_order=True).agg``.
Prints seconds per method.
"""

from __future__ import annotations

import os
import sys
import time
from typing import Any

os.environ.setdefault("POLARS_MAX_THREADS", "1")

import numpy as np

from nettrail.capture.points import read_points

HASH = np.uint64(0x9E3779B97F4A7C15)


def keys(cols: dict[str, Any]) -> tuple[Any, Any]:
    """Direction-normalised endpoint numbers (lo, hi) of the TCP rows."""
    tcp = cols["proto"] == 6
    src = (cols["src"][tcp].astype(np.int64) << 16) | cols["sport"][tcp]
    dst = (cols["dst"][tcp].astype(np.int64) << 16) | cols["dport"][tcp]
    return np.minimum(src, dst), np.maximum(src, dst)


def with_numpy(lo: Any, hi: Any, ts: Any, plen: Any) -> int:
    """Groups by sorting a key hash; sums with reduceat."""
    order = np.argsort(lo.astype(np.uint64) * HASH ^ hi.astype(np.uint64), kind="stable")
    lo_s, hi_s = lo[order], hi[order]
    new = np.ones(len(lo), bool)
    new[1:] = (lo_s[1:] != lo_s[:-1]) | (hi_s[1:] != hi_s[:-1])
    starts = np.flatnonzero(new)
    ts_s = ts[order]
    np.add.reduceat(plen[order].astype(np.int64), starts)
    np.minimum.reduceat(ts_s, starts)
    np.maximum.reduceat(ts_s, starts)
    return len(starts)


def with_polars(lo: Any, hi: Any, ts: Any, plen: Any) -> int:
    """Groups with polars' group_by, order kept."""
    import polars as pl

    df = pl.DataFrame({"lo": lo, "hi": hi, "ts": ts, "plen": plen.astype(np.int64)})
    out = df.group_by(["lo", "hi"], maintain_order=True).agg(
        pl.len(), pl.col("ts").first().alias("first"), pl.col("ts").last().alias("last"),
        pl.col("plen").sum())
    return out.height


def main() -> int:
    """Time both on the file's TCP rows."""
    points, _errors = read_points([("p", sys.argv[1])])
    table = points[0].table
    cols = {k: table.column(k) for k in ("proto", "src", "dst", "sport", "dport", "ts",
                                         "payload_len")}
    lo, hi = keys(cols)
    tcp = cols["proto"] == 6
    ts, plen = cols["ts"][tcp], cols["payload_len"][tcp]
    for name, fn in (("numpy", with_numpy), ("polars", with_polars)):
        best = float("inf")
        for _ in range(5):
            start = time.process_time()
            groups = fn(lo, hi, ts, plen)
            best = min(best, time.process_time() - start)
        print(f"{name}: {best:.3f} s CPU, {groups} groups, {len(lo)} TCP rows")
    return 0


if __name__ == "__main__":
    sys.exit(main())
