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


SSH_LOG_LEVEL = "INFO"
"""The ssh client's LogLevel. OpenSSH reports a connection that dies during the banner
exchange with ``logdie()``, which logs at INFO: at ``LogLevel=ERROR`` such a reset exits 255
with nothing on stderr, and could not be told from any other failure."""

# A reset reaches ssh in one of several places, depending on when the RST arrives relative
# to ssh's own steps (a matter of scheduling: the same packets give any of these):
# - before ssh asks connect()'s result (SO_ERROR):
#   "ssh: connect to host 203.0.113.223 port 22: Connection reset by peer";
# - while ssh reads the server's banner:
#   "kex_exchange_identification: read: Connection reset by peer" then the fatal line below;
# - after connect() but before ssh wrote its banner: only the fatal line, naming the peer as
#   far as getpeername() could still tell (it fails on a socket already reset):
#   "Connection reset by 203.0.113.223 port 22", "… port -1", "Connection reset by UNKNOWN
#   port -1".
_RESET = ("connection reset by ",)
_REFUSED = ("connection refused",)
# "ssh: connect to host … port 22: Connection timed out" (no SYN-ACK within ConnectTimeout),
# "Connection timed out during banner exchange", "Connection to … port 22 timed out".
_TIMEOUT = ("timed out",)


def classify_ssh(exit_code: int, stderr: str) -> tuple[str, str]:
    """(outcome, detail) of an ``ssh … true`` run from its exit code and stderr.

    Where the client sees a failure depends on when the packet carrying it arrives relative to
    ssh's own steps (connect, banner write, banner read), so one failure has several messages;
    every message of a kind maps to the same outcome. Anything else is ``error``.
    """
    lines = [ln.strip() for ln in stderr.splitlines() if ln.strip()]
    detail = lines[-1] if lines else f"exit {exit_code}, no message"
    if exit_code == 0:
        return "success", "login succeeded"
    low = stderr.lower()
    for outcome, needles in (("reset", _RESET), ("refused", _REFUSED), ("timeout", _TIMEOUT)):
        if any(n in low for n in needles):
            return outcome, detail
    return "error", detail
