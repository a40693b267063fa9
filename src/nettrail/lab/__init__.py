"""Labs: scenario files applied as real network namespaces, run with captures, torn down.

::

    with nettrail.lab.up("dual-l3") as lab:
        lab.ns("vm")                 # "ntl-dual-l3-vm"
        lab.run_traffic().outcome    # "reset"
        lab.run(Path("out"))         # pcaps per capture point + manifest.json
"""

from __future__ import annotations

from nettrail.lab.handle import (
    LabHandle,
    LabStatus,
    RunResult,
    attach,
    down,
    down_all,
    is_up,
    status,
    up,
)
from nettrail.lab.outcome import TrafficResult
from nettrail.lab.scenario import Scenario, available, load

__all__ = [
    "LabHandle",
    "LabStatus",
    "RunResult",
    "Scenario",
    "TrafficResult",
    "attach",
    "available",
    "down",
    "down_all",
    "is_up",
    "load",
    "status",
    "up",
]
