"""A progress line on stderr while ``nettrail analyze`` reads captures, when it is a terminal.

``Progress(Reading(captures, ...), stream)`` is a context manager: when ``stream`` is a
terminal, a thread redraws one line every half second (after the first second, so quick runs
show nothing): the bytes read of the files' total, the read rate, the packets read and their
rate, and the points whose files are all read. It watches the files from outside the readers:
the read offset of each capture file open in this process (``/proc/self/fdinfo``) and the
packet count each reader keeps in ``capture.stats`` (the pcap reader sets it when a file
ends). When ``stream`` is not a terminal, nothing is drawn and no thread runs.
"""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Sequence
from types import TracebackType
from typing import TextIO

from nettrail.capture import Capture

FIRST_DRAW_S = 1.0
INTERVAL_S = 0.5
_MB = 1_000_000


def open_offsets(paths: set[str]) -> dict[str, int]:
    """The read offset of each of ``paths`` (real paths) open in this process, by path."""
    found: dict[str, int] = {}
    try:
        fds = os.listdir("/proc/self/fd")
    except OSError:
        return found
    for fd in fds:
        try:
            target = os.readlink(f"/proc/self/fd/{fd}")
            if target not in paths:
                continue
            with open(f"/proc/self/fdinfo/{fd}") as info:
                pos = int(info.readline().split()[1])  # first line: "pos:\t<offset>"
        except (OSError, ValueError, IndexError):
            continue  # closed meanwhile
        found[target] = max(found.get(target, 0), pos)
    return found


class Reading:
    """How far the reading of a run's captures got, from what can be seen of its files.

    ``label`` says what the reading is for, ``after`` what follows once every byte is read;
    ``in_order`` is True when the files are read one after the other in the order given (a
    file before one being read is done); ``packets`` False when the captures' packet counts
    are not those of this reading.
    """

    def __init__(self, captures: Sequence[Capture], label: str = "reading",
                 after: str = "analysing", *, in_order: bool = True,
                 packets: bool = True) -> None:
        self.captures = list(captures)
        self.label = label
        self.after = after
        self.in_order = in_order
        self.packets = packets
        self.seen: set[int] = set()
        self.paths = [os.path.realpath(c.path) for c in self.captures]
        self.sizes = [_size(c.path) for c in self.captures]
        self.total = sum(self.sizes)
        self.read = [0] * len(self.captures)
        self.started = time.monotonic()
        self.read_s: float | None = None  # seconds it took to read every byte

    def poll(self) -> None:
        """Update the bytes read of each file: its offset while open, all of it once closed
        after it was seen open or counted packets (a small file may come and go unseen)."""
        offsets = open_offsets(set(self.paths))
        for i, path in enumerate(self.paths):
            if path in offsets:
                self.seen.add(i)
                self.read[i] = max(self.read[i], min(offsets[path], self.sizes[i]))
                if self.in_order:
                    for j in range(i):
                        self.read[j] = self.sizes[j]
            elif i in self.seen or (self.packets and self._counted(i)):
                self.read[i] = self.sizes[i]
        if self.read_s is None and sum(self.read) >= self.total:
            self.read_s = time.monotonic() - self.started

    def _counted(self, i: int) -> bool:
        stats = self.captures[i].stats
        return stats.packets > 0 or stats.error is not None

    def line(self) -> str:
        """``nettrail: reading 412/1024 MB (40%), 85 MB/s, 1234567 packets (310000/s),
        1/3 points done``; rates over the reading time only."""
        elapsed = max(self.read_s or time.monotonic() - self.started, 1e-6)
        done = sum(self.read)
        percent = 100 * done // self.total if self.total else 100
        points: dict[str, bool] = {}
        for capture, read, size in zip(self.captures, self.read, self.sizes, strict=True):
            points[capture.point] = points.get(capture.point, True) and read >= size
        text = (f"nettrail: {self.label} {done / _MB:.0f}/{self.total / _MB:.0f} MB "
                f"({percent}%), {done / _MB / elapsed:.0f} MB/s")
        packets = sum(c.stats.packets for c in self.captures) if self.packets else 0
        if packets:
            text += f", {packets} packets ({packets / elapsed:.0f}/s)"
        text += f", {sum(points.values())}/{len(points)} points done"
        return text + f"; {self.after}" if self.read_s is not None and self.after else text


def _size(path: str) -> int:
    try:
        return os.path.getsize(path)
    except OSError:
        return 0


class Progress:
    """Draws ``reading.line()`` on ``stream`` while the block runs, if it is a terminal."""

    def __init__(self, reading: Reading, stream: TextIO) -> None:
        self.reading = reading
        self.stream = stream
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._drawn = False

    def __enter__(self) -> Progress:
        if _is_terminal(self.stream):
            self._thread = threading.Thread(target=self._run, name="progress", daemon=True)
            self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
        if self._drawn:
            self._write("\r\033[K")  # the line goes; what follows starts clean

    def _run(self) -> None:
        if self._stop.wait(FIRST_DRAW_S):
            return
        shown = ""
        while True:
            self.reading.poll()
            line = self.reading.line()
            if line != shown:
                self._write("\r" + line + "\033[K")
                self._drawn, shown = True, line
            if self._stop.wait(INTERVAL_S):
                return

    def _write(self, text: str) -> None:
        """Straight to the terminal's descriptor: the thread never holds the stream's lock,
        which a process forked meanwhile would inherit held."""
        try:
            os.write(self.stream.fileno(), text.encode())
        except (OSError, ValueError):
            self._stop.set()  # the terminal went away: stop drawing, keep working


def _is_terminal(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False
