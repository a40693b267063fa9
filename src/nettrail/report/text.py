"""The readable report of ``nettrail analyze``: diagnosis first, then each capture point.

``render(analysis, out)`` only formats what analysis decided; times are UTC time of day with
microseconds (evidence times are in the reference point's clock when clocks were aligned).
"""

from __future__ import annotations

import textwrap
from collections import Counter
from typing import TextIO

from nettrail.model.analysis import (
    Analysis,
    ClockCheck,
    ClockOffset,
    Diagnosis,
    NatTranslation,
    PointSummary,
    offset_words,
)
from nettrail.model.finding import Evidence, Finding
from nettrail.model.flow import Connection, Outcome, count_text, duration_text, time_text

INDENT = "  "
WIDTH = 100
MAX_LISTED = 30
"""Connections and findings listed per point before the rest is only counted."""
QUIET_OUTCOMES = frozenset({Outcome.ESTABLISHED, Outcome.CLOSED, Outcome.MIDSTREAM,
                            Outcome.UNKNOWN})


CLOCK_OFFSET_KIND = "clock-offset"
NO_TIME = "(no time)"
"""An evidence line's time where the point's packets have none."""
CLOCK_UNKNOWN_KIND = "clock-unknown"


def render(analysis: Analysis, out: TextIO) -> None:
    """Write the text report of ``analysis`` to ``out``."""
    w = out.write
    n_conn, n_find = len(analysis.connections), len(analysis.findings)
    w(f"nettrail analyze: {count_text(len(analysis.points), 'capture point')}, "
      f"{count_text(n_conn, 'connection')}, {count_text(n_find, 'finding')}\n")
    for warning in analysis.warnings:
        w(f"warning: {warning}\n")
    untimed = analysis.untimed
    if analysis.diagnosis is not None:
        w("\n")
        _diagnosis(analysis.diagnosis, out, untimed)
    if analysis.clock:
        w("\nClocks\n")
        for c in analysis.clock:
            w(f"{INDENT}{clock_text(c)}\n")
        aligned = {c.point for c in analysis.clock} | {c.reference for c in analysis.clock}
        reference = analysis.clock[0].reference
        why = {f.details.get("point"): f.details.get("reason") for f in analysis.findings
               if f.kind == CLOCK_UNKNOWN_KIND}  # an estimate left out, and why
        for p in analysis.points:
            if p.name not in aligned:
                reason = why.get(p.name) or (
                    "its packets have no times (text printed with tcpdump -t)" if not p.timed
                    else f"no packet was seen both there and at {reference}")
                w(f"{INDENT}{p.name}'s clock is unknown: {reason}\n")
    if analysis.clock_checks:
        w("\nClocks measured over SSH, against the packets\n")
        used = {c.point: (c.source, not c.two_sided) for c in analysis.clock}
        for check in analysis.clock_checks:
            w(f"{INDENT}{clock_check_text(check, *used.get(check.point, (None, False)))}\n")
    if analysis.nat:
        w("\nAddress translations\n")
        for t in analysis.nat:
            w(f"{INDENT}{nat_text(t)}\n")
    names = {p.name for p in analysis.points}
    across = [f for f in analysis.findings if f.details.get("point") not in names]
    if across:
        w("\nFindings across points\n")
        for f in across:
            _finding(f, out, INDENT, untimed)
    for point in analysis.points:
        w("\n")
        _point(point, analysis, out)


def _diagnosis(d: Diagnosis, out: TextIO, untimed: frozenset[str]) -> None:
    w = out.write
    w(f"DIAGNOSIS: {d.headline}\n")
    for para in d.explanation.splitlines():
        for line in textwrap.wrap(para, WIDTH, initial_indent=INDENT, subsequent_indent=INDENT):
            w(f"{line}\n")
    if d.action:
        for line in textwrap.wrap(f"What to do: {d.action}", WIDTH, initial_indent=INDENT,
                                  subsequent_indent=INDENT * 2):
            w(f"{line}\n")
    if d.chain:
        w(f"{INDENT}Evidence, in order:\n")
        for i, e in enumerate(d.chain, 1):
            w(f"{INDENT * 2}{i}. {evidence_text(e, untimed)}\n")


def _point(p: PointSummary, analysis: Analysis, out: TextIO) -> None:
    w = out.write
    formats = ", ".join(sorted(set(p.formats))) or "records"
    files = ", ".join(p.files)
    w(f"Point {p.name}: {count_text(p.packets, 'packet')} ({formats})")
    w(f" from {files}\n" if files else "\n")
    if p.interfaces:
        w(f"{INDENT}interfaces: {', '.join(p.interfaces)}\n")
    if p.skipped:
        skipped = ", ".join(f"{k} {v}" for k, v in p.skipped.items())
        w(f"{INDENT}not analysed: {skipped}\n")
    for warning in p.warnings:
        w(f"{INDENT}warning: {warning}\n")
    conns = [c for c in analysis.connections if c.point == p.name]
    w(f"{INDENT}Connections ({len(conns)}):\n")
    if not conns:
        w(f"{INDENT * 2}none\n")
    shown = conns
    if len(conns) > MAX_LISTED:
        counts = Counter(str(c.outcome) for c in conns)
        w(f"{INDENT * 2}by outcome: {', '.join(f'{k} {v}' for k, v in sorted(counts.items()))}\n")
        shown = [c for c in conns if c.outcome not in QUIET_OUTCOMES or c.retransmissions]
    for c in shown[:MAX_LISTED]:
        w(f"{INDENT * 2}{connection_text(c, p.timed)}\n")
    if len(shown) > MAX_LISTED or len(shown) < len(conns):
        w(f"{INDENT * 2}... {len(conns) - min(len(shown), MAX_LISTED)} more not shown "
          "(--format json lists them all)\n")
    # The Clocks section already says what a clock-offset note says.
    found = [f for f in analysis.findings
             if f.details.get("point") == p.name and f.kind != CLOCK_OFFSET_KIND]
    if found:
        w(f"{INDENT}Findings ({len(found)}):\n")
        untimed = frozenset() if p.timed else frozenset((p.name,))
        for f in found[:MAX_LISTED]:
            _finding(f, out, INDENT * 2, untimed)
        if len(found) > MAX_LISTED:
            w(f"{INDENT * 2}... {len(found) - MAX_LISTED} more not shown "
              "(--format json lists them all)\n")


def _finding(f: Finding, out: TextIO, indent: str, untimed: frozenset[str]) -> None:
    w = out.write
    w(f"{indent}[{f.severity}] {f.kind}: {f.summary}\n")
    for e in f.evidence:
        w(f"{indent}{INDENT}{evidence_text(e, untimed)}\n")


def connection_text(c: Connection, timed: bool = True) -> str:
    """One line per connection: flow, outcome, packets, duration and what repeated
    (``timed``: False when the point's packets have no times, so no duration)."""
    took = duration_text(c.last_ns - c.first_ns) if timed else "no times"
    text = (f"{c.client} > {c.server}  {c.outcome}  {count_text(c.packets, 'packet')}, "
            f"{took}, {c.bytes_client}/{c.bytes_server} bytes")
    if c.retransmissions:
        text += f", {count_text(c.retransmissions, 'retransmission')}"
    if c.copies:
        text += f", {count_text(c.copies, 'copy', 'copies')}"
    return text


def evidence_text(e: Evidence, untimed: frozenset[str] = frozenset()) -> str:
    """One evidence line: time, point, interface, where in which file, the packet, the note
    (``untimed``: the points whose packets have no times, whose lines say so instead)."""
    where = f"{e.file}:{e.frame}"
    iface = f" {e.ifname}" if e.ifname else ""
    note = f"  ({e.note})" if e.note else ""
    when = NO_TIME if e.point in untimed else time_text(e.time_ns)
    return f"{when} {e.point}{iface} {where}  {e.text}{note}"


def clock_text(c: ClockOffset) -> str:
    """``host5's clock is 25.0 ± 0.4 ms behind host1 (12 samples)``; µs digits when the
    uncertainty is below 0.05 ms, and "agrees" for offsets below 0.05 ms (as the finding);
    ``(by the SSH clock probes)`` when they measured it, ``… and 2 samples`` when both did;
    a point of the reference's host has its clock."""
    if c.point == c.reference:
        return f"{c.point}'s clock is the reference"
    if c.source == "host":
        return f"{c.point}'s clock is {c.reference}'s (one host, one kernel clock)"
    ms, unc = c.offset_ns / 1e6, c.uncertainty_ns / 1e6
    samples = count_text(c.samples, "sample")
    if c.source == "probes":
        samples = "by the SSH clock probes"
    elif c.source == "both":
        samples = f"by the SSH clock probes and {samples}"
    if c.one_way_note:
        samples = f"{samples}; {c.one_way_note}"
    if abs(ms) < 0.05:
        return f"{c.point}'s clock agrees with {c.reference} (within {unc:.3f} ms, {samples})"
    words, zone = offset_words(c.offset_ns, c.uncertainty_ns)
    return f"{c.point}'s clock is {words} {c.reference} ({samples}{zone})"


def clock_check_text(check: ClockCheck, used: str | None = None, one_way: bool = False
                     ) -> str:
    """``compute against client: probes -25.016 ± 0.069 ms, packets …: they agree (…)``;
    ``used``: the ``source`` of the clock the analysis corrected the point's times with;
    ``one_way``: the packets' estimate is a bound from packets seen one way only."""
    parts = []
    if check.probe_offset_ns is not None and check.probe_uncertainty_ns is not None:
        parts.append(f"probes {_signed_ms(check.probe_offset_ns, check.probe_uncertainty_ns)}")
    if check.packet_offset_ns is not None and check.packet_uncertainty_ns is not None:
        parts.append(f"packets {_signed_ms(check.packet_offset_ns, check.packet_uncertainty_ns)}")
    text = f"{check.point} against {check.reference}: " + ", ".join(parts)
    if check.verdict == "agree":
        combined = _signed_ms(check.offset_ns, check.uncertainty_ns)
        return text + f": they agree ({combined} combined)"
    if check.verdict == "disagree" and used == "probes":
        return text + (": they disagree, but the packets were seen one way only (a bound taken "
                       "at zero transit, which a slow path exceeds): times use the probes'")
    if check.verdict == "disagree" and used == "packets" and one_way:
        return text + (": they DISAGREE, and by the probes a packet would have arrived before "
                       "it left (a clock stepped during the capture, or the capture was "
                       "stamped by another clock than the probes read): times use the "
                       "packets' bound")
    if check.verdict == "disagree":
        return text + (": they DISAGREE (a clock stepped during the capture, an asymmetric "
                       "probe path, or packets matched wrongly)"
                       + (": times use the packets'" if used == "packets" else ""))
    if check.verdict == "probes-only":
        return text + " (no packet seen at both points to check it against)"
    return text + " (no clock probes for this point)"


def _signed_ms(offset_ns: float, uncertainty_ns: float) -> str:
    digits = 3 if uncertainty_ns < 500_000 else 1
    return f"{offset_ns / 1e6:+.{digits}f} ± {uncertainty_ns / 1e6:.{digits}f} ms"


def nat_text(t: NatTranslation) -> str:
    """``dnat request 203.0.113.223:22 -> 198.51.100.4:22 between host1 and host5 ...``."""
    at = f", translated at {t.at}" if t.at else ""
    where = (f"seen at {t.from_point}" if t.from_point == t.to_point
             else f"between {t.from_point} and {t.to_point}")
    by = "".join(f"\n{INDENT * 2}by {r}" for r in t.rules)
    return (f"{t.kind} on the {t.leg}: {t.before} -> {t.after} {where}{at} "
            f"({count_text(t.packets, 'packet')}){by}")
