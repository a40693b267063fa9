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
import shutil
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



@pytest.mark.parametrize("drops", [2, 15])
def test_a_black_hole_missing_where_the_capture_dropped_as_many_is_inconclusive(
        capsys: pytest.CaptureFixture[str], tmp_path: Path, drops: int) -> None:
    """The same run with its manifest saying tcpdump at netnode (where the 15 full-size
    packets never arrive) dropped ``drops`` packets: 15 or more and the packets may all be
    the capture's loss (inconclusive); fewer, and some were lost for certain (the black hole
    stands, with the count)."""
    run = tmp_path / "run"
    shutil.copytree(RUN, run)
    manifest = json.loads((run / "manifest.json").read_text())
    for point in manifest["points"]:
        if point["name"] == "netnode":
            point["tcpdump"]["dropped-by-kernel"] = drops
    (run / "manifest.json").write_text(json.dumps(manifest))
    assert main(["analyze", "--format", "json", str(run)]) in (0, None)
    got = json.loads(capsys.readouterr().out)
    assert {p["name"]: p["capture_dropped"] for p in got["points"]}["netnode"] == drops
    blackhole = next(f for f in got["findings"] if f["kind"] == "mtu-blackhole")
    assert blackhole["details"]["stuck"] == "15"
    if drops < 15:
        assert blackhole["root_cause"]
        assert got["diagnosis"]["kinds"] == ["mtu-blackhole"]
        assert blackhole["summary"].endswith(
            "(netnode's capture dropped 2 packets, fewer than the 15 missing)")
    else:
        assert not blackhole["root_cause"]
        assert got["diagnosis"]["kinds"] == ["inconclusive"]
        assert "a capture at netnode that drops no packets (it dropped 15)" in \
            got["diagnosis"]["explanation"]
