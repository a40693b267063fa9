"""Signal handlers installed for the length of a block, the previous ones put back after it.

``collect`` notes SIGINT/SIGTERM and acts between its waits, ``lab`` turns SIGTERM into
KeyboardInterrupt so that its builder unwinds, ``trace`` stops its loop on either: each
through ``signal_handlers(handler, *signums)``.
"""

from __future__ import annotations

import contextlib
import signal
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
