"""Clocks measured over SSH (NTP style probes), and how they compare with the packets' bounds.

One probe: the collector reads its clock (``t1``), asks, the host answers with its clock
(``t``), the collector reads its clock again (``t4``). Wherever between ``t1`` and ``t4`` the
host read its clock, ``offset = t - (t1 + t4) / 2`` is off by at most half the round trip, so
the fastest probe gives the tightest bound. Before and after a capture, the two offsets give
the drift. Two hosts' offsets against the collector give their offset against each other; the
packets give another (``analyze/clock.py``); both are shown, and when their intervals do not
overlap they disagree (a clock stepped, a probe path asymmetric, or packets mismatched).

The analysis corrects a point's times with the combined offset where the two agree, with the
probes' where the packets give none or only a one-way bound they disagree with, and with the
packets' where packets seen both ways disagree with the probes: they are what is put in order
(``with_probes``). A one-way bound is taken at zero transit, which a slow path exceeds on one
side only: probes past its other side would have a packet arrive before it left, and lose.
A point of the reference's host (a namespace traced on the same kernel, as every point of
``nettrail trace --analyze`` is) has the reference's clock.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from nettrail.model.analysis import ClockCheck, ClockOffset


@dataclass(frozen=True, slots=True)
class ProbeEstimate:
    """A host's clock minus the collector's (ns), from the fastest of ``probes`` probes."""

    offset_ns: float
    uncertainty_ns: float
    probes: int
    at_ns: int


@dataclass(frozen=True, slots=True)
class HostClock:
    """A host's measured clock: before and after the capture, drift, and its own discipline
    (none of them when only the host is known: the points of one host share its clock)."""

    host: str
    before: ProbeEstimate | None
    after: ProbeEstimate | None
    synchronised: bool | None = None
    max_error_ns: int | None = None

    @property
    def offset_ns(self) -> float | None:
        """The offset over the capture: the mean of before and after (either alone)."""
        known = [e for e in (self.before, self.after) if e is not None]
        return sum(e.offset_ns for e in known) / len(known) if known else None

    @property
    def uncertainty_ns(self) -> float | None:
        """Covers both measurements and the drift between them."""
        known = [e for e in (self.before, self.after) if e is not None]
        if not known:
            return None
        mid = sum(e.offset_ns for e in known) / len(known)
        return max(abs(e.offset_ns - mid) + e.uncertainty_ns for e in known)

    @property
    def drift_uncertainty_ppm(self) -> float | None:
        """How far off :attr:`drift_ppm` can be (both uncertainties over the time between)."""
        b, a = self.before, self.after
        if b is None or a is None or a.at_ns <= b.at_ns:
            return None
        return (a.uncertainty_ns + b.uncertainty_ns) / (a.at_ns - b.at_ns) * 1e6

    @property
    def drift_ppm(self) -> float | None:
        """How fast the host's clock gains on the collector's, in parts per million."""
        b, a = self.before, self.after
        if b is None or a is None or a.at_ns <= b.at_ns:
            return None
        return (a.offset_ns - b.offset_ns) / (a.at_ns - b.at_ns) * 1e6


def estimate(samples: Sequence[tuple[int, int, int]]) -> ProbeEstimate | None:
    """The offset from (t1, t_host, t4) samples in ns: the fastest round trip wins."""
    good = [(t4 - t1, t1, t, t4) for t1, t, t4 in samples if t4 >= t1]
    if not good:
        return None
    rtt, t1, t, t4 = min(good)
    return ProbeEstimate(t - (t1 + t4) / 2, rtt / 2, len(samples), t1)


def relative(clocks: Mapping[str, HostClock], point: str, reference: str,
             ) -> tuple[float, float] | None:
    """``point``'s clock minus ``reference``'s (ns) and its uncertainty, from the probes."""
    a, b = clocks.get(reference), clocks.get(point)
    if a is None or b is None:
        return None
    oa, ob, ua, ub = a.offset_ns, b.offset_ns, a.uncertainty_ns, b.uncertainty_ns
    if oa is None or ob is None or ua is None or ub is None:
        return None
    return ob - oa, ua + ub


def settled(c: ClockOffset) -> ClockOffset:
    """An offset no larger than its uncertainty is taken as zero (the clocks agree), with the
    uncertainty widened to still cover the estimate; this keeps same-clock timelines causal."""
    if c.point == c.reference or abs(c.offset_ns) > c.uncertainty_ns:
        return c
    return replace(c, offset_ns=0.0, uncertainty_ns=c.uncertainty_ns + abs(c.offset_ns))


def combine(points: Sequence[str], clocks: Mapping[str, HostClock],
            packets: Sequence[ClockOffset]) -> tuple[ClockCheck, ...]:
    """Per point (the first is the reference): probes and packets side by side, a verdict."""
    if not points:
        return ()
    reference = points[0]
    by_packets = {c.point: c for c in packets if c.reference == reference}
    checks = []
    for point in points[1:]:
        probe = relative(clocks, point, reference)
        packet = by_packets.get(point)
        if probe is None and packet is None:
            continue
        checks.append(_check(point, reference, probe, packet))
    return tuple(checks)


def with_probes(points: Sequence[str], clocks: Mapping[str, HostClock],
                packets: Sequence[ClockOffset],
                ) -> tuple[tuple[ClockOffset, ...], tuple[ClockCheck, ...]]:
    """The clocks to correct times with, and the checks of the probes against ``packets``
    (the packets' estimates, against the first point).

    A point of the reference's host has the reference's clock (one kernel: offset 0, no
    uncertainty, nothing to check). Another point's clock is the combined one where probes
    and packets agree (``combine``), the probes' where the packets give none or only a
    one-way bound they disagree with (a bound taken at zero transit: a slow path puts it off
    by more than its floor), and the packets' where they saw both ways and disagree, where
    the probes lie past a limit no packet can break (``beyond``), or where no probe measured
    it. A probe offset within its uncertainty is taken as zero, as the packets' is."""
    if not points:
        return tuple(packets), ()
    reference = points[0]
    home = clocks.get(reference)
    local = {p for p in points[1:]
             if home is not None and p in clocks and clocks[p].host == home.host}
    chosen = {c.point: c for c in packets}
    for point in local:
        chosen[point] = _measured(point, reference, 0.0, 0.0, "host", chosen.get(point))
    checks = combine([p for p in points if p not in local], clocks, packets)
    for check in checks:
        had = chosen.get(check.point)
        if check.verdict == "packets-only" or (check.verdict == "disagree" and had is not None
                                               and (had.two_sided or beyond(check, had))):
            continue
        if check.verdict == "agree":
            offset, uncertainty, source = check.offset_ns, check.uncertainty_ns, "both"
        else:
            assert check.probe_offset_ns is not None and check.probe_uncertainty_ns is not None
            offset, uncertainty = check.probe_offset_ns, check.probe_uncertainty_ns
            source = "probes"
        chosen[check.point] = settled(_measured(check.point, check.reference, offset,
                                                uncertainty, source, had))
    return tuple(chosen[p] for p in points if p in chosen), checks


def _measured(point: str, reference: str, offset: float, uncertainty: float, source: str,
              packets: ClockOffset | None) -> ClockOffset:
    """A clock measured by ``source``, keeping the samples and limits of the packets'
    estimate ``packets`` (when there is one)."""
    if packets is None:
        return ClockOffset(point, reference, offset, uncertainty, 0, True, source)
    return ClockOffset(point, reference, offset, uncertainty, packets.samples, True, source,
                       packets.limits)


LIMIT_SLACK_NS = 1_000_000
"""How far past a limit probes may lie and still be taken: capture points stamp a packet
when their copy of it is handed to the capture, which can be later than it passed, so the
packets' limits are hard only to that. The check is for a clock that stepped or another
clock read: milliseconds, as the one-way bound's floor."""


def beyond(check: ClockCheck, packets: ClockOffset) -> bool:
    """Whether the probes' whole interval lies past a limit of the packets' (``Limits``): by
    the probes, a packet would have arrived before it left. A probe cannot be off by more
    than its uncertainty unless a clock stepped or the probe timed another clock than the
    capture's, so the packets are trusted then, even seen one way only."""
    po, pu = check.probe_offset_ns, check.probe_uncertainty_ns
    if po is None or pu is None:
        return False
    most, least = packets.limits
    pu += LIMIT_SLACK_NS
    return (most is not None and po - pu > most) or (least is not None and po + pu < least)


def _check(point: str, reference: str, probe: tuple[float, float] | None,
           packet: ClockOffset | None) -> ClockCheck:
    po, pu = probe if probe is not None else (None, None)
    ko = packet.offset_ns if packet is not None else None
    ku = packet.uncertainty_ns if packet is not None else None
    if po is None or pu is None:
        assert ko is not None and ku is not None
        return ClockCheck(point, reference, None, None, ko, ku, ko, ku, "packets-only")
    if ko is None or ku is None:
        return ClockCheck(point, reference, po, pu, None, None, po, pu, "probes-only")
    lo, hi = max(po - pu, ko - ku), min(po + pu, ko + ku)
    if lo <= hi and not (packet is not None and packet.two_sided):
        # a one-way packet bound's uncertainty is a floor, not a measurement: it may not
        # narrow the probes' interval
        return ClockCheck(point, reference, po, pu, ko, ku, po, pu, "agree")
    if lo <= hi:
        return ClockCheck(point, reference, po, pu, ko, ku, (lo + hi) / 2, (hi - lo) / 2,
                          "agree")
    return ClockCheck(point, reference, po, pu, ko, ku, po, pu, "disagree")
