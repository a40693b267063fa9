"""Findings: what analysis concluded, with the evidence that supports it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from nettrail.model.flow import FlowKey
from nettrail.model.setters import field_setters


class Severity(StrEnum):
    """How much a finding matters: info (noted), warning (suspicious), error (a failure)."""

    INFO = "info"
    WARNING = "warning"
    ERROR = "error"


@dataclass(frozen=True, slots=True)
class Evidence:
    """One packet (or line) that supports a finding, located for a human to check.

    ``time_ns`` is in the reference point's clock (corrected); ``text`` is a one-line summary
    of the packet as tcpdump would print it.
    """

    point: str
    file: str
    frame: int
    time_ns: int
    text: str
    ifname: str | None = None
    note: str = ""

    def shifted(self, by: int) -> Evidence:
        """The same evidence ``by`` ns earlier (itself when ``by`` is 0)."""
        if not by:
            return self
        return _moved(self, self.time_ns - by)


@dataclass(frozen=True, slots=True)
class Finding:
    """A conclusion of analysis. ``kind`` is a stable identifier documented in docs/findings.md.

    ``root_cause`` marks findings that explain a failure (the diagnosis is built from them);
    ``connection`` names the flow it is about, when there is one.
    """

    kind: str
    severity: Severity
    summary: str
    evidence: tuple[Evidence, ...] = ()
    root_cause: bool = False
    connection: FlowKey | None = None
    details: dict[str, str] = field(default_factory=dict)

    def shifted(self, shift: Mapping[str, int]) -> Finding:
        """The same finding with each evidence ``shift[its point]`` ns earlier (itself when
        no evidence moves)."""
        moved = []
        some = False
        for e in self.evidence:
            by = shift.get(e.point, 0)
            if by:
                e, some = _moved(e, e.time_ns - by), True
            moved.append(e)
        if not some:
            return self
        new = _NEW(Finding)  # each field set once, as Finding(...) would
        kind, severity, summary, evidence_, root_cause, connection, details = _FINDING_SLOTS
        kind(new, self.kind)
        severity(new, self.severity)
        summary(new, self.summary)
        evidence_(new, tuple(moved))
        root_cause(new, self.root_cause)
        connection(new, self.connection)
        details(new, self.details)
        return new


_NEW = object.__new__
_EVIDENCE_SLOTS = field_setters(Evidence)
_FINDING_SLOTS = field_setters(Finding)


def _moved(e: Evidence, time_ns: int) -> Evidence:
    """``e`` at ``time_ns``."""
    new = _NEW(Evidence)
    point, file, frame, time, text, ifname, note = _EVIDENCE_SLOTS
    point(new, e.point)
    file(new, e.file)
    frame(new, e.frame)
    time(new, time_ns)
    text(new, e.text)
    ifname(new, e.ifname)
    note(new, e.note)
    return new
