"""A point whose capture stopped before a RST is never said to have missed it, and no decision
depends on the points' names: every capture
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


def test_points_that_saw_packets_at_the_same_times_are_not_ordered_by_name(
        tmp_path: Path) -> None:
    """Every suite capture with a RST at one point and, at another, the same packets at the
    same times but its RSTs (or, in turn, each one of its first packets) left out, as
    ``editcap`` deletes them: nothing tells which point is nearer the server, so the findings
    are the same whichever name sorts first, and neither a RST's maker nor a loss between the
    points is named."""
    from conftest import require_tool

    if not SUITE_DIR.is_dir():
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    editcap = require_tool("editcap")
    checked, differ = 0, []
    cut = tmp_path / "cut.pcap"
    for path in sorted(p for p in SUITE_DIR.iterdir() if p.suffix in (".pcap", ".pcapng")):
        if _first_reset(path) is None:
            continue
        data, _faults = read_points([("one", str(path))])
        frames = [r.frame for r in data[0].table.records() if isinstance(r.headers.l4, TCPHeader)]
        resets = [r.frame for r in data[0].table.records()
                  if isinstance(r.headers.l4, TCPHeader) and r.headers.l4.flags & RST]
        for gone in [resets, *([f] for f in frames[1:-1][:12])]:
            if len(gone) == len(frames):  # nothing left at the other point
                continue
            subprocess.run([editcap, "-F", "pcap", str(path), str(cut), *map(str, gone)],
                           check=True, capture_output=True)
            checked += 1
            kinds = []
            for whole, part in (("a", "b"), ("zz", "aa")):
                pair, _faults = read_points([(whole, str(path)), (part, str(cut))])
                named = {whole: "whole", part: "part"}
                kinds.append(sorted((f.kind, named.get(str(f.details.get("origin")), ""))
                                    for f in analyze(pair, paths=False).findings
                                    if f.root_cause and f.kind not in _ONE_POINT))
            if kinds[0] != kinds[1] or {"reset-not-from-server", "reset-from-server",
                                        "lost-between-points"} & {k for k, _ in kinds[0]}:
                differ.append((path.name, gone, kinds))
    assert checked >= 20
    assert differ == []


_ONE_POINT = frozenset({"refused", "reset", "syn-unanswered", "synack-unacknowledged"})
"""Root causes each point's own packets show (the same at both points here)."""
