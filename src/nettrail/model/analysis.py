"""The result of ``nettrail analyze``: everything reports render, computed by analyze/."""

from __future__ import annotations

from dataclasses import dataclass, field

from nettrail.model.finding import Evidence, Finding
from nettrail.model.flow import Connection, Endpoint, FlowKey

FORMAT_VERSION = 1


@dataclass(frozen=True, slots=True)
class PointSummary:
    """One capture point: its name, files, formats, packet count and what reading noted."""

    name: str
    files: tuple[str, ...]
    formats: tuple[str, ...]
    packets: int
    interfaces: tuple[str, ...] = ()
    skipped: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()
    untimed: int = 0
    """Packets with no time of their own (``PacketTable.untimed``)."""
    capture_dropped: int = 0
    """Packets the capture itself says it lost (``CaptureStats.dropped``): one missing here
    may be one the capture missed, not one the network lost."""

    @property
    def timed(self) -> bool:
        """False when no packet has a time of its own (text printed with ``-t``): times,
        durations and gaps at this point are only the reader's order."""
        return not self.packets or self.untimed < self.packets

    @property
    def read_packets(self) -> int:
        """The packets that were read, not counting those of a link type nettrail cannot
        decode (a pcapng whose every packet is of such an interface was not read at all, like
        a pcap of that link type)."""
        return self.packets - sum(count for reason, count in self.skipped.items()
                                  if reason.startswith("unsupported-link-type:"))


Limits = tuple[float | None, float | None]
"""The most and the least a clock offset can be (ns) by the packets: a packet cannot arrive
before it left, so a packet seen at A, then at B, caps B's clock minus A's at the difference
of its times; None where no packet limits that side."""
NO_LIMITS: Limits = (None, None)


@dataclass(frozen=True, slots=True)
class ClockOffset:
    """A point's clock against the reference point's: positive when this point is ahead."""

    point: str
    reference: str
    offset_ns: float
    uncertainty_ns: float
    samples: int
    two_sided: bool = True
    """False when some link of the estimate saw packets one way only: it is then a bound taken
    at zero transit, and its uncertainty a floor rather than a measurement."""
    source: str = "packets"
    """What measured it: ``packets`` (matched at both points), ``probes`` (a collect run's
    SSH clock probes, where the packets gave no estimate or only a one-way bound the probes
    disagree with), ``both`` (the probes, and packets whose estimate agrees: the combined
    one of ``ClockCheck``) or ``host`` (the reference's host, one kernel: the same clock)."""
    limits: Limits = NO_LIMITS
    """What the packets' bounds allow along the chain of pairs the estimate took, whatever
    ``offset_ns`` came from (``Limits``)."""

    @property
    def one_way_note(self) -> str:
        """What an estimate from packets seen one way only leaves open, said where it is
        stated ('' for any other): it was taken at zero transit, so the truth is off by the
        packets' transit time between the points, past what its direction limits."""
        if self.two_sided or self.source != "packets" or self.point == self.reference:
            return ""
        most, least = self.limits
        limits = "".join(f"; {_limit_text(value, is_most)}" for value, is_most
                         in ((least, False), (most, True)) if value is not None)
        return f"seen one way only: off by the packets' transit between the points{limits}"


ZONE_STEP_NS = 15 * 60 * 1_000_000_000
"""Time zones lie whole quarter hours apart (most of them whole hours)."""


def offset_words(offset_ns: int | float, uncertainty_ns: int | float) -> tuple[str, str]:
    """An offset of 0.05 ms or more in words, with its side: ``25.0 ± 0.4 ms behind``; µs
    digits when the uncertainty is below 0.05 ms. An offset within a second of a whole number
    of quarter hours is worded as them and the rest (``1 h less 24.4 ± 1.0 ms ahead of``),
    with a note: two time zones (tcpdump's text prints the local time), or a clock set to
    another one."""
    ms, unc = offset_ns / 1e6, uncertainty_ns / 1e6
    side = "ahead of" if ms > 0 else "behind"
    digits = 1 if unc >= 0.05 else 3
    steps = round(offset_ns / ZONE_STEP_NS)
    rest = (offset_ns - steps * ZONE_STEP_NS) / 1e6
    if not steps or abs(rest) >= 1000:
        return f"{abs(ms):.{digits}f} ± {unc:.{digits}f} ms {side}", ""
    hours, quarters = divmod(abs(steps), 4)
    span = " ".join(part for part in (f"{hours} h" if hours else "",
                                      f"{quarters * 15} min" if quarters else "") if part)
    joint = "and" if rest * ms >= 0 else "less"
    return (f"{span} {joint} {abs(rest):.{digits}f} ± {unc:.{digits}f} ms {side}",
            f"; {span} apart: two time zones? tcpdump's text prints the local time, a pcap "
            "UTC")


def _limit_text(ns: float, most: bool) -> str:
    """A limit on a clock offset in the words of the clock's line: ``at least 25.0 ms
    behind`` for an offset of at most -25 ms (``most``: the limit is the most it can be),
    ``not ahead`` for at most 0 (within 0.05 ms, as the line rounds)."""
    if abs(ns) < 50_000:
        return "not ahead" if most else "not behind"
    ahead = ns >= 0
    word = "at most" if most == ahead else "at least"
    return f"{word} {abs(ns) / 1e6:.1f} ms {'ahead' if ahead else 'behind'}"


@dataclass(frozen=True, slots=True)
class ClockCheck:
    """A point's clock against the reference point's, measured by probes and by packets.

    ``verdict`` is ``agree`` (the two intervals overlap), ``disagree``, ``probes-only`` or
    ``packets-only``; ``offset_ns`` and ``uncertainty_ns`` are the combined estimate (the
    overlap of both intervals when they agree, else the probes').
    """

    point: str
    reference: str
    probe_offset_ns: float | None
    probe_uncertainty_ns: float | None
    packet_offset_ns: float | None
    packet_uncertainty_ns: float | None
    offset_ns: float
    uncertainty_ns: float
    verdict: str


@dataclass(frozen=True, slots=True)
class NatTranslation:
    """An address:port seen as ``before`` at ``from_point`` and as ``after`` at ``to_point``.

    ``kind`` is ``dnat`` (destination rewritten) or ``snat`` (source rewritten); ``leg`` is
    ``request`` (client to server) or ``reply``; ``at`` names the point judged to translate;
    ``rules`` quotes the rules or flows that made it, when the hosts' snapshots are known.
    """

    kind: str
    leg: str
    before: Endpoint
    after: Endpoint
    from_point: str
    to_point: str
    at: str | None
    packets: int
    connection: FlowKey | None = None
    rules: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Hop:
    """One sighting of a packet on its path: point, interface, corrected time, evidence."""

    point: str
    ifname: str | None
    time_ns: int
    file: str
    frame: int
    text: str
    src: Endpoint | None = None
    dst: Endpoint | None = None


@dataclass(frozen=True, slots=True)
class PacketPath:
    """The same packet followed from point to point; ``confidence`` of the match in [0, 1]."""

    id: int
    hops: tuple[Hop, ...]
    confidence: float
    connection: FlowKey | None = None


@dataclass(frozen=True, slots=True)
class Diagnosis:
    """The root cause first, in words an engineer can act on, then the chain of evidence."""

    headline: str
    explanation: str
    action: str
    chain: tuple[Evidence, ...]
    kinds: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Analysis:
    """Everything ``nettrail analyze`` found across all capture points."""

    points: tuple[PointSummary, ...]
    connections: tuple[Connection, ...]
    findings: tuple[Finding, ...]
    clock: tuple[ClockOffset, ...] = ()
    nat: tuple[NatTranslation, ...] = ()
    paths: tuple[PacketPath, ...] = ()
    diagnosis: Diagnosis | None = None
    warnings: tuple[str, ...] = ()
    version: int = FORMAT_VERSION
    clock_checks: tuple[ClockCheck, ...] = ()

    @property
    def untimed(self) -> frozenset[str]:
        """The points whose packets have no times (``PointSummary.timed``): a report says so
        instead of their times."""
        return frozenset(p.name for p in self.points if not p.timed)
