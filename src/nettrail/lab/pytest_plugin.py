"""pytest fixtures over the lab, for every test tier: ``lab_scenario("dual-l3")``.

Enable with ``pytest_plugins = ("nettrail.lab.pytest_plugin",)`` in a root conftest.py.
``lab_scenario`` is a module-scoped factory: the first call for a name brings the scenario up
(after removing leftovers of an earlier, interrupted run, or waiting while another live test
process uses that lab), later calls in the same module return the same handle (built again
when a test took it down), and every lab it built is torn down when the module ends. Tests
skip, naming what is missing, when the machine cannot build labs (not root, no ``ip``,
``tcpdump``).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterator

import pytest

from nettrail import lab
from nettrail.errors import CapabilityError, LabError
from nettrail.lab import shell, state
from nettrail.lab.handle import LabHandle

LabFactory = Callable[[str], LabHandle]
WAIT_FOR_OTHER_S = 300.0


def require_lab() -> None:
    """Skip the calling test unless this machine can build labs."""
    try:
        shell.require_lab_capabilities()
    except CapabilityError as exc:
        pytest.skip(str(exc))


def wait_until_free(name: str, timeout: float = WAIT_FOR_OTHER_S) -> None:
    """Wait while another live process owns lab ``name`` (built it and still runs)."""
    deadline = time.monotonic() + timeout
    while True:
        current = state.load(name)
        if current is None or current.owner == os.getpid() or not current.owner_alive:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"lab {name} stayed in use by process {current.owner} "
                        f"for {timeout:.0f}s")
        time.sleep(0.2)


def _up_when_free(name: str) -> LabHandle:
    """Bring ``name`` up once no other live test process uses it; remove its leftovers first.

    Concurrent test runs thus never tear each other's labs down.
    """
    scenario_name = lab.load(name).name
    while True:
        wait_until_free(scenario_name)
        lab.down(scenario_name)
        try:
            return lab.up(name)
        except LabError as exc:  # another process built it between our check and our build
            if "already exists" not in str(exc):
                raise
        time.sleep(0.2)


@pytest.fixture(scope="module")
def lab_scenario() -> Iterator[LabFactory]:
    """Factory fixture: ``lab_scenario(name)`` -> a LabHandle that is up for this module."""
    handles: dict[str, LabHandle] = {}

    def factory(name: str) -> LabHandle:
        handle = handles.get(name)
        if handle is None or not lab.is_up(handle.name):  # a test took it down: up again
            require_lab()
            handles[name] = _up_when_free(name)
        return handles[name]

    try:
        yield factory
    finally:
        for handle in reversed(list(handles.values())):
            handle.down()
