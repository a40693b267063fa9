"""``nettrail`` leaves numpy's OpenBLAS at one thread: its others spin on a CPU at start-up
and nettrail gives them no work. Run in a fresh interpreter (numpy not loaded yet), as the
command runs; the threads are counted from /proc after an analysis."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

CAPTURE = Path(__file__).parents[1] / "fixtures" / "captures" / "lab-any.pcap"
RUN = """
import os, sys
from nettrail.cli.main import main
code = main(["analyze", "--format", "json", sys.argv[1]])
print(code, len(os.listdir("/proc/self/task")), os.environ.get("OPENBLAS_NUM_THREADS"),
      file=sys.stderr)
"""


def _threads(env_threads: str | None) -> tuple[int, int, str]:
    env = {k: v for k, v in os.environ.items() if k != "OPENBLAS_NUM_THREADS"}
    if env_threads is not None:
        env["OPENBLAS_NUM_THREADS"] = env_threads
    env["PYTHONPATH"] = str(Path(__file__).parents[2] / "src")
    done = subprocess.run([sys.executable, "-c", RUN, str(CAPTURE)], env=env,
                          capture_output=True, text=True, timeout=120, check=False)
    code, threads, setting = done.stderr.split()[-3:]
    return int(code), int(threads), setting


def test_one_thread_when_the_environment_says_nothing() -> None:
    assert _threads(None) == (0, 1, "1")


@pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2, reason="needs 2 CPUs to start 2 threads")
def test_the_environment_still_decides() -> None:
    assert _threads("2") == (0, 2, "2")
