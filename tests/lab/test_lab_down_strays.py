"""Taking a lab down ends every process inside its namespaces, also ones it did not start."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from nettrail import lab
from nettrail.lab import shell
from nettrail.lab.plan import in_ns
from nettrail.lab.pytest_plugin import require_lab

pytestmark = [pytest.mark.lab, pytest.mark.root]

ONE_HOST = """
name = "strays-test"
captures = ["a"]
[traffic]
host = "a"
kind = "tcp-fetch"
target = "198.18.7.2"
port = 8000
expect = "refused"
[hosts.a]
"""


@pytest.mark.parametrize("unnamed", [False, True], ids=["named", "name-gone"])
def test_a_process_started_in_a_lab_namespace_ends_with_the_lab(unnamed: bool,
                                                                tmp_path: Path) -> None:
    """A process inside a lab namespace, which the lab did not start, ends with the lab; also
    when the namespace lost its name before (a process that entered it as its name went:
    ``ip netns exec`` opens the namespace, then enters it), found by the namespace itself."""
    require_lab()
    path = tmp_path / "strays-test.toml"
    path.write_text(ONE_HOST, encoding="utf-8")
    lab.down("strays-test")
    handle = lab.up(str(path))
    ns = handle.ns("a")
    stray = shell.spawn(in_ns(ns, "sleep", "600"), tmp_path / "log")
    try:
        deadline = time.monotonic() + 20  # started inside: ip netns exec has entered it
        while stray.pid not in shell.pids(ns) and time.monotonic() < deadline:
            time.sleep(0.05)
        if unnamed:
            inode = shell.ns_inode(ns)
            shell.run(("ip", "netns", "del", ns))  # the name gone, kept alive by the stray
            assert inode is not None and stray.pid in shell.pids_in({inode})
        handle.down()
        deadline = time.monotonic() + 20  # ends at once; the margin is for a loaded machine
        while stray.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
        assert stray.poll() is not None, "a process outlived its lab namespace"
    finally:
        if stray.poll() is None:
            stray.kill()
            stray.wait()
        handle.down()
