"""Captures that may not show a packet: a finding that rests on a packet being absent at
such a point may rest on the capture, not the network.

Two kinds: captures that lost packets themselves (tcpdump says "N packets dropped by
kernel", a pcapng interface statistics block counts the drops, the lab and collect manifests
record them), and captures that show one direction only (``one_way``). A finding whose
packets are missing only at such points (as many dropped as went missing, or the other
direction's capture) is kept, saying so, but is not a root cause (``doubted``). The findings
that rest on absence name where in ``missing`` (a point, or points joined by ", "), how many
packets are missing there (``_COUNTS``) and their ``direction``.
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Mapping
from dataclasses import replace

from nettrail.analyze.findings_loss import LOST_BETWEEN_POINTS, MTU_BLACKHOLE
from nettrail.analyze.findings_nat import ASYMMETRIC_NAT
from nettrail.analyze.findings_reset import RESET_NOT_FROM_SERVER
from nettrail.analyze.one_side import MIN_ONE_WAY, OneSide, towards
from nettrail.analyze.tracks import Conversation
from nettrail.model.finding import Finding, Severity
from nettrail.model.flow import count_text
from nettrail.model.packet import ACK, RST, SYN

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


def one_way(convs: Iterable[Conversation], points: Iterable[str]) -> dict[str, OneSide]:
    """Those of ``points`` that showed packets of one direction only, over every connection
    (``OneSide.proven``: at least ``MIN_ONE_WAY`` packets, one of them past a handshake: an
    ACK, not a SYN or RST, whose sender got the other side's packets):
    a capture filtered to one direction (``tcpdump -Q in``, ``dst port 22``), or on a path
    the other direction does not take. SYNs sent again and again, never answered, are one
    direction without a filter (not ``proven``). Stops reading once each point has shown
    both."""
    seen: dict[str, set[str]] = {p: set() for p in points}
    counts = dict.fromkeys(seen, 0)
    answered = set()
    open_points = set(seen)
    for conv in convs:
        for t in conv.tracks:
            for s in t.sightings:
                if s.point in open_points:
                    seen[s.point].add(t.direction)
                    counts[s.point] += 1
                    if t.flags & ACK and not t.flags & (SYN | RST):
                        answered.add(s.point)
                    if len(seen[s.point]) == 2:
                        open_points.discard(s.point)
            if not open_points:
                return {}
    return {p: OneSide(d.pop(), counts[p] >= MIN_ONE_WAY and p in answered)
            for p, d in seen.items() if len(d) == 1}


def absent_at(finding: Finding) -> list[str]:
    """The points where ``finding`` rests on packets being absent (none for other kinds): a
    packet that entered a point and never left it is missing from that point's capture."""
    if finding.kind not in _COUNTS:
        return []
    where = finding.details.get("dropped_in") or finding.details.get("missing", "")
    return where.split(", ") if where else []


def absent_direction(finding: Finding) -> str:
    """The direction of the packets ``finding`` says are missing (replies and the RST travel
    towards the client)."""
    return finding.details.get("direction", "s2c")


def doubted(finding: Finding, dropped: Mapping[str, int],
            one_sided: Mapping[str, OneSide] | None = None,
            unlinked: Collection[str] = ()) -> Finding:
    """``finding`` no longer a root cause when the packets it rests on are missing only at
    points that may not show them: captures that dropped packets, at each as many as went
    missing or more (``dropped``), that show the other direction only (``one_sided``, from
    ``one_way``), or whose packets cannot be matched with the other points' (``unlinked``:
    tcpdump -q text, without flags). The finding stays, saying so. Where more went missing
    at a point than its capture dropped in all, some were lost for certain: the cause
    stands, with the counts. A point that is none of these keeps the finding as it is."""
    points = absent_at(finding)
    one_sided = one_sided or {}
    direction = absent_direction(finding)
    unmatched = [p for p in points if p in unlinked]
    # A reply missing at a point that showed no packet of its direction at all is no proof
    # of a second translator; the other findings need a capture proven one-way.
    blind = [p for p in points if p in one_sided and one_sided[p].direction != direction
             and (one_sided[p].proven or finding.kind == ASYMMETRIC_NAT)
             and p not in unmatched]
    lossy = [p for p in points if p not in blind and p not in unmatched]
    if not points or any(p not in dropped for p in lossy):
        return finding
    key = _COUNTS[finding.kind]
    missing = int(finding.details.get(key) or 0) if key else 1
    counts = " and ".join(f"{p}'s capture dropped {count_text(dropped[p], 'packet')}"
                          for p in lossy)
    if any(missing > dropped[p] for p in lossy):
        return replace(finding, summary=f"{finding.summary} ({counts}, fewer than the "
                       f"{missing} missing)")
    them = "them" if missing > 1 else "it"
    why = [f"{counts} ({'their' if len(lossy) > 1 else 'its'} own count"
           f"{'s' if len(lossy) > 1 else ''})"] if lossy else []
    why += [f"{p}'s capture shows packets {towards(one_sided[p].direction)} only"
            for p in blind]
    why += [f"{p}'s packets carry no TCP flags (tcpdump -q) and are not matched with the "
            "other points'" for p in unmatched]
    details = {**finding.details}
    if lossy:
        details["capture_dropped"] = ", ".join(str(dropped[p]) for p in lossy)
    if blind:
        details["one_way"] = ", ".join(blind)
    if unmatched:
        details["unmatched"] = ", ".join(unmatched)
    return replace(finding, root_cause=False, severity=Severity.WARNING,
                   summary=f"{finding.summary}; but {' and '.join(why)}, so "
                           f"{'they' if len(points) > 1 else 'it'} may "
                           f"{'have missed' if lossy and not (blind or unmatched) else 'not show'}"
                           f" {them}",
                   details=details)
