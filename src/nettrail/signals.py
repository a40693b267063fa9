"""Signal handlers installed for the length of a block, the previous ones put back after it.

``collect`` notes SIGINT/SIGTERM and acts between its waits, ``lab`` turns SIGTERM into
KeyboardInterrupt so that its builder unwinds, ``trace`` stops its loop on either: each
through ``signal_handlers(handler, *signums)``. Every command runs under ``Interrupts``,
which remembers a Ctrl-C even where Python loses the KeyboardInterrupt it raised.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import threading
from collections.abc import Callable, Iterator
from types import FrameType
from typing import Any

Handler = Callable[[int, FrameType | None], Any]


@contextlib.contextmanager
def signal_handlers(handler: Handler, *signums: int) -> Iterator[None]:
    """Within the block ``handler`` handles ``signums``; after it, whatever handled them before.

    Python runs signal handlers in the main thread only and lets only that thread install
    them: from any other thread nothing changes.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous: list[tuple[int, Any]] = []
    try:
        for signum in signums:
            previous.append((signum, signal.signal(signum, handler)))
        yield
    finally:
        for signum, old in reversed(previous):
            if old is not None:  # None: a handler not set from Python, which cannot be set back
                signal.signal(signum, old)


class Interrupts:
    """Whether SIGINT came while a block ran (``watch``), as Python's own handler would
    (KeyboardInterrupt), but remembered: Python runs a handler wherever its interpreter
    next checks, and a KeyboardInterrupt raised while an object or a generator is being
    freed is only reported ("Exception ignored in ...") and lost; the work then goes on
    to its end as if no Ctrl-C had come."""

    def __init__(self) -> None:
        self.seen = False

    def _handler(self, signum: int, frame: FrameType | None) -> None:
        self.seen = True
        raise KeyboardInterrupt

    @contextlib.contextmanager
    def watch(self) -> Iterator[None]:
        """Within the block, note SIGINT (where it is Python's default: not where the
        process was started with it ignored, nor inside a block that handles it itself);
        a KeyboardInterrupt Python loses is not reported (no traceback: it is noted)."""
        if signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
            yield
            return
        report = sys.unraisablehook

        def lost(info: Any) -> None:
            if not (self.seen and isinstance(info.exc_value, KeyboardInterrupt)):
                report(info)

        sys.unraisablehook = lost
        try:
            with signal_handlers(self._handler, signal.SIGINT):
                yield
        finally:
            sys.unraisablehook = report
