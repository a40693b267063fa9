"""collect's main thread takes SIGINT/SIGTERM only between its waits, never inside a lock."""

from __future__ import annotations

import os
import signal
import threading

import pytest

from nettrail.collect.run import run_command, signals_noted, wait_for


@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM])
def test_a_signal_is_noted_then_raised_at_the_next_wait(signum: int) -> None:
    before = signal.getsignal(signum)
    event = threading.Event()
    with signals_noted() as signals:
        os.kill(os.getpid(), signum)
        for _ in range(2000):  # where the default handler would raise, mid-lock or not
            event.set()
            event.clear()
            event.wait(0)
        assert signals == [signum]
        assert not event._cond._lock.locked()  # type: ignore[attr-defined]
        with pytest.raises(KeyboardInterrupt):
            wait_for(event, 5, signals)
    assert signal.getsignal(signum) is before


def test_run_command_is_ended_by_a_noted_signal() -> None:
    with signals_noted() as signals:
        threading.Timer(0.3, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            run_command(["sleep", "30"], None, signals)


def test_outside_the_main_thread_nothing_changes() -> None:
    seen: list[object] = []

    def body() -> None:
        with signals_noted() as signals:
            seen.append(signal.getsignal(signal.SIGINT))
            seen.append(list(signals))

    before = signal.getsignal(signal.SIGINT)
    t = threading.Thread(target=body)
    t.start()
    t.join()
    assert seen == [before, []]
