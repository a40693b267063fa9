"""``signal_handlers``: a handler for the length of a block, the previous one back after it."""

from __future__ import annotations

import os
import signal
import threading
from types import FrameType

import pytest

from nettrail.lab.builder import terminate_as_interrupt
from nettrail.signals import signal_handlers


def test_the_handler_takes_each_signal_within_the_block_and_the_old_ones_are_back() -> None:
    before = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM, signal.SIGUSR1)}
    seen: list[int] = []

    def note(signum: int, frame: FrameType | None) -> None:
        seen.append(signum)

    with signal_handlers(note, signal.SIGINT, signal.SIGTERM):
        assert signal.getsignal(signal.SIGINT) is note
        assert signal.getsignal(signal.SIGTERM) is note
        assert signal.getsignal(signal.SIGUSR1) is before[signal.SIGUSR1]
        os.kill(os.getpid(), signal.SIGTERM)
        os.kill(os.getpid(), signal.SIGINT)
    assert seen == [signal.SIGTERM, signal.SIGINT]
    assert {s: signal.getsignal(s) for s in before} == before


def test_the_old_handlers_are_back_when_the_block_raises() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with pytest.raises(RuntimeError), signal_handlers(signal.SIG_IGN, signal.SIGTERM):
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_IGN
        raise RuntimeError("in the block")
    assert signal.getsignal(signal.SIGTERM) is before


def test_nested_blocks_unwind_to_each_ones_handler() -> None:
    before = signal.getsignal(signal.SIGTERM)
    with terminate_as_interrupt():
        outer = signal.getsignal(signal.SIGTERM)
        assert outer is not before
        with signal_handlers(signal.SIG_IGN, signal.SIGTERM):
            os.kill(os.getpid(), signal.SIGTERM)  # ignored
        assert signal.getsignal(signal.SIGTERM) is outer
        with pytest.raises(KeyboardInterrupt, match="signal 15"):
            os.kill(os.getpid(), signal.SIGTERM)
    assert signal.getsignal(signal.SIGTERM) is before


def test_outside_the_main_thread_nothing_changes() -> None:
    seen: list[object] = []

    def body() -> None:
        with signal_handlers(signal.SIG_IGN, signal.SIGINT):
            seen.append(signal.getsignal(signal.SIGINT))

    before = signal.getsignal(signal.SIGINT)
    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen == [before]
