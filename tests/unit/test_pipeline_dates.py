"""Text that prints only the time of day is dated by the binary captures beside it."""

from __future__ import annotations

from pathlib import Path

from nettrail.capture import DAY_NS, first_date_ns, open_capture
from nettrail.run import analyze_files

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


def test_undated_text_is_dated_by_a_text_that_prints_epoch_times(tmp_path: Path) -> None:
    crosspoint = TEXT.parent / "crosspoint"
    epoch = tmp_path / "host5-tt.txt"
    lines = []
    for line in (crosspoint / "incident-asis-host5.txt").read_text().splitlines():
        hh, mm, rest = line[:2], line[3:5], line[6:]
        day_s = 1_795_564_800  # 2026-11-25 00:00:00 UTC
        lines.append(f"{day_s + int(hh) * 3600 + int(mm) * 60 + int(rest[:2])}{rest[2:]}")
    epoch.write_text("\n".join(lines) + "\n")
    assert first_date_ns([str(crosspoint / "incident-asis-host1.txt"), str(epoch)]) == (
        1_795_564_800 * 10**9)
    run = analyze_files([("host1", str(crosspoint / "incident-asis-host1.txt")),
                         ("host5", str(epoch))])
    (offset,) = [c for c in run.analysis.clock if c.point == "host5"]
    # host5's clock is 25 ms behind, not ~20,000 days ahead.
    assert -26_000_000 < offset.offset_ns < -24_000_000
