"""Golden: text and JSON reports of fixed analyses, compared with files under expected/.

Rewrite the expected files with ``NETTRAIL_REGEN_GOLDEN=1`` only after checking the change.
"""

from __future__ import annotations

import io
import os
from pathlib import Path

import pytest

from fixtures.report_analysis import dual_l3_analysis
from flowkit import Wire
from nettrail.analyze.pipeline import analyze_records
from nettrail.model.analysis import Analysis
from nettrail.model.packet import ACK, FIN, PSH, RST, SYN
from nettrail.report import json as report_json
from nettrail.report import text as report_text

EXPECTED = Path(__file__).parent / "expected"
C = "198.51.100.2"
S = "203.0.113.10"


def check_golden(name: str, actual: str) -> None:
    """Compare ``actual`` with expected/``name`` (or rewrite it when asked to)."""
    path = EXPECTED / name
    if os.environ.get("NETTRAIL_REGEN_GOLDEN"):
        path.write_text(actual)
    assert path.exists(), f"missing golden file {path}; run with NETTRAIL_REGEN_GOLDEN=1"
    assert actual == path.read_text()


def single_point() -> Analysis:
    """One point with every outcome, a retransmission and copies on three interfaces."""
    w = Wire("edge", "edge.pcap")
    # closed, with copies of each packet on a bridge
    for t, src, dst, flags, seq, ack, length in [
        (0, f"{C}:40001", f"{S}:80", SYN, 1000, None, 0),
        (1, f"{S}:80", f"{C}:40001", SYN | ACK, 5000, 1001, 0),
        (2, f"{C}:40001", f"{S}:80", ACK, 1001, 5001, 0),
        (3, f"{C}:40001", f"{S}:80", PSH | ACK, 1001, 5001, 100),
        (4, f"{S}:80", f"{C}:40001", FIN | ACK, 5001, 1101, 0),
        (5, f"{C}:40001", f"{S}:80", FIN | ACK, 1101, 5002, 0),
        (6, f"{S}:80", f"{C}:40001", ACK, 5002, 1102, 0),
    ]:
        rec = w.tcp(t, src, dst, flags, seq=seq, ack=ack, length=length, ifname="veth0")
        w.copy(rec, 12, "br0")
        w.copy(rec, 25, "veth1")
    # refused
    w.tcp(10, f"{C}:40002", f"{S}:81", SYN, seq=2000)
    w.tcp(10.1, f"{S}:81", f"{C}:40002", RST | ACK, seq=0, ack=2001)
    # SYN unanswered, sent three times
    for t in (20, 1020, 3020):
        w.tcp(t, f"{C}:40003", f"{S}:82", SYN, seq=3000)
    # SYN-ACK unacknowledged
    w.tcp(30, f"{C}:40004", f"{S}:83", SYN, seq=4000)
    w.tcp(31, f"{S}:83", f"{C}:40004", SYN | ACK, seq=9000, ack=4001)
    # reset after the handshake, with a data retransmission before it
    w.tcp(40, f"{C}:40005", f"{S}:84", SYN, seq=6000)
    w.tcp(41, f"{S}:84", f"{C}:40005", SYN | ACK, seq=7000, ack=6001)
    w.tcp(42, f"{C}:40005", f"{S}:84", ACK, seq=6001, ack=7001)
    w.tcp(43, f"{C}:40005", f"{S}:84", PSH | ACK, seq=6001, ack=7001, length=200)
    w.tcp(250, f"{C}:40005", f"{S}:84", PSH | ACK, seq=6001, ack=7001, length=200)
    w.tcp(251, f"{S}:84", f"{C}:40005", RST, seq=7001)
    return analyze_records({"edge": w.records})


@pytest.mark.parametrize("fmt", ["txt", "json"])
def test_single_point_report(fmt: str) -> None:
    out = io.StringIO()
    (report_text if fmt == "txt" else report_json).render(single_point(), out)
    check_golden(f"analyze_single.{fmt}", out.getvalue())


@pytest.mark.parametrize("fmt", ["txt", "json"])
def test_dual_l3_report(fmt: str) -> None:
    out = io.StringIO()
    (report_text if fmt == "txt" else report_json).render(dual_l3_analysis(), out)
    check_golden(f"analyze_dual_l3.{fmt}", out.getvalue())
