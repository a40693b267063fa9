"""Every capture of ``shared/tcpdump-tests`` given as two points (the same packets at both,
so every packet is matched and the plain conversations are kept as columns where there are
any) analyses as the object path does (the analysis with packet paths, paths left out), and
without an error: captures with no IP packet, ICMP only, odd link types and damaged files
included."""

from __future__ import annotations

from dataclasses import replace

import pytest
from truth import SUITE_DIR

from nettrail.analyze import crosspoint, plain
from nettrail.analyze.pipeline import analyze
from nettrail.capture.points import read_points
from nettrail.errors import InputError


def test_every_capture_as_two_points_same_analysis(monkeypatch: pytest.MonkeyPatch) -> None:
    if not SUITE_DIR.is_dir():
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    used: list[bool] = []

    def spy(*args: object) -> plain.Split | None:
        got = plain.split_plain(*args)  # type: ignore[arg-type]
        used.append(got is not None)
        return got

    monkeypatch.setattr(crosspoint, "split_plain", spy)
    files = sorted(p for p in SUITE_DIR.iterdir() if p.suffix in (".pcap", ".pcapng"))
    differ = []
    for path in files:
        try:
            data, _faults = read_points([("a", str(path)), ("b", str(path))])
        except InputError:
            continue
        if len(data) < 2:
            continue
        if analyze(data, paths=False) != replace(analyze(data, paths=True), paths=()):
            differ.append(path.name)
    assert not differ
    assert sum(used) >= 300  # the plain split ran on most of them
