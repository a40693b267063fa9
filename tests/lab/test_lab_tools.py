"""The lab's own TCP server and client across two namespaces, and the handle's API."""

from __future__ import annotations

from pathlib import Path

import pytest

from nettrail import lab
from nettrail.errors import LabError
from nettrail.lab.pytest_plugin import require_lab

pytestmark = [pytest.mark.lab, pytest.mark.root]

TWO_HOSTS = """
name = "tool-test"
captures = ["a", "b"]
[traffic]
host = "a"
kind = "tcp-fetch"
target = "198.18.7.2"
port = 8000
bytes = 300000
timeout = 5
expect = "success"
settle = 0.2
[hosts.a]
[hosts.b.services.bulk]
kind = "tcp-server"
port = 8000
bytes = 300000
[links.ab]
a = { host = "a", dev = "eth0", addrs = ["198.18.7.1/24"] }
b = { host = "b", dev = "eth0", addrs = ["198.18.7.2/24"] }
"""


def test_fetch_succeeds_and_the_handle_api(tmp_path: Path) -> None:
    require_lab()
    path = tmp_path / "tool-test.toml"
    path.write_text(TWO_HOSTS, encoding="utf-8")
    lab.down("tool-test")
    with lab.up(str(path)) as handle:
        assert handle.ns("b") == "ntl-tool-test-b"
        with pytest.raises(LabError, match="no host 'c'"):
            handle.ns("c")
        first = handle.run_traffic()
        assert (first.outcome, first.received) == ("success", 300000)
        result = handle.run(tmp_path / "out")
        assert result.traffic.as_expected and result.dropped == {}
        assert [p for p, _ in result.captures] == ["a", "b"]
        assert result.ifnames["a"][1] == "lo" and "eth0" in result.ifnames["a"].values()
        assert lab.is_up("tool-test")
        assert [s.scenario for s in lab.status() if s.scenario == "tool-test"] == ["tool-test"]
    assert not lab.is_up("tool-test")
