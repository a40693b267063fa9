"""Flows and connections: the 5-tuple, normalised so both directions share one key."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import NamedTuple


class Endpoint(NamedTuple):
    """An address and port (port 0 for protocols without ports)."""

    addr: str
    port: int

    def __str__(self) -> str:
        if ":" in self.addr:
            return f"[{self.addr}]:{self.port}"
        return f"{self.addr}:{self.port}"


def address_of(endpoint: str) -> str:
    """The address of an endpoint's text: ``198.51.100.4`` of ``198.51.100.4:22``,
    ``2001:db8::4`` of ``[2001:db8::4]:22``."""
    return endpoint.rsplit(":", 1)[0].strip("[]")


class Focus(NamedTuple):
    """The connections a report is about: those to or from ``host`` and/or with ``port`` at
    either end (``--filter-host``, ``--filter-port``)."""

    host: str | None = None
    port: int | None = None

    def matches(self, a: Endpoint, b: Endpoint) -> bool:
        """Whether a flow between ``a`` and ``b`` is one of them, in this form."""
        return ((self.host is None or self.host in (a.addr, b.addr))
                and (self.port is None or self.port in (a.port, b.port)))


class FlowKey(NamedTuple):
    """Direction-normalised 5-tuple: the smaller endpoint first."""

    proto: int
    a: Endpoint
    b: Endpoint

    @classmethod
    def of(cls, proto: int, src: Endpoint, dst: Endpoint) -> FlowKey:
        """The key of a packet from ``src`` to ``dst``, the same for the reverse direction."""
        return cls(proto, src, dst) if src <= dst else cls(proto, dst, src)

    def __str__(self) -> str:
        return f"{self.a} <-> {self.b}"


class Outcome(StrEnum):
    """How a TCP connection ended as seen at one capture point."""

    ESTABLISHED = "established"
    REFUSED = "refused"
    RESET = "reset-after-handshake"
    RESET_MIDSTREAM = "reset-midstream"
    """A RST ended a connection whose handshake this point did not see (it was running when
    the capture began, or the RST is all it saw)."""
    SYN_UNANSWERED = "syn-unanswered"
    SYNACK_UNACKNOWLEDGED = "synack-unacknowledged"
    CLOSED = "closed"
    MIDSTREAM = "midstream"
    UNKNOWN = "unknown"
    """No packet printed its flags (``tcpdump -q`` text): how it went cannot be told."""


@dataclass(frozen=True, slots=True)
class Connection:
    """One TCP connection at one capture point: who opened it, how it went, its packets.

    ``client`` is the side that sent the first SYN (or the first packet seen when the
    handshake was not captured); ``frames`` are (file, frame) of its packets in order.
    ``first_ns`` and ``last_ns`` are the earliest and the latest of its packets' times
    (those of its first and last packet unless the capture's times go backwards).
    """

    point: str
    key: FlowKey
    client: Endpoint
    server: Endpoint
    outcome: Outcome
    packets: int
    first_ns: int
    last_ns: int
    retransmissions: int = 0
    copies: int = 0
    bytes_client: int = 0
    bytes_server: int = 0


def time_text(ns: int, date: bool = False) -> str:
    """UTC time of day with microseconds, ``22:13:20.000123`` (``date``: after the date,
    ``2023-11-14 22:13:20.000123``)."""
    dt = datetime.fromtimestamp(ns // 1_000_000_000, UTC)
    day = f"{dt:%Y-%m-%d} " if date else ""
    return f"{day}{dt:%H:%M:%S}.{(ns % 1_000_000_000) // 1000:06d}"


def count_text(n: int, word: str, plural: str | None = None) -> str:
    """``1 packet``, ``3 packets`` (``plural`` when the word takes another form)."""
    return f"{n} {word if n == 1 else plural or word + 's'}"


def duration_text(ns: int) -> str:
    """``0.4 ms`` below 10 s, ``42.5 s`` below an hour, ``16 h 05 min 09 s`` beyond."""
    if ns < 10_000_000_000:
        return f"{ns / 1e6:.1f} ms"
    if ns < 3_600_000_000_000:
        return f"{ns / 1e9:.1f} s"
    minutes, seconds = divmod(ns // 1_000_000_000, 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min {seconds:02d} s"
