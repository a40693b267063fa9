"""A point whose capture stopped before a RST is never said to have missed it: every capture
of ``shared/tcpdump-tests`` with a TCP RST, given as the whole capture at one point and, at
a second point one hop on (0.2 ms later), the same capture cut just before its first RST (as
``editcap`` cuts it: a capture stopped early). The second point saw nothing after its cut, so
nothing shows it was capturing when the RST passed: no finding may say it never saw the RST
(``reset-not-from-server``)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from truth import SUITE_DIR

from nettrail.analyze.pipeline import analyze
from nettrail.capture.points import read_points
from nettrail.errors import InputError
from nettrail.model.packet import RST, TCPHeader


def _first_reset(path: Path) -> int | None:
    """The frame number of the capture's first TCP RST (its reader is checked against tshark
    by the other conformance tests), or None."""
    try:
        data, _faults = read_points([("one", str(path))])
    except InputError:
        return None
    records = data[0].table.records() if data else ()
    return next((r.frame for r in records
                 if isinstance(r.headers.l4, TCPHeader) and r.headers.l4.flags & RST), None)


def test_a_capture_stopped_before_a_reset_never_missed_it(tmp_path: Path) -> None:
    from conftest import require_tool

    if not SUITE_DIR.is_dir():
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    editcap = require_tool("editcap")
    checked, claims = 0, []
    for path in sorted(p for p in SUITE_DIR.iterdir() if p.suffix in (".pcap", ".pcapng")):
        first = _first_reset(path)
        if first is None or first < 2:
            continue
        cut, later = tmp_path / "cut.pcap", tmp_path / "later.pcap"
        subprocess.run([editcap, "-F", "pcap", "-r", str(path), str(cut), f"1-{first - 1}"],
                       check=True, capture_output=True)
        subprocess.run([editcap, "-F", "pcap", "-t", "0.0002", str(cut), str(later)],
                       check=True, capture_output=True)
        try:
            data, _faults = read_points([("client", str(path)), ("server", str(later))])
        except InputError:
            continue
        if len(data) < 2:
            continue
        checked += 1
        found = analyze(data, paths=False).findings
        claims += [(path.name, f.summary) for f in found if f.kind == "reset-not-from-server"]
    assert checked >= 5
    assert claims == []
