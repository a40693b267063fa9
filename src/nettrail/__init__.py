"""nettrail: who sent this packet, and why did my connection die?

The library's public API; the CLI is a thin layer over it.
"""

from __future__ import annotations

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
from nettrail.model.finding import Evidence, Finding, Severity
from nettrail.model.flow import Connection, Endpoint, FlowKey, Outcome
from nettrail.model.packet import PacketRecord

__version__ = "0.1.0"

__all__ = [
    "Analysis",
    "CapabilityError",
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
    "PacketRecord",
    "ScenarioError",
    "Severity",
    "TraceError",
    "__version__",
]
