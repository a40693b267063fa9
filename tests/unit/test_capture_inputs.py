"""``capture.inputs``: each capture sniffed once, read once for analysis and once for export;
the pcapng renderer opens no file."""

from __future__ import annotations

import io
import shutil
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from nettrail.capture import DAY_NS, open_capture
from nettrail.capture.inputs import open_inputs
from nettrail.cli.main import main
from nettrail.errors import CaptureError
from nettrail.model.analysis import Analysis
from nettrail.report.pcapng import export

FIXTURES = Path(__file__).parents[1] / "fixtures"
PCAP = FIXTURES / "text" / "real-a.pcap"
TEXT = FIXTURES / "text" / "real-any.txt"
PCAPNG = FIXTURES / "captures" / "lab-multi.pcapng"

_opened: list[Counter[str]] = []


def _audit(event: str, args: tuple[Any, ...]) -> None:
    if event == "open" and _opened and isinstance(args[0], str):
        _opened[-1][args[0]] += 1


sys.addaudithook(_audit)  # counts only inside ``counting_opens``


@contextmanager
def counting_opens() -> Iterator[Counter[str]]:
    """How many times each file is opened (by path) inside the block."""
    counts: Counter[str] = Counter()
    _opened.append(counts)
    try:
        yield counts
    finally:
        _opened.pop()


@pytest.fixture
def copies(tmp_path: Path) -> dict[str, str]:
    """Copies of a pcap, a pcapng and an undated text capture, under unique names."""
    out = {}
    for name, src in (("a.pcap", PCAP), ("b.pcapng", PCAPNG), ("c.txt", TEXT)):
        shutil.copy(src, tmp_path / name)
        out[name] = str(tmp_path / name)
    return out


def test_binary_captures_are_opened_three_times_per_run(
    copies: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A 4 KiB format sniff, the analysis, the export: nothing else opens them."""
    out = tmp_path / "view.pcapng"
    with counting_opens() as counts:
        code = main(["analyze", "--output-pcapng", str(out), f"a={copies['a.pcap']}",
                     f"b={copies['b.pcapng']}"])
    assert code == 0, capsys.readouterr().err
    assert counts[copies["a.pcap"]] == 3
    assert counts[copies["b.pcapng"]] == 3
    assert counts[str(out)] == 1


def test_undated_text_costs_one_more_read_of_the_first_binary_capture(
    copies: dict[str, str], tmp_path: Path
) -> None:
    with counting_opens() as counts:
        inputs = open_inputs([("a", copies["a.pcap"]), ("c", copies["c.txt"])])
    assert counts[copies["a.pcap"]] == 2  # sniffed, then read up to its first packet
    assert counts[copies["c.txt"]] == 1
    (text,) = [c for c in inputs.captures() if c.format == "tcpdump-text"]
    first = next(iter(open_capture(copies["a.pcap"]))).ts_ns
    assert text.day_ns == first - first % DAY_NS


def test_binary_captures_alone_are_not_dated(copies: dict[str, str]) -> None:
    with counting_opens() as counts:
        inputs = open_inputs([("a", copies["a.pcap"]), ("b", copies["b.pcapng"])])
    assert counts == Counter({copies["a.pcap"]: 1, copies["b.pcapng"]: 1})
    assert [c.day_ns for c in inputs.captures()] == [0, 0]


def test_unreadable_file_keeps_its_fault_and_the_others_are_read(
    copies: dict[str, str], tmp_path: Path
) -> None:
    missing = str(tmp_path / "missing.pcap")
    inputs = open_inputs([("a", copies["a.pcap"]), ("m", missing)])
    good, bad = inputs.items
    assert good.capture is not None and good.error is None
    assert bad.capture is None and isinstance(bad.error, CaptureError)
    assert missing in str(bad.error)
    assert sum(1 for _ in inputs.records()) == sum(1 for _ in open_capture(copies["a.pcap"]))


def test_records_are_merged_by_time_and_leave_the_analysis_stats_alone(
    copies: dict[str, str], tmp_path: Path
) -> None:
    shutil.copy(PCAP, tmp_path / "a2.pcap")
    inputs = open_inputs([("a", copies["a.pcap"]), ("a2", str(tmp_path / "a2.pcap"))])
    first = inputs.captures()[0]
    read = sum(1 for _ in first)
    records = list(inputs.records())
    assert [r.ts_ns for r in records] == sorted(r.ts_ns for r in records)
    assert Counter(r.point for r in records) == Counter({"a": read, "a2": read})
    assert first.stats.packets == read  # the export pass used a capture of its own


def test_export_opens_no_file(copies: dict[str, str]) -> None:
    records = list(open_inputs([("a", copies["a.pcap"]), ("c", copies["c.txt"])]).records())
    out = io.BytesIO()
    with counting_opens() as counts:
        export(Analysis(points=(), connections=(), findings=()), records, out)
    assert not counts
    assert out.getvalue().count(b"nettrail: not matched at another point") == len(records)
