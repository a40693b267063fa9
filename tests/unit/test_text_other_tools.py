"""Text another tool printed, pasted where tcpdump's was wanted: tshark's summary lines
(``3 0.000879 203.0.113.11 → 198.51.100.4 TCP 80 55052 → 22 [SYN] Seq=0``). Each is counted
and named as tshark's; none is read as a packet, nor taken as the continuation of the line
before it (they are indented, as tcpdump's ``-v`` continuations are)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from nettrail.capture.base import CaptureStats
from nettrail.capture.tcpdump_text import read_text
from nettrail.cli.main import main

VM = Path(__file__).parents[1] / "fixtures" / "labruns" / "netnode-client" / "vm.pcap"


def _printed(*args: str) -> str:
    """What a tool printed of the vm capture."""
    if shutil.which(args[0]) is None:
        pytest.skip(f"needs {args[0]} on the PATH")
    return subprocess.run([*args, "-r", str(VM)], capture_output=True, text=True,
                          check=True, env={"LANG": "C.UTF-8", "PATH": "/usr/bin:/bin"}).stdout


@pytest.mark.parametrize("times", [[], ["-t", "ad"]], ids=["relative", "dated"])
def test_tshark_text_alone_is_refused_in_one_line(times: list[str], tmp_path: Path,
                                                  capsys: pytest.CaptureFixture[str]) -> None:
    path = tmp_path / "pasted.txt"
    path.write_text(_printed("tshark", "-n", *times))
    assert main(["analyze", str(path)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1
    assert "not tcpdump text" in err[0] and "line 1 tshark's summary line" in err[0]


def test_tshark_lines_after_tcpdump_lines_are_counted_not_absorbed(tmp_path: Path) -> None:
    tcpdump = _printed("tcpdump", "-n")
    tshark = _printed("tshark", "-n").splitlines(keepends=True)
    alone, both = tmp_path / "alone.txt", tmp_path / "both.txt"
    alone.write_text(tcpdump)
    both.write_text(tcpdump + "".join(tshark))
    stats = CaptureStats(path=str(both), point="p")
    records = list(read_text(str(both), "p", stats))
    assert len(records) == len(list(read_text(str(alone), "p", CaptureStats(str(alone), "p"))))
    assert stats.skipped["unparsed-line"] == len(tshark)
    assert any("tshark's summary line" in w for w in stats.warnings)
