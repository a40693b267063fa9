"""Captures given as a pipe (``-``, ``/dev/stdin``, ``<(tcpdump -r ...)``), saved once.

The readers go over a capture more than once (its format, its hosts, the table, the evidence),
which a pipe cannot give. ``spooled(path)`` copies a pipe's bytes (or a terminal's, up to
Ctrl-D) into an unnamed temporary file (``O_TMPFILE``: nothing is left behind, however the
process ends) and puts that file on the pipe's own descriptor, so the path the user gave
(``/dev/stdin``, ``/dev/fd/63``) opens the saved bytes and names them in the report, line and
byte numbers those of the stream. ``-`` is ``/dev/stdin``. A named pipe (``mkfifo``) is left
to the readers, which say to save it first: its path would open the pipe again.

Ctrl-C while a pipe is read ends its input, not the run (``tcpdump -l ... | nettrail analyze
-``: the pipeline's Ctrl-C stops tcpdump, and what it printed is analysed, with what it
writes out as it stops); a second Ctrl-C, or one while a terminal is read (whose end is
Ctrl-D), interrupts as anywhere else.
"""

from __future__ import annotations

import os
import re
import select
import signal
import stat
import tempfile
import time
from types import FrameType
from typing import BinaryIO, TextIO

from nettrail.errors import CaptureError
from nettrail.signals import signal_handlers

STDIN = "/dev/stdin"
_FD_PATH = re.compile(r"/(?:dev|proc/self)/fd/(\d+)")
_CHUNK = 1 << 20
QUIET_S = 1.0
DRAIN_S = 5.0


def given(path: str) -> str:
    """The path ``path`` stands for: ``/dev/stdin`` for ``-``, else itself."""
    return STDIN if path == "-" else path


def descriptor(path: str) -> int | None:
    """The descriptor of this process that ``path`` names (``-``, ``/dev/stdin``,
    ``/dev/fd/N``, ``/proc/self/fd/N``), or None."""
    if given(path) == STDIN:
        return 0
    found = _FD_PATH.fullmatch(path)
    return int(found.group(1)) if found else None


def spooled(path: str, prompt: TextIO | None = None) -> str:
    """The path to read ``path`` by: itself, unless it names a descriptor of this process that
    is a pipe, socket or terminal, whose bytes are then saved (see the module; a device that
    is no terminal, ``/dev/zero``, is read in place: it may never end); ``-`` is
    ``/dev/stdin``. ``prompt`` is told when a terminal is read, so a user pasting knows how
    to end. A descriptor that is not open, or a read that fails, is a CaptureError."""
    fd = descriptor(path)
    if fd is None:
        return path
    shown = given(path)
    try:
        mode = os.fstat(fd).st_mode
    except OSError:
        raise CaptureError("not open: nothing to read", path=shown) from None
    terminal = stat.S_ISCHR(mode) and os.isatty(fd)
    if not (stat.S_ISFIFO(mode) or stat.S_ISSOCK(mode) or terminal):
        return shown  # a file given with <, or a device (/dev/null): read in place
    if terminal and prompt is not None:
        print(f"nettrail: reading {shown} until Ctrl-D (paste the capture's text)",
              file=prompt, flush=True)
    with tempfile.TemporaryFile() as saved:
        try:
            if terminal or signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
                _copy(fd, saved)
            else:
                try:
                    with signal_handlers(_stop, signal.SIGINT):
                        _copy(fd, saved)
                except _Stopped:
                    _drain(fd, saved)
                    if prompt is not None:
                        print(f"nettrail: Ctrl-C: {shown} read up to byte {saved.tell()}; "
                              "analysing what came (Ctrl-C again stops)", file=prompt,
                              flush=True)
        except OSError as exc:
            raise CaptureError(f"cannot read: {exc.strerror or exc}", path=shown,
                               offset=saved.tell()) from exc
        saved.flush()
        os.dup2(saved.fileno(), fd)  # the given path now opens the saved bytes
    return shown


class _Stopped(Exception):
    """Ctrl-C while a pipe was read: its input ends there."""


def _stop(signum: int, frame: FrameType | None) -> None:
    raise _Stopped


def _copy(fd: int, saved: BinaryIO) -> None:
    """Write what ``fd`` gives, up to its end, to ``saved``."""
    while data := os.read(fd, _CHUNK):
        saved.write(data)


def _drain(fd: int, saved: BinaryIO) -> None:
    """After Ctrl-C: what the writer still gives as it stops (tcpdump writes out its last
    buffer on its way out: without ``-l`` or ``-U``, all it has not written yet), up to its
    end, or until it has said nothing for QUIET_S (a writer Ctrl-C did not stop), DRAIN_S at
    most."""
    end = time.monotonic() + DRAIN_S
    while (left := end - time.monotonic()) > 0:
        if not select.select([fd], [], [], min(QUIET_S, left))[0]:
            return
        data = os.read(fd, _CHUNK)
        if not data:
            return
        saved.write(data)
