"""nettrail: who sent this packet, and why did my connection die?

The library's public API; the CLI is a thin layer over it::

    run = nettrail.analyze_files([("host1", "a.pcap"), ("host5", "b.txt")])
    run.analysis.diagnosis          # root cause first, then the chain of evidence
    nettrail.report.text.render(run.analysis, sys.stdout)

Live tracing is in ``nettrail.trace`` (``TraceConfig``, ``TraceRun``) and labs in
``nettrail.lab`` (``up``, ``down``); they load nothing until used. The analysis (and numpy,
which its packet table needs) is imported on first use of ``analyze_files``,
``analyze_records``, ``AnalysisRun`` or ``PacketFilter``: the commands that do not analyse
start without it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from nettrail.capture import Capture, open_capture
from nettrail.errors import (
    CapabilityError,
    CaptureError,
    FilterError,
    InputError,
    LabError,
    NettrailError,
    ScenarioError,
    TraceError,
)
from nettrail.model.analysis import Analysis, Diagnosis
from nettrail.model.event import TraceEvent
from nettrail.model.finding import Evidence, Finding, Severity
from nettrail.model.flow import Connection, Endpoint, FlowKey, Outcome
from nettrail.model.packet import PacketRecord

if TYPE_CHECKING:
    from nettrail.analyze.pipeline import analyze_records
    from nettrail.capture.points import PacketFilter
    from nettrail.run import AnalysisRun, analyze_files
    from nettrail.trace.config import TraceConfig

_LAZY = {"analyze_records": "nettrail.analyze.pipeline", "AnalysisRun": "nettrail.run",
         "analyze_files": "nettrail.run", "PacketFilter": "nettrail.capture.points",
         "TraceConfig": "nettrail.trace.config"}
"""Public names imported when first asked for: their modules load numpy, or (TraceConfig)
the tracing code, which analysing files never needs."""

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "AnalysisRun",
    "CapabilityError",
    "Capture",
    "CaptureError",
    "Connection",
    "Diagnosis",
    "Endpoint",
    "Evidence",
    "FilterError",
    "Finding",
    "FlowKey",
    "InputError",
    "LabError",
    "NettrailError",
    "Outcome",
    "PacketFilter",
    "PacketRecord",
    "ScenarioError",
    "Severity",
    "TraceConfig",
    "TraceError",
    "TraceEvent",
    "__version__",
    "analyze_files",
    "analyze_records",
    "open_capture",
]


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'nettrail' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
