"""Host-side findings on real captures: a reset injected by a router (iptables REJECT with
tcp-reset in a forwarding namespace) and a SYN-ACK dropped by the client's own INPUT chain
after tcpdump saw it arrive. Scenarios: tests/lab/scenarios/*.toml (test-only)."""

from __future__ import annotations

from pathlib import Path

import pytest

from nettrail.lab.handle import RunResult
from nettrail.lab.pytest_plugin import LabFactory
from nettrail.model.analysis import Analysis
from nettrail.run import analyze_files

pytestmark = [pytest.mark.lab, pytest.mark.root, pytest.mark.slow]

SCENARIOS = Path(__file__).parent / "scenarios"


def _run(lab_scenario: LabFactory, name: str, out: Path) -> tuple[RunResult, Analysis]:
    handle = lab_scenario(str(SCENARIOS / f"{name}.toml"))
    result = handle.run(out)
    handle.down()
    assert result.traffic.as_expected, result.traffic.detail
    return result, analyze_files(list(result.captures), ifnames=result.ifnames).analysis


def test_a_reset_made_by_a_router_is_called_injected_with_its_ttl(
        lab_scenario: LabFactory, tmp_path: Path) -> None:
    _result, analysis = _run(lab_scenario, "rst-injected", tmp_path)
    assert analysis.diagnosis is not None
    assert analysis.diagnosis.kinds[0] == "reset-injected"
    found = {f.details["point"]: f for f in analysis.findings if f.kind == "reset-injected"}
    # at the server: the client's packets arrive forwarded once (TTL 63), the RST does not
    assert "TTL 64 where 203.0.113.10's other packets here have 63" in found["server"].summary
    assert found["mid"].details["origin"] == "mid"  # it leaves the router first
    assert "client" not in found  # the client never saw it


def test_a_synack_dropped_after_capture_is_not_called_lost(
        lab_scenario: LabFactory, tmp_path: Path) -> None:
    _result, analysis = _run(lab_scenario, "synack-dropped", tmp_path)
    assert analysis.diagnosis is not None
    assert analysis.diagnosis.kinds[0] == "dropped-after-capture"
    assert "lost-between-points" not in analysis.diagnosis.kinds
    found = next(f for f in analysis.findings if f.kind == "dropped-after-capture")
    assert found.details == {"point": "client", "packet": "SYN-ACK", "host": "203.0.113.10"}
