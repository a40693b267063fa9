"""Record every cross-point scenario live in real namespaces and diagnose it (root, CI).

The same topologies produced the committed fixtures; here they are built, captured with
tcpdump at every point and torn down again, and the analysis must name each root cause.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from crosspoint_topo import NS, SWITCH, record
from test_crosspoint_golden import ROOT_CAUSES, load, root_causes

from conftest import require_root, require_tool
from nettrail.analyze.crosspoint import cross_point

OUTCOMES = {"incident": "reset", "transit": "reset", "healthy": "ok", "lost": "timeout",
            "refused": "refused", "mtu": "timeout"}


@pytest.mark.lab
@pytest.mark.root
@pytest.mark.slow
@pytest.mark.parametrize("scenario", sorted(ROOT_CAUSES))
def test_live_scenario(scenario: str, tmp_path: Path) -> None:
    require_root()
    for tool in ("tcpdump", "iptables", "nft", "ethtool"):
        require_tool(tool)
    manifest = record(scenario, tmp_path)
    assert manifest["outcome"] == OUTCOMES[scenario]
    (tmp_path / f"{scenario}.json").write_text(json.dumps(manifest))
    result = cross_point(load(tmp_path, scenario))
    assert root_causes(result) == ROOT_CAUSES[scenario]
    for ns in (*NS.values(), SWITCH):
        assert not Path("/run/netns", ns).exists()
