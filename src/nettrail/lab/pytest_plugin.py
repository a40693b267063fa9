"""pytest fixtures over the lab, for every test tier: ``lab_scenario("dual-l3")``.

Enable with ``pytest_plugins = ("nettrail.lab.pytest_plugin",)`` in a root conftest.py.
``lab_scenario`` is a module-scoped factory: the first call for a name brings the scenario up
(after removing leftovers of an earlier, interrupted run), later calls in the same module
return the same handle, and every lab it built is torn down when the module ends. Tests skip,
naming what is missing, when the machine cannot build labs (not root, no ``ip``/``tcpdump``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from nettrail import lab
from nettrail.errors import CapabilityError
from nettrail.lab import shell
from nettrail.lab.handle import LabHandle

LabFactory = Callable[[str], LabHandle]


def require_lab() -> None:
    """Skip the calling test unless this machine can build labs."""
    try:
        shell.require_lab_capabilities()
    except CapabilityError as exc:
        pytest.skip(str(exc))


@pytest.fixture(scope="module")
def lab_scenario() -> Iterator[LabFactory]:
    """Factory fixture: ``lab_scenario(name)`` -> a LabHandle that is up for this module."""
    handles: dict[str, LabHandle] = {}

    def factory(name: str) -> LabHandle:
        if name not in handles:
            require_lab()
            lab.down(lab.load(name).name)
            handles[name] = lab.up(name)
        return handles[name]

    try:
        yield factory
    finally:
        for handle in reversed(list(handles.values())):
            handle.down()
