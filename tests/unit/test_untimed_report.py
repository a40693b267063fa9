"""What a report says of time where the capture gives none, or where its times go back: no
made-up durations or gaps (tcpdump text printed with ``-t``), no negative gap."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from flowkit import Wire
from nettrail.analyze.flows import FlowTracker
from nettrail.analyze.pipeline import analyze_records
from nettrail.cli.main import main
from nettrail.model.packet import ACK, PSH, SYN

C, S = "198.51.100.2:40005", "203.0.113.10:84"
_UNTIMED = """\
IP 198.51.100.2.40005 > 203.0.113.10.84: Flags [S], seq 6000, win 64240, length 0
IP 203.0.113.10.84 > 198.51.100.2.40005: Flags [S.], seq 7000, ack 6001, win 64240, length 0
IP 198.51.100.2.40005 > 203.0.113.10.84: Flags [.], ack 7001, win 64240, length 0
IP 198.51.100.2.40005 > 203.0.113.10.84: Flags [P.], seq 6001:6201, ack 7001, win 64240, length 200
IP 198.51.100.2.40005 > 203.0.113.10.84: Flags [P.], seq 6001:6201, ack 7001, win 64240, length 200
IP 203.0.113.10.84 > 198.51.100.2.40005: Flags [.], ack 6201, win 64240, length 0
"""


def _times_going_back() -> Wire:
    """A segment sent again whose stamp is 300 ms before the first sending's."""
    w = Wire()
    w.tcp(0, C, S, SYN, seq=100)
    w.tcp(1, S, C, SYN | ACK, seq=500, ack=101)
    w.tcp(2, C, S, ACK, seq=101, ack=501)
    w.tcp(400, C, S, PSH | ACK, seq=101, ack=501, length=100)
    w.tcp(100, C, S, PSH | ACK, seq=101, ack=501, length=100)
    return w


def test_a_segment_sent_again_under_times_going_back_gives_no_negative_gap() -> None:
    w = _times_going_back()
    tracker = FlowTracker(w.point)
    tracker.consume(w.records)
    _, by_records = tracker.finish()
    by_table = analyze_records({w.point: w.records}).findings
    for findings in (by_records, by_table):
        notes = [e.note for f in findings if f.kind == "retransmission" for e in f.evidence]
        assert notes == ["sent again (previously host1.pcap:4, stamped 300.0 ms later: the "
                         "capture's times go back)"]


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_text_without_times_says_so_instead_of_durations_and_gaps(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fmt: str,
) -> None:
    path = tmp_path / "untimed.txt"
    path.write_text(_UNTIMED)
    assert main(["analyze", "--format", fmt, f"a={path}"]) == 0
    out = capsys.readouterr().out
    note = f"sent again (previously {path}:4; no time printed, so no gap)"
    if fmt == "json":
        doc = json.loads(out)
        assert doc["points"][0]["untimed_packets"] == 6
        notes = [e["note"] for f in doc["findings"] for e in f["evidence"]]
        assert notes == [note]
        return
    assert "6 packets, no times, 400/0 bytes, 1 retransmission" in out
    assert f"      (no time) a {path}:5  " in out
    assert note in out
    assert " ms" not in out.replace("µs apart", "")  # no duration, gap or time of day
    html = tmp_path / "r.html"
    assert main(["analyze", "--html", str(html), f"a={path}"]) == 0
    assert html.read_text().count("(no time)") == 1 and "00:00:00" not in html.read_text()


def test_a_timed_copy_of_the_same_text_keeps_its_durations(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    stamped = "".join(f"10:00:00.{i * 10000:06d} {line}\n"
                      for i, line in enumerate(_UNTIMED.splitlines()))
    path = tmp_path / "timed.txt"
    path.write_text(stamped)
    assert main(["analyze", f"a={path}"]) == 0
    out = capsys.readouterr().out
    assert "6 packets, 50.0 ms, 400/0 bytes, 1 retransmission" in out
    assert "sent again after 10.0 ms" in out
    assert "(no time)" not in out


def test_a_point_without_times_has_its_clock_unknown_for_that_reason(
    tmp_path: Path, capsys: pytest.CaptureFixture[str],
) -> None:
    stamped = "".join(f"10:00:00.{i * 10000:06d} {line}\n"
                      for i, line in enumerate(_UNTIMED.splitlines()))
    timed, untimed = tmp_path / "timed.txt", tmp_path / "untimed.txt"
    timed.write_text(stamped)
    untimed.write_text(_UNTIMED)
    assert main(["analyze", f"a={timed}", f"b={untimed}"]) == 0
    out = capsys.readouterr().out
    assert "  b's clock is unknown: its packets have no times (text printed with tcpdump -t)\n" \
        in out
    assert "no packet was seen both there" not in out
