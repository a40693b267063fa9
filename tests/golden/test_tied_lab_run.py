"""A recorded run of the mtu-blackhole lab (Open vSwitch, kernel 6.18; tests/fixtures/tied/,
recorded on a loaded machine and cut to 160 bytes a packet like tests/fixtures/labruns/) in
which one kernel stamped the two ends of the VM's veth in the same microsecond for every
packet that went the whole way (the SYN, SYN-ACK and ACK), while the data segments that
never left compute are a few microseconds apart there.

Two wrong answers came of it: the MTU black hole was not named at all (the replies' route,
tied at vm and compute, was left unread), and "the data segment reached compute and was
dropped inside it" was the root cause. compute is a VXLAN end: the client's packets come in
encapsulated and leave bare to the VM, and with the encapsulated copies left out they
seemed to start at compute, as if the client lived there."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from nettrail.cli.main import main

RUN = Path(__file__).parent.parent / "fixtures" / "tied" / "mtu-blackhole-ovs"


def _analysis(capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["analyze", "--format", "json", str(RUN)]) in (0, None)
    result: dict[str, Any] = json.loads(capsys.readouterr().out)
    return result


def test_the_black_hole_is_named_where_a_veth_s_ends_were_stamped_alike(
        capsys: pytest.CaptureFixture[str]) -> None:
    got = _analysis(capsys)
    roots = [f for f in got["findings"] if f["root_cause"]]
    assert [f["kind"] for f in roots] == ["mtu-blackhole"]
    assert roots[0]["details"]["last_seen"] == "compute"
    assert roots[0]["details"]["missing"] == "netnode"
    assert got["diagnosis"]["kinds"][0] == "mtu-blackhole"

