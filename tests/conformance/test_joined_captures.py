"""Two captures joined into one file (two hosts' texts pasted one after the other, ``cat``
of two pcapng files) read as one point hold every packet twice, which reads as sent again:
the point's warning names where the second capture starts (model/time_steps.py)."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest
from truth import SUITE_DIR

from nettrail.capture.points import read_points


def _shifted(line: str, ms: int) -> str:
    m = re.match(r"( *\d+  )?(\d{4}-\d\d-\d\d )(\d\d):(\d\d):(\d\d\.\d{6})", line)
    if m is None:
        return line
    sec = float(m.group(5)) + ms / 1000
    return f"{m.group(1) or ''}{m.group(2)}{m.group(3)}:{m.group(4)}:{sec:09.6f}{line[m.end():]}"


def test_two_hosts_texts_joined_into_one_file_are_named(tmp_path: Path) -> None:
    """ssh.out, then the same packets 30 ms later (another host's capture of them), in one
    file: the warning names the first line of the second capture."""
    src = SUITE_DIR / "ssh.out"
    if not src.is_file():
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    lines = src.read_text().rstrip("\n").split("\n")
    joined = tmp_path / "joined.txt"
    joined.write_text("\n".join([*lines, *(_shifted(x, 30) for x in lines)]) + "\n")
    (point,), errors = read_points([("p", str(joined))])
    said = [w for w in point.summary.warnings if "go back" in w]
    assert not errors
    assert len(said) == 1
    assert said[0].startswith(f"{joined} line {len(lines) + 1}: the times go back 0.545 s")
    (alone,), _ = read_points([("p", str(src))])
    assert not [w for w in alone.summary.warnings if "go back" in w]


def test_two_pcapng_files_joined_by_cat_are_named(tmp_path: Path) -> None:
    """``cat a.pcapng b.pcapng`` is a valid pcapng of two sections."""
    src = SUITE_DIR / "ssh.pcap"
    if not src.is_file():
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    editcap = shutil.which("editcap")
    if editcap is None:
        pytest.skip("needs editcap (wireshark's) to write pcapng")
    a, b = tmp_path / "a.pcapng", tmp_path / "b.pcapng"
    subprocess.run([editcap, "-F", "pcapng", str(src), str(a)], check=True)
    subprocess.run([editcap, "-F", "pcapng", "-t", "0.03", str(src), str(b)], check=True)
    both = tmp_path / "both.pcapng"
    both.write_bytes(a.read_bytes() + b.read_bytes())
    (point,), errors = read_points([("p", str(both))])
    said = [w for w in point.summary.warnings if "go back" in w]
    assert not errors and point.summary.packets == 108
    assert len(said) == 1 and said[0].startswith(f"{both} frame 55: the times go back 0.545 s")
