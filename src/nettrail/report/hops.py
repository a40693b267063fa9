"""What reports write about one sighting of a packet: its flags, its rewrite, its findings.

Shared by the HTML ladder and the pcapng comments so both say the same thing. Nothing here
decides anything: the rewrite is read off two hops analysis put on one path, its kind off the
translations analysis listed, and the findings off their evidence.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from nettrail.model.analysis import Analysis, Hop, NatTranslation
from nettrail.model.finding import Evidence
from nettrail.model.flow import Endpoint

_FLAGS = re.compile(r"Flags \[([^\]]*)\]")

Where = tuple[str, int]
"""A packet's place in the input: (file, frame or line)."""


def flags_of(hop: Hop) -> str:
    """The TCP flags in the hop's tcpdump-style text (``S``, ``S.``, ``.``, ``R``), else ``""``."""
    found = _FLAGS.search(hop.text)
    return found.group(1) if found else ""


def place_label(point: str, ifname: str | None) -> str:
    """``point/ifname`` (``point`` when the interface is unknown)."""
    return f"{point}/{ifname}" if ifname else point


def hop_label(hop: Hop) -> str:
    """Where ``hop`` was seen: ``point/ifname`` (``point`` when the interface is unknown)."""
    return place_label(hop.point, hop.ifname)


def evidence_kinds(analysis: Analysis) -> dict[Where, tuple[str, ...]]:
    """Finding kinds (in finding order) whose evidence names each (file, frame)."""
    marks: dict[Where, list[str]] = {}

    def mark(evidence: Iterable[Evidence], kind: str) -> None:
        for ev in evidence:
            kinds = marks.setdefault((ev.file, ev.frame), [])
            if kind not in kinds:
                kinds.append(kind)

    for finding in analysis.findings:
        mark(finding.evidence, finding.kind)
    if analysis.diagnosis is not None:
        for ev in analysis.diagnosis.chain:
            for kind in analysis.diagnosis.kinds or ("diagnosis",):
                mark((ev,), kind)
    return {where: tuple(kinds) for where, kinds in marks.items()}


class Rewrite(NamedTuple):
    """An address that changed between two sightings of one packet, and the NAT kind if listed.

    ``field`` is ``src`` or ``dst``; ``kind`` the kind of the translation analysis listed for
    this change (``dnat``/``snat``), None when it listed none.
    """

    field: str
    before: Endpoint
    after: Endpoint
    kind: str | None

    def short(self) -> str:
        """Fits on an arrow: ``DNAT→198.18.0.5:80`` (``dst→…`` when the kind is not listed)."""
        return f"{self.kind.upper() if self.kind else self.field}→{self.after}"

    def long(self) -> str:
        """The whole rewrite: ``DNAT dst 203.0.113.10:80 → 198.51.100.20:80``."""
        prefix = f"{self.kind.upper()} " if self.kind else ""
        return f"{prefix}{self.field} {self.before} → {self.after}"


def rewrites(prev: Hop, hop: Hop, nat: Sequence[NatTranslation]) -> list[Rewrite]:
    """The source/destination changes from ``prev`` to ``hop`` (empty when either is unknown)."""
    out: list[Rewrite] = []
    pairs = (("src", prev.src, hop.src), ("dst", prev.dst, hop.dst))
    for name, before, after in pairs:
        if before is None or after is None or before == after:
            continue
        out.append(Rewrite(name, before, after, _nat_kind(before, after, prev, hop, nat)))
    return out


def _nat_kind(
    before: Endpoint, after: Endpoint, prev: Hop, hop: Hop, nat: Sequence[NatTranslation]
) -> str | None:
    """The kind of the listed translation that maps ``before`` to ``after`` on this stretch."""
    fallback: str | None = None
    for tr in nat:
        if tr.before == before and tr.after == after:
            if tr.from_point == prev.point and tr.to_point == hop.point:
                return tr.kind
            fallback = fallback or tr.kind
    return fallback
