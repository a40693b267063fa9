"""Golden end to end: ``nettrail analyze`` on captures recorded for real in namespaces.

Single-point reports are compared whole with expected/; multi-point runs are checked for the
parts this command owns (diagnosis first, per-point connections and outcomes), since the
cross-point findings have their own golden tests. Per-connection packet counts and TCP flags are
cross-checked against tshark.
"""

from __future__ import annotations

import json
import subprocess
from collections import Counter
from pathlib import Path

import pytest
from test_analyze_report import check_golden

from conftest import require_tool
from nettrail.cli.main import main
from nettrail.model.flow import Outcome
from nettrail.model.packet import tcp_flags_text
from nettrail.run import analyze_files

FIXTURES = Path(__file__).parents[1] / "fixtures"
CAPTURES = FIXTURES / "captures"
CROSS = FIXTURES / "crosspoint"


@pytest.mark.parametrize("fmt", ["text", "json"])
def test_any_interface_capture(
    fmt: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(CAPTURES)
    assert main(["analyze", "--format", fmt, "srv=lab-any.pcap"]) == 0
    check_golden(f"analyze_lab_any.{'txt' if fmt == 'text' else fmt}", capsys.readouterr().out)


def test_incident_diagnosis_first_then_points(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(CROSS)
    args = [f"{p}=incident-{p}.pcap" for p in ("client", "netnode", "compute", "vm")]
    assert main(["analyze", *args]) == 0
    out = capsys.readouterr().out
    diagnosis = out.index("DIAGNOSIS:")
    points = [out.index(f"\nPoint {p}:") for p in ("client", "netnode", "compute", "vm")]
    assert diagnosis < points[0] < points[1] < points[2] < points[3]
    client = out[points[0]:points[1]]
    assert "203.0.113.2:57376 > 203.0.113.10:22  reset-after-handshake" in client


@pytest.mark.parametrize(
    ("scenario", "client_outcome", "kinds"),
    [
        ("incident", Outcome.RESET, {"reset"}),
        ("healthy", Outcome.CLOSED, set()),
        ("refused", Outcome.REFUSED, {"refused"}),
    ],
)
def test_recorded_scenarios_single_point_outcomes(
    scenario: str, client_outcome: Outcome, kinds: set[str]
) -> None:
    manifest = json.loads((CROSS / f"{scenario}.json").read_text())
    inputs = [(p, str(CROSS / f)) for p, f in manifest["points"].items()]
    ifnames = {p: {int(k): v for k, v in m.items()} for p, m in manifest["ifnames"].items()}
    run = analyze_files(inputs, ifnames=ifnames)
    assert run.errors == ()
    client = [c for c in run.analysis.connections if c.point == "client"]
    assert [c.outcome for c in client] == [client_outcome]
    mine = {"refused", "reset", "syn-unanswered", "synack-unacknowledged", "retransmission"}
    client_kinds = {f.kind for f in run.analysis.findings
                    if f.details.get("point") == "client" and f.kind in mine}
    assert client_kinds == kinds
    copies = [f for f in run.analysis.findings if f.kind == "multi-interface-copy"]
    assert len({f.details.get("point") for f in copies}) == len(copies)


def _tshark_conversations(path: Path) -> dict[tuple[str, ...], Counter[str]]:
    """Per direction-normalised 5-tuple: how many packets carried which TCP flags (tshark)."""
    tshark = require_tool("tshark")
    out = subprocess.run(
        [tshark, "-r", str(path), "-Y", "tcp", "-T", "fields", "-E", "separator=|",
         "-e", "ip.src", "-e", "ipv6.src", "-e", "tcp.srcport", "-e", "ip.dst", "-e",
         "ipv6.dst", "-e", "tcp.dstport", "-e", "tcp.flags"],
        check=True, capture_output=True, text=True,
    ).stdout
    convs: dict[tuple[str, ...], Counter[str]] = {}
    for line in out.splitlines():
        src4, src6, sport, dst4, dst6, dport, flags = line.split("|")
        src = (src4 or src6).split(",")[-1]
        dst = (dst4 or dst6).split(",")[-1]
        key = tuple(sorted([(src, sport), (dst, dport)]))
        flat = (key[0][0], key[0][1], key[1][0], key[1][1])
        convs.setdefault(flat, Counter())[tcp_flags_text(int(flags, 16) & 0xFF)] += 1
    return convs


@pytest.mark.parametrize("path", [
    CAPTURES / "lab-any.pcap", CAPTURES / "lab-eth.pcap", CAPTURES / "lab-sll.pcap",
    CAPTURES / "lab-multi.pcapng", CROSS / "incident-netnode.pcap",
    CROSS / "incident-client.pcap", CROSS / "mtu-client.pcap",
])
def test_packet_counts_and_flags_agree_with_tshark(path: Path) -> None:
    expected = _tshark_conversations(path)
    run = analyze_files([("p", str(path))])
    assert run.errors == ()
    ours: dict[tuple[str, ...], Counter[str]] = {}
    for c in run.analysis.connections:
        key = (c.key.a.addr, str(c.key.a.port), c.key.b.addr, str(c.key.b.port))
        ours.setdefault(key, Counter())["packets"] += c.packets
    assert {k: sum(v.values()) for k, v in expected.items()} == {
        k: v["packets"] for k, v in ours.items()}
    flags = _our_flags(path)
    assert flags == expected


def _our_flags(path: Path) -> dict[tuple[str, ...], Counter[str]]:
    """The same table from our reader's records."""
    from nettrail.capture import open_capture

    convs: dict[tuple[str, ...], Counter[str]] = {}
    for rec in open_capture(str(path), "p"):
        ip, tcp = rec.ip, rec.tcp
        if ip is None or tcp is None:
            continue
        key = tuple(sorted([(ip.src, str(tcp.sport)), (ip.dst, str(tcp.dport))]))
        flat = (key[0][0], key[0][1], key[1][0], key[1][1])
        convs.setdefault(flat, Counter())[tcp_flags_text(tcp.flags)] += 1
    return convs
