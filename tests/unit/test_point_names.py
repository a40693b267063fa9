"""Files given without a point name: one file name on every host makes a point per host,
not one point of all hosts' packets; rotated files of one capture stay one point."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nettrail.capture import parse_point_args
from nettrail.cli.main import main

RUN = Path(__file__).parent.parent / "fixtures" / "labruns" / "netnode-client"


def test_one_stem_in_two_folders_is_two_points(tmp_path: Path) -> None:
    a, b = tmp_path / "netnode" / "capture.pcap", tmp_path / "compute" / "capture.pcap"
    assert parse_point_args([str(a), str(b)]) == [("netnode", str(a)), ("compute", str(b))]


def test_rotated_files_stay_one_point(tmp_path: Path) -> None:
    files = [str(tmp_path / "cap.pcap"), str(tmp_path / "cap.pcap1"), str(tmp_path / "x.pcap")]
    assert [p for p, _ in parse_point_args(files)] == ["cap", "cap", "x"]


def test_folders_told_apart_by_as_many_parts_as_needed(tmp_path: Path) -> None:
    files = [str(tmp_path / "a" / "x" / "cap.pcap"), str(tmp_path / "b" / "x" / "cap.pcap"),
             str(tmp_path / "a" / "x" / "cap.pcap1")]
    assert [p for p, _ in parse_point_args(files)] == ["a-x", "b-x", "a-x"]


def test_a_folder_name_already_a_point_keeps_the_stem(tmp_path: Path) -> None:
    files = ["netnode=" + str(tmp_path / "n.pcap"), str(tmp_path / "netnode" / "cap.pcap"),
             str(tmp_path / "compute" / "cap.pcap"), str(tmp_path / "compute.pcap")]
    assert [p for p, _ in parse_point_args(files)] == [
        "netnode", "netnode-cap", "compute-cap", "compute"]


def test_two_stems_in_the_same_two_folders_stay_four_points(tmp_path: Path) -> None:
    files = [str(tmp_path / h / f"{s}.pcap") for s in ("cap", "dump") for h in ("a", "b")]
    assert [p for p, _ in parse_point_args(files)] == ["a", "b", "a-dump", "b-dump"]


def test_named_files_keep_their_names(tmp_path: Path) -> None:
    a, b = str(tmp_path / "n" / "cap.pcap"), str(tmp_path / "c" / "cap.pcap")
    assert parse_point_args([f"x={a}", f"x={b}"]) == [("x", a), ("x", b)]


def test_same_file_name_on_two_hosts_is_analysed_across_points(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """Two hosts' captures copied as <host>/capture.pcap: the dual-L3 run's diagnosis, not
    one point holding both hosts' packets with each packet counted as sent twice."""
    args = []
    for host in ("netnode", "compute"):
        (tmp_path / host).mkdir()
        shutil.copy(RUN / f"{host}.pcap", tmp_path / host / "capture.pcap")
        args.append(str(tmp_path / host / "capture.pcap"))
    assert main(["analyze", "--format", "json", *args]) == 0
    out = json.loads(capsys.readouterr().out)
    assert [p["name"] for p in out["points"]] == ["netnode", "compute"]
    assert "asymmetric-nat" in [f["kind"] for f in out["findings"] if f["root_cause"]]
    assert main(["analyze", "--format", "json", *(f"{h}={RUN / h}.pcap"
                                                   for h in ("netnode", "compute"))]) == 0
    named = json.loads(capsys.readouterr().out)
    assert [f["summary"] for f in out["findings"]] == [f["summary"] for f in named["findings"]]
