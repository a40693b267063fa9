"""nettrail: who sent this packet, and why did my connection die?

The library's public API; the CLI is a thin layer over it::

    run = nettrail.analyze_files([("host1", "a.pcap"), ("host5", "b.txt")])
    run.analysis.diagnosis          # root cause first, then the chain of evidence
    nettrail.report.text.render(run.analysis, sys.stdout)

Live tracing is in ``nettrail.trace`` (``TraceConfig``, ``TraceRun``) and labs in
``nettrail.lab`` (``up``, ``down``); they load nothing until used.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from nettrail.analyze.pipeline import analyze_records
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
from nettrail.run import AnalysisRun, PacketFilter, analyze_files

if TYPE_CHECKING:
    from nettrail.trace.config import TraceConfig

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


def __getattr__(name: str) -> Any:
    """``TraceConfig``, imported when first asked for: analysing files needs none of the
    tracing code (its filter compiler imports ``re``, ``socket`` and ``ipaddress``)."""
    if name == "TraceConfig":
        from nettrail.trace.config import TraceConfig

        return TraceConfig
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
