"""Where a capture's times go back and stay back (model/time_steps.py); the warning a point
gets is tested on tcpdump's suite in tests/conformance/test_joined_captures.py."""

from __future__ import annotations

import random
from itertools import pairwise

import numpy as np
import pytest

from nettrail.model.time_steps import StepFinder, TimeStep

MS = 1_000_000


def steps(times_ms: list[float], cuts: list[int] | None = None,
          files: list[int] | None = None) -> list[TimeStep]:
    """The steps of ``times_ms`` (frames 1, 2, …) fed in batches cut at ``cuts``."""
    ts = np.array([round(t * MS) for t in times_ms], np.int64)
    frame = np.arange(1, len(ts) + 1, dtype=np.uint32)
    file = np.array(files or [0] * len(ts), np.uint16)
    finder = StepFinder()
    edges = [0, *(cuts or []), len(ts)]
    for a, b in pairwise(edges):
        finder.feed({"ts": ts[a:b], "frame": frame[a:b], "file": file[a:b]})
    return finder.finish()


def test_a_step_back_that_stays_is_named_with_its_frame_and_times() -> None:
    back = [0, 100, 200, 300, 400, 500, 50, 60, 70, 80]
    assert steps(back) == [TimeStep(0, 7, 500 * MS, 50 * MS)]
    assert steps([0, 100, 200, 300, 400, 500, 450, 460, 470]) == []  # 50 ms: under the bar


def test_small_disorder_and_one_damaged_stamp_are_not_steps() -> None:
    assert steps([0, 10, 9.5, 20, 30, 40]) == []  # another CPU's packet stamped a little late
    assert steps([0, 10, 20, 30, -5000, 40, 50, 60]) == []  # one stamp far back
    assert steps([0, 10, 20, 5000, 30, 40, 50]) == []  # one stamp far ahead
    assert steps([0, 10, 20, 30, 40, 50]) == []


def test_a_step_needs_two_packets_on_each_side() -> None:
    assert steps([500, 0, 10, 20]) == []  # a file's first stamp alone
    assert steps([0, 10, 20, 30, -500]) == []  # its last alone
    assert steps([500, 510, 0, 10]) == [TimeStep(0, 3, 510 * MS, 0)]


@pytest.mark.parametrize("seed", range(20))
def test_the_batches_a_table_is_filled_in_change_nothing(seed: int) -> None:
    rng = random.Random(seed)
    times: list[float] = []
    t = 0.0
    for _ in range(200):
        t += rng.choice([0.1, 1, 5, -300, -0.05]) if rng.random() < 0.1 else rng.random()
        times.append(t)
    cuts = sorted(rng.sample(range(1, 200), rng.randint(1, 30)))
    assert steps(times, cuts) == steps(times)


def test_each_file_is_judged_alone() -> None:
    """Two files of one point: the second starting earlier is no step."""
    times = [1000, 1100, 1200, 1300, 0, 10, 20, 30]
    assert steps(times, [3, 5], files=[0] * 4 + [1] * 4) == []
    assert steps(times, [3, 5]) == [TimeStep(0, 5, 1300 * MS, 0)]
