"""Text that prints only the time of day is dated by the binary captures beside it."""

from __future__ import annotations

from pathlib import Path

from nettrail.analyze.pipeline import analyze_files
from nettrail.capture import DAY_NS, first_date_ns, open_capture

TEXT = Path(__file__).parent.parent / "fixtures" / "text"


def test_first_date_is_midnight_of_the_first_binary_capture() -> None:
    pcap = str(TEXT / "real-a.pcap")
    first = next(iter(open_capture(pcap))).ts_ns
    day = first_date_ns([str(TEXT / "real-any.txt"), pcap])
    assert day % DAY_NS == 0
    assert 0 <= first - day < DAY_NS


def test_text_alone_stays_undated() -> None:
    assert first_date_ns([str(TEXT / "real-any.txt")]) == 0


def test_mixed_pcap_and_undated_text_share_a_clock() -> None:
    run = analyze_files([("a", str(TEXT / "real-a.pcap")), ("b", str(TEXT / "real-any.txt"))])
    assert not run.errors
    (offset,) = [c for c in run.analysis.clock if c.point == "b"]
    # Both were recorded on one machine: the offset is tiny, not ~20,000 days.
    assert abs(offset.offset_ns) < 1_000_000
