"""`nettrail analyze` refuses unusable arguments up front, in one line, exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

from nettrail.cli.main import main

PCAP = str(Path(__file__).parent.parent / "fixtures" / "crosspoint" / "incident-client.pcap")


def _one_line_error(capsys: pytest.CaptureFixture[str]) -> str:
    captured = capsys.readouterr()
    lines = captured.err.strip().splitlines()
    assert len(lines) == 1, captured.err
    assert captured.out == ""  # nothing analysed before the refusal
    return lines[0]


@pytest.mark.parametrize("bad", ["999.1.1.1", "example.com", "203.0.113.0/24"])
def test_filter_host_must_be_an_address(bad: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["analyze", "--filter-host", bad, PCAP])
    assert info.value.code == 2
    assert "not an IP address" in _one_line_error(capsys)


def test_filter_host_accepts_ipv6(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", "--filter-host", "2001:db8::1", PCAP]) == 0
    assert "Connections (0)" in capsys.readouterr().out


@pytest.mark.parametrize("args", [[PCAP, PCAP], ["x=" + PCAP, "y=" + PCAP]])
def test_same_file_twice_is_refused(args: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["analyze", *args]) == 2
    assert "given twice" in _one_line_error(capsys)


@pytest.mark.parametrize("option", ["--html", "--output-pcapng"])
def test_unwritable_output_is_refused_before_analysis(
    option: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["analyze", option, str(tmp_path / "missing" / "out"), PCAP]) == 2
    assert "no such directory" in _one_line_error(capsys)
    assert main(["analyze", option, str(tmp_path), PCAP]) == 2
    assert "a directory, not a file" in _one_line_error(capsys)


def test_a_copy_of_a_file_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """The same capture fetched twice under two names: its packets would be matched against
    themselves at two points (a RST "made" at one of them, a clock that agrees exactly)."""
    copy = tmp_path / "host2" / "incident-client.pcap"
    copy.parent.mkdir()
    copy.write_bytes(Path(PCAP).read_bytes())
    assert main(["analyze", PCAP, str(copy)]) == 2
    assert _one_line_error(capsys) == (f"nettrail: error: {copy}: given twice: the same bytes "
                                       f"as {PCAP} (one capture copied under two names)")
    data = Path(PCAP).read_bytes()
    copy.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))  # one byte apart: two captures
    assert main(["analyze", PCAP, str(copy)]) == 0
