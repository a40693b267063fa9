"""Copies of a packet sent again, paired in time order before any clock is known: the rule,
and what it does to a real collect run's clocks (packets alone, from pcap and from text)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

import pytest

from nettrail.analyze.in_order import ORDER_GAP_NS, in_order, sent_again
from nettrail.cli.main import main
from nettrail.model.packet import ACK, FIN, PROTO_TCP, PROTO_UDP, PSH, SYN

MS = 1_000_000
NONE = [(None, None)] * 3
RUN = Path(__file__).parents[1] / "fixtures" / "collectruns" / "dual-l3"
ROUTER = "qrouter-5f1c2d3e-8b7a-4c1e-9d2f-0a6b3c4d5e6f"
TRUTH_MS = {"client": 0.0, ROUTER: 0.0, "compute": -25.0, "vm": 0.0}
"""The run's clocks: one machine, compute's 25 ms back under libfaketime (its probes:
-25.014 ± 0.184 ms)."""


def test_copies_pair_in_order_only_when_both_points_saw_them_spaced_alike() -> None:
    sent = [0, 1000 * MS, 3000 * MS]  # a SYN-ACK sent again after 1 s, then 2 s
    assert in_order(sent, [t + 7 * MS for t in sent], NONE, NONE)
    assert in_order(sent, [t - 25_000 * MS for t in sent], NONE, NONE)  # any clock
    # one point missed the first copy and caught one more: gaps of 2 s and 4 s, not 1 and 2
    assert not in_order(sent, [1000 * MS, 3000 * MS, 7000 * MS], NONE, NONE)
    assert not in_order(sent, sent[:2], NONE[:1], NONE[:2])  # as many at each
    assert not in_order(sent[:1], sent[:1], NONE[:1], NONE[:1])  # two or more
    close = [0, ORDER_GAP_NS - 1]
    assert not in_order(close, close, NONE[:2], NONE[:2])  # not a sender's timeout
    assert not in_order([0, 1000 * MS], [0, 1100 * MS], NONE[:2], NONE[:2])  # not alike


def test_marks_both_sides_carry_must_agree() -> None:
    sent = [0, 1000 * MS]
    ts = [(0, 2201576807), (0, 2201577820)]
    assert in_order(sent, sent, ts, ts)
    assert not in_order(sent, sent, ts, ts[::-1])
    assert in_order(sent, sent, ts, [(None, None), (-1, -1)])  # carried on one side only


def test_only_what_a_sender_repeats_on_a_growing_timeout_takes_part() -> None:
    assert sent_again(PROTO_TCP, SYN | ACK, 0)
    assert sent_again(PROTO_TCP, FIN | ACK, 0)
    assert sent_again(PROTO_TCP, PSH | ACK, 1448)
    assert not sent_again(PROTO_TCP, ACK, 0)  # a pure ACK, a keep-alive probe
    assert not sent_again(PROTO_TCP, ACK, 1)  # a keep-alive probe with its byte
    assert not sent_again(PROTO_UDP, 0, 512)


def _clocks(args: list[str], capsys: pytest.CaptureFixture[str]) -> dict[str, Any]:
    assert main(["analyze", "--format", "json", *args]) == 0
    report = json.loads(capsys.readouterr().out)
    return {"report": report, **{c["point"]: c for c in report["clock"]}}


def _holds_the_truth(clock: dict[str, Any], point: str) -> None:
    c = clock[point]
    assert abs(c["offset_ms"] - TRUTH_MS[point]) <= c["uncertainty_ms"] + 0.001, c


def test_a_collect_runs_packets_alone_give_its_true_clocks(
        capsys: pytest.CaptureFixture[str]) -> None:
    """The recorded collect run of the dual-l3 lab, its four pcaps without the manifest (no
    probes). The SYN-ACK was sent again (its ACK never reached the VM): two copies at the VM,
    at compute and at the client. Paired in order they tie compute and the VM to the client
    both ways; before, the packets tied them one way only (-23.4 and +1.7 ms, each ± 1.0,
    neither holding the truth), put the VM's SYN-ACK before the router sent on the SYN it
    answers, and made up a third translation between the router and the client. Compute,
    by its pair with the client alone -24.3 ± 0.7 ms, put its SYN-ACK 0.2 ms before that
    SYN too; held within what every pair allows (the router's SYN reached it, the VM's
    clock is 25.00 ms ahead of it), it is -24.8 ± 0.2 and after."""
    clock = _clocks([f"{p}={RUN / p}.pcap" for p in TRUTH_MS], capsys)
    for point in TRUTH_MS:
        _holds_the_truth(clock, point)
    report = clock["report"]
    assert [(t["kind"], t["leg"], t["at"]) for t in report["nat"]] == [
        ("dnat", "request", ROUTER), ("snat", "reply", "compute")]
    chain = report["diagnosis"]["chain"]
    (dnat,) = [e["time_ns"] for e in chain if e["point"] == ROUTER
               and e["note"].startswith("request DNATed")]
    assert all(e["time_ns"] > dnat for e in chain if e["point"] in ("vm", "compute"))
    assert clock["compute"]["uncertainty_ms"] < 0.3


def test_two_points_from_pcap_and_from_tcpdumps_text(tmp_path: Path,
                                                     capsys: pytest.CaptureFixture[str]) -> None:
    """The client and the VM alone: their captures as pcaps (their sightings read as
    columns) and as the real tcpdump prints them (read as records: text keeps no IP ID, and
    the copies differ only in their TS value). Either way the SYN-ACK's two copies pair in
    order and the VM's clock holds the truth; before, 1.7 ± 1.0 ms ahead."""
    from conftest import require_tool

    clock = _clocks([f"{p}={RUN / p}.pcap" for p in ("client", "vm")], capsys)
    _holds_the_truth(clock, "vm")
    tcpdump = require_tool("tcpdump")
    texts = []
    for point in ("client", "vm"):
        text = tmp_path / f"{point}.txt"
        text.write_bytes(subprocess.run([tcpdump, "-nn", "-r", str(RUN / f"{point}.pcap")],
                                        capture_output=True, check=True).stdout)
        texts.append(f"{point}={text}")
    clock = _clocks(texts, capsys)
    _holds_the_truth(clock, "vm")
