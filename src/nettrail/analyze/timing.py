"""Which timestamps can be trusted, and whether a point's clock is known at all.

A record with ``time_ok=False`` (its source gave no usable time) keeps its place in order only.
Text pasted by people also carries timestamps damaged on the way (a leading digit of the hour
lost) that a reader may not notice: a timestamp of one text file that jumps by more than ten
minutes against both its neighbours (by line), while they agree, is damaged too.
Such records are moved to their predecessor's time (their place in order) and marked
``time_ok=False``; they never feed clock estimates.

A clock estimate found within its uncertainty of zero (taken as zero, "agrees") whose
uncertainty exceeds the captures' span says nothing about which point saw a packet first:
that clock is *unknown*, never "agrees". (An offset larger than its uncertainty is reported
with it: its sign and size are known.)
"""

from __future__ import annotations

from collections.abc import Sequence

from nettrail.model.analysis import ClockOffset
from nettrail.model.packet import PacketRecord

# Lines pasted out of order stay within minutes of their neighbours; a lost digit of the
# hour moves a timestamp by hours.
JUMP_NS = 600_000_000_000


def trusted_times(records: list[PacketRecord]) -> list[PacketRecord]:
    """The records, with damaged text timestamps moved to their place in order and marked
    ``time_ok=False`` (binary captures are returned as they are)."""
    if not any(r.linktype < 0 for r in records):
        return records
    by_file: dict[str, list[int]] = {}
    for i, r in enumerate(records):
        if r.linktype < 0:
            by_file.setdefault(r.file, []).append(i)
    out = list(records)
    for idxs in by_file.values():
        idxs.sort(key=lambda i: records[i].frame)
        _repair(out, idxs)
    return out


def _repair(out: list[PacketRecord], idxs: Sequence[int]) -> None:
    """Mark the records of one text file (``idxs`` in line order) whose time is unusable."""
    last: int | None = None  # the last trusted time, in line order
    for pos, i in enumerate(idxs):
        r = out[i]
        nxt = _next_trusted(out, idxs, pos + 1)
        bad = not r.time_ok
        if not bad and last is not None and r.ts_ns < last - JUMP_NS:
            bad = nxt is None or nxt >= last - JUMP_NS
        if not bad and nxt is not None and r.ts_ns > nxt + JUMP_NS:
            bad = last is None or last <= nxt + JUMP_NS
        if bad:
            place = last if last is not None else (nxt if nxt is not None else r.ts_ns)
            out[i] = r._replace(ts_ns=place, time_ok=False)
        else:
            last = r.ts_ns


def _next_trusted(out: list[PacketRecord], idxs: Sequence[int], start: int) -> int | None:
    for i in idxs[start:start + 3]:
        if out[i].time_ok:
            return out[i].ts_ns
    return None


def unknown_clocks(points: Sequence[str], clock: Sequence[ClockOffset],
                   span_ns: dict[str, int]) -> dict[str, str]:
    """Points whose clock estimate against the reference is unknown, with why: taken as
    zero, with an uncertainty exceeding the captures' span. (Points no packet ties to the
    reference have no estimate at all and are simply left out of the clocks.)"""
    if not points:
        return {}
    ref = points[0]
    known = {c.point: c for c in clock}
    out: dict[str, str] = {}
    for p in points[1:]:
        c = known.get(p)
        if c is None:
            continue
        span = max(span_ns.get(p, 0), span_ns.get(ref, 0))
        if c.offset_ns == 0.0 and c.uncertainty_ns > span:
            out[p] = (f"its estimate (± {c.uncertainty_ns / 1e6:.3f} ms) is wider than the "
                      f"captures ({span / 1e6:.3f} ms)")
    return out
