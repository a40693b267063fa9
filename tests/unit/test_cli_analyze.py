"""``nettrail analyze`` through ``main([...])``: output, exit codes, and bad input lines."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from nettrail.cli.main import main

CAPTURES = Path(__file__).parents[1] / "fixtures" / "captures"
LAB_ANY = CAPTURES / "lab-any.pcap"


@pytest.fixture
def lab_any(tmp_path: Path) -> Path:
    """A copy of a real ``tcpdump -i any`` capture, to cut or name freely."""
    path = tmp_path / "srv.pcap"
    shutil.copy(LAB_ANY, path)
    return path


def test_text_report_and_exit_0(lab_any: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(lab_any)]) == 0
    out, err = capsys.readouterr()
    assert err == ""
    assert out.startswith("nettrail analyze: 1 capture point, 4 connections,")
    assert "Point srv: 66 packets (pcap)" in out
    assert "198.51.100.1:42026 > 198.51.100.2:9  refused" in out


def test_point_name_and_json(lab_any: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--format", "json", f"server={lab_any}"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["version"] == 1
    assert [p["name"] for p in data["points"]] == ["server"]
    assert {c["outcome"] for c in data["connections"]} == {"closed", "refused", "established"}
    kinds = {f["kind"] for f in data["findings"]}
    assert kinds == {"refused", "multi-interface-copy"}
    for f in data["findings"]:
        assert f["evidence"], f
        for e in f["evidence"]:
            assert e["point"] == "server" and e["file"] == str(lab_any) and e["frame"] > 0


def test_truncated_capture_reports_good_records_then_one_error_line(
    lab_any: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = lab_any.read_bytes()
    lab_any.write_bytes(data[: len(data) - 30])
    assert main(["analyze", str(lab_any)]) == 2
    out, err = capsys.readouterr()
    assert out.startswith("nettrail analyze: 1 capture point, 4 connections")
    assert "Point srv: 65 packets" in out
    assert "warning: reading stopped:" in out
    lines = err.splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"nettrail: error: {lab_any} at byte ")
    assert "Traceback" not in err


@pytest.mark.parametrize(
    ("content", "reason"),
    [(b"", "empty file"), (b"\x00\x01\x02\x03garbage" * 10, "not a pcap, pcapng or tcpdump")],
)
def test_unusable_file_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes, reason: str
) -> None:
    path = tmp_path / "bad.pcap"
    path.write_bytes(content)
    assert main(["analyze", str(path)]) == 2
    out, err = capsys.readouterr()
    assert out == ""
    assert err.startswith(f"nettrail: error: {path} at byte 0: {reason}")
    assert len(err.splitlines()) == 1


def test_missing_file(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", str(tmp_path / "nope.pcap")]) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"nettrail: error: {tmp_path / 'nope.pcap'}: cannot read")


def test_good_and_bad_file_analyses_the_good_one(
    lab_any: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = tmp_path / "empty.pcap"
    bad.write_bytes(b"")
    assert main(["analyze", f"a={lab_any}", f"b={bad}"]) == 2
    out, err = capsys.readouterr()
    assert "Point a: 66 packets" in out and "Point b" not in out  # nothing of it was read
    assert f"warning: point b left out of the analysis: nothing of {bad} could be read" in out
    assert err.strip() == f"nettrail: error: {bad} at byte 0: empty file"


@pytest.mark.parametrize("args", [[], ["--filter-port", "x"], ["--filter-port", "70000"],
                                  ["--format", "xml"]])
def test_bad_arguments_exit_2(
    lab_any: Path, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    argv = ["analyze", *args] + ([str(lab_any)] if args else [])
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert capsys.readouterr().err.startswith("nettrail: error:")


def test_filters(lab_any: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--format", "json", "--filter-port", "9", str(lab_any)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["server"]["port"] for c in data["connections"]] == [9]
    assert main(["analyze", "--format", "json", "--filter-host", "198.18.0.2",
                 str(lab_any)]) == 0
    data = json.loads(capsys.readouterr().out)
    assert [c["server"]["addr"] for c in data["connections"]] == ["198.18.0.2"]


def test_html_and_pcapng_outputs(
    lab_any: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    html, pcapng = tmp_path / "r.html", tmp_path / "r.pcapng"
    assert main(["analyze", "--html", str(html), "--output-pcapng", str(pcapng),
                 str(lab_any)]) == 0
    assert "<html" in html.read_text()[:200].lower()
    assert pcapng.read_bytes()[:4] == b"\x0a\x0d\x0d\x0a"


def test_unwritable_output_is_an_input_error(
    lab_any: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    target = tmp_path / "no-such-dir" / "r.html"
    assert main(["analyze", "--html", str(target), str(lab_any)]) == 2
    assert capsys.readouterr().err.startswith(f"nettrail: error: --html {target}: no such")
