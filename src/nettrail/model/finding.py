"""Findings: what analysis concluded, with the evidence that supports it."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from nettrail.model.flow import FlowKey


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
        return Evidence(self.point, self.file, self.frame, self.time_ns - by, self.text,
                        self.ifname, self.note)


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
        if not any(shift.get(e.point) for e in self.evidence):
            return self
        return Finding(self.kind, self.severity, self.summary,
                       tuple(e.shifted(shift.get(e.point, 0)) for e in self.evidence),
                       self.root_cause, self.connection, self.details)
