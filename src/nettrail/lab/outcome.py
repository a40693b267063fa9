"""Client outcomes: what the client saw, classified from its exit status and messages."""

from __future__ import annotations

from typing import NamedTuple


class TrafficResult(NamedTuple):
    """One traffic run: kind, outcome and the expected one, exit code, detail, seconds."""

    kind: str
    outcome: str
    expected: str
    exit_code: int
    detail: str
    elapsed: float
    received: int = 0

    @property
    def as_expected(self) -> bool:
        """Whether the client saw what the scenario expects."""
        return self.outcome == self.expected


def classify_ssh(exit_code: int, stderr: str) -> tuple[str, str]:
    """(outcome, detail) of an ``ssh … true`` run from its exit code and stderr."""
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    detail = lines[-1] if lines else f"exit {exit_code}"
    if exit_code == 0:
        return "success", "login succeeded"
    low = stderr.lower()
    if "reset by peer" in low:
        return "reset", detail
    if "connection refused" in low:
        return "refused", detail
    if "timed out" in low:
        return "timeout", detail
    return "error", detail
