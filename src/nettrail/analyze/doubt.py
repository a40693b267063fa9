"""Captures that lost packets themselves: a finding that rests on a packet being absent at
such a point may rest on the capture's own loss.

tcpdump says "N packets dropped by kernel", a pcapng interface statistics block counts the
drops, and the lab and collect manifests record them. A finding whose packets are missing
only at points whose captures dropped as many packets or more is kept, saying so, but is not
a root cause (``doubted``). The findings that rest on absence name where in ``missing`` (a
point, or points joined by ", ") and how many packets are missing there (``_COUNTS``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from nettrail.analyze.findings_loss import LOST_BETWEEN_POINTS, MTU_BLACKHOLE
from nettrail.analyze.findings_nat import ASYMMETRIC_NAT
from nettrail.analyze.findings_reset import RESET_NOT_FROM_SERVER
from nettrail.model.finding import Finding, Severity
from nettrail.model.flow import count_text

CAPTURE_DROPPED = "capture-dropped"

_COUNTS = {LOST_BETWEEN_POINTS: "transmissions", MTU_BLACKHOLE: "stuck",
           ASYMMETRIC_NAT: "replies_missing", RESET_NOT_FROM_SERVER: ""}
"""The kinds that rest on absence, each with the details key of how many packets are missing
at each of its ``missing`` points ("": one, the RST)."""


def capture_dropped(point: str, dropped: int) -> Finding:
    """A point whose capture says it lost ``dropped`` packets: what is missing there may be
    what it missed (``doubted`` takes the findings it would explain off the root causes)."""
    return Finding(CAPTURE_DROPPED, Severity.WARNING,
                   f"{point}'s capture dropped {count_text(dropped, 'packet')} (its own count): a "
                   "packet missing there may be one it missed",
                   details={"point": point, "dropped": str(dropped)})


def absent_at(finding: Finding) -> list[str]:
    """The points where ``finding`` rests on packets being absent (none for other kinds)."""
    where = finding.details.get("missing", "") if finding.kind in _COUNTS else ""
    return where.split(", ") if where else []


def doubted(finding: Finding, dropped: Mapping[str, int]) -> Finding:
    """``finding`` no longer a root cause when the packets it rests on are missing only at
    points whose captures dropped packets, at each as many as went missing or more: those
    captures may have missed them (the finding stays, saying so). Where more went missing at
    a point than its capture dropped in all, some were lost for certain: the cause stands,
    with the counts. A point that dropped nothing keeps the finding as it is."""
    points = absent_at(finding)
    if not points or any(p not in dropped for p in points):
        return finding
    key = _COUNTS[finding.kind]
    missing = int(finding.details.get(key) or 0) if key else 1
    counts = " and ".join(f"{p}'s capture dropped {count_text(dropped[p], 'packet')}"
                          for p in points)
    if any(missing > dropped[p] for p in points):
        return replace(finding, summary=f"{finding.summary} ({counts}, fewer than the "
                       f"{missing} missing)")
    them = "them" if missing > 1 else "it"
    return replace(finding, root_cause=False, severity=Severity.WARNING,
                   summary=f"{finding.summary}; but {counts} (their own counts), so they may "
                           f"have missed {them}" if len(points) > 1 else
                           f"{finding.summary}; but {counts} (its own count), so it may have "
                           f"missed {them}",
                   details={**finding.details,
                            "capture_dropped": ", ".join(str(dropped[p]) for p in points)})
