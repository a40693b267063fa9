"""Timestamps of tcpdump text: which ``-t`` variant a file uses, and each line's time in ns.

Variants: time of day ``08:10:55.545140`` (default), ``-tt`` epoch ``1795594255.545140``,
``-ttt`` delta since the previous packet `` 00:00:00.000096`` (a leading space, the first one
zero), ``-ttttt`` time since the first packet (printed the same way: told apart by its values
never going down), ``-tttt`` date and time ``2026-11-25 08:10:55.545140``, and ``-t`` (no
time at all).

Time of day has no date: nettrail puts it on 1970-01-01 (or the day given to the reader), the
same for every file, and advances the day when the time of day jumps back by more than 12 hours
(midnight). ``-tt`` seconds near 0 (``0.000000``: a capture whose clock started at 0) are
read as such: every tcpdump prints a bare ``S.ffffff`` only for ``-tt``. ``-ttt`` deltas are
summed from 1970-01-01 00:00:00. Text without time gets line order, 1 µs apart. Dates and
times of day are read as UTC: tcpdump prints local time and does not say which zone.
"""

from __future__ import annotations

import calendar
import re
from typing import NamedTuple

NS = 1_000_000_000
DAY_NS = 86_400 * NS
HALF_DAY_NS = DAY_NS // 2
NO_TIME_STEP_NS = 1_000
FIRST_NS, LAST_NS = -(1 << 63), (1 << 63) - 1
"""The times (ns since the epoch) a packet table holds: a date or epoch time outside them
(a year or a count of seconds mangled in pasting) is not a usable time."""

TIMESTAMP = re.compile(
    r"( ?-?)(?:(\d{4})-(\d{1,2})-(\d{1,2}) )?(\d{1,2}):(\d{1,2}):(\d{1,2})(?:\.(\d{1,10}))?"
    r"( \(invalid [mun]?s\))?\s+"
    r"|(\d{1,11})\.(\d{1,10})( \(invalid [mun]?s\))?\s+"
)
"""A timestamp at the start of a line, lenient on digit counts (pasted text loses digits)."""
EPOCH_DIGITS = 6
"""``-tt`` seconds of fewer digits are near 0 (before 1970-01-02 03:46:40: a capture whose
clock started at 0, such as a simulator's or a test pcap): their digit count grows with the
value, so it says nothing of digits lost in pasting (their shape's first number is 0)."""


class Stamp(NamedTuple):
    """A timestamp as printed: its kind (``tod``, ``date``, ``epoch``), value, and oddities.

    ``invalid`` when the text itself says the time is unusable (tcpdump's ``(invalid us)``, a
    field out of range, a time a packet table cannot hold: ``ns`` is then the nearest one);
    ``shape`` is (digits of the hour or epoch seconds, 0 for seconds near 0, digits of the
    fraction): a stamp shaped unlike both its neighbours lost digits in pasting.
    """

    kind: str
    ns: int
    invalid: bool
    indented: bool
    shape: tuple[int, int] = (2, 6)


def read_stamp(m: re.Match[str]) -> Stamp:
    """The value of a TIMESTAMP match (``invalid`` when tcpdump says so or out of range)."""
    lead, year, month, day, hh, mm, ss, frac, invalid, esec, efrac, einvalid = m.groups()
    if esec is not None:
        shape = (len(esec) if len(esec) >= EPOCH_DIGITS else 0, len(efrac))
        ns = int(esec) * NS + _frac_ns(efrac)
        return Stamp("epoch", min(ns, LAST_NS), einvalid is not None or ns > LAST_NS, False,
                     shape)
    bad = invalid is not None or len(mm) != 2 or len(ss) != 2
    shape = (len(hh), len(frac or ""))
    h, mi, s = int(hh), int(mm), int(ss)
    if h > 23 or mi > 59 or s > 60:
        bad = True
        h, mi, s = min(h, 23), min(mi, 59), min(s, 59)
    tod = (h * 3600 + mi * 60 + s) * NS + _frac_ns(frac)
    if year is None:
        if lead.endswith("-"):  # -ttt: a packet stamped before the previous one
            return Stamp("tod", -tod, bad, True, shape)
        return Stamp("tod", tod, bad, bool(lead), shape)
    mo, d = int(month), int(day)
    if not (1 <= mo <= 12 and 1 <= d <= 31):
        return Stamp("date", tod, True, False, shape)
    days = calendar.timegm((int(year), mo, d, 0, 0, 0)) // 86_400
    ns = days * DAY_NS + tod
    if not FIRST_NS <= ns <= LAST_NS:  # a year mangled past what a packet table holds
        return Stamp("date", min(max(ns, FIRST_NS), LAST_NS), True, False, shape)
    return Stamp("date", ns, bad, False, shape)


def near_zero(m: re.Match[str]) -> bool:
    """Whether a TIMESTAMP match is ``-tt`` seconds near 0 (fewer than EPOCH_DIGITS digits:
    ``0.000000``). Every tcpdump prints such a bare ``S.ffffff`` only for ``-tt`` (``-ttt`` and
    ``-ttttt`` print `` 00:00:00.000000``, 3.x ``-ttt`` ``000096`` and ``1. 000096``), but
    a number at the start of a decode's line (``3.1024 > 2.1234 CONNECT``) is shaped so too."""
    esec = m.group(10)
    return esec is not None and len(esec) < EPOCH_DIGITS


def _frac_ns(frac: str | None) -> int:
    if not frac:
        return 0
    return int(frac.ljust(9, "0")[:9])


class Clock:
    """Turns the stamps of one file, in line order, into ns since the epoch."""

    def __init__(self, day_ns: int = 0) -> None:
        self.mode: str | None = None
        self.day_ns = day_ns
        self.first_day_ns = day_ns
        self.last_tod = -1
        self.last_ns = day_ns
        self.started = False
        self.near_zero = [0, 0, -1]
        """-tt seconds near 0: how many followed another, how many of them went down, the
        last (ns): evidence that they are one clock's times (deltas would often go down)."""

    def time_of_day(self, tod: int) -> int:
        """The time of a packet stamped with this time of day (ns since midnight)."""
        if self.mode is None:
            self.mode = "tod"
        elif self.mode != "tod":
            return self.time(Stamp("tod", tod, False, False))
        return self._tod(tod)

    def time(self, stamp: Stamp | None) -> int:
        """The time of a packet with this stamp (None: no time printed, or a line without one)."""
        if stamp is None:
            if self.mode is None:
                self.mode = "none"
            if self.mode == "none":
                self.last_ns += NO_TIME_STEP_NS if self.started else 0
                self.started = True
            return self.last_ns
        if stamp.invalid and self.started:
            return self.last_ns  # not a usable time: keeps its place by order only
        if self.mode is None or self.mode == "none":
            self.mode = _mode_of(stamp)
        if stamp.kind != "tod":
            ns = stamp.ns
            if stamp.shape[0] == 0 and stamp.kind == "epoch":
                seen = self.near_zero
                if seen[2] >= 0:
                    seen[0] += 1
                    seen[1] += ns < seen[2]
                seen[2] = ns
        elif self.mode == "delta":
            ns = self.last_ns + stamp.ns
        elif self.mode == "since-first":
            ns = self.first_day_ns + stamp.ns
        else:
            return self._tod(stamp.ns)
        self.last_ns = ns
        self.started = True
        return ns

    def _tod(self, tod: int) -> int:
        """A time of day on the current day, moving a day on at midnight (or back, when
        lines around a midnight already crossed come out of order; never before the first
        day: a jump forward of more than 12 hours there is a gap, not a day earlier)."""
        last = self.last_tod
        if last >= 0 and tod < last - HALF_DAY_NS:
            self.day_ns += DAY_NS
        elif last >= 0 and tod > last + HALF_DAY_NS and self.day_ns > self.first_day_ns:
            self.day_ns -= DAY_NS
        self.last_tod = tod
        self.last_ns = ns = self.day_ns + tod
        self.started = True
        return ns


def _mode_of(stamp: Stamp) -> str:
    """The file's time format, judged from its first stamp."""
    if stamp.kind == "tod" and stamp.indented and stamp.ns < 3600 * NS:
        return "delta"
    return stamp.kind


class SinceFirst:
    """Tells ``-ttttt`` (time since the first packet) from ``-ttt`` (delta since the previous
    one): both print `` 00:00:00.000000`` first. Deltas go down now and then; times since the
    first never do. Records are held until the values tell (a decrease: deltas; ``DECIDE``
    increases in a row: since-first), then given back with their times set right."""

    DECIDE = 8

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.kind: str | None = None
        self.held: list[tuple[int, int]] = []  # (delta as printed, summed time)
        self.rises = 0
        self.last_sum = clock.first_day_ns

    def feed(self, summed: int) -> bool | None:
        """Note the next summed time; True once since-first, False once deltas, else None."""
        value = summed - self.last_sum
        self.last_sum = summed
        if self.held:
            prev = self.held[-1][0]
            if value < prev:
                self.kind = "delta"
            elif value > prev:
                self.rises += 1
        self.held.append((value, summed))
        if self.kind is None and self.rises >= self.DECIDE:
            self._since_first()
        return None if self.kind is None else self.kind == "since-first"

    def close(self) -> str:
        """Decide at the end of the file: ``delta``, ``since-first``, or ``ambiguous`` when
        the values rose at least twice but too few times to tell (read as deltas, the common
        form, and not to be trusted for timing)."""
        if self.kind is None:
            self.kind = "ambiguous" if self.rises >= 2 else "delta"
        return self.kind

    def time(self, index: int) -> int:
        """The time of the ``index``-th held record, as decided."""
        value, summed = self.held[index]
        return self.clock.first_day_ns + value if self.kind == "since-first" else summed

    def _since_first(self) -> None:
        self.kind = "since-first"
        self.clock.mode = "since-first"
