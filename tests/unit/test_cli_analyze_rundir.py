"""`nettrail analyze DIR` reads a lab run directory through its manifest."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nettrail.cli.main import main

CROSS = Path(__file__).parent.parent / "fixtures" / "crosspoint"


def _run_dir(tmp_path: Path) -> Path:
    """A run directory in the lab's manifest format around the recorded incident pcaps."""
    src = json.loads((CROSS / "incident.json").read_text())
    points = []
    for name, pcap in src["points"].items():
        shutil.copy(CROSS / pcap, tmp_path / pcap)
        points.append({"name": name, "pcap": pcap, "interfaces": src["ifnames"][name]})
    (tmp_path / "manifest.json").write_text(json.dumps({"scenario": "x", "points": points}))
    return tmp_path


def test_run_directory_names_points_and_interfaces(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run = _run_dir(tmp_path)
    assert main(["analyze", "--format", "json", str(run)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in report["points"]] == ["client", "netnode", "compute", "vm"]
    cited = {e["ifname"] for f in report["findings"] for e in f["evidence"] if e.get("ifname")}
    assert "ntDqg" in cited  # a name from the manifest, not "if2"
    assert not any(name.startswith("if") and name[2:].isdigit() for name in cited)


def test_directory_without_manifest_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "manifest.json" in err[0]


def test_broken_manifest_is_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "manifest.json").write_text("{not json")
    assert main(["analyze", str(tmp_path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "manifest.json" in err[0]
