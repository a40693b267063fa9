"""A capture of one direction that others made: tcpdump's ipoib.pcap holds only what
192.168.56.10 sent (pings never answered in it, an ssh client acknowledging the server's
data, SYNs to four more ports). Its handshakes look failed there only because the replies are
not in the capture: that is said, never "failed"."""

from __future__ import annotations

import pytest
from truth import SUITE_DIR

from nettrail.run import analyze_files


@pytest.mark.parametrize("second", ["ipoib.out", "ipoib-e.out"])
def test_a_capture_of_what_one_host_sent_is_not_called_failed(second: str) -> None:
    pcap, text = SUITE_DIR / "ipoib.pcap", SUITE_DIR / second
    if not pcap.is_file() or not text.is_file():
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    analysis = analyze_files([("A", str(pcap)), ("B", str(text))]).analysis
    diagnosis = analysis.diagnosis
    assert diagnosis is not None and diagnosis.kinds == ("inconclusive",)
    assert diagnosis.headline == ("inconclusive: A's capture shows packets towards the server "
                                  "only, so whether its 5 handshakes were answered cannot be "
                                  "told")
    assert "Missing: a capture at A of both directions." in diagnosis.explanation
    notes = {f.details["point"]: f.details for f in analysis.findings
             if f.kind == "one-way-capture"}
    assert notes["A"] == {"point": "A", "direction": "c2s", "failed": "5"}


@pytest.mark.parametrize("name", ["ipoib.pcap", "ipoib.out"])
def test_alone_its_syns_are_not_called_unanswered(name: str) -> None:
    """The capture alone, pcap or text: no other point shows the replies, but its ssh
    client's moving acks show they came, so the four SYNs' answers are not known."""
    path = SUITE_DIR / name
    if not path.is_file():
        pytest.skip(f"needs tcpdump's test suite at {SUITE_DIR}")
    findings = analyze_files([("A", str(path))]).analysis.findings
    syns = [f for f in findings if f.kind == "syn-unanswered"]
    assert len(syns) == 5 and all(f.severity.value == "warning" for f in syns)
    assert all(f.summary.endswith("; but A's capture shows packets towards the server only, "
                                  "so whether it was answered cannot be told") for f in syns)
    (note,) = [f for f in findings if f.kind == "one-way-capture"]
    assert note.details == {"point": "A", "direction": "c2s", "failed": "5"}
