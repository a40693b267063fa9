"""tcpdump's text prints the local time: two hosts' texts in two time zones are hours apart.
The packets still match and the diagnosis is the same; the clock is worded as the hours and
the rest, with a note, not as 3599975.6 ms."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from nettrail.model.analysis import offset_words
from nettrail.run import analyze_files

FIXTURES = Path(__file__).parent.parent / "fixtures" / "labruns"
HOUR = 3_600_000_000_000


@pytest.mark.parametrize(("offset_ns", "unc_ns", "words"), [
    (-24_400_000, 1_000_000, "24.4 ± 1.0 ms behind"),
    (HOUR - 24_400_000, 1_000_000, "1 h less 24.4 ± 1.0 ms ahead of"),
    (-5 * HOUR - 24_400_000, 1_000_000, "5 h and 24.4 ± 1.0 ms behind"),
    (int(5.75 * HOUR) + 30_000, 10_000, "5 h 45 min and 0.030 ± 0.010 ms ahead of"),
    (HOUR + 2_000_000_000, 1_000_000, "3602000.0 ± 1.0 ms ahead of"),  # a second or more off
])
def test_offset_words(offset_ns: int, unc_ns: int, words: str) -> None:
    got, zone = offset_words(offset_ns, unc_ns)
    assert got == words
    assert bool(zone) == (" h " in words)


@pytest.mark.parametrize("hours", [1, -5])
def test_texts_of_two_time_zones_read_as_one_incident(hours: int, tmp_path: Path) -> None:
    compute = tmp_path / "compute.txt"
    compute.write_text(re.sub(
        r"^(\d\d):", lambda m: f"{(int(m.group(1)) + hours) % 24:02d}:",
        (FIXTURES / "incident-compute.txt").read_text(), flags=re.M))
    netnode = str(FIXTURES / "incident-netnode.txt")
    want = analyze_files([("netnode", netnode),
                          ("compute", str(FIXTURES / "incident-compute.txt"))]).analysis
    got = analyze_files([("netnode", netnode), ("compute", str(compute))]).analysis
    assert want.diagnosis is not None and got.diagnosis is not None
    assert got.diagnosis.headline == want.diagnosis.headline
    assert got.diagnosis.kinds == want.diagnosis.kinds
    offset = next(c for c in got.clock if c.point == "compute")
    before = next(c for c in want.clock if c.point == "compute")
    assert abs(offset.offset_ns - before.offset_ns - hours * HOUR) < 1_000_000
